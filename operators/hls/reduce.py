"""HLS ReduceMean/ReduceSum/ReduceMax/ReduceMin (e.g. Keras' global pooling after a Transpose).

The input is read in whatever order it arrives; each element is added to the accumulator of its
output element (found by a modulo, a division or, for other orders, an index table), and the
outputs are written in row-major order at the end.
"""

from __future__ import annotations

import math

import numpy as np

from rmodel.errors import RModelError

from ..base import normalize_axis
from . import ANY, HlsContext, HlsImpl, as_array, register_hls

_KINDS = {"ReduceMean": "sum", "ReduceSum": "sum", "ReduceMax": "max", "ReduceMin": "min"}


@register_hls(*_KINDS)
class ReduceHls(HlsImpl):
    def _reduced(self, constants: dict) -> set[int]:
        op = self.op
        x = op.input_info(0)
        if op.has_input(1):
            axes = [int(a) for a in np.asarray(constants[op.inputs[1]]).ravel()]
        else:
            axes = list(op.attr.get("axes") or [])
        if not axes:
            return set() if op.noop_with_empty_axes else set(range(x.rank))
        return {normalize_axis(a, x.rank, op) for a in axes}

    def check(self, constants: dict) -> None:
        op = self.op
        if op.input_info(0).dtype != np.float32:
            raise RModelError(f"node '{op.name}' ({op.op_type}): the HLS target reduces float tensors only")
        x = op.input_info(0)
        reduced = self._reduced(constants)
        kept = tuple(1 if a in reduced else d for a, d in enumerate(x.shape))
        out_size = math.prod(kept)
        self.out_index = np.broadcast_to(np.arange(out_size).reshape(kept), x.shape).ravel()
        self.out_size, self.count = out_size, x.size // max(out_size, 1)

    def streamed_inputs(self, constants: dict) -> list[int]:
        return [0]

    def required_orders(self, orders: list) -> list:
        return [ANY]

    def emit(self, ctx: HlsContext) -> str:
        op = self.op
        size = op.input_info(0).size
        target = self.out_index[as_array(ctx.in_orders[0], size)]
        positions = np.arange(size)
        if np.array_equal(target, positions % self.out_size):
            index = f"i % {self.out_size}"
        elif np.array_equal(target, positions // max(self.count, 1)):
            index = f"i / {self.count}"
        else:
            index = f"{ctx.index_table('out_index', target)}[i]"
        kind = _KINDS[op.op_type]
        in_t, acc_t, res = ctx.in_types[0], ctx.type("accum"), ctx.type("result")
        acc_type = acc_t if kind == "sum" else in_t
        if kind == "sum":
            update = "acc[o] += v;"
        else:
            update = f"if (first[o] || v {'>' if kind == 'max' else '<'} acc[o]) acc[o] = v;\n  first[o] = false;"
        final = "acc[j]"
        if op.op_type == "ReduceMean":
            if ctx.is_float("weight"):
                final = f"acc[j] / {float(self.count)!r}f"
            else:
                inv = ctx.weight("inv_count", np.array([1.0 / self.count], np.float32))
                final = f"acc[j] * {inv}[0]"
        flags = (
            f"bool first[{self.out_size}];\nfor (int j = 0; j < {self.out_size}; ++j) first[j] = true;\n"
            if kind != "sum"
            else ""
        )
        update = "\n".join("  " + line for line in update.splitlines())
        return f"""{acc_type} acc[{self.out_size}];
for (int j = 0; j < {self.out_size}; ++j) acc[j] = 0;
{flags}accumulate:
for (int i = 0; i < {size}; ++i) {{
#pragma HLS PIPELINE II=1
  const {in_t} v = in0.read();
  const int o = {index};
{update}
}}
write:
for (int j = 0; j < {self.out_size}; ++j) {{
#pragma HLS PIPELINE II=1
  out0.write({res}({final}));
}}"""
