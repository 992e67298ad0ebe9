"""HLS twin of BatchNormalization (operators/normalization.py): y = x * scale[c] + shift[c], folded
at generation time, one element per clock in channels-last or row-major order."""

from __future__ import annotations

from rmodel.errors import RModelError

from ..normalization import BatchNormalization
from . import ANY, HlsContext, HlsImpl, Order, Schedule, StageWriter, channels_last_order, register_hls, same_order


@register_hls("BatchNormalization")
class BatchNormHls(HlsImpl):
    """y = x * scale[c] + shift[c] (inference mode, folded at generation time), in channels-last or
    row-major order."""

    op: BatchNormalization

    def check(self, constants: dict) -> None:
        if self.op.plan.folded_scale is None:
            raise RModelError(
                f"node '{self.op.name}' (BatchNormalization): the HLS target needs constant scale, bias, mean and "
                "variance"
            )

    def streamed_inputs(self, constants: dict) -> list[int]:
        return [0]

    def _channels_last(self, order: Order) -> bool:
        shape = self.op.input_info(0).shape
        return len(shape) > 2 and same_order(order, channels_last_order(shape))

    def required_orders(self, orders: list) -> list:
        return [ANY if orders[0] is None or self._channels_last(orders[0]) else None]

    def output_orders(self, orders: list) -> list:
        return [orders[0]]

    def macs(self) -> int:
        return self.op.output_info(0).size

    def multipliers(self, reuse: int) -> int:
        return 1

    packing = "words"

    def depth(self, s: Schedule) -> int:
        return s.multiply() + 1

    def _factors(self, ctx: HlsContext) -> tuple[str, str]:
        plan = self.op.plan
        assert plan.folded_scale is not None and plan.folded_shift is not None  # check() refused the rest
        return ctx.weight("scale", plan.folded_scale), ctx.weight("shift", plan.folded_shift, "bias")

    def _channel(self, ctx: HlsContext, position: str) -> str:
        """The channel of stream position ``position`` in the order the input arrives."""
        plan = self.op.plan
        if self._channels_last(ctx.in_orders[0]):
            return f"({position}) % {plan.c}"
        return f"(({position}) / {plan.s}) % {plan.c}"

    def write(self, ctx: HlsContext, w: StageWriter) -> None:
        a, b = self._factors(ctx)
        with w.pipelined("apply", "i", self.op.output_info(0).size):
            w(f"const int c = {self._channel(ctx, 'i')};")
            w(f"out0.write({ctx.type('result')}(in0.read() * {a}[c] + {b}[c]));")

    def write_parallel(self, ctx: HlsContext, w: StageWriter) -> None:
        a, b = self._factors(ctx)
        with w.loop("i", self.op.output_info(0).size, pragma="UNROLL"):
            w(f"const int c = {self._channel(ctx, 'i')};")
            w(f"out0[i] = {ctx.type('result')}(in0[i] * {a}[c] + {b}[c]);")

    def write_words(self, ctx: HlsContext, w: StageWriter, lanes: int) -> None:
        a, b = self._factors(ctx)
        with w.loop("l", lanes, pragma="UNROLL"):
            w(f"const int c = {self._channel(ctx, f'k * {lanes} + l')};")
            w(f"y_word.data[l] = {ctx.type('result')}(x_word.data[l] * {a}[c] + {b}[c]);")
