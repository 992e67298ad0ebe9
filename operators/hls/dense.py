"""HLS Gemm and MatMul with a constant right operand: the Dense layer.

Each row of the input is read into a register array; the K*N products are spread over
ceil(K*N / R) multipliers, each used R times (R = reuse factor), so a row takes about R cycles.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from rmodel.errors import RModelError

from ..gemm import Gemm, MatMul
from . import ANY, HlsContext, HlsImpl, Order, StageWriter, register_hls, transpose_order
from .cost import Cost, Schedule
from .products import kept_weights, products, write_products


def _bias_init(ctx: HlsContext, w: StageWriter, n: int, bias: np.ndarray | None, row: str) -> None:
    """``acc[j] =`` the bias of output j of row ``row`` (0 without a bias)."""
    acc_t = ctx.type("accum")
    if bias is None:
        init = f"acc[j] = {acc_t}(0);"
    else:
        per_row = bias.ndim == 2  # else one bias row shared by every row
        b = ctx.weight("b", bias, "bias")
        init = f"acc[j] = {acc_t}({b}[{row + ' * ' + str(n) + ' + j' if per_row else 'j'}]);"
    with w.loop("j", n, label="init", hang=False, pragma="UNROLL"):
        w(init)


def _accumulate(ctx: HlsContext, w: StageWriter, k: int, n: int, weight: np.ndarray) -> None:
    """acc[j] += sum_i a[i] * weight[i, j] (zero weights skipped)."""
    write_products(
        ctx, w, a="a", acc="acc", weight=weight.reshape(k, n).T, source=np.tile(np.arange(k), (n, 1)), source_expr="u"
    )


def write_dense(
    ctx: HlsContext, w: StageWriter, rows: int, k: int, n: int, weight: np.ndarray, bias: np.ndarray | None
) -> None:
    """Stage body: ``rows`` times y[n] = sum_k a[k] * w[k, n] (+ bias[row?, n])."""
    in_t, acc_t, res_t = ctx.in_types[0], ctx.type("accum"), ctx.type("result")
    with w.loop("m", rows, label="rows"):
        w(f"{in_t} a[{k}];")
        w("#pragma HLS ARRAY_PARTITION variable=a complete")
        w(f"{acc_t} acc[{n}];")
        w("#pragma HLS ARRAY_PARTITION variable=acc complete")
        with w.pipelined("read", "i", k):
            w("a[i] = in0.read();")
        _bias_init(ctx, w, n, bias, "m")
        _accumulate(ctx, w, k, n, weight)
        with w.pipelined("write", "j", n):
            w(f"out0.write({res_t}(acc[j]));")


def write_dense_parallel(
    ctx: HlsContext,
    w: StageWriter,
    rows: int,
    k: int,
    n: int,
    weight: np.ndarray,
    bias: np.ndarray | None,
    source: str,
) -> None:
    """io_parallel body of ``write_dense``: row-major arrays ``in0`` (rows x k) to ``out0`` (rows x n)."""
    in_t, acc_t, res_t = ctx.in_types[0], ctx.type("accum"), ctx.type("result")
    with w.loop("m", rows, label="rows", pragma="UNROLL"):
        w(f"{in_t} a[{k}];")
        w("#pragma HLS ARRAY_PARTITION variable=a complete")
        w(f"{acc_t} acc[{n}];")
        w("#pragma HLS ARRAY_PARTITION variable=acc complete")
        with w.loop("i", k, pragma="UNROLL"):
            w(f"a[i] = {source}[m * {k} + i];")
        _bias_init(ctx, w, n, bias, "m")
        _accumulate(ctx, w, k, n, weight)
        with w.loop("j", n, pragma="UNROLL"):
            w(f"out0[m * {n} + j] = {res_t}(acc[j]);")


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
    fuses_activation = True  # io_stream: a "whole" stage, its words written by the firmware

    def shape(self) -> DenseShape:
        """Rows, k and n of the product (from the operator's plan)."""
        raise NotImplementedError

    def weight_matrix(self, constants: dict[str, np.ndarray]) -> np.ndarray:
        """The (k x n) weights as the stage multiplies them (before any row permutation)."""
        raise NotImplementedError

    def macs(self) -> int:
        rows, k, n = self.shape()
        return rows * k * n

    def accumulated_terms(self) -> int:
        return self.shape().k

    def reuse_work(self) -> int:
        _, k, n = self.shape()
        return k * n

    def cost(self, s: Schedule) -> Cost:
        rows, k, n = self.shape()
        weight = self.weight_matrix(s.constants)
        p = products(weight.T, kept_weights(s.weight_precision, weight.T), s.reuse)
        reuse = p.reuse if p.nonzero else 0
        storage = "rom" if s.strategy == "resource" else "registers"
        common = dict(skipped=rows * p.skipped, stored=p.nonzero, storage=storage)
        if s.io_type == "io_serial":
            trips = rows * (k + reuse + n)
            return Cost(p.multipliers, trips=trips, latency=trips, interval=trips, **common)  # type: ignore[arg-type]
        depth = s.mac(k) if p.nonzero else 1
        if s.io_type == "io_parallel":
            return Cost(rows * p.multipliers, trips=rows * reuse, latency=depth, interval=max(1, reuse), **common)  # type: ignore[arg-type]
        reads, writes = sum(s.words_in), sum(s.words_out)
        return Cost(
            rows * p.multipliers,
            trips=reads + rows * reuse + writes,
            latency=reads + depth + writes,
            interval=max(reads, reuse, writes, 1),
            **common,  # type: ignore[arg-type]
        )


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

    def has_bias(self) -> bool:
        return self.op.has_input(2) and self.op.beta != 0.0

    def weight_matrix(self, constants: dict[str, np.ndarray]) -> np.ndarray:
        op = self.op
        b = constants[op.inputs[1]].astype(np.float64)
        b = b.T if op.trans_b else b
        return (op.alpha * b).astype(np.float32)

    def _bias(self, ctx: HlsContext) -> np.ndarray | None:
        op, (m, _, n) = self.op, self.shape()
        if not self.has_bias():
            return None
        c = _constant(ctx, op.inputs[2]).astype(np.float64) * op.beta
        bias = np.broadcast_to(c, (m, n)).astype(np.float32)
        return bias[0].copy() if np.all(bias == bias[0]) else bias

    def write(self, ctx: HlsContext, w: StageWriter) -> None:
        op, (m, k, n) = self.op, self.shape()
        weight = self.weight_matrix(ctx.constants)
        perm = None if op.trans_a else row_permutation(ctx.in_orders[0], m, k)
        if perm is not None:  # the row arrives permuted (e.g. flattened channels-last): permute W's rows
            weight = weight[perm]
        write_dense(ctx, w, m, k, n, weight, self._bias(ctx))

    def write_parallel(self, ctx: HlsContext, w: StageWriter) -> None:
        m, k, n = self.shape()
        if self.op.trans_a:  # A arrives as stored (k x m): read column m of it
            w(f"{ctx.in_types[0]} at[{m * k}];")
            w("#pragma HLS ARRAY_PARTITION variable=at complete")
            with w.loop("i", m * k, pragma="UNROLL"):
                w(f"at[i] = in0[(i % {k}) * {m} + i / {k}];")
        write_dense_parallel(
            ctx, w, m, k, n, self.weight_matrix(ctx.constants), self._bias(ctx), "at" if self.op.trans_a else "in0"
        )


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

    def weight_matrix(self, constants: dict[str, np.ndarray]) -> np.ndarray:
        return constants[self.op.inputs[1]].astype(np.float32)

    def write(self, ctx: HlsContext, w: StageWriter) -> None:
        rows, k, n = self.shape()
        write_dense(ctx, w, rows, k, n, self.weight_matrix(ctx.constants), None)

    def write_parallel(self, ctx: HlsContext, w: StageWriter) -> None:
        rows, k, n = self.shape()
        write_dense_parallel(ctx, w, rows, k, n, self.weight_matrix(ctx.constants), None, "in0")
