"""CppWriter: the one way operators and emitters write C++ statements.

Text is append-only. The writer owns indentation (``block`` opens a brace and indents what is
written inside it; leaving the ``with`` closes the brace) and local names (``name`` hands out
identifiers no other statement of the same writer uses)::

    w = CppWriter()
    x = w.name("x")
    w(f"const float* {x} = in;")
    with w.loop("i", 16):
        w("y[i] = x[i] * 2.0f;")
    w.text()
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rmodel.naming import UniqueNames

INDENT = "  "


class CppWriter:
    """Append-only C++ text whose indentation follows the blocks that are open."""

    def __init__(self, depth: int = 0, reserved: tuple[str, ...] = ()):
        self._lines: list[str] = []
        self._depth = depth
        self._names = UniqueNames(reserved)

    # ---- statements -------------------------------------------------------------------------
    def __call__(self, *lines: str) -> None:
        """Append statements at the current depth; a multi-line string keeps its own relative
        indentation (for fixed snippets), blank lines stay blank and preprocessor lines (``#pragma``,
        ``#if``) start at column 0, as clang-format writes them."""
        for text in lines:
            for line in text.split("\n"):
                indented = line.strip() and not line.startswith("#")
                self._lines.append(INDENT * self._depth + line if indented else line if line.strip() else "")

    def access(self, specifier: str) -> None:
        """``public:`` / ``private:`` inside a class body, one space in from the class (Google style)."""
        self.outdented(f" {specifier}:")

    def outdented(self, line: str) -> None:
        """A line one level left of the statements around it (a label before a loop, as in Vitis HLS
        code); at the top level it stays at column 0."""
        self._lines.append(INDENT * max(self._depth - 1, 0) + line)

    def comment(self, text: str) -> None:
        """A ``//`` comment (``text`` must already be safe comment text: see naming.comment_text)."""
        self(f"// {text}")

    @contextmanager
    def block(self, head: str = "", tail: str = "") -> Iterator[None]:
        """``head {`` ... ``}tail`` with the statements written inside indented one level; an empty
        head gives a bare scope."""
        self(f"{head} {{" if head else "{")
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
        self("}" + tail)

    @contextmanager
    def orelse(self, head: str = "else") -> Iterator[None]:
        """Continue the block just closed as ``} else {`` (or ``} else if (c) {``, ``} catch (e) {``
        with that head): must follow a ``block`` directly."""
        closing = INDENT * self._depth + "}"
        if not self._lines or self._lines[-1] != closing:
            raise RuntimeError("CppWriter.orelse() must follow the end of a block")
        self._lines.pop()
        with self.block(f"}} {head}"):
            yield

    @contextmanager
    def loop(self, var: str, stop: int | str, start: int | str = 0, type_: str = "std::size_t") -> Iterator[None]:
        """``for (type_ var = start; var < stop; ++var) { ... }``."""
        with self.block(f"for ({type_} {var} = {start}; {var} < {stop}; ++{var})"):
            yield

    def extend(self, other: CppWriter) -> None:
        """Append the statements of another writer at the current depth."""
        for line in other._lines:
            self(line)

    # ---- names ------------------------------------------------------------------------------
    def name(self, hint: str) -> str:
        """A C++ identifier like ``hint`` that no earlier ``name`` call of this writer returned."""
        return self._names.fresh(hint)

    # ---- result -----------------------------------------------------------------------------
    @property
    def depth(self) -> int:
        return self._depth

    def text(self) -> str:
        if self._depth:
            raise RuntimeError("CppWriter.text() with a block still open")
        return "\n".join(self._lines)
