"""ConvTranspose, the adjoint of Conv: per image and group col = W_g' . X_g (the weights
transposed at generation time when constant, else at run time into the workspace), then col2im
scatters col into Y (``loops.scatter``)."""

from __future__ import annotations

import numpy as np

from rmodel.cpp_writer import CppWriter

from ..base import CpuContext
from ..kernels import gemm_call
from .loops import kernel_taps, scatter
from .plan import ConvDims, ConvTensors
from .window import valid_range_code


def col_rows(dims: ConvDims) -> int:
    """Rows of col per group: output channels per group x kernel taps."""
    return dims.mg * dims.win.taps


def workspace(dims: ConvDims, w_const: bool) -> int:
    """Floats of col (and of the transposed weights when they are not constant)."""
    rows = col_rows(dims)
    return rows * dims.win.in_size + (0 if w_const else dims.c * rows)


def emit(ctx: CpuContext, w: CppWriter, t: ConvTensors, dims: ConvDims) -> None:
    ctx.helper("valid_range", valid_range_code())
    win, g, cg, mg = dims.win, dims.group, dims.cg, dims.mg
    in_size, out_size = win.in_size, win.out_size
    rows = col_rows(dims)
    w(
        f"const float* x = {ctx.ptr(t.x)};",
        f"float* y = {ctx.ptr(t.y)};",
        f"float* col = {ctx.scratch(np.float32)};",
    )
    w_const = ctx.const(t.w)
    if w_const is not None:
        # per group: W_g is [cg, mg * taps]; the product needs its transpose [mg * taps, cg]
        wt = w_const.reshape(g, cg, rows).transpose(0, 2, 1)
        w(f"const float* wt = {ctx.constant('transposed', wt)};")
    else:
        w(
            f"const float* w = {ctx.ptr(t.w)};",
            f"float* wt = col + {rows * in_size};",
            f"for (std::size_t g = 0; g < {g}; ++g)\n"
            f"  for (std::size_t c = 0; c < {cg}; ++c)\n"
            f"    for (std::size_t r = 0; r < {rows}; ++r)\n"
            f"      wt[(g * {rows} + r) * {cg} + c] = w[(g * {cg} + c) * {rows} + r];",
        )
    if t.bias:
        w(f"const float* bias = {ctx.ptr(t.bias)};")
        with w.loop("i", dims.n * dims.m):
            w(
                f"const float b = bias[i % {dims.m}];",
                f"float* yi = y + i * {out_size};",
                f"for (std::size_t j = 0; j < {out_size}; ++j) yi[j] = b;",
            )
    else:
        w(f"for (std::size_t j = 0; j < {dims.n * dims.m * out_size}; ++j) y[j] = 0.0f;")
    with w.loop("n", dims.n), w.loop("g", g):
        w(
            gemm_call(
                ctx, f"wt + g * {rows * cg}", f"x + (n * {dims.c} + g * {cg}) * {in_size}", "col", rows, cg, in_size
            ),
            "// col2im: y[m][i * stride + k * dilation - pad] += col[(m, k...), (i...)]",
        )
        with w.loop("m", mg):
            w(f"float* ym = y + (n * {dims.m} + g * {mg} + m) * {out_size};")
            with kernel_taps(w, win) as tap:
                w(f"const float* row = col + (m * {win.taps} + {tap}) * {in_size};")
                scatter(w, win, "row", "ym")
