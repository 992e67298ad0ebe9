"""Elementwise operators: activations and math functions of one tensor, and broadcasting
arithmetic/comparison of several (Add, Mul, Max, Where, PRelu...)."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import numpy as np

from rmodel.cpp_writer import CppWriter
from rmodel.tensor import cpp_type

from . import intmath, mathfn
from .base import (
    CpuContext,
    Inferred,
    Operator,
    Plan,
    ShapeContext,
    broadcast_shapes,
    float_literal,
    register,
    strides_of,
)

# op type -> (attribute defaults, C++ expression of `v` (float); attributes appear as {name})
UNARY_FLOAT: dict[str, tuple[dict[str, Any], str]] = {
    "Relu": ({}, "v < 0.0f ? 0.0f : v"),  # NaN stays NaN
    "LeakyRelu": ({"alpha": 0.01}, "v >= 0.0f ? v : {alpha} * v"),
    "Elu": ({"alpha": 1.0}, "v >= 0.0f ? v : {alpha} * (detail::exp_f32(v) - 1.0f)"),
    "Celu": ({"alpha": 1.0}, "std::max(v, 0.0f) + std::min({alpha} * (detail::exp_f32(v / {alpha}) - 1.0f), 0.0f)"),
    "Selu": (
        {"alpha": 1.67326319217681884765625, "gamma": 1.05070102214813232421875},
        "v > 0.0f ? {gamma} * v : {gamma} * ({alpha} * detail::exp_f32(v) - {alpha})",
    ),
    "ThresholdedRelu": ({"alpha": 1.0}, "v > {alpha} ? v : 0.0f"),
    "Sigmoid": ({}, "detail::sigmoid_f32(v)"),
    "HardSigmoid": ({"alpha": 0.2, "beta": 0.5}, "std::max(std::min({alpha} * v + {beta}, 1.0f), 0.0f)"),
    # in double, rounded once: three float roundings were 1.35x onnxruntime's error (rms, vs float64)
    "HardSwish": ({}, "static_cast<float>(double(v) * std::max(std::min(double(v) / 6.0 + 0.5, 1.0), 0.0))"),
    "Tanh": ({}, "detail::tanh_f32(v)"),
    "Softplus": ({}, "v > 20.0f ? v : std::log1p(std::exp(v))"),
    "Softsign": ({}, "v / (1.0f + std::fabs(v))"),
    "Mish": ({}, "v * std::tanh(v > 20.0f ? v : std::log1p(std::exp(v)))"),
    "Exp": ({}, "detail::exp_f32(v)"),
    "Log": ({}, "std::log(v)"),
    "Sqrt": ({}, "std::sqrt(v)"),
    "Reciprocal": ({}, "1.0f / v"),
    "Erf": ({}, "std::erf(v)"),
    "Sin": ({}, "std::sin(v)"),
    "Cos": ({}, "std::cos(v)"),
    "Floor": ({}, "std::floor(v)"),
    "Ceil": ({}, "std::ceil(v)"),
    "Round": ({}, "std::nearbyint(v)"),
}
# ops also defined for integer types: expression for any T
UNARY_ANY: dict[str, str] = {
    "Neg": "-v",
    "Abs": "v < T(0) ? T(-v) : v",
    "Sign": "T((T(0) < v) - (v < T(0)))",
    "Identity": "v",
    "Not": "!v",
}


def calls_int_math(expression: str) -> bool:
    """Whether ``expression`` calls the helpers of operators/intmath.py (wrap_*, float_to_int)."""
    return "detail::wrap_" in expression or "detail::float_to_int" in expression


@dataclass(frozen=True)
class ElementwisePlan(Plan):
    """The C++ expression of one element (of ``v``, type ``T``)."""

    expression: str

    @property
    def int_math(self) -> bool:
        """The expression calls operators/intmath.py's helpers."""
        return calls_int_math(self.expression)

    @property
    def math_fn(self) -> bool:
        """The expression calls operators/mathfn.py's exp/tanh/sigmoid."""
        return not self.int_math and "detail::" in self.expression


class _Unary(Operator[ElementwisePlan]):
    """y = f(x) element by element."""

    @classmethod
    def attribute_defaults(cls, op_type: str, opset: int) -> dict[str, Any]:
        if op_type == "Gelu":
            return {"approximate": "none"}
        return UNARY_FLOAT[op_type][0] if op_type in UNARY_FLOAT else {}

    def setup(self) -> None:
        if self.op_type == "Gelu" and self.attr["approximate"] not in ("none", "tanh"):
            raise self.fail(f"approximate must be 'none' or 'tanh', got '{self.attr['approximate']}'")

    def infer(self, ctx: ShapeContext) -> Inferred[ElementwisePlan]:
        x = self.input_info(0)
        if self.op_type not in UNARY_ANY and x.dtype != np.float32:
            raise self.fail(f"input must be float32, got {x.dtype}")
        if (self.op_type == "Not") != (x.dtype == np.bool_):
            raise self.fail(
                f"{'Not needs a bool input' if self.op_type == 'Not' else 'bool inputs are not supported'}, got {x.dtype}"
            )
        return self.inferred([self.out(0, x.dtype, x.shape)], ElementwisePlan(self.expression(x.dtype)))

    def expression(self, dtype: np.dtype) -> str:
        """The C++ expression of ``v`` computing one output element of type ``dtype``."""
        if self.op_type == "Gelu":
            if self.attr["approximate"] == "tanh":
                return "0.5f * v * (1.0f + detail::tanh_f32(0.7978845608028654f * (v + 0.044715f * v * v * v)))"
            return "0.5f * v * (1.0f + std::erf(v * 0.70710678118654752f))"
        if self.op_type in ("Abs", "Sign") and np.issubdtype(dtype, np.unsignedinteger):
            # no `v < 0` for unsigned types: it is always false and -Wextra warns (-Wtype-limits)
            return "v" if self.op_type == "Abs" else "T(v != T(0))"
        if self.op_type in ("Neg", "Abs") and np.issubdtype(dtype, np.signedinteger):
            # -INT_MIN overflows: wrap around as two's complement hardware does (and onnxruntime gives)
            return "detail::wrap_neg<T>(v)" if self.op_type == "Neg" else "v < T(0) ? detail::wrap_neg<T>(v) : v"
        if self.op_type == "Sign" and np.issubdtype(dtype, np.floating):
            return "v != v ? v : T((T(0) < v) - (v < T(0)))"  # NaN stays NaN
        if self.op_type in UNARY_ANY:
            return UNARY_ANY[self.op_type]
        template = UNARY_FLOAT[self.op_type][1]
        return template.format(**{k: float_literal(v) for k, v in self.attr.items()})

    def emit_cpu(self, ctx: CpuContext, w: CppWriter) -> None:
        info = self.output_info(0)
        if self.plan.int_math:
            intmath.use(ctx)
        elif self.plan.math_fn:  # exp/tanh/sigmoid of operators/mathfn.py (vectorizable)
            mathfn.use(ctx)
        w(
            f"using T = {cpp_type(info.dtype)};",
            f"const T* x = {ctx.ptr(self.inputs[0])};",
            f"T* y = {ctx.ptr(self.outputs[0])};",
        )
        with w.loop("i", info.size):
            w("const T v = x[i];", f"y[i] = {self.plan.expression};")


register(*UNARY_FLOAT, *UNARY_ANY, "Gelu")(_Unary)


# ---- n-ary broadcasting ---------------------------------------------------------------------


@dataclass(frozen=True)
class BroadcastLoops:
    """The loop nest of a broadcasting op: dims merged into as few loops as possible."""

    extents: tuple[int, ...]
    #: per input, its element stride in every loop (0: broadcast along that loop)
    strides: tuple[tuple[int, ...], ...]


def broadcast_loops(out_shape: tuple[int, ...], in_shapes: list[tuple[int, ...]]) -> BroadcastLoops:
    """Collapse dims into as few loops as possible."""
    rank = len(out_shape)
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in in_shapes]
    full_strides = [strides_of(s) for s in padded]
    dims: list[int] = []
    strides: list[list[int]] = [[] for _ in in_shapes]
    for axis, extent in enumerate(out_shape):
        if extent == 1:
            continue
        per_input = [full_strides[i][axis] if padded[i][axis] != 1 else 0 for i in range(len(in_shapes))]
        if dims and all(
            (strides[i][-1] == 0 and per_input[i] == 0)
            or (strides[i][-1] == per_input[i] * extent and per_input[i] != 0)
            for i in range(len(in_shapes))
        ):
            dims[-1] *= extent
            for i in range(len(in_shapes)):
                strides[i][-1] = per_input[i]
        else:
            dims.append(extent)
            for i in range(len(in_shapes)):
                strides[i].append(per_input[i])
    return BroadcastLoops(tuple(dims), tuple(tuple(s) for s in strides))


def write_broadcast(
    w: CppWriter,
    out_ptr: str,
    out_type: str,
    loops: BroadcastLoops,
    inputs: list[tuple[str, str]],
    expression: str,
) -> None:
    """Nested loops computing out[...] = expression(v0, v1, ...) with numpy broadcasting.

    ``inputs`` are (pointer, C++ type) in the order of ``loops.strides``; the expression reads
    ``v0``, ``v1``...
    """
    w(f"{out_type}* y = {out_ptr};")
    w(*(f"const {t}* x{i} = {p};" for i, (p, t) in enumerate(inputs)))

    def index(strides_: tuple[int, ...] | list[int]) -> str:
        terms = [f"i{d} * {s}" if s != 1 else f"i{d}" for d, s in enumerate(strides_) if s]
        return " + ".join(terms) or "0"

    with ExitStack() as nest:
        for d, extent in enumerate(loops.extents):
            nest.enter_context(w.loop(f"i{d}", extent))
        w(*(f"const auto v{i} = x{i}[{index(loops.strides[i])}];" for i in range(len(inputs))))
        w(f"y[{index(strides_of(loops.extents))}] = {expression};")


# op type -> (C++ expression over v0, v1 (and v2); result dtype: None = same as inputs)
BINARY: dict[str, tuple[str, Any]] = {
    "Add": ("v0 + v1", None),
    "Sub": ("v0 - v1", None),
    "Mul": ("v0 * v1", None),
    "Div": ("v0 / v1", None),
    "Pow": ("std::pow(v0, v1)", None),
    "Equal": ("v0 == v1", np.bool_),
    "Less": ("v0 < v1", np.bool_),
    "LessOrEqual": ("v0 <= v1", np.bool_),
    "Greater": ("v0 > v1", np.bool_),
    "GreaterOrEqual": ("v0 >= v1", np.bool_),
    "And": ("v0 && v1", np.bool_),
    "Or": ("v0 || v1", np.bool_),
    "Xor": ("v0 != v1", np.bool_),
    "PRelu": ("v0 < 0 ? v1 * v0 : v0", None),
    "Where": ("v0 ? v1 : v2", None),
}
VARIADIC = {"Max": "std::max", "Min": "std::min", "Sum": "+", "Mean": "+"}
# integer forms with defined results (two's complement wrap-around, as onnxruntime gives on every
# platform it runs on) instead of signed-overflow undefined behaviour
INTEGER_BINARY = {
    "Add": "detail::wrap_add<{t}>(v0, v1)",
    "Sub": "detail::wrap_sub<{t}>(v0, v1)",
    "Mul": "detail::wrap_mul<{t}>(v0, v1)",
    "PRelu": "v0 < 0 ? detail::wrap_mul<{t}>(v1, v0) : v0",
    "Pow": "detail::float_to_int<{t}>(std::pow(static_cast<double>(v0), static_cast<double>(v1)))",
}


@dataclass(frozen=True)
class BroadcastPlan(Plan):
    """The loop nest over the output and the expression of one element (of ``v0``, ``v1``...)."""

    loops: BroadcastLoops
    expression: str

    @property
    def int_math(self) -> bool:
        """The expression calls operators/intmath.py's helpers."""
        return calls_int_math(self.expression)


class _Broadcasting(Operator[BroadcastPlan]):
    """Elementwise op of several inputs with numpy broadcasting."""

    def infer(self, ctx: ShapeContext) -> Inferred[BroadcastPlan]:
        infos = [self.input_info(i) for i in range(len(self.inputs))]
        if not infos:
            raise self.fail("needs at least one input")
        value_infos = infos[1:] if self.op_type == "Where" else infos[:1] if self.op_type == "Pow" else infos
        dtypes = {i.dtype for i in value_infos}
        if self.op_type in ("Sum", "Mean") and not np.issubdtype(value_infos[0].dtype, np.floating):
            raise self.fail(f"{self.op_type} is defined for float tensors only, got {value_infos[0].dtype}")
        if len(dtypes) != 1:
            raise self.fail(f"inputs have different dtypes {sorted(str(d) for d in dtypes)}")
        if self.op_type == "Where" and infos[0].dtype != np.bool_:
            raise self.fail("condition must be bool")
        shape = broadcast_shapes(self, *(i.shape for i in infos))
        if self.op_type == "PRelu" and shape != infos[0].shape:
            raise self.fail(f"slope of shape {infos[1].shape} must broadcast to X's shape {infos[0].shape}")
        dtype = BINARY.get(self.op_type, (None, None))[1] or value_infos[0].dtype
        if self.op_type == "Div" and np.issubdtype(value_infos[0].dtype, np.integer):
            raise self.fail("integer Div is not supported")
        expression = self.expression(len(infos), cpp_type(infos[-1].dtype), infos[0].dtype)
        loops = broadcast_loops(shape, [i.shape for i in infos])
        return self.inferred([self.out(0, dtype, shape)], BroadcastPlan(loops, expression))

    def expression(self, count: int, ctype: str, first: np.dtype) -> str:
        """C++ expression of ``v0``... ``v{count-1}`` (values of C++ type ``ctype``; ``first``: the
        dtype of the first input)."""
        if self.op_type in VARIADIC:
            fn = VARIADIC[self.op_type]
            expr = "v0"
            floating = ctype in ("float", "double")
            for i in range(1, count):
                if fn == "+":
                    expr = f"{expr} + v{i}"
                elif floating:  # std::max/min return their first argument for NaN: guard the second
                    expr = f"(v{i} != v{i} ? v{i} : {fn}<{ctype}>({expr}, v{i}))"
                else:
                    expr = f"{fn}<{ctype}>({expr}, v{i})"
            if self.op_type == "Mean":
                expr = f"({expr}) / static_cast<{ctype}>({count})"
            return expr
        if self.op_type in INTEGER_BINARY and np.issubdtype(first, np.integer):
            return INTEGER_BINARY[self.op_type].format(t=ctype)
        return BINARY[self.op_type][0]

    def emit_cpu(self, ctx: CpuContext, w: CppWriter) -> None:
        out = self.output_info(0)
        inputs = [(ctx.ptr(n), cpp_type(ctx.info(n).dtype)) for n in self.inputs]
        if self.plan.int_math:
            intmath.use(ctx)
        write_broadcast(w, ctx.ptr(self.outputs[0]), cpp_type(out.dtype), self.plan.loops, inputs, self.plan.expression)


register(*BINARY, *VARIADIC)(_Broadcasting)


@dataclass(frozen=True)
class ClipPlan(Plan):
    """The bounds (None: that side is not clipped; a float input then gets the type's limit)."""

    low: float | None
    high: float | None


@register("Clip")
class Clip(Operator[ClipPlan]):
    """y = min(max(x, lo), hi); bounds from attributes (opset < 11) or constant inputs."""

    attributes = {"min": None, "max": None}
    constant_inputs = (1, 2)

    def infer(self, ctx: ShapeContext) -> Inferred[ClipPlan]:
        x = self.input_info(0)
        if self.opset < 11:
            low, high = self.attr["min"], self.attr["max"]
        else:
            lo = ctx.const(self.inputs[1]) if self.has_input(1) else None
            hi = ctx.const(self.inputs[2]) if self.has_input(2) else None
            low = None if lo is None else lo.item()
            high = None if hi is None else hi.item()
        return self.inferred([self.out(0, x.dtype, x.shape)], ClipPlan(low, high))

    def emit_cpu(self, ctx: CpuContext, w: CppWriter) -> None:
        info = self.output_info(0)
        t = cpp_type(info.dtype)

        def literal(v: float) -> str:
            return float_literal(v) if info.dtype == np.float32 else f"static_cast<{t}>({v})"

        low, high = self.plan.low, self.plan.high
        if np.issubdtype(info.dtype, np.floating):  # ONNX: a missing bound is the type's finite limit
            low = float(np.finfo(info.dtype).min) if low is None else low
            high = float(np.finfo(info.dtype).max) if high is None else high
        expr = "v"  # the value first: std::max/min then return NaN for NaN
        if low is not None:
            expr = f"std::max<{t}>({expr}, {literal(low)})"
        if high is not None:
            expr = f"std::min<{t}>({expr}, {literal(high)})"
        w(f"const {t}* x = {ctx.ptr(self.inputs[0])};", f"{t}* y = {ctx.ptr(self.outputs[0])};")
        with w.loop("i", info.size):
            w(f"const {t} v = x[i];", f"y[i] = {expr};")
