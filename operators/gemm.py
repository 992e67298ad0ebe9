"""Gemm and MatMul: dense matrix products, the core of Dense layers."""

from __future__ import annotations

import math

import numpy as np

from rmodel.cpp_sources import cpp_source

from .base import CpuContext, Operator, ShapeContext, broadcast_shapes, float_literal, register
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


@register("Gemm")
class Gemm(Operator):
    """Y = alpha * A' . B' + beta * C, with C broadcast to Y (ONNX Gemm)."""

    attributes = {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 0}

    def setup(self) -> None:
        self.alpha = float(self.attr["alpha"])
        self.beta = float(self.attr["beta"])
        self.trans_a = bool(self.attr["transA"])
        self.trans_b = bool(self.attr["transB"])

    def infer(self, ctx: ShapeContext) -> list:
        a, b = self.input_info(0), self.input_info(1)
        if a.rank != 2 or b.rank != 2:
            raise self.fail(f"A and B must be matrices, got shapes {a.shape} and {b.shape}")
        if a.dtype != np.float32 or b.dtype != np.float32:
            raise self.fail("only float32 Gemm is supported")
        self.m, self.k = (a.shape[1], a.shape[0]) if self.trans_a else a.shape
        kb, self.n = (b.shape[1], b.shape[0]) if self.trans_b else b.shape
        if kb != self.k:
            raise self.fail(f"inner dimensions differ: A' is {self.m}x{self.k}, B' is {kb}x{self.n}")
        if self.has_input(2):
            c = self.input_info(2)
            if broadcast_shapes(self, c.shape, (self.m, self.n)) != (self.m, self.n):
                raise self.fail(f"C of shape {c.shape} does not broadcast to {(self.m, self.n)}")
        return [self.out(0, np.float32, (self.m, self.n))]

    def flops(self) -> int:
        return 2 * self.m * self.k * self.n + (2 * self.m * self.n if self.has_input(2) else 0)

    def emit_cpu(self, ctx: CpuContext) -> str:
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
            and tuple(ctx.info(self.inputs[2]).shape) in ((self.n,), (1, self.n))
        )
        product = matmul_call(
            ctx,
            ctx.ptr(self.inputs[0]),
            b,
            y,
            self.m,
            self.k,
            self.n,
            self.trans_a,
            self.trans_b,
            b_const,
            bias=ctx.ptr(self.inputs[2]) if row_bias else None,
        )
        if row_bias:  # the common Dense layer: bias initialises the accumulators
            return product
        lines = [product]
        if self.has_input(2) and not has_c and ctx.const(self.inputs[2]) is None:
            # beta = 0: C is never read; a runtime C would otherwise be an unused parameter
            lines.append(f"(void){ctx.ptr(self.inputs[2])};")
        if self.alpha == 1.0 and not has_c:
            return "\n".join(lines)
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
        lines += [
            f"float* y = {y};",
            f"for (std::size_t m = 0; m < {self.m}; ++m) {{",
            f"  for (std::size_t n = 0; n < {self.n}; ++n) {{",
            f"    const float acc = y[m * {self.n} + n];",
            f"    y[m * {self.n} + n] = {scaled};",
            "  }",
            "}",
        ]
        return "\n".join(lines)


@register("MatMul")
class MatMul(Operator):
    """numpy.matmul semantics: batched, broadcasting over leading dims, 1-D operands promoted."""

    def infer(self, ctx: ShapeContext) -> list:
        a, b = self.input_info(0), self.input_info(1)
        if a.dtype != np.float32 or b.dtype != np.float32:
            raise self.fail("only float32 MatMul is supported")
        if a.rank == 0 or b.rank == 0:
            raise self.fail("MatMul operands must have rank >= 1")
        a_shape = (1,) + a.shape if a.rank == 1 else a.shape
        b_shape = b.shape + (1,) if b.rank == 1 else b.shape
        self.m, self.k = a_shape[-2:]
        kb, self.n = b_shape[-2:]
        if kb != self.k:
            raise self.fail(f"inner dimensions differ: {a.shape} @ {b.shape}")
        batch = broadcast_shapes(self, a_shape[:-2], b_shape[:-2])
        self.a_offsets, self.b_offsets = _batch_offsets(batch, a_shape, b_shape)
        out_shape = batch + ((self.m,) if a.rank > 1 else ()) + ((self.n,) if b.rank > 1 else ())
        return [self.out(0, np.float32, out_shape)]

    def flops(self) -> int:
        return 2 * len(self.a_offsets) * self.m * self.k * self.n

    def emit_cpu(self, ctx: CpuContext) -> str:
        a, y = ctx.ptr(self.inputs[0]), ctx.ptr(self.outputs[0])
        m, k, n = self.m, self.k, self.n
        count = len(self.a_offsets)
        b_const = ctx.const(self.inputs[1])  # constant weights are packed for the kernel
        a_stride = m * k
        if count == 1 or (
            self.a_offsets == [i * a_stride for i in range(count)] and self.b_offsets == [0] * count and k
        ):
            # one product; a shared right operand folds the batch into its rows
            b = ctx.ptr(self.inputs[1]) if b_const is None else ""
            return matmul_call(ctx, a, b, y, count * m, k, n, False, False, b_const)
        b = ctx.ptr(self.inputs[1])
        call = matmul_call(ctx, "a_i", "b_i", "y_i", m, k, n, False, False)
        return "\n".join(
            [
                f"static constexpr std::size_t a_offsets[{count}] = {{{', '.join(map(str, self.a_offsets))}}};",
                f"static constexpr std::size_t b_offsets[{count}] = {{{', '.join(map(str, self.b_offsets))}}};",
                f"for (std::size_t i = 0; i < {count}; ++i) {{",
                f"  const float* a_i = {a} + a_offsets[i];",
                f"  const float* b_i = {b} + b_offsets[i];",
                f"  float* y_i = {y} + i * {m * n};",
                f"  {call}",
                "}",
            ]
        )


def _batch_offsets(
    batch: tuple[int, ...], a_shape: tuple[int, ...], b_shape: tuple[int, ...]
) -> tuple[list[int], list[int]]:
    """Element offsets of each (broadcast) batch matrix of a and b, in output order."""
    a_batch = np.arange(math.prod(a_shape[:-2])).reshape(a_shape[:-2] or ())
    b_batch = np.arange(math.prod(b_shape[:-2])).reshape(b_shape[:-2] or ())
    a_idx = np.broadcast_to(a_batch, batch).ravel() if batch else np.array([0])
    b_idx = np.broadcast_to(b_batch, batch).ravel() if batch else np.array([0])
    m_k = a_shape[-2] * a_shape[-1]
    k_n = b_shape[-2] * b_shape[-1]
    return [int(i) * m_k for i in a_idx], [int(i) * k_n for i in b_idx]
