"""Integer products: MatMulInteger, QLinearMatMul, ConvInteger and QLinearConv.

int8/uint8 operands, int32 accumulation, exact. The zero point of the right operand (the
weights, per tensor or per output column/channel) is subtracted at generation time when the
operand is constant: the kernel (``int_product`` in ``operators/cpp/quantize.hpp``) multiplies
``a - a_zero_point`` with an int16 ``b - b_zero_point`` and vectorizes along the output columns.
A convolution gathers its input (less the zero point, padding 0) into int16 im2col rows first.

The QLinear forms requantize as onnxruntime does on x86-64 (``MlasRequantizeOutput``): the
multiplier ``a_scale * b_scale / y_scale`` is computed once in float32 in that order, the int32
sum (plus the int32 bias of QLinearConv) is converted to float, multiplied, clamped and rounded
half to even. (onnxruntime on ARM64 requantizes in fixed point, which can differ by one.)

Scales and the zero points of the QLinear forms must be constants; MatMulInteger's and
ConvInteger's activation zero point may be computed at run time (DynamicQuantizeLinear).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from onnx import NodeProto, helper

from rmodel.cpp_writer import CppWriter
from rmodel.errors import RModelError
from rmodel.tensor import TensorInfo, cpp_type

from .base import (
    CpuContext,
    Inferred,
    Operator,
    Plan,
    ShapeContext,
    broadcast_shapes,
    float_literal,
    register,
)
from .conv.plan import ConvDims
from .conv.window import Plane, conv_padding_and_group, window_geometry
from .gemm import matmul_shapes
from .quantize import quant_range, scalar_code, use_helper

#: the operand types of the integer products
INT8_TYPES = (np.dtype(np.int8), np.dtype(np.uint8))
#: the longest product whose int32 sum cannot overflow: K * 255 * 255 < 2^31
MAX_TERMS = (2**31 - 1) // (255 * 255)


def _check_operand(op: Operator, info: TensorInfo, what: str) -> None:
    if info.dtype not in INT8_TYPES:
        raise op.fail(f"{what} must be int8 or uint8, got {info.dtype}")


def _check_zero(op: Operator, index: int, like: TensorInfo, sizes: tuple[int, ...], what: str) -> None:
    """Input ``index`` (if given) is a zero point of ``like``'s type with one of ``sizes`` elements,
    as a scalar or a 1-D tensor."""
    if not op.has_input(index):
        return
    z = op.input_info(index)
    if z.dtype != like.dtype:
        raise op.fail(f"{what} is {z.dtype}, its operand is {like.dtype}")
    if z.rank > 1 or z.size not in sizes:
        allowed = " or ".join(f"{s} values" for s in sizes)
        raise op.fail(f"{what} has shape {z.shape}; supported: a scalar or 1-D with {allowed}")


def _check_scale(op: Operator, index: int, sizes: tuple[int, ...], what: str) -> None:
    s = op.input_info(index)
    if s.dtype != np.float32:
        raise op.fail(f"{what} must be float32, got {s.dtype}")
    if s.rank > 1 or s.size not in sizes:
        allowed = " or ".join(f"{n} values" for n in sizes)
        raise op.fail(f"{what} has shape {s.shape}; supported: a scalar or 1-D with {allowed}")


def _const_values(ctx: CpuContext, op: Operator, index: int, default: int = 0) -> np.ndarray:
    """A constant input as a flat int64/float array (``default`` when absent)."""
    if not op.has_input(index):
        return np.array([default])
    value = ctx.const(op.inputs[index])
    assert value is not None, "checked by constant_inputs"
    return np.asarray(value).reshape(-1)


def _multipliers(ctx: CpuContext, op: Operator, x_scale: int, w_scale: int, y_scale: int) -> np.ndarray:
    """x_scale * w_scale / y_scale in float32, in onnxruntime's order (one per w scale)."""
    xs = np.float32(_const_values(ctx, op, x_scale)[0])
    ys = np.float32(_const_values(ctx, op, y_scale)[0])
    ws = _const_values(ctx, op, w_scale).astype(np.float32)
    with np.errstate(all="ignore"):
        return np.array([np.float32(xs * w) / ys for w in ws], np.float32)


def _requantize_call(
    t: str,
    count: int,
    acc: str,
    bias: str,
    scale: str,
    per_scale: bool,
    zero: int,
    y: str,
    dtype: np.dtype,
    per_bias: bool = False,
) -> str:
    """``requantize`` of ``count`` sums into ``y`` of ``dtype``; float32 ``dtype``: ``scale_output``."""
    steps = f"{int(per_scale)}, {int(per_bias)}"
    if dtype == np.float32:
        return f"detail::scale_output<{count}, {steps}>({acc}, {bias}, {scale}, {y});"
    qmin, qmax = quant_range(dtype)
    lo, hi = float_literal(qmin - zero), float_literal(qmax - zero)
    return f"detail::requantize<{t}, {count}, {steps}>({acc}, {bias}, {scale}, {lo}, {hi}, {zero}, {y});"


# ---- matrix products -----------------------------------------------------------------------


@dataclass(frozen=True)
class IntMatMulPlan(Plan):
    """``len(a_offsets)`` (m x k) . (k x n) products, the element offsets of their operands, and
    whether b is a constant (shifted by its zero points at generation time)."""

    m: int
    k: int
    n: int
    a_offsets: tuple[int, ...]
    b_offsets: tuple[int, ...]
    b_const: bool


class _IntMatMul(Operator[IntMatMulPlan]):
    """numpy.matmul of integer operands (batched, broadcasting), int32 sums."""

    #: input indices of a, b and their zero points
    A: ClassVar[int] = 0
    B: ClassVar[int] = 1
    AZ: ClassVar[int] = 2
    BZ: ClassVar[int] = 3
    #: QLinearMatMul: requantize the int32 sums
    requantizes: ClassVar[bool] = False

    def product_plan(self, ctx: ShapeContext) -> tuple[IntMatMulPlan, tuple[int, ...]]:
        """The plan and the output shape."""
        a, b = self.input_info(self.A), self.input_info(self.B)
        _check_operand(self, a, "A")
        _check_operand(self, b, "B")
        s = matmul_shapes(self, a, b)
        m, k, n = s.m, s.k, s.n
        if k > MAX_TERMS:
            raise self.fail(f"products of {k} terms could overflow the int32 sums (at most {MAX_TERMS})")
        _check_zero(self, self.AZ, a, (1,), "the zero point of A")
        _check_zero(self, self.BZ, b, (1, n), "the zero point of B")
        b_const = ctx.const(self.inputs[self.B]) is not None
        if b_const and self.has_input(self.BZ) and ctx.const(self.inputs[self.BZ]) is None:
            raise self.fail("a constant B needs a constant zero point")
        return IntMatMulPlan(m, k, n, s.a_offsets, s.b_offsets, b_const), s.out_shape

    def flops(self) -> int:
        p = self.plan
        return 2 * len(p.a_offsets) * p.m * p.k * p.n

    def workspace(self) -> dict[np.dtype, int]:
        p = self.plan
        out: dict[np.dtype, int] = {}
        if not p.b_const:
            out[np.dtype(np.int16)] = p.k * p.n
        if self.requantizes:
            out[np.dtype(np.int32)] = p.m * p.n
        return out

    def emit_products(self, ctx: CpuContext, w: CppWriter, out: str, after: list[str]) -> None:
        """The products into ``out`` (y, or the int32 workspace of one product), each followed by
        the statements ``after`` (which read ``acc_i``, the sums, and ``i``, the product)."""
        p = self.plan
        ta = cpp_type(self.input_info(self.A).dtype)
        a = ctx.ptr(self.inputs[self.A])
        a_zero = scalar_code(ctx, self.inputs[self.AZ] if self.has_input(self.AZ) else "", "std::int32_t")
        count = len(p.a_offsets)
        use_helper(ctx, "int_product")
        w(f"const std::int32_t a_zero = {a_zero};")
        zname = self.inputs[self.BZ] if self.has_input(self.BZ) else ""
        if p.b_const:
            zero = _const_values(ctx, self, self.BZ).astype(np.int32)
            b_value = ctx.const(self.inputs[self.B])
            assert b_value is not None
            shifted = np.asarray(b_value).astype(np.int32).reshape(-1, p.k, p.n) - zero.reshape(1, 1, -1)
            b = ctx.constant("shifted", shifted.astype(np.int16))
        else:
            b = ctx.scratch(np.int16)
            per_column = bool(zname) and ctx.info(zname).size == p.n and p.n > 1
            if per_column:
                zero_expr = f"static_cast<std::int32_t>({ctx.ptr(zname)}[n])"
            else:
                w(f"const std::int32_t b_zero = {scalar_code(ctx, zname, 'std::int32_t')};")
                zero_expr = "b_zero"
        w(f"static constexpr std::size_t a_offsets[{count}] = {{{', '.join(map(str, p.a_offsets))}}};")
        w(f"static constexpr std::size_t b_offsets[{count}] = {{{', '.join(map(str, p.b_offsets))}}};")
        with w.loop("i", count):
            if p.b_const:
                b_i = f"{b} + b_offsets[i]"
            else:
                b_i = b
                src = ctx.ptr(self.inputs[self.B])
                with w.loop("k", p.k), w.loop("n", p.n):
                    w(
                        f"{b}[k * {p.n} + n] = static_cast<std::int16_t>("
                        f"static_cast<std::int32_t>({src}[b_offsets[i] + k * {p.n} + n]) - {zero_expr});"
                    )
            w(f"std::int32_t* acc_i = {out if self.requantizes else f'{out} + i * {p.m * p.n}'};")
            w(f"detail::int_product<{p.m}, {p.k}, {p.n}, {ta}>({a} + a_offsets[i], a_zero, {b_i}, acc_i);")
            w(*after)


@register("MatMulInteger")
class MatMulInteger(_IntMatMul):
    """y (int32) = (A - a_zero_point) . (B - b_zero_point), numpy.matmul broadcasting."""

    def infer(self, ctx: ShapeContext) -> Inferred[IntMatMulPlan]:
        plan, shape = self.product_plan(ctx)
        return self.inferred([self.out(0, np.int32, shape)], plan)

    def emit_cpu(self, ctx: CpuContext, w: CppWriter) -> None:
        if self.output_info(0).size:
            self.emit_products(ctx, w, ctx.ptr(self.outputs[0]), [])


@register("QLinearMatMul")
class QLinearMatMul(_IntMatMul):
    """y = requantize((a - a_zero_point) . (b - b_zero_point)) with the multiplier a_scale * b_scale /
    y_scale (per tensor, or per column of b)."""

    A, B, AZ, BZ = 0, 3, 2, 5
    requantizes = True
    constant_inputs = (1, 2, 4, 5, 6, 7)

    def infer(self, ctx: ShapeContext) -> Inferred[IntMatMulPlan]:
        plan, shape = self.product_plan(ctx)
        _check_scale(self, 1, (1,), "a_scale")
        _check_scale(self, 4, (1, plan.n), "b_scale")
        _check_scale(self, 6, (1,), "y_scale")
        for index, what in ((2, "a_zero_point"), (5, "b_zero_point"), (7, "y_zero_point")):
            if not self.has_input(index):
                raise self.fail(f"{what} is required")
        y_zero = self.input_info(7)
        if y_zero.dtype not in INT8_TYPES or y_zero.size != 1:
            raise self.fail(f"y_zero_point must be an int8 or uint8 scalar, got {y_zero.dtype} {y_zero.shape}")
        return self.inferred([self.out(0, y_zero.dtype, shape)], plan)

    def emit_cpu(self, ctx: CpuContext, w: CppWriter) -> None:
        p, out = self.plan, self.output_info(0)
        if out.size == 0:
            return
        use_helper(ctx, "requantize")
        scales = _multipliers(ctx, self, 1, 4, 6)
        zero = int(_const_values(ctx, self, 7)[0])
        w("static constexpr std::int32_t no_bias = 0;")
        scale = ctx.constant("multiplier", scales)
        y = f"{ctx.ptr(self.outputs[0])} + i * {p.m * p.n}"
        t = self.ctype(0)
        if scales.size == 1:
            after = [_requantize_call(t, p.m * p.n, "acc_i", "&no_bias", scale, False, zero, y, out.dtype)]
        else:
            call = _requantize_call(
                t, p.n, f"acc_i + r * {p.n}", "&no_bias", scale, True, zero, f"{y} + r * {p.n}", out.dtype
            )
            after = [f"for (std::size_t r = 0; r < {p.m}; ++r) {call}"]
        self.emit_products(ctx, w, ctx.scratch(np.int32), after)


@dataclass(frozen=True)
class QGemmPlan(Plan):
    """(m x k) . (k x n), and how the int32 bias C broadcasts: its (row, column) element steps."""

    m: int
    k: int
    n: int
    c_steps: tuple[int, int] | None


@register("com.microsoft::QGemm")
class QGemm(Operator[QGemmPlan]):
    """onnxruntime's QGemm: Y = requantize(alpha * A' . B' + C) for integer A, B and int32 C; with
    the multiplier (alpha * a_scale * b_scale) / y_scale (per tensor or per column of B). Without
    y_zero_point the output is float: float(sum) times the multiplier. The one com.microsoft
    operator: onnxruntime's QOperator quantization of Gemm and its fusion of DQ -> Gemm -> Q."""

    attributes = {"alpha": 1.0, "transA": 0, "transB": 0}
    constant_inputs = (1, 2, 3, 4, 5, 7, 8)
    alpha: float
    trans_b: bool

    def setup(self) -> None:
        self.alpha = float(np.float32(self.attr["alpha"]))
        self.trans_b = bool(self.attr["transB"])
        if int(self.attr["transA"]):
            raise RModelError(f"node '{self.name}' (QGemm): transA=1 is not supported")

    def infer(self, ctx: ShapeContext) -> Inferred[QGemmPlan]:
        a, b = self.input_info(0), self.input_info(3)
        _check_operand(self, a, "A")
        _check_operand(self, b, "B")
        if a.rank != 2 or b.rank != 2:
            raise self.fail(f"A and B must be matrices, got shapes {a.shape} and {b.shape}")
        m, k = a.shape
        kb, n = (b.shape[1], b.shape[0]) if self.trans_b else b.shape
        if kb != k:
            raise self.fail(f"inner dimensions differ: A is {m}x{k}, B' is {kb}x{n}")
        if k > MAX_TERMS:
            raise self.fail(f"products of {k} terms could overflow the int32 sums (at most {MAX_TERMS})")
        _check_zero(self, 2, a, (1,), "a_zero_point")
        _check_zero(self, 5, b, (1, n), "b_zero_point")
        _check_scale(self, 1, (1,), "a_scale")
        _check_scale(self, 4, (1, n), "b_scale")
        c_steps = None
        if self.has_input(6):
            c = self.input_info(6)
            if c.dtype != np.int32 or broadcast_shapes(self, c.shape, (m, n)) != (m, n):
                raise self.fail(f"C must be int32 broadcasting to {(m, n)}, got {c.dtype} {c.shape}")
            shape = (1,) * (2 - c.rank) + c.shape
            c_steps = (shape[1] if shape[0] > 1 else 0, 1 if shape[1] > 1 else 0)  # (row, column) steps
        out_type = np.dtype(np.float32)
        if self.has_input(7):
            _check_scale(self, 7, (1,), "y_scale")
        if self.has_input(8):
            y_zero = self.input_info(8)
            if y_zero.dtype not in INT8_TYPES or y_zero.size != 1 or not self.has_input(7):
                raise self.fail("y_zero_point must be an int8 or uint8 scalar, with y_scale")
            out_type = y_zero.dtype
        return self.inferred([self.out(0, out_type, (m, n))], QGemmPlan(m, k, n, c_steps))

    def flops(self) -> int:
        p = self.plan
        return 2 * p.m * p.k * p.n

    def workspace(self) -> dict[np.dtype, int]:
        return {np.dtype(np.int32): self.plan.m * self.plan.n}

    def to_onnx(self) -> list[NodeProto]:
        node = helper.make_node(
            "QGemm", self.inputs, self.outputs, name=self.name, domain="com.microsoft", **self.attrs
        )
        return [node]

    def emit_cpu(self, ctx: CpuContext, w: CppWriter) -> None:
        p, out = self.plan, self.output_info(0)
        if out.size == 0:
            return
        use_helper(ctx, "int_product")
        use_helper(ctx, "requantize" if out.dtype != np.float32 else "scale_output")
        b_value = ctx.const(self.inputs[3])
        assert b_value is not None
        b_int = np.asarray(b_value).astype(np.int32)
        b_int = b_int.T if self.trans_b else b_int
        zero = _const_values(ctx, self, 5).astype(np.int32)
        b = ctx.constant("shifted", (b_int - zero.reshape(1, -1)).astype(np.int16))
        ys = _const_values(ctx, self, 7)[0] if self.has_input(7) else None
        a_scale = np.float32(_const_values(ctx, self, 1)[0])
        with np.errstate(all="ignore"):
            scales = np.array(
                [np.float32(np.float32(self.alpha) * a_scale) * np.float32(s) for s in _const_values(ctx, self, 4)],
                np.float32,
            )
            if ys is not None:
                scales = (scales / np.float32(ys)).astype(np.float32)
        scale = ctx.constant("multiplier", scales)
        acc = ctx.scratch(np.int32)
        a_zero = scalar_code(ctx, self.inputs[2], "std::int32_t")
        w(
            f"detail::int_product<{p.m}, {p.k}, {p.n}, {cpp_type(self.input_info(0).dtype)}>({ctx.ptr(self.inputs[0])}, {a_zero}, {b}, {acc});"
        )
        y = ctx.ptr(self.outputs[0])
        zero_y = int(_const_values(ctx, self, 8)[0]) if self.has_input(8) else 0
        if p.c_steps is None:
            w("static constexpr std::int32_t no_bias = 0;")
            bias, row_step, per_bias = "&no_bias", 0, False
        else:
            bias, row_step, per_bias = ctx.ptr(self.inputs[6]), p.c_steps[0], bool(p.c_steps[1])
        if scales.size == 1 and p.c_steps in (None, (0, 0)):
            w(_requantize_call(self.ctype(0), p.m * p.n, acc, bias, scale, False, zero_y, y, out.dtype))
            return
        row_bias = f"{bias} + r * {row_step}" if row_step else bias
        call = _requantize_call(
            self.ctype(0),
            p.n,
            f"{acc} + r * {p.n}",
            row_bias,
            scale,
            scales.size > 1,
            zero_y,
            f"{y} + r * {p.n}",
            out.dtype,
            per_bias,
        )
        w(f"for (std::size_t r = 0; r < {p.m}; ++r) {call}")


# ---- convolutions --------------------------------------------------------------------------


@dataclass(frozen=True)
class IntConvPlan(Plan):
    """A 1-D or 2-D integer convolution: its dimensions and its window as a plane."""

    dims: ConvDims
    plane: Plane


class _IntConv(Operator[IntConvPlan]):
    """Grouped, strided, dilated, padded 1-D/2-D convolution of integers, int32 sums."""

    attributes = {
        "auto_pad": "NOTSET",
        "dilations": None,
        "group": 1,
        "kernel_shape": None,
        "pads": None,
        "strides": None,
    }
    #: input indices of x, w and their zero points
    X: ClassVar[int] = 0
    W: ClassVar[int] = 1
    XZ: ClassVar[int] = 2
    WZ: ClassVar[int] = 3
    requantizes: ClassVar[bool] = False
    constant_inputs: ClassVar[tuple[int, ...]] = (1, 3)

    auto_pad: str
    group: int

    def setup(self) -> None:
        self.auto_pad, self.group = conv_padding_and_group(self)

    def conv_plan(self) -> IntConvPlan:
        x, w = self.input_info(self.X), self.input_info(self.W)
        _check_operand(self, x, "X")
        _check_operand(self, w, "W")
        if x.rank not in (3, 4):
            raise self.fail(f"only 1-D and 2-D convolutions are supported, X has shape {x.shape}")
        if w.rank != x.rank:
            raise self.fail(f"W must have rank {x.rank} like X {x.shape}, got shape {w.shape}")
        kernel = tuple(int(k) for k in w.shape[2:])
        if self.attr["kernel_shape"] is not None and tuple(int(k) for k in self.attr["kernel_shape"]) != kernel:
            raise self.fail(f"kernel_shape {list(self.attr['kernel_shape'])} does not match W's shape {w.shape}")
        n, c = x.shape[:2]
        m = w.shape[0]
        if c % self.group or m % self.group or w.shape[1] * self.group != c:
            raise self.fail(f"X {x.shape}, W {w.shape} and group {self.group} do not agree")
        _check_zero(self, self.XZ, x, (1,), "the zero point of X")
        _check_zero(self, self.WZ, w, (1, m), "the zero point of W")
        win = window_geometry(
            self, x.shape[2:], kernel, self.attr["strides"], self.attr["dilations"], self.attr["pads"], self.auto_pad
        )
        dims = ConvDims(n, c, m, self.group, win)
        if dims.kdim > MAX_TERMS:
            raise self.fail(f"products of {dims.kdim} terms could overflow the int32 sums (at most {MAX_TERMS})")
        plane = win.plane
        assert plane is not None
        return IntConvPlan(dims, plane)

    def flops(self) -> int:
        d = self.plan.dims
        return 2 * d.n * d.m * d.win.out_size * d.kdim

    def workspace(self) -> dict[np.dtype, int]:
        d = self.plan.dims
        out: dict[np.dtype, int] = {np.dtype(np.int16): d.kdim * d.win.out_size}
        if self.requantizes:
            out[np.dtype(np.int32)] = d.mg * d.win.out_size
        return out

    def emit_products(self, ctx: CpuContext, w: CppWriter, out: str, after: list[str]) -> None:
        """For every image and group: im2col, the product into ``out`` (at ``y_offset``), then
        ``after`` (which reads ``acc``, ``b`` and ``g``)."""
        d, pl = self.plan.dims, self.plan.plane
        x_info = self.input_info(self.X)
        use_helper(ctx, "int_product")
        use_helper(ctx, "int_im2col")
        w_value = ctx.const(self.inputs[self.W])
        assert w_value is not None
        zero = _const_values(ctx, self, self.WZ).astype(np.int32)
        shifted = np.asarray(w_value).astype(np.int32).reshape(d.m, -1) - zero.reshape(-1, 1)
        weights = ctx.constant("shifted", shifted.astype(np.int16))
        x_zero = scalar_code(ctx, self.inputs[self.XZ] if self.has_input(self.XZ) else "", "std::int32_t")
        col = ctx.scratch(np.int16)
        p = d.win.out_size
        geometry = ", ".join(
            str(v) for v in (d.cg, pl.ih, pl.iw, pl.oh, pl.ow, pl.kh, pl.kw, pl.sh, pl.sw, pl.dh, pl.dw, pl.pt, pl.pl)
        )
        w(f"const std::int32_t x_zero = {x_zero};")
        with w.loop("b", d.n), w.loop("g", d.group):
            w(
                f"detail::int_im2col<{geometry}, {cpp_type(x_info.dtype)}>("
                f"{ctx.ptr(self.inputs[self.X])} + (b * {d.c} + g * {d.cg}) * {d.win.in_size}, x_zero, {col});"
            )
            acc = out if self.requantizes else f"{out} + (b * {d.m} + g * {d.mg}) * {p}"
            w(f"std::int32_t* acc = {acc};")
            w(
                f"detail::int_product<{d.mg}, {d.kdim}, {p}, std::int16_t>({weights} + g * {d.mg * d.kdim}, 0, {col}, acc);"
            )
            w(*after)


@register("ConvInteger")
class ConvInteger(_IntConv):
    """y (int32) = conv(x - x_zero_point, w - w_zero_point)."""

    def infer(self, ctx: ShapeContext) -> Inferred[IntConvPlan]:
        plan = self.conv_plan()
        d = plan.dims
        return self.inferred([self.out(0, np.int32, (d.n, d.m, *d.win.out))], plan)

    def emit_cpu(self, ctx: CpuContext, w: CppWriter) -> None:
        self.emit_products(ctx, w, ctx.ptr(self.outputs[0]), [])


@register("QLinearConv")
class QLinearConv(_IntConv):
    """y = requantize(conv(x - x_zero_point, w - w_zero_point) + B) with the multiplier x_scale *
    w_scale / y_scale (per tensor or per output channel)."""

    X, W, XZ, WZ = 0, 3, 2, 5
    requantizes = True
    constant_inputs = (1, 2, 3, 4, 5, 6, 7)

    def infer(self, ctx: ShapeContext) -> Inferred[IntConvPlan]:
        plan = self.conv_plan()
        d = plan.dims
        _check_scale(self, 1, (1,), "x_scale")
        _check_scale(self, 4, (1, d.m), "w_scale")
        _check_scale(self, 6, (1,), "y_scale")
        y_zero = self.input_info(7) if self.has_input(7) else None
        if y_zero is None or y_zero.dtype not in INT8_TYPES or y_zero.size != 1:
            raise self.fail("y_zero_point must be an int8 or uint8 scalar")
        if self.has_input(8):
            bias = self.input_info(8)
            if bias.dtype != np.int32 or bias.shape != (d.m,):
                raise self.fail(f"B must be int32 of shape ({d.m},), got {bias.dtype} {bias.shape}")
        return self.inferred([self.out(0, y_zero.dtype, (d.n, d.m, *d.win.out))], plan)

    def emit_cpu(self, ctx: CpuContext, w: CppWriter) -> None:
        d, out = self.plan.dims, self.output_info(0)
        p = d.win.out_size
        use_helper(ctx, "requantize")
        scales = _multipliers(ctx, self, 1, 4, 6)
        zero = int(_const_values(ctx, self, 7)[0])
        scale = ctx.constant("multiplier", scales)
        if self.has_input(8):
            bias = f"{ctx.ptr(self.inputs[8])} + g * {d.mg} + c"
        else:
            w("static constexpr std::int32_t no_bias = 0;")
            bias = "&no_bias"
        channel_scale = f"{scale} + g * {d.mg} + c" if scales.size > 1 else scale
        y = f"{ctx.ptr(self.outputs[0])} + ((b * {d.m} + g * {d.mg} + c) * {p})"
        call = _requantize_call(self.ctype(0), p, f"acc + c * {p}", bias, channel_scale, False, zero, y, out.dtype)
        self.emit_products(ctx, w, ctx.scratch(np.int32), [f"for (std::size_t c = 0; c < {d.mg}; ++c) {call}"])
