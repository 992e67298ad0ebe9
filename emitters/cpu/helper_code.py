"""The helper code a generated header carries: only the sections (``rmodel/cpp_sources.py``) of
the registered helpers that the model's calls use, e.g. the ``gemm_tile`` specialisations for the
row counts its matrix products instantiate and the math functions it calls."""

from __future__ import annotations

import re
from collections.abc import Iterable

from rmodel.cpp_sources import select_sections

#: row counts of gemm's tiles: RMODEL_GEMM_MR may be set to any of 1..8 when a header is compiled
GEMM_TILE_ROWS = range(1, 9)
#: a gemm call's first template argument is M, the rows of the product (``operators/kernels.py``)
_GEMM_CALL = re.compile(r"\bdetail::gemm<\s*(?:/\*M=\*/)?\s*(\w+)\s*,")


def gemm_tile_rows(m: int) -> set[int]:
    """Row counts of the tiles ``gemm<M = m, ...>`` instantiates for some tile height MR in
    GEMM_TILE_ROWS: full tiles of MR rows where m >= MR, and the m % MR rows left over."""
    rows: set[int] = set()
    for mr in GEMM_TILE_ROWS:
        if m >= mr:
            rows.add(mr)
        if m % mr:
            rows.add(m % mr)
    return rows


def helper_code(helpers: Iterable[str], calls: str) -> str:
    """The helpers' text (in order, a blank line apart) with the sections ``calls`` (the code of
    the header that calls them) does not use left out."""
    roots: set[str] = set()
    for match in _GEMM_CALL.finditer(calls):
        rows = match.group(1)
        needed = gemm_tile_rows(int(rows)) if rows.isdigit() else set(GEMM_TILE_ROWS)
        roots |= {f"gemm_tile_{r}" for r in needed}
    return select_sections("\n\n".join(helpers), calls, roots)
