"""Fixed C++ shipped as package data and copied into generated code.

C++ that does not depend on the model (the GEMM kernel, math functions, softmax, the pybind11
runner, the HLS C-simulation stream...) lives in real C++ files in a ``cpp/`` folder next to the
Python modules that use it: ``operators/cpp``, ``operators/hls/cpp``, ``emitters/cpu/cpp`` and
``emitters/hls/cpp``. Each file compiles on its own (its own ``#include``s, include guard and
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
"""

from __future__ import annotations

import functools
import importlib.resources
import re

_MARKER = re.compile(r"// rmodel:(begin|end) (\w+)")


@functools.cache
def _regions(package: str, filename: str) -> dict[str, str]:
    """Every region of ``cpp/<filename>`` in ``package``, by name."""
    text = importlib.resources.files(package).joinpath("cpp").joinpath(filename).read_text(encoding="utf-8")
    where = f"{package}: cpp/{filename}"
    regions: dict[str, str] = {}
    name: str | None = None
    lines: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        marker = _MARKER.fullmatch(line.rstrip())
        if marker is None:
            if name is not None:
                lines.append(line)
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
            regions[label] = "\n".join(lines)
            name = None
    if name is not None:
        raise RuntimeError(f"{where}: region '{name}' is not closed")
    return regions


def cpp_source(package: str, filename: str, region: str) -> str:
    """The text of ``region`` in ``cpp/<filename>`` of ``package`` (e.g. ``"rmodel.operators"``),
    without a trailing newline."""
    regions = _regions(package, filename)
    if region not in regions:
        raise RuntimeError(f"{package}: cpp/{filename} has no region '{region}' (it has {', '.join(regions)})")
    return regions[region]
