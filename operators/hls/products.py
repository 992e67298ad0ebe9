"""The multiply-accumulate core shared by the HLS Dense and Conv stages, in every IO type.

``acc[o] += a[source[o, u]] * weight[o, u]`` over all outputs ``o`` and terms ``u``. Weights that
the weight type stores as 0 get no multiplier: they are dropped at generation time and the
remaining products are listed in (value, source, target) tables. The products are spread over
``ceil(products / R)`` multipliers that each work through ``R`` of them, one per clock (R = reuse
factor): a loop of R pipelined iterations of ``multipliers`` unrolled products.

Strategy ``latency`` keeps the weights in registers (``ARRAY_PARTITION complete``); ``resource``
stores them in block RAM reshaped so that one read gives a multiplier bank its R-th slice
(``ARRAY_RESHAPE block``).
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import HlsContext, StageWriter


@dataclass(frozen=True)
class Products:
    """The nonzero products of one pass and how they are spread over multipliers."""

    outputs: int
    terms: int  # per output, zeros included
    nonzero: int
    reuse: int

    @property
    def total(self) -> int:
        return self.outputs * self.terms

    @property
    def skipped(self) -> int:
        return self.total - self.nonzero

    @property
    def multipliers(self) -> int:
        return math.ceil(self.nonzero / self.reuse) if self.nonzero else 0


def kept_weights(precision: Any, weight: np.ndarray) -> np.ndarray:
    """Mask of the weights that the weight type (a ``Precision``) does not store as 0."""
    return ~np.asarray(precision.rounds_to_zero(weight))


def products(weight: np.ndarray, keep: np.ndarray, reuse: int) -> Products:
    """The product count of a (outputs x terms) weight matrix with the given kept mask."""
    outputs, terms = weight.shape
    nonzero = int(np.count_nonzero(keep))
    return Products(outputs, terms, nonzero, max(1, min(reuse, max(nonzero, 1))))


def write_products(
    ctx: HlsContext,
    w: StageWriter,
    *,
    a: str,
    acc: str,
    weight: np.ndarray,
    source: np.ndarray,
    source_expr: str,
    hint: str = "w",
    label: str = "reuse",
) -> Products:
    """Statements adding every product into ``acc`` (declared and initialised by the caller).

    ``weight`` and ``source`` are (outputs x terms); ``source[o, u]`` is the index of ``a`` that
    term u of output o reads, and ``source_expr`` computes it in C++ from ``int o, u`` (used when
    no weight is skipped, so no index tables are needed). ``label`` names the reuse loop (distinct
    for every call in one stage function)."""
    weight = np.asarray(weight, dtype=np.float32)
    keep = kept_weights(ctx.config.precision("weight"), weight)
    plan = products(weight, keep, ctx.reuse)
    if plan.nonzero == 0:
        w(f"// all {plan.total} weights are zero in the weight type: no products")
        return plan
    r, mults = plan.reuse, plan.multipliers
    resource = ctx.config.strategy == "resource"
    values = ctx.weight(hint, weight[keep])
    skipped = f" ({plan.skipped} zero weight{'s' if plan.skipped > 1 else ''} skipped)" if plan.skipped else ""
    w(
        f"// reuse factor {r}: {mults} multiplier{'s' if mults > 1 else ''} for {plan.nonzero} products{skipped}, "
        f"each used {r} time{'s' if r > 1 else ''} per pass"
    )
    arrays = [values]
    if plan.skipped:
        outs, terms = np.nonzero(keep)
        src = ctx.index_table(f"{hint}_src", source[outs, terms])
        dst = ctx.index_table(f"{hint}_dst", outs)
        arrays += [src, dst]
        read, target = f"{a}[{src}[t]]", f"{dst}[t]"
        decode: list[str] = []
    else:
        read, target = f"{a}[{source_expr}]", "o"
        decode = [f"const int o = t / {plan.terms}, u = t % {plan.terms};"]
    for array in arrays:
        if resource and r > 1:
            w(f"#pragma HLS ARRAY_RESHAPE variable={array} block factor={mults}")
        else:
            w(f"#pragma HLS ARRAY_PARTITION variable={array} complete")
    guarded = mults * r != plan.nonzero
    if ctx.io_type == "io_serial":  # the reuse loop is the stage's schedule
        pragma = "PIPELINE II=1"
    else:  # inside a pipelined function or pixel loop: unrolled, the multipliers shared by ALLOCATION
        pragma = "UNROLL"
        if r > 1:
            w(f"#pragma HLS ALLOCATION operation instances=mul limit={mults}")
    fast = np.array_equal(source, np.broadcast_to(np.arange(plan.terms), source.shape))
    if fast:  # C simulation only (rmodel's ap_fixed headers define RMODEL_FAST_AP): Vitis never sees it
        indices = arrays[1:] if plan.skipped else ["nullptr", "nullptr"]
        w(
            "#if defined(RMODEL_FAST_AP) && !defined(RMODEL_COUNT_TRIPS)",
            "// C simulation with rmodel's ap_fixed: exact sums of the raw products, output by output",
            f"static const rmodel_fast::matrix<{plan.outputs}, {plan.terms}> {values}_matrix =",
            f"    rmodel_fast::make_matrix<{plan.outputs}, {plan.terms}>({values}, {', '.join(indices)}, "
            f"{plan.nonzero});",
            f"if (!rmodel_fast::mac({values}_matrix, {values}, {a}, {acc}))",
            "#endif",
        )
    with w.block() if fast else nullcontext(), w.loop("r", r, label=label, hang=False, pragma=pragma):
        if pragma == "UNROLL":
            w("RMODEL_TRIP();  // a step of the reuse schedule, counted like a pipelined iteration")
        with w.loop("j", mults, pragma="UNROLL"):
            w(f"const int t = j * {r} + r;")
            with w.block(f"if (t < {plan.nonzero})") if guarded else nullcontext():
                w(*decode)
                w(f"{acc}[{target}] += {read} * {values}[t];")
    return plan
