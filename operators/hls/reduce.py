"""HLS ReduceMean/ReduceSum/ReduceMax/ReduceMin (e.g. Keras' global pooling after a Transpose).

The input is read in whatever order it arrives; each element is added to the accumulator of its
output element (found by a modulo, a division or, for other orders, an index table), and the
outputs are written in row-major order at the end.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from rmodel.errors import RModelError

from ..reduce import Reduce
from . import ANY, HlsContext, HlsImpl, Schedule, StageWriter, as_array, register_hls

_KINDS = {"ReduceMean": "sum", "ReduceSum": "sum", "ReduceMax": "max", "ReduceMin": "min"}


class _Geometry(NamedTuple):
    """Which output element every input element (row-major) goes to, and the sizes."""

    out_index: np.ndarray
    out_size: int
    per_output: int  # input elements per output element


@register_hls(*_KINDS)
class ReduceHls(HlsImpl):
    def _reduce(self) -> Reduce:
        op = self.op
        assert isinstance(op, Reduce)
        return op

    def _geometry(self) -> _Geometry:
        x = self._reduce().input_info(0)
        reduced = self._reduce().plan.reduced
        kept = tuple(1 if a in reduced else d for a, d in enumerate(x.shape))
        out_size = math.prod(kept)
        out_index = np.broadcast_to(np.arange(out_size).reshape(kept), x.shape).ravel()
        return _Geometry(out_index, out_size, x.size // max(out_size, 1))

    def check(self, constants: dict) -> None:
        op = self.op
        if op.input_info(0).dtype != np.float32:
            raise RModelError(f"node '{op.name}' ({op.op_type}): the HLS target reduces float tensors only")

    def streamed_inputs(self, constants: dict) -> list[int]:
        return [0]

    def required_orders(self, orders: list) -> list:
        return [ANY]

    def interval(self, reuse: int) -> int:
        """io_serial: the accumulating pass over the input, then the pass writing the outputs."""
        return self.op.input_info(0).size + self._geometry().out_size

    def latency(self, reuse: int) -> int:
        return self.interval(reuse)

    def depth(self, s: Schedule) -> int:
        geometry = self._geometry()
        return s.sum(geometry.per_output) + (s.multiply() if self.op.op_type == "ReduceMean" else 0)

    def write_parallel(self, ctx: HlsContext, w: StageWriter) -> None:
        self._write(ctx, w, parallel=True)

    def write(self, ctx: HlsContext, w: StageWriter) -> None:
        self._write(ctx, w, parallel=False)

    def _write(self, ctx: HlsContext, w: StageWriter, parallel: bool) -> None:
        op = self.op
        size = op.input_info(0).size
        geometry = self._geometry()
        out_size, count = geometry.out_size, geometry.per_output
        target = geometry.out_index[as_array(None if parallel else ctx.in_orders[0], size)]
        positions = np.arange(size)
        if np.array_equal(target, positions % out_size):
            index = f"i % {out_size}"
        elif np.array_equal(target, positions // max(count, 1)):
            index = f"i / {count}"
        else:
            index = f"{ctx.index_table('out_index', target)}[i]"
        kind = _KINDS[op.op_type]
        in_t, acc_t, res = ctx.in_types[0], ctx.type("accum"), ctx.type("result")
        final = "acc[j]"
        if op.op_type == "ReduceMean":
            if ctx.is_float("weight"):
                final = f"acc[j] / {float(count)!r}f"
            else:
                inv = ctx.weight("inv_count", np.array([1.0 / count], np.float32))
                final = f"acc[j] * {inv}[0]"
        w(f"{acc_t if kind == 'sum' else in_t} acc[{out_size}];")
        w(f"for (int j = 0; j < {out_size}; ++j) acc[j] = 0;")
        if kind != "sum":
            w(f"bool first[{out_size}];")
            w(f"for (int j = 0; j < {out_size}; ++j) first[j] = true;")
        if parallel:
            accumulate = w.loop("i", size, label="accumulate", pragma="UNROLL")
        else:
            accumulate = w.pipelined("accumulate", "i", size)
        with accumulate:
            w(f"const {in_t} v = {'in0[i]' if parallel else 'in0.read()'};")
            w(f"const int o = {index};")
            if kind == "sum":
                w("acc[o] += v;")
            else:
                w(f"if (first[o] || v {'>' if kind == 'max' else '<'} acc[o]) acc[o] = v;")
                w("first[o] = false;")
        if parallel:
            with w.loop("j", out_size, label="write", pragma="UNROLL"):
                w(f"out0[j] = {res}({final});")
        else:
            with w.pipelined("write", "j", out_size):
                w(f"out0.write({res}({final}));")
