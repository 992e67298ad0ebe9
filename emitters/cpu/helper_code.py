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
_GEMM_CALL = re.compile(r"\bgemm\s*<([^,>]*)")
_COMMENT = re.compile(r"/\*.*?\*/")


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
    code = "\n\n".join(helpers)
    rows = _gemm_rows(calls) if "gemm_tile" in code else set()
    return select_sections(code, calls, {f"gemm_tile_{r}" for r in rows})


def _gemm_rows(calls: str) -> set[int]:
    """Tile row counts of the gemm calls in ``calls``: every tile when one call's M is not a
    number, or when no call is found at all (the calls are written in a way this does not read)."""
    rows: set[int] = set()
    found = False
    for match in _GEMM_CALL.finditer(calls):
        found = True
        m = _COMMENT.sub("", match.group(1)).strip()
        if not m.isdigit():
            return set(GEMM_TILE_ROWS)
        rows |= gemm_tile_rows(int(m))
    return rows if found else set(GEMM_TILE_ROWS)
