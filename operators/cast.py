"""Cast and CastLike: convert elements between float32/float64/int64/int32/int16/int8/uint8/bool.

Conversions follow C++ ``static_cast`` like onnxruntime: floats to integers truncate toward zero,
any non-zero value becomes ``true``, narrowing integer casts wrap around. Casting a float that is
out of the target integer range is undefined (as in onnxruntime).
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto

from rmodel.cpp_writer import CppWriter
from rmodel.errors import DTypeError
from rmodel.tensor import cpp_type, onnx_to_numpy_dtype

from . import intmath
from .base import NO_PLAN, REQUIRED, CpuContext, Inferred, Operator, Plan, ShapeContext, register


def cast_expression(value: str, src: np.dtype, dst: np.dtype) -> str:
    """C++ expression converting ``value`` of type ``src`` to ``dst``."""
    if src == dst:
        return value
    if dst == np.bool_:
        return f"{value} != {cpp_type(src)}(0)"
    if np.issubdtype(src, np.floating) and np.issubdtype(dst, np.integer):
        # NaN, infinities and out-of-range values are undefined behaviour for static_cast
        return f"detail::float_to_int<{cpp_type(dst)}>({value})"
    return f"static_cast<{cpp_type(dst)}>({value})"


class _Convert(Operator[Plan]):
    """Elementwise conversion to the dtype of the output."""

    def flops(self) -> int:
        return 0

    def emit_cpu(self, ctx: CpuContext, w: CppWriter) -> None:
        x, out = self.input_info(0), self.output_info(0)
        # CastLike reads only the type of its second input
        w(*(f"(void){ctx.ptr(n)};" for n in self.inputs[1:] if n and ctx.const(n) is None))
        if out.size == 0:
            w("// (nothing to cast: empty tensor)")
            return
        if x.dtype == out.dtype:
            size = f"{out.size} * sizeof({cpp_type(x.dtype)})"
            w(f"std::memcpy({ctx.ptr(self.outputs[0])}, {ctx.ptr(self.inputs[0])}, {size});")
            return
        expression = cast_expression("src_[i]", x.dtype, out.dtype)
        if "detail::float_to_int" in expression:
            intmath.use(ctx)
        w(f"const {cpp_type(x.dtype)}* src_ = {ctx.ptr(self.inputs[0])};")
        w(f"{cpp_type(out.dtype)}* dst_ = {ctx.ptr(self.outputs[0])};")
        w(f"for (std::size_t i = 0; i < {out.size}; ++i) dst_[i] = {expression};")


@register("Cast")
class Cast(_Convert):
    """y = x converted to the element type ``to``."""

    attributes = {"to": REQUIRED, "saturate": 1}  # saturate: opset 19+
    #: the element type of the output
    target: np.dtype

    def setup(self) -> None:
        to = self.attr["to"]
        if isinstance(to, str):  # opset 1 spelled the type as a string
            to = TensorProto.DataType.Value(to.upper())
        try:
            self.target = onnx_to_numpy_dtype(int(to), f"node '{self.name}' (Cast) target type")
        except DTypeError:
            raise
        except ValueError as exc:
            raise DTypeError(f"node '{self.name}' (Cast): unknown target type {to!r}") from exc

    def infer(self, ctx: ShapeContext) -> Inferred[Plan]:
        x = self.input_info(0)
        return self.inferred([self.out(0, self.target, x.shape)], NO_PLAN)


@register("CastLike")
class CastLike(_Convert):
    """y = x converted to the element type of the second input."""

    attributes = {"saturate": 1}  # opset 19+

    def infer(self, ctx: ShapeContext) -> Inferred[Plan]:
        x, like = self.input_info(0), self.input_info(1)
        return self.inferred([self.out(0, like.dtype, x.shape)], NO_PLAN)
