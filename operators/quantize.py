"""Linear quantization: QuantizeLinear, DequantizeLinear and DynamicQuantizeLinear.

Every result equals onnxruntime's CPU kernels bit for bit (``operators/cpp/quantize.hpp``):

- QuantizeLinear: ``y = saturate(round_half_even(x / scale) + zero_point)`` with ``x / scale`` a
  float32 *division* (onnxruntime's MLAS divides; a product with ``1 / scale`` rounds differently
  for about one value in ten near a tie), clamped before rounding; NaN gives the minimum of the
  type less the zero point, i.e. the type's minimum at zero point 0 (as MLAS's ``max`` does).
- DequantizeLinear: ``y = float(int32(x) - zero_point) * scale``: one float32 product.
- DynamicQuantizeLinear (uint8): the range [min(x, 0), max(x, 0)]; ``scale = (max - min) / 255``
  (1 when the range is empty), ``zero_point = round_half_even(clamp(0 - min / scale, 0, 255))``,
  then QuantizeLinear with them (onnxruntime's ``GetQuantizationParameter``).

Scales and zero points are scalars (per tensor) or 1-D along ``axis`` (per axis); constants are
written as literals, run-time ones are read where they are used. Blocked quantization
(``block_size``), float8/int4 types and uint16 are refused with an error naming the node.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rmodel.cpp_sources import cpp_source
from rmodel.cpp_writer import CppWriter
from rmodel.errors import RModelError
from rmodel.tensor import TensorInfo, cpp_type, onnx_to_numpy_dtype

from .base import NO_PLAN, CpuContext, Inferred, Operator, Plan, ShapeContext, float_literal, normalize_axis, register

#: the quantized element types rmodel implements (uint16 is not one of rmodel's tensor types)
QUANT_TYPES = (np.dtype(np.int8), np.dtype(np.uint8), np.dtype(np.int16))


def quant_range(dtype: np.dtype) -> tuple[int, int]:
    """(minimum, maximum) of an integer type."""
    info = np.iinfo(dtype)
    return int(info.min), int(info.max)


def use_helper(ctx: CpuContext, name: str) -> None:
    """Register one region of ``operators/cpp/quantize.hpp`` with the header."""
    ctx.helper(f"quantize_{name}", cpp_source("rmodel.operators", "quantize.hpp", name))


def scalar_code(ctx: CpuContext, name: str, kind: str, default: str = "0") -> str:
    """C++ expression of a scalar tensor ``name`` as ``kind`` (float or std::int32_t): a literal when
    it is constant, else a read of its first element; ``default`` when ``name`` is empty."""
    if not name:
        return default
    value = ctx.const(name)
    if value is None:
        return f"static_cast<{kind}>({ctx.ptr(name)}[0])"
    item = np.asarray(value).reshape(-1)[0]
    return float_literal(float(item)) if kind == "float" else str(int(item))


@dataclass(frozen=True)
class AxisPlan(Plan):
    """Per-tensor (``channels`` 1) or per-axis scaling of a tensor viewed as (outer, channels, inner)."""

    outer: int
    channels: int
    inner: int


def axis_plan(op: Operator, x: TensorInfo, scale: TensorInfo, zero: TensorInfo | None, axis: int) -> AxisPlan:
    """Check a scale (and zero point) against ``x`` and say how the channels lie in it."""
    if scale.dtype != np.float32:
        raise op.fail(f"the scale must be float32, got {scale.dtype}")
    if zero is not None and zero.shape != scale.shape:
        raise op.fail(f"the zero point's shape {zero.shape} differs from the scale's {scale.shape}")
    if scale.size == 1 and scale.rank <= 1:
        return AxisPlan(x.size, 1, 1)
    if scale.rank != 1:
        raise op.fail(
            f"the scale has shape {scale.shape}: only per-tensor (scalar) and per-axis (1-D) scales are "
            "supported, blocked quantization is not"
        )
    axis = normalize_axis(axis, x.rank, op)
    if x.shape[axis] != scale.shape[0]:
        raise op.fail(f"per-axis scale of {scale.shape[0]} values for axis {axis} of size {x.shape[axis]}")
    return AxisPlan(math.prod(x.shape[:axis]), x.shape[axis], math.prod(x.shape[axis + 1 :]))


class _Linear(Operator[AxisPlan]):
    """Shared attribute checks of QuantizeLinear and DequantizeLinear."""

    attributes = {"axis": 1, "block_size": 0, "saturate": 1, "output_dtype": 0, "precision": 0}
    axis: int

    def setup(self) -> None:
        self.axis = int(self.attr.get("axis", 1))  # (QuantizeLinear-10 has no axis)
        for name in ("block_size", "precision"):
            if int(self.attr.get(name, 0)):
                raise RModelError(
                    f"node '{self.name}' ({self.op_type}): attribute {name}={self.attr[name]} is not supported "
                    "(only per-tensor and per-axis quantization)"
                )

    def loops(self, ctx: CpuContext, w: CppWriter, body: str) -> None:
        """``body`` (with ``{s}``, ``{z}``, ``{offset}``, ``{count}`` = scale and zero point expressions,
        element offset and count) once per tensor or once per (outer, channel)."""
        p = self.plan
        scale, zero = self.inputs[1], self.inputs[2] if self.has_input(2) else ""
        if p.channels == 1:
            w(
                body.format(
                    s=scalar_code(ctx, scale, "float", "1.0f"),
                    z=self.zero_code(ctx, zero, None),
                    offset="0",
                    count=p.outer,
                )
            )
            return
        with w.loop("o", p.outer), w.loop("c", p.channels):
            z = self.zero_code(ctx, zero, "c")
            w(body.format(s=f"{ctx.ptr(scale)}[c]", z=z, offset=f"(o * {p.channels} + c) * {p.inner}", count=p.inner))

    def zero_code(self, ctx: CpuContext, zero: str, index: str | None) -> str:
        if not zero:
            return "0"
        if index is None:
            return scalar_code(ctx, zero, "std::int32_t")
        return f"static_cast<std::int32_t>({ctx.ptr(zero)}[{index}])"


@register("QuantizeLinear")
class QuantizeLinear(_Linear):
    """y = saturate(round_half_even(x / scale) + zero_point), per tensor or per axis."""

    def infer(self, ctx: ShapeContext) -> Inferred[AxisPlan]:
        x, scale = self.input_info(0), self.input_info(1)
        zero = self.input_info(2) if self.has_input(2) else None
        if x.dtype != np.float32:
            raise self.fail(f"only float32 input is supported, got {x.dtype}")
        out = np.dtype(np.uint8)
        if zero is not None:
            out = zero.dtype
        elif int(self.attr.get("output_dtype", 0)):
            out = onnx_to_numpy_dtype(
                int(self.attr["output_dtype"]), f"node '{self.name}' (QuantizeLinear) output_dtype"
            )
        if out not in QUANT_TYPES:
            raise self.fail(f"quantizing to {out} is not supported; supported: int8, uint8, int16")
        plan = axis_plan(self, x, scale, zero, self.axis)
        return self.inferred([self.out(0, out, x.shape)], plan)

    def emit_cpu(self, ctx: CpuContext, w: CppWriter) -> None:
        if self.output_info(0).size == 0:
            return
        use_helper(ctx, "quantize")
        qmin, qmax = quant_range(self.output_info(0).dtype)
        t = self.ctype(0)
        w(f"const float* x = {ctx.ptr(self.inputs[0])};", f"{t}* y = {ctx.ptr(self.outputs[0])};")
        self.loops(
            ctx,
            w,
            "{{\n"
            "  const std::int32_t z = {z};\n"
            f"  detail::quantize<{t}, {{count}}>(x + {{offset}}, {{s}}, {qmin}.0f - static_cast<float>(z), "
            f"{qmax}.0f - static_cast<float>(z), static_cast<float>(z), y + {{offset}});\n"
            "}}",
        )


@register("DequantizeLinear")
class DequantizeLinear(_Linear):
    """y = float(x - zero_point) * scale, per tensor or per axis."""

    def infer(self, ctx: ShapeContext) -> Inferred[AxisPlan]:
        x, scale = self.input_info(0), self.input_info(1)
        zero = self.input_info(2) if self.has_input(2) else None
        if x.dtype not in (*QUANT_TYPES, np.dtype(np.int32)):
            raise self.fail(f"dequantizing {x.dtype} is not supported; supported: int8, uint8, int16, int32")
        if zero is not None and zero.dtype != x.dtype:
            raise self.fail(f"the zero point is {zero.dtype}, x is {x.dtype}")
        if int(self.attr.get("output_dtype", 0)) not in (0, 1):
            raise self.fail("only a float32 output is supported (output_dtype)")
        plan = axis_plan(self, x, scale, zero, self.axis)
        return self.inferred([self.out(0, np.float32, x.shape)], plan)

    def emit_cpu(self, ctx: CpuContext, w: CppWriter) -> None:
        if self.output_info(0).size == 0:
            return
        t = cpp_type(self.input_info(0).dtype)
        w(f"const {t}* x = {ctx.ptr(self.inputs[0])};", f"float* y = {ctx.ptr(self.outputs[0])};")
        # int32 - zero point wraps around as in onnxruntime (computed in 64 bits, reduced mod 2^32)
        self.loops(
            ctx,
            w,
            "{{\n"
            "  const float s = {s};\n"
            "  const std::int64_t z = {z};\n"
            "  for (std::size_t i = 0; i < {count}; ++i) {{\n"
            "    const auto d = static_cast<std::int32_t>(static_cast<std::int64_t>(x[{offset} + i]) - z);\n"
            "    y[{offset} + i] = static_cast<float>(d) * s;\n"
            "  }}\n"
            "}}",
        )

    def flops(self) -> int:
        return self.output_info(0).size


@register("DynamicQuantizeLinear")
class DynamicQuantizeLinear(Operator[Plan]):
    """uint8 quantization of x with the scale and zero point of its range (and zero)."""

    def infer(self, ctx: ShapeContext) -> Inferred[Plan]:
        x = self.input_info(0)
        if x.dtype != np.float32:
            raise self.fail(f"only float32 input is supported, got {x.dtype}")
        outs = [self.out(0, np.uint8, x.shape), self.out(1, np.float32, ()), self.out(2, np.uint8, ())]
        return self.inferred([o if n else None for o, n in zip(outs, self.outputs + ["", ""])], NO_PLAN)

    def flops(self) -> int:
        return 3 * self.input_info(0).size

    def emit_cpu(self, ctx: CpuContext, w: CppWriter) -> None:
        n = self.input_info(0).size
        use_helper(ctx, "quantize")
        w(f"const float* x = {ctx.ptr(self.inputs[0])};")
        w("float lo = 0.0f, hi = 0.0f;  // the range always holds 0")
        w(f"for (std::size_t i = 0; i < {n}; ++i) {{ lo = x[i] < lo ? x[i] : lo; hi = x[i] > hi ? x[i] : hi; }}")
        w("const float scale = hi == lo ? 1.0f : (hi - lo) / 255.0f;")
        w("float zf = 0.0f - lo / scale;")
        w("zf = std::nearbyint(zf < 0.0f ? 0.0f : (zf > 255.0f ? 255.0f : zf));")
        if n:
            w(f"detail::quantize<std::uint8_t, {n}>(x, scale, 0.0f - zf, 255.0f - zf, zf, {ctx.ptr(self.outputs[0])});")
        if len(self.outputs) > 1 and self.outputs[1]:
            w(f"{ctx.ptr(self.outputs[1])}[0] = scale;")
        if len(self.outputs) > 2 and self.outputs[2]:
            w(f"{ctx.ptr(self.outputs[2])}[0] = static_cast<std::uint8_t>(zf);")
