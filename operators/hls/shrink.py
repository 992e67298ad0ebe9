"""HLS twin of Shrink (operators/shrink.py): one element per clock, in the order x arrives."""

from __future__ import annotations

from ..shrink import Shrink
from . import HlsContext, StageWriter, register_hls
from .activation import _Elementwise


@register_hls("Shrink")
class ShrinkHls(_Elementwise):
    def statements(self, ctx: HlsContext, w: StageWriter) -> None:
        assert isinstance(self.op, Shrink)
        t, result = ctx.in_types[0], ctx.type("result")
        lambd, bias = self.op.lambd, self.op.bias
        w(
            f"const {result} y = v < {t}({-lambd!r}) ? {result}(v + {t}({bias!r}))\n"
            f"                 : v > {t}({lambd!r}) ? {result}(v - {t}({bias!r})) : {result}(0);"
        )
