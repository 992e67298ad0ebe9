"""HLS Add/Sub/Mul (two streams of one shape, or a stream and a broadcast constant) and Concat."""

from __future__ import annotations

import math

import numpy as np

from rmodel.errors import RModelError

from ..concat import Concat
from . import ANY, HlsContext, HlsImpl, as_array, register_hls

_SYMBOL = {"Add": "+", "Sub": "-", "Mul": "*"}


@register_hls("Add", "Sub", "Mul")
class BinaryHls(HlsImpl):
    """Elementwise a (op) b; a constant operand is broadcast and laid out in stream order."""

    def check(self, constants: dict) -> None:
        op = self.op
        out = op.output_info(0)
        if len(op.inputs) != 2:
            raise RModelError(f"node '{op.name}' ({op.op_type}) must have two inputs")
        streamed = self.streamed_inputs(constants)
        for i in streamed:
            if op.input_info(i).shape != out.shape:
                raise RModelError(
                    f"node '{op.name}' ({op.op_type}): the HLS target broadcasts only constant operands, but "
                    f"streamed input '{op.inputs[i]}' has shape {op.input_info(i).shape}, output {out.shape}"
                )
        if out.dtype != np.float32:
            raise RModelError(f"node '{op.name}' ({op.op_type}): the HLS target supports float tensors only")

    def required_orders(self, orders: list) -> list:
        return [ANY] + [orders[0]] * (len(orders) - 1)

    def output_orders(self, orders: list) -> list:
        return [orders[0]]

    def macs(self) -> int:
        return self.op.output_info(0).size if self.op.op_type == "Mul" else 0

    def multipliers(self, reuse: int) -> int:
        return 1 if self.op.op_type == "Mul" else 0

    def emit(self, ctx: HlsContext) -> str:
        op = self.op
        out = op.output_info(0)
        res = ctx.type("result")
        sym = _SYMBOL[op.op_type]
        if len(ctx.streamed) == 2:
            reads = [f"const {ctx.in_types[0]} a = in0.read();", f"const {ctx.in_types[1]} b = in1.read();"]
        else:
            const_index = 1 - ctx.streamed[0]
            constant = ctx.const(op.inputs[const_index])
            assert constant is not None  # the input that is not streamed
            full = np.broadcast_to(constant.astype(np.float32), out.shape).ravel()
            values = full[as_array(ctx.in_orders[0], out.size)]
            role = "weight" if op.op_type == "Mul" else "bias"
            c = ctx.weight("c", values, role)
            stream_var = f"const {ctx.in_types[0]} s = in0.read();"
            if const_index == 1:
                reads = [stream_var.replace(" s ", " a "), f"const {ctx.type(role)} b = {c}[i];"]
            else:
                reads = [f"const {ctx.type(role)} a = {c}[i];", stream_var.replace(" s ", " b ")]
        lines = "\n".join("  " + r for r in reads)
        return (
            f"apply:\nfor (int i = 0; i < {out.size}; ++i) {{\n#pragma HLS PIPELINE II=1\n"
            f"{lines}\n  out0.write({res}(a {sym} b));\n}}"
        )


@register_hls("Concat")
class ConcatHls(HlsImpl):
    """Row-major concatenation: for every outer index, a block from each input in turn."""

    def check(self, constants: dict) -> None:
        op = self.op
        if any(n in constants for n in op.inputs if n):
            raise RModelError(f"node '{op.name}' (Concat): the HLS target concatenates streamed tensors only")

    def emit(self, ctx: HlsContext) -> str:
        op = self.op
        assert isinstance(op, Concat)
        out = op.output_info(0)
        axis = op.plan.axis
        outer = math.prod(out.shape[:axis])
        res = ctx.type("result")
        loops = []
        for j, i in enumerate(ctx.streamed):
            block = math.prod(op.input_info(i).shape[axis:])
            loops.append(
                f"  part{j}:\n  for (int i = 0; i < {block}; ++i) {{\n#pragma HLS PIPELINE II=1\n"
                f"    out0.write({res}(in{j}.read()));\n  }}"
            )
        return f"outer:\nfor (int o = 0; o < {outer}; ++o) {{\n" + "\n".join(loops) + "\n}"
