"""HLS Add/Sub/Mul (two streams of one shape, or a stream and a broadcast constant) and Concat."""

from __future__ import annotations

import math

import numpy as np

from rmodel.errors import RModelError

from ..concat import Concat
from . import ANY, HlsContext, HlsImpl, Schedule, StageWriter, as_array, register_hls

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

    packing = "words"

    def depth(self, s: Schedule) -> int:
        return s.multiply() if self.op.op_type == "Mul" else 1

    def write_parallel(self, ctx: HlsContext, w: StageWriter) -> None:
        with w.loop("i", self.op.output_info(0).size, pragma="UNROLL"):
            self._apply(ctx, w, "in0[i]", "in1[i]", "i", "out0[i] = {};")

    def write_words(self, ctx: HlsContext, w: StageWriter, lanes: int) -> None:
        with w.loop("l", lanes, pragma="UNROLL"):
            self._apply(ctx, w, "x_word.data[l]", "x1_word.data[l]", f"k * {lanes} + l", "y_word.data[l] = {};")

    def write(self, ctx: HlsContext, w: StageWriter) -> None:
        with w.pipelined("apply", "i", self.op.output_info(0).size):
            self._apply(ctx, w, "in0.read()", "in1.read()", "i", "out0.write({});")

    def _apply(self, ctx: HlsContext, w: StageWriter, first: str, second: str, position: str, store: str) -> None:
        """Statements computing one element: ``first``/``second`` read the streamed operands, a
        constant operand is read at stream position ``position``; ``store`` formats the result."""
        op = self.op
        out = op.output_info(0)
        res = ctx.type("result")
        sym = _SYMBOL[op.op_type]
        if len(ctx.streamed) == 2:
            reads = [f"const {ctx.in_types[0]} a = {first};", f"const {ctx.in_types[1]} b = {second};"]
        else:
            const_index = 1 - ctx.streamed[0]
            constant = ctx.const(op.inputs[const_index])
            assert constant is not None  # the input that is not streamed
            full = np.broadcast_to(constant.astype(np.float32), out.shape).ravel()
            values = full[as_array(ctx.in_orders[0], out.size)]
            role = "weight" if op.op_type == "Mul" else "bias"
            c = ctx.weight("c", values, role)
            streamed, constant_operand = ("a", "b") if const_index == 1 else ("b", "a")
            stream_read = f"const {ctx.in_types[0]} {streamed} = {first};"
            const_read = f"const {ctx.type(role)} {constant_operand} = {c}[{position}];"
            reads = [stream_read, const_read] if const_index == 1 else [const_read, stream_read]
        w(*reads)
        w(store.format(f"{res}(a {sym} b)"))


@register_hls("Concat")
class ConcatHls(HlsImpl):
    """Row-major concatenation: for every outer index, a block from each input in turn."""

    def check(self, constants: dict) -> None:
        op = self.op
        if any(n in constants for n in op.inputs if n):
            raise RModelError(f"node '{op.name}' (Concat): the HLS target concatenates streamed tensors only")

    def depth(self, s: Schedule) -> int:
        return 0  # wiring

    def write_parallel(self, ctx: HlsContext, w: StageWriter) -> None:
        op = self.op
        assert isinstance(op, Concat)
        out = op.output_info(0)
        axis = op.plan.axis
        offset = 0
        row = math.prod(out.shape[axis:])
        for j, i in enumerate(ctx.streamed):
            part = math.prod(op.input_info(i).shape[axis:])
            with w.loop("o", math.prod(out.shape[:axis]), pragma="UNROLL"), w.loop("i", part, pragma="UNROLL"):
                w(f"out0[o * {row} + {offset} + i] = {ctx.type('result')}(in{j}[o * {part} + i]);")
            offset += part

    def write(self, ctx: HlsContext, w: StageWriter) -> None:
        op = self.op
        assert isinstance(op, Concat)
        out = op.output_info(0)
        axis = op.plan.axis
        res = ctx.type("result")
        with w.loop("o", math.prod(out.shape[:axis]), label="outer"):
            for j, i in enumerate(ctx.streamed):
                with w.pipelined(f"part{j}", "i", math.prod(op.input_info(i).shape[axis:]), hang=False):
                    w(f"out0.write({res}(in{j}.read()));")
