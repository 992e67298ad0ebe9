"""Pad: grow (or, with negative pads in constant mode, crop) a tensor along its axes.

Modes: constant (the value from the attribute or the optional, possibly run-time, input), reflect
(mirror without repeating the edge), edge (repeat the edge) and wrap (periodic).
"""

from __future__ import annotations

import math

import numpy as np

from rmodel.tensor import cpp_type

from .base import CpuContext, Operator, ShapeContext, float_literal, normalize_axis, register, strides_of
from .strided_copy import as_int_list, index_expr, strided_copy

MODES = ("constant", "reflect", "edge", "wrap")


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
class Pad(Operator):
    """y = x with ``pads`` elements added before/after each axis (pads = [begins..., ends...])."""

    #: 'paddings' before opset 2, 'pads' and 'value' before 11 (inputs since), from onnx.defs
    attributes = {"paddings": None, "pads": None, "mode": "constant", "value": 0.0}

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

    def infer(self, ctx: ShapeContext) -> list:
        x = self.input_info(0)
        pads = self._pads(ctx, x.rank)
        self.begin, self.end = pads[: x.rank], pads[x.rank :]
        shape = [d + b + e for d, b, e in zip(x.shape, self.begin, self.end, strict=True)]
        if any(d < 0 for d in shape):
            raise self.fail(f"pads {pads} crop more than the input shape {x.shape} holds")
        if self.mode != "constant":
            if any(p < 0 for p in pads):
                raise self.fail(f"negative pads {pads} (cropping) are only supported in constant mode")
            for axis, (d, b, e) in enumerate(zip(x.shape, self.begin, self.end, strict=True)):
                if (b or e) and d == 0:
                    raise self.fail(f"cannot pad the empty axis {axis} in {self.mode} mode")
                if self.mode == "reflect" and max(b, e) > d - 1:
                    raise self.fail(f"reflect pads of axis {axis} must be below its extent {d}, got {b} and {e}")
        self.value: float | None = float(self.attr.get("value", 0.0))
        self.value_input: str | None = None
        if self.opset >= 11 and self.has_input(2):
            value = ctx.const(self.inputs[2])
            if value is None:
                self.value, self.value_input = None, self.inputs[2]
            elif value.size:
                self.value = value.reshape(-1)[0].item()
        return [self.out(0, x.dtype, shape)]

    def flops(self) -> int:
        return 0

    def _literal(self, dtype: np.dtype) -> str:
        assert self.value is not None
        if dtype == np.float32:
            return float_literal(self.value)
        if dtype == np.bool_:
            return "true" if self.value else "false"
        if np.issubdtype(dtype, np.floating):
            return repr(float(self.value))
        return f"static_cast<{cpp_type(dtype)}>({int(self.value)})"

    def emit_cpu(self, ctx: CpuContext) -> str:
        x, out = self.input_info(0), self.output_info(0)
        t = cpp_type(x.dtype)
        lines = [f"const {t}* src_ = {ctx.ptr(self.inputs[0])};", f"{t}* dst_ = {ctx.ptr(self.outputs[0])};"]
        if out.size == 0:
            return "// (nothing to pad: empty output)"
        in_strides, out_strides = strides_of(x.shape), strides_of(out.shape)
        if self.mode != "constant":
            return "\n".join(lines + self._gather_loops(x.shape, out.shape, in_strides, out_strides))
        # constant: fill what the input does not cover, then copy the (possibly cropped) input block
        src_begin = [max(0, -b) for b in self.begin]
        dst_begin = [max(0, b) for b in self.begin]
        count = [max(0, d - max(0, -b) - max(0, -e)) for d, b, e in zip(x.shape, self.begin, self.end, strict=True)]
        if math.prod(count) < out.size:  # (without padding, a run-time fill value is not read)
            value = self._literal(x.dtype) if self.value_input is None else "value_"
            if self.value_input is not None:
                lines.append(f"const {t} value_ = *{ctx.ptr(self.value_input)};")
            lines.append(f"std::fill_n(dst_, {out.size}, {value});")
        src_offset = sum(b * s for b, s in zip(src_begin, in_strides, strict=True))
        dst_offset = sum(b * s for b, s in zip(dst_begin, out_strides, strict=True))
        if math.prod(count):
            lines.append(strided_copy("src_", "dst_", count, in_strides, out_strides, src_offset, dst_offset))
        return "\n".join(lines)

    def _gather_loops(
        self,
        in_shape: tuple[int, ...],
        out_shape: tuple[int, ...],
        in_strides: list[int],
        out_strides: list[int],
    ) -> list[str]:
        """Loops over the output reading the input through per-axis index tables (reflect/edge/wrap)."""
        lines: list[str] = []
        names = [f"i{k}" for k in range(len(out_shape))]
        src_terms: list[str] = []
        for k, (d, extent, b, e) in enumerate(zip(in_shape, out_shape, self.begin, self.end, strict=True)):
            if b == 0 and e == 0:
                src_terms.append(index_expr(0, [in_strides[k]], [names[k]]))
                continue
            table = [source_index(o, b, d, self.mode) * in_strides[k] for o in range(extent)]
            lines.append(f"static constexpr std::size_t axis{k}_[{extent}] = {{{', '.join(map(str, table))}}};")
            src_terms.append(f"axis{k}_[{names[k]}]")
        indent = ""
        for name, extent in zip(names, out_shape, strict=True):
            lines.append(f"{indent}for (std::size_t {name} = 0; {name} < {extent}; ++{name}) {{")
            indent += "  "
        lines.append(f"{indent}dst_[{index_expr(0, out_strides, names)}] = src_[{' + '.join(src_terms) or '0'}];")
        for _ in names:
            indent = indent[:-2]
            lines.append(f"{indent}}}")
        return lines
