"""Convolutions computed per image and group as one matrix product (the register-blocked kernel of
``kernels.py``): the frame the pointwise, im2col and padded-taps strategies share, and the
pointwise strategy itself (1x1 kernel, stride 1, no padding: the input already is the im2col
matrix, Y_g = W_g . X_g + bias).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rmodel.cpp_writer import CppWriter

from ..base import CpuContext
from ..kernels import BIAS_NONE, BIAS_ROW, gemm_call
from .plan import ConvDims, ConvTensors, Strategy


@dataclass(frozen=True)
class GroupProduct(Strategy):
    """Pointers ``xg``, ``wg`` and ``yg`` to the input, weights and output of each image and group;
    subclasses write the product of one group (``bias``: pointer to its biases, or None)."""

    #: the weights are read through the ONNX tensor's pointer (False: the strategy packs them)
    reads_weights: ClassVar[bool] = True

    def before_groups(self, ctx: CpuContext, w: CppWriter, dims: ConvDims) -> None:
        """Statements before the loop over images and groups."""

    def group(self, ctx: CpuContext, w: CppWriter, t: ConvTensors, dims: ConvDims, bias: str | None) -> None:
        raise NotImplementedError

    def emit(self, ctx: CpuContext, w: CppWriter, t: ConvTensors, dims: ConvDims) -> None:
        w(f"const float* x = {ctx.ptr(t.x)};")
        if self.reads_weights:
            w(f"const float* w = {ctx.ptr(t.w)};")
        w(f"float* y = {ctx.ptr(t.y)};")
        if t.bias:
            w(f"const float* bias = {ctx.ptr(t.bias)};")
        self.before_groups(ctx, w, dims)
        cg, mg = dims.cg, dims.mg
        with w.loop("n", dims.n), w.loop("g", dims.group):
            w(f"const float* xg = x + (n * {dims.c} + g * {cg}) * {dims.win.in_size};")
            if self.reads_weights:
                w(f"const float* wg = w + g * {mg * dims.kdim};")
            w(f"float* yg = y + (n * {dims.m} + g * {mg}) * {dims.win.out_size};")
            self.group(ctx, w, t, dims, f"bias + g * {mg}" if t.bias else None)


@dataclass(frozen=True)
class Pointwise(GroupProduct):
    """1x1 kernel, stride 1, no padding: one product per group straight from the input."""

    def group(self, ctx: CpuContext, w: CppWriter, t: ConvTensors, dims: ConvDims, bias: str | None) -> None:
        kind = BIAS_ROW if bias else BIAS_NONE
        w(gemm_call(ctx, "wg", "xg", "yg", dims.mg, dims.kdim, dims.win.out_size, bias=bias, bias_kind=kind))
