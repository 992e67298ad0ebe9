"""im2col strategies: the input patches of the outputs are copied into a [C/group * prod(kernel),
outputs] workspace ``col`` (each row's valid range is computed once, so the copy loops carry no
bounds checks), then multiplied by the weights.

* ``Im2col``: in blocks of output rows (``block_rows`` of the first output axis, within
  COL_BLOCK_FLOATS), Y[:, block] = W . col + bias while the block is still in cache.
* ``WeightPanels``: few output positions (deep CNN stages, at most WEIGHT_PANEL_POSITIONS), one
  group and constant weights: the product runs transposed, Y^T = col^T . W^T with W^T packed into
  panels of output channels, so the (large) weights stream through the cache once instead of once
  per column panel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from rmodel.cpp_writer import CppWriter

from ..base import CpuContext
from ..kernels import BIAS_COL, BIAS_NONE, BIAS_ROW, GEMM_NR, conv_k_block, gemm_call
from .grouped import GroupProduct
from .loops import gather, if_else, kernel_taps
from .plan import ConvDims, ConvTensors
from .window import valid_range_code

#: im2col block budget in floats (256 KiB: stays in the L2 cache between the copy and the
#: product); blocks are whole rows of the first output axis, at least one
COL_BLOCK_FLOATS = 65536
#: convolutions with at most this many output positions (per image) take ``WeightPanels``
WEIGHT_PANEL_POSITIONS = 64


def write_im2col(w: CppWriter, dims: ConvDims, width: int) -> None:
    """Loops copying the patches of output rows [r0, r0 + rows) of group input xg into
    col[(c, taps...), (block outputs...)], whose rows are ``width`` floats apart."""
    win = dims.win
    w("// im2col: col[(c, k...), (o...)] = xg[c][o * stride + k * dilation - pad]")
    with w.loop("c", dims.cg):
        w(f"const float* xc = xg + c * {win.in_size};")
        with kernel_taps(w, win) as tap:
            w(f"float* row = col + (c * {win.taps} + {tap}) * {width};")
            offsets = []
            for axis in range(win.rank):
                term = f"k{axis}" if win.dilations[axis] == 1 else f"k{axis} * {win.dilations[axis]}"
                offsets.append(term + (f" - {win.pads_begin[axis]}" if win.pads_begin[axis] else ""))
            offsets[0] = f"r0 * {win.strides[0]} + {offsets[0]}"  # the block starts at output row r0
            gather(w, win, "xc", "row", "rows", offsets)


@dataclass(frozen=True)
class Im2col(GroupProduct):
    """Per block of ``block_rows`` output rows: im2col into col [kdim, block], then its columns of Y."""

    block_rows: int

    @classmethod
    def plan(cls, dims: ConvDims) -> Im2col:
        """Rows of the first output axis per block: as many as the budget allows, preferring a
        count whose block width is a whole number of the kernel's column panels."""
        out = dims.win.out
        inner = math.prod(out[1:])
        most = max(1, min(out[0], COL_BLOCK_FLOATS // max(1, dims.kdim * inner)))
        whole = [r for r in range(most, 0, -1) if r * inner % GEMM_NR == 0]
        return cls(whole[0] if whole and 2 * whole[0] > most else most)

    def workspace(self, dims: ConvDims) -> int:
        return dims.kdim * self.block_rows * math.prod(dims.win.out[1:])

    def group(self, ctx: CpuContext, w: CppWriter, t: ConvTensors, dims: ConvDims, bias: str | None) -> None:
        ctx.helper("valid_range", valid_range_code())
        w(f"float* col = {ctx.scratch(np.float32)};")
        win, block = dims.win, self.block_rows
        rows_total, inner = win.out[0], math.prod(win.out[1:])
        width = block * inner
        k_block = conv_k_block(dims.cg, win.taps, taps_in_k=True)

        def product(columns: int) -> str:
            """Y's next ``columns`` columns from the first ``columns`` of col (row stride ``width``)."""
            y = f"yg + r0 * {inner}"
            kind = BIAS_ROW if bias else BIAS_NONE
            return gemm_call(
                ctx, "wg", "col", y, dims.mg, dims.kdim, columns, ldb=width, ldy=win.out_size, bias=bias,
                bias_kind=kind, k_block=k_block,
            )  # fmt: skip

        with w.block(f"for (std::ptrdiff_t r0 = 0; r0 < {rows_total}; r0 += {block})"):
            w(f"const std::ptrdiff_t rows = {rows_total} - r0 < {block} ? {rows_total} - r0 : {block};")
            write_im2col(w, dims, width)
            full = product(width)
            tail = rows_total % block
            if not tail:
                w(full)
            else:
                if_else(w, f"rows == {block}", full, product(tail * inner))


@dataclass(frozen=True)
class WeightPanels(GroupProduct):
    """im2col of the whole output into col [kdim, P], then out[P, M] = col^T . W^T (+ bias per
    column) and y = out^T."""

    #: the weights are a packed constant: no pointer to the ONNX weights
    reads_weights: ClassVar[bool] = False

    @staticmethod
    def applies(dims: ConvDims, w_const: bool) -> bool:
        return (
            WEIGHT_PANEL_POSITIONS > 0 and dims.group == 1 and w_const and dims.win.out_size <= WEIGHT_PANEL_POSITIONS
        )

    def workspace(self, dims: ConvDims) -> int:
        return (dims.kdim + dims.m) * dims.win.out_size

    def group(self, ctx: CpuContext, w: CppWriter, t: ConvTensors, dims: ConvDims, bias: str | None) -> None:
        ctx.helper("valid_range", valid_range_code())
        win, mg, kdim = dims.win, dims.mg, dims.kdim
        out_size = win.out_size
        w_const = ctx.const(t.w)
        assert w_const is not None
        wt = np.asarray(w_const, dtype=np.float32).reshape(mg, kdim).T
        w(
            f"float* col = {ctx.scratch(np.float32)};",
            f"float* out = col + {kdim * out_size};  // [{out_size}, {mg}]",
            f"const std::ptrdiff_t r0 = 0, rows = {win.out[0]};",
        )
        write_im2col(w, dims, out_size)
        call = gemm_call(
            ctx,
            "col",
            "",
            "out",
            out_size,
            kdim,
            mg,
            a_strides=(1, out_size),
            b_const=wt,
            bias=bias,
            bias_kind=BIAS_COL if bias else BIAS_NONE,
            k_block=conv_k_block(dims.cg, win.taps, taps_in_k=True),
        )
        w(call)
        with w.loop("p", out_size):
            w(f"for (std::size_t m = 0; m < {mg}; ++m) yg[m * {out_size} + p] = out[p * {mg} + m];")
