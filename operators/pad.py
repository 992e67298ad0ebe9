"""Pad: grow (or, with negative pads in constant mode, crop) a tensor along its axes.

Modes: constant (the value from the attribute or the optional, possibly run-time, input), reflect
(mirror without repeating the edge), edge (repeat the edge) and wrap (periodic).
"""

from __future__ import annotations

import math
from contextlib import ExitStack
from dataclasses import dataclass

import numpy as np

from rmodel.cpp_writer import CppWriter
from rmodel.tensor import cpp_type

from .base import (
    CpuContext,
    Inferred,
    Operator,
    Plan,
    ShapeContext,
    float_literal,
    normalize_axis,
    register,
    strides_of,
)
from .strided_copy import as_int_list, index_expr, write_strided_copy

MODES = ("constant", "reflect", "edge", "wrap")


@dataclass(frozen=True)
class PadPlan(Plan):
    """Pads before and after every axis (negative: cropped) and the constant-mode fill value:
    ``value`` when it is known at generation time, else read at run time from ``value_input``."""

    begin: tuple[int, ...]
    end: tuple[int, ...]
    value: float | None
    value_input: str | None


def source_index(o: int, begin: int, extent: int, mode: str) -> int:
    """Input coordinate read for output coordinate ``o`` on an axis padded by ``begin`` in front."""
    p = o - begin
    if 0 <= p < extent:
        return p
    if mode == "edge":
        return min(max(p, 0), extent - 1)
    if mode == "wrap":
        return p % extent
    period = 2 * (extent - 1)  # reflect
    p %= period
    return p if p < extent else period - p


@register("Pad")
class Pad(Operator[PadPlan]):
    """y = x with ``pads`` elements added before/after each axis (pads = [begins..., ends...])."""

    #: 'paddings' before opset 2, 'pads' and 'value' before 11 (inputs since), from onnx.defs
    attributes = {"paddings": None, "pads": None, "mode": "constant", "value": 0.0}
    #: one of MODES
    mode: str

    def setup(self) -> None:
        self.mode = str(self.attr["mode"])
        if self.mode not in MODES:
            raise self.fail(f"mode '{self.mode}' is not supported; use one of {', '.join(MODES)}")

    def _pads(self, ctx: ShapeContext, rank: int) -> list[int]:
        """Begin and end pads for every axis (length 2 * rank)."""
        if self.opset < 11:
            pads = self.attr["paddings" if self.opset < 2 else "pads"]
            if pads is None:
                raise self.fail("lacks its pads attribute")
            pads = [int(p) for p in pads]
            axes = list(range(rank))
        else:
            pads = as_int_list(ctx.const(self.inputs[1])) if self.has_input(1) else None
            if pads is None:
                raise self.fail("the pads (input 1) must be a constant known at generation time")
            axes_value = ctx.const(self.inputs[3]) if self.has_input(3) else None
            if self.has_input(3) and axes_value is None:
                raise self.fail("the axes (input 3) must be a constant known at generation time")
            axes = (
                list(range(rank))
                if axes_value is None
                else [normalize_axis(a, rank, self) for a in as_int_list(axes_value) or []]
            )
            if len(set(axes)) != len(axes):
                raise self.fail(f"axes {axes} repeat an axis")
        if len(pads) != 2 * len(axes):
            raise self.fail(f"pads {pads} must hold 2 x {len(axes)} numbers (begins, then ends)")
        full = [0] * (2 * rank)
        for k, axis in enumerate(axes):
            full[axis], full[rank + axis] = pads[k], pads[len(axes) + k]
        return full

    def infer(self, ctx: ShapeContext) -> Inferred[PadPlan]:
        x = self.input_info(0)
        pads = self._pads(ctx, x.rank)
        begin, end = tuple(pads[: x.rank]), tuple(pads[x.rank :])
        shape = [d + b + e for d, b, e in zip(x.shape, begin, end, strict=True)]
        if any(d < 0 for d in shape):
            raise self.fail(f"pads {pads} crop more than the input shape {x.shape} holds")
        if self.mode != "constant":
            if any(p < 0 for p in pads):
                raise self.fail(f"negative pads {pads} (cropping) are only supported in constant mode")
            for axis, (d, b, e) in enumerate(zip(x.shape, begin, end, strict=True)):
                if (b or e) and d == 0:
                    raise self.fail(f"cannot pad the empty axis {axis} in {self.mode} mode")
                if self.mode == "reflect" and max(b, e) > d - 1:
                    raise self.fail(f"reflect pads of axis {axis} must be below its extent {d}, got {b} and {e}")
        value: float | None = float(self.attr.get("value", 0.0))
        value_input: str | None = None
        if self.opset >= 11 and self.has_input(2):
            constant = ctx.const(self.inputs[2])
            if constant is None:
                value, value_input = None, self.inputs[2]
            elif constant.size:
                value = constant.reshape(-1)[0].item()
        return self.inferred([self.out(0, x.dtype, shape)], PadPlan(begin, end, value, value_input))

    def flops(self) -> int:
        return 0

    def _literal(self, dtype: np.dtype) -> str:
        value = self.plan.value
        assert value is not None
        if dtype == np.float32:
            return float_literal(value)
        if dtype == np.bool_:
            return "true" if value else "false"
        if np.issubdtype(dtype, np.floating):
            return repr(float(value))
        return f"static_cast<{cpp_type(dtype)}>({int(value)})"

    def emit_cpu(self, ctx: CpuContext, w: CppWriter) -> None:
        x, out = self.input_info(0), self.output_info(0)
        t = cpp_type(x.dtype)
        src, dst = ctx.ptr(self.inputs[0]), ctx.ptr(self.outputs[0])
        if out.size == 0:
            w("// (nothing to pad: empty output)")
            return
        plan = self.plan
        w(f"const {t}* src_ = {src};", f"{t}* dst_ = {dst};")
        in_strides, out_strides = strides_of(x.shape), strides_of(out.shape)
        if self.mode != "constant":
            self._gather_loops(w, x.shape, out.shape, in_strides, out_strides)
            return
        # constant: fill what the input does not cover, then copy the (possibly cropped) input block
        src_begin = [max(0, -b) for b in plan.begin]
        dst_begin = [max(0, b) for b in plan.begin]
        count = [max(0, d - max(0, -b) - max(0, -e)) for d, b, e in zip(x.shape, plan.begin, plan.end, strict=True)]
        if math.prod(count) < out.size:  # (without padding, a run-time fill value is not read)
            if plan.value_input is not None:
                w(f"const {t} value_ = *{ctx.ptr(plan.value_input)};")
            w(f"std::fill_n(dst_, {out.size}, {'value_' if plan.value_input is not None else self._literal(x.dtype)});")
        src_offset = sum(b * s for b, s in zip(src_begin, in_strides, strict=True))
        dst_offset = sum(b * s for b, s in zip(dst_begin, out_strides, strict=True))
        if math.prod(count):
            write_strided_copy(w, "src_", "dst_", count, in_strides, out_strides, src_offset, dst_offset)

    def _gather_loops(
        self,
        w: CppWriter,
        in_shape: tuple[int, ...],
        out_shape: tuple[int, ...],
        in_strides: list[int],
        out_strides: list[int],
    ) -> None:
        """Loops over the output reading the input through per-axis index tables (reflect/edge/wrap)."""
        names = [f"i{k}" for k in range(len(out_shape))]
        src_terms: list[str] = []
        for k, (d, extent, b, e) in enumerate(zip(in_shape, out_shape, self.plan.begin, self.plan.end, strict=True)):
            if b == 0 and e == 0:
                src_terms.append(index_expr(0, [in_strides[k]], [names[k]]))
                continue
            table = [source_index(o, b, d, self.mode) * in_strides[k] for o in range(extent)]
            w(f"static constexpr std::size_t axis{k}_[{extent}] = {{{', '.join(map(str, table))}}};")
            src_terms.append(f"axis{k}_[{names[k]}]")
        with ExitStack() as nest:
            for name, extent in zip(names, out_shape, strict=True):
                nest.enter_context(w.loop(name, extent))
            w(f"dst_[{index_expr(0, out_strides, names)}] = src_[{' + '.join(src_terms) or '0'}];")
