"""HLS Gemm and MatMul with a constant right operand: the Dense layer.

Each row of the input is read into a register array; the K*N products are spread over
ceil(K*N / R) multipliers, each used R times (R = reuse factor), so a row takes about R cycles.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from rmodel.errors import RModelError

from ..gemm import Gemm, MatMul
from . import ANY, HlsContext, HlsImpl, Order, StageWriter, register_hls, transpose_order


def write_dense(
    ctx: HlsContext, w: StageWriter, rows: int, k: int, n: int, weight: np.ndarray, bias: np.ndarray | None
) -> None:
    """Stage body: ``rows`` times y[n] = sum_k a[k] * w[k, n] (+ bias[row?, n])."""
    r = max(1, min(ctx.reuse, k * n))
    mults = math.ceil(k * n / r)
    wt = ctx.weight("w", weight.reshape(k, n))
    in_t, acc_t, res_t = ctx.in_types[0], ctx.type("accum"), ctx.type("result")
    if bias is not None:
        per_row = bias.ndim == 2  # else one bias row shared by every row
        b = ctx.weight("b", bias, "bias")
        init = f"acc[j] = {acc_t}({b}[{'m * ' + str(n) + ' + j' if per_row else 'j'}]);"
    else:
        init = f"acc[j] = {acc_t}(0);"
    part = "complete" if mults == k * n else f"block factor={mults}"
    guard = f"if (idx < {k * n}) " if mults * r != k * n else ""
    w(f"// reuse factor {r}: {mults} multipliers, each used {r} times per row")
    w(f"#pragma HLS ARRAY_PARTITION variable={wt} {part}")
    with w.loop("m", rows, label="rows"):
        w(f"{in_t} a[{k}];")
        w("#pragma HLS ARRAY_PARTITION variable=a complete")
        w(f"{acc_t} acc[{n}];")
        w("#pragma HLS ARRAY_PARTITION variable=acc complete")
        with w.pipelined("read", "i", k):
            w("a[i] = in0.read();")
        with w.loop("j", n, label="init", pragma="UNROLL"):
            w(init)
        with w.pipelined("mac", "r", r), w.loop("j", mults, pragma="UNROLL"):
            w(f"const int idx = r + j * {r};")
            w(f"{guard}acc[idx % {n}] += a[idx / {n}] * {wt}[idx];")
        with w.pipelined("write", "j", n):
            w(f"out0.write({res_t}(acc[j]));")


def row_permutation(order: Order, rows: int, k: int) -> np.ndarray | None:
    """The within-row permutation of ``order`` if every row of a (rows, k) stream arrives as a
    permutation of itself, the same for all rows (else None). Identity -> arange(k)."""
    if order is None:
        return np.arange(k)
    arr = np.asarray(order).reshape(rows, k)
    first = arr[0]
    if not np.array_equal(np.sort(first), np.arange(k)):
        return None
    if not np.array_equal(arr, first[None, :] + (np.arange(rows) * k)[:, None]):
        return None
    return first


def _constant(ctx: HlsContext, name: str) -> np.ndarray:
    """The value of a constant input (``check`` made sure it is one)."""
    value = ctx.const(name)
    if value is None:
        raise RModelError(f"'{name}' is computed at run time; the HLS Dense stage needs it constant")
    return value


class DenseShape(NamedTuple):
    """``rows`` products of a k-vector with a (k x n) weight matrix."""

    rows: int
    k: int
    n: int


class _Dense(HlsImpl):
    def shape(self) -> DenseShape:
        """Rows, k and n of the product (from the operator's plan)."""
        raise NotImplementedError

    def macs(self) -> int:
        rows, k, n = self.shape()
        return rows * k * n

    def multipliers(self, reuse: int) -> int:
        _, k, n = self.shape()
        return math.ceil(k * n / max(1, min(reuse, k * n)))

    def latency(self, reuse: int) -> int:
        rows, k, n = self.shape()
        return rows * (k + min(reuse, k * n) + n)

    def interval(self, reuse: int) -> int:
        rows, k, n = self.shape()
        return rows * max(k, min(reuse, k * n), n)


@register_hls("Gemm")
class GemmHls(_Dense):
    """Y = alpha * A' . B' + beta * C with constant B (and C): weights folded at generation time."""

    op: Gemm

    def shape(self) -> DenseShape:
        return DenseShape(self.op.plan.m, self.op.plan.k, self.op.plan.n)

    def check(self, constants: dict[str, np.ndarray]) -> None:
        op = self.op
        if op.inputs[1] not in constants:
            raise RModelError(f"node '{op.name}' (Gemm): the HLS target needs B to be a constant (the weights)")
        if op.has_input(2) and op.inputs[2] not in constants:
            raise RModelError(f"node '{op.name}' (Gemm): the HLS target needs C to be a constant (the bias)")
        if op.inputs[0] in constants:
            raise RModelError(f"node '{op.name}' (Gemm): A is constant; the HLS target streams A")

    def streamed_inputs(self, constants: dict[str, np.ndarray]) -> list[int]:
        return [0]

    def required_orders(self, orders: list[Order]) -> list[Order]:
        op, (m, k, _) = self.op, self.shape()
        if op.trans_a:
            return [transpose_order((k, m), (1, 0))]
        return [ANY if row_permutation(orders[0], m, k) is not None else None]

    def write(self, ctx: HlsContext, w: StageWriter) -> None:
        op, (m, k, n) = self.op, self.shape()
        b = _constant(ctx, op.inputs[1]).astype(np.float64)
        b = b.T if op.trans_b else b
        weight = (op.alpha * b).astype(np.float32)
        perm = None if op.trans_a else row_permutation(ctx.in_orders[0], m, k)
        if perm is not None:  # the row arrives permuted (e.g. flattened channels-last): permute W's rows
            weight = weight[perm]
        bias = None
        if op.has_input(2) and op.beta != 0.0:
            c = _constant(ctx, op.inputs[2]).astype(np.float64) * op.beta
            bias = np.broadcast_to(c, (m, n)).astype(np.float32)
            if np.all(bias == bias[0]):
                bias = bias[0].copy()
        write_dense(ctx, w, m, k, n, weight, bias)


@register_hls("MatMul")
class MatMulHls(_Dense):
    """A (..., K) @ B (K, N) with a constant 2-D B."""

    op: MatMul

    def shape(self) -> DenseShape:
        k = self.op.plan.k
        return DenseShape(self.op.input_info(0).size // max(k, 1), k, self.op.plan.n)

    def check(self, constants: dict[str, np.ndarray]) -> None:
        op = self.op
        b = constants.get(op.inputs[1])
        if b is None or b.ndim != 2 or op.inputs[0] in constants:
            raise RModelError(
                f"node '{op.name}' (MatMul): the HLS target supports only a streamed A times a constant 2-D B"
            )

    def streamed_inputs(self, constants: dict[str, np.ndarray]) -> list[int]:
        return [0]

    def write(self, ctx: HlsContext, w: StageWriter) -> None:
        rows, k, n = self.shape()
        write_dense(ctx, w, rows, k, n, _constant(ctx, self.op.inputs[1]).astype(np.float32), None)
