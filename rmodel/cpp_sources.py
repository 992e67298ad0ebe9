"""Fixed C++ shipped as package data and copied into generated code.

C++ that does not depend on the model (the GEMM kernel, math functions, softmax, the pybind11
runner, the HLS C-simulation stream...) lives in real C++ files in a ``cpp/`` folder next to the
Python modules that use it: ``operators/cpp``, ``emitters/cpu/cpp`` and ``emitters/hls/cpp``. Each file compiles on its own (its own ``#include``s, include guard and
namespace) and ``cpp_tests/kernels_test.cpp`` tests the kernels directly. Generated code copies
named regions of a file, so it stays self-contained:

.. code-block:: cpp

    #include <cstddef>          // not copied
    namespace rmodel::detail {  // not copied
    // rmodel:begin NAME
    ...                         // copied verbatim
    // rmodel:end NAME
    }  // namespace rmodel::detail

A marker is a whole line. Regions do not nest and each name occurs once per file. Regions that
clang-format would rewrap are fenced by ``// clang-format off`` / ``on`` outside the markers (the
golden files pin the generated text). This module is the only reader of these files.

A region may hold *sections* a model may not need (one function, one tile specialisation):

.. code-block:: cpp

    // rmodel:section NAME
    ...                         // kept if NAME is used
    // rmodel:end-section NAME

``cpp_source`` returns a region with its section markers; ``select_sections`` keeps the sections
the generated code uses (a section ``f`` defining function ``f``: where the word ``f`` occurs
outside it) and drops every marker. Sections do not nest and their names are unique per file.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from collections.abc import Iterable

_MARKER = re.compile(r"// rmodel:(begin|end) (\w+)")
_SECTION = re.compile(r"// rmodel:(section|end-section) (\w+)")
_WORD = re.compile(r"\w+")


@functools.cache
def _regions(package: str, filename: str) -> dict[str, str]:
    """Every region of ``cpp/<filename>`` in ``package``, by name."""
    text = importlib.resources.files(package).joinpath("cpp").joinpath(filename).read_text(encoding="utf-8")
    where = f"{package}: cpp/{filename}"
    regions: dict[str, str] = {}
    sections: set[str] = set()
    name: str | None = None
    section: str | None = None
    lines: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        marker = _MARKER.fullmatch(line.rstrip())
        if marker is None:
            if name is not None:
                lines.append(line)
            opened = _SECTION.fullmatch(line.rstrip())
            if opened is not None:
                section = _check_section(where, number, name, section, sections, *opened.groups())
            continue
        kind, label = marker.groups()
        if kind == "begin":
            if name is not None:
                raise RuntimeError(f"{where}:{number}: region '{label}' starts inside region '{name}'")
            if label in regions:
                raise RuntimeError(f"{where}:{number}: region '{label}' defined twice")
            name, lines = label, []
        else:
            if label != name:
                raise RuntimeError(f"{where}:{number}: 'end {label}' closes no open region of that name")
            if section is not None:
                raise RuntimeError(f"{where}:{number}: region '{label}' ends inside section '{section}'")
            regions[label] = "\n".join(lines)
            name = None
    if name is not None:
        raise RuntimeError(f"{where}: region '{name}' is not closed")
    return regions


def _check_section(
    where: str, number: int, region: str | None, section: str | None, seen: set[str], kind: str, label: str
) -> str | None:
    """The section open after marker ``kind label`` at line ``number`` (one that is well placed)."""
    if region is None:
        raise RuntimeError(f"{where}:{number}: section '{label}' outside a region")
    if kind == "section":
        if section is not None:
            raise RuntimeError(f"{where}:{number}: section '{label}' starts inside section '{section}'")
        if label in seen:
            raise RuntimeError(f"{where}:{number}: section '{label}' defined twice")
        seen.add(label)
        return label
    if label != section:
        raise RuntimeError(f"{where}:{number}: 'end-section {label}' closes no open section of that name")
    return None


def cpp_source(package: str, filename: str, region: str) -> str:
    """The text of ``region`` in ``cpp/<filename>`` of ``package`` (e.g. ``"rmodel.operators"``),
    without a trailing newline."""
    regions = _regions(package, filename)
    if region not in regions:
        raise RuntimeError(f"{package}: cpp/{filename} has no region '{region}' (it has {', '.join(regions)})")
    return regions[region]


def select_sections(code: str, used: str, roots: Iterable[str] = ()) -> str:
    """``code`` (regions of ``cpp_source``) without its section markers and without the sections
    nothing uses: a section is kept when its name is in ``roots`` or occurs as a word in ``used``
    (the code that calls the helpers), in ``code`` outside every section, or in a kept section.
    A blank line left doubled by a dropped section is dropped too."""
    outside: list[str] = []
    sections: dict[str, list[str]] = {}
    order: list[str | tuple[str]] = []  # lines, and (section name,) where a section stands
    current: str | None = None
    for line in code.split("\n"):
        marker = _SECTION.fullmatch(line.strip())
        if marker is not None:
            kind, label = marker.groups()
            current = label if kind == "section" else None
            if current is not None:
                sections[current] = []
                order.append((current,))
        elif current is not None:
            sections[current].append(line)
        else:
            outside.append(line)
            order.append(line)
    words = set(_WORD.findall(used)) | set(roots) | set(_WORD.findall("\n".join(outside)))
    kept: set[str] = set()
    grew = True
    while grew:
        grew = False
        for label, body in sections.items():
            if label not in kept and label in words:
                kept.add(label)
                words |= set(_WORD.findall("\n".join(body)))
                grew = True
    out: list[str] = []
    dropped = False
    for item in order:
        if isinstance(item, tuple):
            if item[0] in kept:
                out.extend(sections[item[0]])
                dropped = False
            else:
                dropped = True
            continue
        if dropped and not item.strip() and (not out or not out[-1].strip()):
            continue
        out.append(item)
        dropped = False
    return "\n".join(out)
