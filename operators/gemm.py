"""Gemm and MatMul: dense matrix products, the core of Dense layers."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from rmodel.cpp_sources import cpp_source
from rmodel.cpp_writer import CppWriter
from rmodel.tensor import TensorInfo

from .base import CpuContext, Inferred, Operator, Plan, ShapeContext, broadcast_shapes, float_literal, register
from .kernels import BIAS_COL, gemm_call


def matmul_call(
    ctx: CpuContext,
    a: str,
    b: str,
    y: str,
    m: int,
    k: int,
    n: int,
    trans_a: bool,
    trans_b: bool,
    b_const: np.ndarray | None = None,
    bias: str | None = None,
) -> str:
    """C++ statement computing y = op(a) . op(b) (+ bias row vector of n values, if given).

    Uses the register-blocked kernel of ``kernels.py``: a constant ``b`` is packed into column
    panels at generation time (transposed first if stored transposed); a transposed ``a`` is read
    through strides. Only a run-time ``b`` stored transposed falls back to the strided loop, which
    cannot take a bias.
    """
    if b_const is not None:
        b_const = np.asarray(b_const, dtype=np.float32)
        b_const = b_const.reshape(n, k).T if trans_b else b_const.reshape(k, n)
        trans_b = False
    if not trans_b:
        return gemm_call(
            ctx,
            a,
            b,
            y,
            m,
            k,
            n,
            a_strides=(1, m) if trans_a else (k, 1),
            b_const=b_const,
            bias=bias,
            bias_kind=BIAS_COL,
        )
    assert bias is None, "bias fusion needs a constant or row-major b"
    ctx.helper("matmul_strided", cpp_source("rmodel.operators", "gemm.hpp", "matmul_strided"))
    sam, sak = (1, m) if trans_a else (k, 1)
    return f"detail::matmul_strided<{m}, {k}, {n}, {sam}, {sak}, 1, {k}>({a}, {b}, {y});"


@dataclass(frozen=True)
class ProductPlan(Plan):
    """One (m x k) . (k x n) matrix product."""

    m: int
    k: int
    n: int


@dataclass(frozen=True)
class BatchedProductPlan(ProductPlan):
    """``len(a_offsets)`` products; the element offsets of each one's a and b matrices, in output order."""

    a_offsets: tuple[int, ...]
    b_offsets: tuple[int, ...]


@register("Gemm")
class Gemm(Operator[ProductPlan]):
    """Y = alpha * A' . B' + beta * C, with C broadcast to Y (ONNX Gemm)."""

    attributes = {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 0}
    alpha: float
    beta: float
    trans_a: bool
    trans_b: bool

    def setup(self) -> None:
        self.alpha = float(self.attr["alpha"])
        self.beta = float(self.attr["beta"])
        self.trans_a = bool(self.attr["transA"])
        self.trans_b = bool(self.attr["transB"])

    def infer(self, ctx: ShapeContext) -> Inferred[ProductPlan]:
        a, b = self.input_info(0), self.input_info(1)
        if a.rank != 2 or b.rank != 2:
            raise self.fail(f"A and B must be matrices, got shapes {a.shape} and {b.shape}")
        if a.dtype != np.float32 or b.dtype != np.float32:
            raise self.fail("only float32 Gemm is supported")
        m, k = (a.shape[1], a.shape[0]) if self.trans_a else a.shape
        kb, n = (b.shape[1], b.shape[0]) if self.trans_b else b.shape
        if kb != k:
            raise self.fail(f"inner dimensions differ: A' is {m}x{k}, B' is {kb}x{n}")
        if self.has_input(2):
            c = self.input_info(2)
            if broadcast_shapes(self, c.shape, (m, n)) != (m, n):
                raise self.fail(f"C of shape {c.shape} does not broadcast to {(m, n)}")
        return self.inferred([self.out(0, np.float32, (m, n))], ProductPlan(m, k, n))

    def flops(self) -> int:
        p = self.plan
        return 2 * p.m * p.k * p.n + (2 * p.m * p.n if self.has_input(2) else 0)

    def emit_cpu(self, ctx: CpuContext, w: CppWriter) -> None:
        p = self.plan
        y = ctx.ptr(self.outputs[0])
        has_c = self.has_input(2) and self.beta != 0.0
        b_const = ctx.const(self.inputs[1])
        # a constant B is packed into a derived array: its original layout is never emitted
        b = ctx.ptr(self.inputs[1]) if b_const is None else ""
        row_bias = (
            has_c
            and self.alpha == 1.0
            and self.beta == 1.0
            and (not self.trans_b or b_const is not None)
            and tuple(ctx.info(self.inputs[2]).shape) in ((p.n,), (1, p.n))
        )
        w(
            matmul_call(
                ctx,
                ctx.ptr(self.inputs[0]),
                b,
                y,
                p.m,
                p.k,
                p.n,
                self.trans_a,
                self.trans_b,
                b_const,
                bias=ctx.ptr(self.inputs[2]) if row_bias else None,
            )
        )
        if row_bias:  # the common Dense layer: bias initialises the accumulators
            return
        if self.has_input(2) and not has_c and ctx.const(self.inputs[2]) is None:
            # beta = 0: C is never read; a runtime C would otherwise be an unused parameter
            w(f"(void){ctx.ptr(self.inputs[2])};")
        if self.alpha == 1.0 and not has_c:
            return
        scaled = "acc" if self.alpha == 1.0 else f"{float_literal(self.alpha)} * acc"
        if has_c:
            c_shape = ctx.info(self.inputs[2]).shape
            c_shape = (1,) * (2 - len(c_shape)) + tuple(c_shape)
            c_index = (
                " + ".join([t for t, d in (("m * " + str(c_shape[1]), c_shape[0]), ("n", c_shape[1])) if d != 1]) or "0"
            )
            c_term = f"{ctx.ptr(self.inputs[2])}[{c_index}]"
            if self.beta != 1.0:
                c_term = f"{float_literal(self.beta)} * {c_term}"
            scaled = f"{scaled} + {c_term}"
        w(f"float* y = {y};")
        with w.loop("m", p.m), w.loop("n", p.n):
            w(f"const float acc = y[m * {p.n} + n];")
            w(f"y[m * {p.n} + n] = {scaled};")


class MatMulShapes(NamedTuple):
    """The shapes of numpy.matmul(a, b): one product of m x k by k x n per broadcast batch entry."""

    m: int
    k: int
    n: int
    a_offsets: tuple[int, ...]
    b_offsets: tuple[int, ...]
    out_shape: tuple[int, ...]


def matmul_shapes(op: Operator, a: TensorInfo, b: TensorInfo) -> MatMulShapes:
    """numpy.matmul's shapes (1-D operands promoted, leading dimensions broadcast); errors name ``op``."""
    if a.rank == 0 or b.rank == 0:
        raise op.fail("operands must have rank >= 1")
    a_shape = (1,) + a.shape if a.rank == 1 else a.shape
    b_shape = b.shape + (1,) if b.rank == 1 else b.shape
    m, k = a_shape[-2:]
    kb, n = b_shape[-2:]
    if kb != k:
        raise op.fail(f"inner dimensions differ: {a.shape} @ {b.shape}")
    batch = broadcast_shapes(op, a_shape[:-2], b_shape[:-2])
    a_offsets, b_offsets = _batch_offsets(batch, a_shape, b_shape)
    out_shape = batch + ((m,) if a.rank > 1 else ()) + ((n,) if b.rank > 1 else ())
    return MatMulShapes(m, k, n, a_offsets, b_offsets, out_shape)


@register("MatMul")
class MatMul(Operator[BatchedProductPlan]):
    """numpy.matmul semantics: batched, broadcasting over leading dims, 1-D operands promoted."""

    def infer(self, ctx: ShapeContext) -> Inferred[BatchedProductPlan]:
        a, b = self.input_info(0), self.input_info(1)
        if a.dtype != np.float32 or b.dtype != np.float32:
            raise self.fail("only float32 MatMul is supported")
        s = matmul_shapes(self, a, b)
        plan = BatchedProductPlan(s.m, s.k, s.n, s.a_offsets, s.b_offsets)
        return self.inferred([self.out(0, np.float32, s.out_shape)], plan)

    def flops(self) -> int:
        p = self.plan
        return 2 * len(p.a_offsets) * p.m * p.k * p.n

    def emit_cpu(self, ctx: CpuContext, w: CppWriter) -> None:
        p = self.plan
        a, y = ctx.ptr(self.inputs[0]), ctx.ptr(self.outputs[0])
        m, k, n = p.m, p.k, p.n
        count = len(p.a_offsets)
        b_const = ctx.const(self.inputs[1])  # constant weights are packed for the kernel
        a_stride = m * k
        if count == 1 or (
            p.a_offsets == tuple(i * a_stride for i in range(count)) and p.b_offsets == (0,) * count and k
        ):
            # one product; a shared right operand folds the batch into its rows
            b = ctx.ptr(self.inputs[1]) if b_const is None else ""
            w(matmul_call(ctx, a, b, y, count * m, k, n, False, False, b_const))
            return
        b = ctx.ptr(self.inputs[1])
        call = matmul_call(ctx, "a_i", "b_i", "y_i", m, k, n, False, False)
        w(f"static constexpr std::size_t a_offsets[{count}] = {{{', '.join(map(str, p.a_offsets))}}};")
        w(f"static constexpr std::size_t b_offsets[{count}] = {{{', '.join(map(str, p.b_offsets))}}};")
        with w.loop("i", count):
            w(f"const float* a_i = {a} + a_offsets[i];")
            w(f"const float* b_i = {b} + b_offsets[i];")
            w(f"float* y_i = {y} + i * {m * n};")
            w(call)


def _batch_offsets(
    batch: tuple[int, ...], a_shape: tuple[int, ...], b_shape: tuple[int, ...]
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Element offsets of each (broadcast) batch matrix of a and b, in output order."""
    a_batch = np.arange(math.prod(a_shape[:-2])).reshape(a_shape[:-2] or ())
    b_batch = np.arange(math.prod(b_shape[:-2])).reshape(b_shape[:-2] or ())
    a_idx = np.broadcast_to(a_batch, batch).ravel() if batch else np.array([0])
    b_idx = np.broadcast_to(b_batch, batch).ravel() if batch else np.array([0])
    m_k = a_shape[-2] * a_shape[-1]
    k_n = b_shape[-2] * b_shape[-1]
    return tuple(int(i) * m_k for i in a_idx), tuple(int(i) * k_n for i in b_idx)
