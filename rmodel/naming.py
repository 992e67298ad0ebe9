"""Safe text from untrusted names: C++ identifiers, comment text, string literals, file names.

Every name that comes from a model file (ONNX node/tensor/graph names, Keras layer names, names
in a ``.rmodel``) reaches generated C++, Tcl, shell or CMake text only through these functions.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable

#: identifiers longer than this are shortened (kept readable, made unique by a hash suffix)
MAX_IDENTIFIER_LENGTH = 64
#: names shown in comments are cut after this many characters
MAX_COMMENT_NAME_LENGTH = 120

CPP_KEYWORDS = frozenset(
    [
        "alignas",
        "alignof",
        "and",
        "and_eq",
        "asm",
        "auto",
        "bitand",
        "bitor",
        "bool",
        "break",
        "case",
        "catch",
        "char",
        "char16_t",
        "char32_t",
        "class",
        "compl",
        "const",
        "constexpr",
        "const_cast",
        "continue",
        "decltype",
        "default",
        "delete",
        "do",
        "double",
        "dynamic_cast",
        "else",
        "enum",
        "explicit",
        "export",
        "extern",
        "false",
        "float",
        "for",
        "friend",
        "goto",
        "if",
        "inline",
        "int",
        "long",
        "mutable",
        "namespace",
        "new",
        "noexcept",
        "not",
        "not_eq",
        "nullptr",
        "operator",
        "or",
        "or_eq",
        "private",
        "protected",
        "public",
        "register",
        "reinterpret_cast",
        "return",
        "short",
        "signed",
        "sizeof",
        "static",
        "static_assert",
        "static_cast",
        "struct",
        "switch",
        "template",
        "this",
        "thread_local",
        "throw",
        "true",
        "try",
        "typedef",
        "typeid",
        "typename",
        "union",
        "unsigned",
        "using",
        "virtual",
        "void",
        "volatile",
        "wchar_t",
        "while",
        "xor",
        "xor_eq",
        "std",
        "detail",
    ]
)


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def identifier(name: str, prefix: str = "t") -> str:
    """A valid, readable ASCII C++ identifier for ``name`` (not guaranteed unique).

    Only ``[A-Za-z0-9_]`` survive (no double underscores, which C++ reserves); long names are cut
    to ``MAX_IDENTIFIER_LENGTH`` characters with a hash of the whole name appended.
    """
    text = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_") or prefix
    text = re.sub(r"_+", "_", text)
    if text[0].isdigit():
        text = f"{prefix}_{text}"
    if text in CPP_KEYWORDS or re.match(r"_[A-Z]", text):
        text = f"{prefix}_{text}"
    if len(text) > MAX_IDENTIFIER_LENGTH:
        text = f"{text[: MAX_IDENTIFIER_LENGTH - 9].rstrip('_')}_{_digest(name)}"
    return text


def comment_text(name: object, limit: int = MAX_COMMENT_NAME_LENGTH) -> str:
    """``name`` as text that is safe inside a ``//`` or ``#`` comment and a ``/* */`` block.

    Printable ASCII stays; a backslash, every other character (line breaks, a lone ``\\r``,
    control and non-ASCII characters) becomes a ``\\xNN``/``\\uNNNN`` escape; ``*/`` and ``??``
    are broken up. Names longer than ``limit`` are cut (with a hash, so different names stay
    different).
    """
    text = str(name)
    out = []
    for ch in text:
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif 0x20 <= code < 0x7F:
            out.append(ch)
        elif code < 0x100:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    safe = "".join(out).replace("*/", "*\\x2f").replace("/*", "/\\x2a").replace("??", "?\\x3f")
    if len(safe) > limit:
        safe = f"{safe[: limit - 12]}...#{_digest(text)}"
    return safe


def cpp_string(name: str) -> str:
    """A C++ string literal (with quotes) holding the UTF-8 bytes of ``name`` exactly.

    Everything but letters, digits and a few harmless punctuation characters is written as a
    3-digit octal escape (octal escapes never swallow the characters after them, unlike ``\\x``).
    """
    out = []
    for byte in name.encode("utf-8", "surrogatepass"):
        ch = chr(byte)
        if ch.isascii() and (ch.isalnum() or ch in " _-.:/,;+=()[]{}<>@#$%^&*!|~'"):
            out.append(ch)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def file_stem(name: str, prefix: str = "f") -> str:
    """A lower-case identifier usable as a file name on case-insensitive file systems too."""
    return identifier(name, prefix).lower()


class UniqueNames:
    """The one allocator of unique names: C++ identifiers by default, or any names ``clean`` makes.

    ``names(key)`` gives the name for ``key`` (the same key always gets the same name);
    ``names.fresh(hint)`` gives a new name on every call. A taken name gets ``_2``, ``_3``, ...
    (from ``first_suffix``). With ``fold_case=True`` no two names differ only in case (for names
    that become file names or include guards on case-insensitive file systems).
    """

    def __init__(
        self,
        reserved: Iterable[str] | None = None,
        fold_case: bool = False,
        *,
        clean: Callable[[str, str], str] | None = None,
        first_suffix: int = 2,
    ):
        self._fold = fold_case
        self._clean = clean or identifier
        self._first = first_suffix
        self._taken: set[str] = {self._key(r) for r in reserved or ()}
        self._given: dict[str, str] = {}

    def _key(self, text: str) -> str:
        return text.lower() if self._fold else text

    def fresh(self, hint: str, prefix: str = "t") -> str:
        """A new name like ``hint``, distinct from every name handed out or reserved before."""
        base = self._clean(hint, prefix)
        candidate, counter = base, self._first
        while self._key(candidate) in self._taken:
            candidate = f"{base}_{counter}"
            counter += 1
        self._taken.add(self._key(candidate))
        return candidate

    def __call__(self, name: str, prefix: str = "t") -> str:
        if name not in self._given:
            self._given[name] = self.fresh(name, prefix)
        return self._given[name]


def quoted(name: object) -> str:
    """``'name'`` for generated comments and Tcl/shell comments, escaped by ``comment_text``."""
    return f"'{comment_text(name)}'"
