"""HLS Gemm and MatMul with a constant right operand: the Dense layer.

Each row of the input is read into a register array; the K*N products are spread over
ceil(K*N / R) multipliers, each used R times (R = reuse factor), so a row takes about R cycles.
"""

from __future__ import annotations

import math

import numpy as np

from rmodel.errors import RModelError

from . import ANY, HlsContext, HlsImpl, register_hls, transpose_order


def dense_body(ctx: HlsContext, rows: int, k: int, n: int, weight: np.ndarray, bias: np.ndarray | None) -> str:
    """Stage body: ``rows`` times y[n] = sum_k a[k] * w[k, n] (+ bias[row?, n])."""
    r = max(1, min(ctx.reuse, k * n))
    mults = math.ceil(k * n / r)
    w = ctx.weight("w", weight.reshape(k, n))
    in_t, acc_t, res_t = ctx.in_types[0], ctx.type("accum"), ctx.type("result")
    if bias is not None:
        per_row = bias.ndim == 2  # else one bias row shared by every row
        b = ctx.weight("b", bias, "bias")
        init = f"acc[j] = {acc_t}({b}[{'m * ' + str(n) + ' + j' if per_row else 'j'}]);"
    else:
        init = f"acc[j] = {acc_t}(0);"
    part = "complete" if mults == k * n else f"block factor={mults}"
    guard = f"if (idx < {k * n}) " if mults * r != k * n else ""
    return f"""// reuse factor {r}: {mults} multipliers, each used {r} times per row
#pragma HLS ARRAY_PARTITION variable={w} {part}
rows:
for (int m = 0; m < {rows}; ++m) {{
  {in_t} a[{k}];
#pragma HLS ARRAY_PARTITION variable=a complete
  {acc_t} acc[{n}];
#pragma HLS ARRAY_PARTITION variable=acc complete
read:
  for (int i = 0; i < {k}; ++i) {{
#pragma HLS PIPELINE II=1
    a[i] = in0.read();
  }}
init:
  for (int j = 0; j < {n}; ++j) {{
#pragma HLS UNROLL
    {init}
  }}
mac:
  for (int r = 0; r < {r}; ++r) {{
#pragma HLS PIPELINE II=1
    for (int j = 0; j < {mults}; ++j) {{
#pragma HLS UNROLL
      const int idx = r + j * {r};
      {guard}acc[idx % {n}] += a[idx / {n}] * {w}[idx];
    }}
  }}
write:
  for (int j = 0; j < {n}; ++j) {{
#pragma HLS PIPELINE II=1
    out0.write({res_t}(acc[j]));
  }}
}}"""


def row_permutation(order, rows: int, k: int) -> np.ndarray | None:
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


class _Dense(HlsImpl):
    rows: int
    k: int
    n: int

    def macs(self) -> int:
        return self.rows * self.k * self.n

    def multipliers(self, reuse: int) -> int:
        return math.ceil(self.k * self.n / max(1, min(reuse, self.k * self.n)))

    def latency(self, reuse: int) -> int:
        return self.rows * (self.k + min(reuse, self.k * self.n) + self.n)

    def interval(self, reuse: int) -> int:
        return self.rows * max(self.k, min(reuse, self.k * self.n), self.n)


@register_hls("Gemm")
class GemmHls(_Dense):
    """Y = alpha * A' . B' + beta * C with constant B (and C): weights folded at generation time."""

    def check(self, constants: dict) -> None:
        op = self.op
        if op.inputs[1] not in constants:
            raise RModelError(f"node '{op.name}' (Gemm): the HLS target needs B to be a constant (the weights)")
        if op.has_input(2) and op.inputs[2] not in constants:
            raise RModelError(f"node '{op.name}' (Gemm): the HLS target needs C to be a constant (the bias)")
        if op.inputs[0] in constants:
            raise RModelError(f"node '{op.name}' (Gemm): A is constant; the HLS target streams A")
        self.rows, self.k, self.n = op.m, op.k, op.n

    def streamed_inputs(self, constants: dict) -> list[int]:
        return [0]

    def required_orders(self, orders: list) -> list:
        op = self.op
        if op.trans_a:
            return [transpose_order((op.k, op.m), (1, 0))]
        return [ANY if row_permutation(orders[0], op.m, op.k) is not None else None]

    def emit(self, ctx: HlsContext) -> str:
        op = self.op
        b = ctx.const(op.inputs[1]).astype(np.float64)
        b = b.T if op.trans_b else b
        weight = (op.alpha * b).astype(np.float32)
        perm = None if op.trans_a else row_permutation(ctx.in_orders[0], op.m, op.k)
        if perm is not None:  # the row arrives permuted (e.g. flattened channels-last): permute W's rows
            weight = weight[perm]
        bias = None
        if op.has_input(2) and op.beta != 0.0:
            c = ctx.const(op.inputs[2]).astype(np.float64) * op.beta
            bias = np.broadcast_to(c, (op.m, op.n)).astype(np.float32)
            if np.all(bias == bias[0]):
                bias = bias[0].copy()
        return dense_body(ctx, op.m, op.k, op.n, weight, bias)


@register_hls("MatMul")
class MatMulHls(_Dense):
    """A (..., K) @ B (K, N) with a constant 2-D B."""

    def check(self, constants: dict) -> None:
        op = self.op
        b = constants.get(op.inputs[1])
        if b is None or b.ndim != 2 or op.inputs[0] in constants:
            raise RModelError(
                f"node '{op.name}' (MatMul): the HLS target supports only a streamed A times a constant 2-D B"
            )
        self.k, self.n = op.k, op.n
        self.rows = op.input_info(0).size // max(op.k, 1)

    def streamed_inputs(self, constants: dict) -> list[int]:
        return [0]

    def emit(self, ctx: HlsContext) -> str:
        op = self.op
        return dense_body(ctx, self.rows, op.k, op.n, ctx.const(op.inputs[1]).astype(np.float32), None)
