"""HLS shape operators: they move no data, they only relabel the order of a stream.

Reshape/Flatten/Squeeze/Unsqueeze/Identity/Dropout keep row-major flat indices, so the stream is
passed on as it is; Transpose changes which logical element each stream position holds.
"""

from __future__ import annotations

import math

import numpy as np

from ..transpose import Transpose
from . import ANY, HlsContext, HlsImpl, Schedule, StageWriter, as_array, normalize_order, register_hls


@register_hls("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout")
class RelabelHls(HlsImpl):
    """Same elements, same row-major flat indices: no stage at all."""

    alias = True
    keeps_row_major = True

    def streamed_inputs(self, constants: dict) -> list[int]:
        return [0]

    def required_orders(self, orders: list) -> list:
        return [ANY]

    def output_orders(self, orders: list) -> list:
        return [orders[0]] + [None] * (len(self.op.outputs) - 1)

    def latency(self, reuse: int) -> int:
        return 0

    def interval(self, reuse: int) -> int:
        return 0


@register_hls("Transpose")
class TransposeHls(RelabelHls):
    """A transpose is a new order of the same stream (a reorder is inserted only if a reader needs one)."""

    op: Transpose
    keeps_row_major = False

    def depth(self, s: Schedule) -> int:
        return 0  # wiring

    def write_parallel(self, ctx: HlsContext, w: StageWriter) -> None:
        shape = self.op.input_info(0).shape
        source = np.arange(math.prod(shape)).reshape(shape).transpose(tuple(self.op.plan.perm)).ravel()
        table = ctx.index_table("source", source)
        with w.loop("i", source.size, pragma="UNROLL"):
            w(f"out0[i] = {ctx.type('result')}(in0[{table}[i]]);")

    def output_orders(self, orders: list) -> list:
        shape = self.op.input_info(0).shape
        perm = self.op.plan.perm
        size = math.prod(shape)
        t = np.arange(size).reshape(shape).transpose(tuple(perm)).ravel()  # output flat j <- input flat t[j]
        inverse = np.empty(size, dtype=np.int64)
        inverse[t] = np.arange(size)
        return [normalize_order(inverse[as_array(orders[0], size)])]
