"""HLS convolution and pooling over a streaming line buffer, global pools and batch normalization.

Images stream pixel by pixel with all channels of a pixel together (channels-last order). A
stage keeps only the last (kernel height - 1) * dilation + 1 input rows in a line buffer, gathers
the window of each output pixel from it and writes the output pixel's channels. 1-D convolutions
are 2-D ones of height 1. Conv covers groups, hence depthwise convolutions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rmodel.errors import RModelError

from ..base import Operator
from ..conv import Conv, Plane, Window
from ..pool import Pool
from . import HlsContext, HlsImpl, Order, StageWriter, channels_last_order, register_hls


@dataclass(frozen=True)
class Geometry:
    """A 1-D or 2-D sliding window (``Window.plane``) over ``n`` images of ``c`` channels."""

    n: int
    c: int
    p: Plane

    @property
    def span(self) -> int:
        """Input rows one output row reads (the line buffer's height)."""
        return (self.p.kh - 1) * self.p.dh + 1

    @property
    def taps(self) -> int:
        return self.p.taps


def geometry(op: Operator, win: Window, channels: int) -> Geometry:
    """The window of ``op`` as a 2-D geometry (an error for 3-D windows and up)."""
    if win.plane is None:
        raise RModelError(
            f"node '{op.name}' ({op.op_type}): the HLS target supports 1-D and 2-D windows, not {win.rank}-D"
        )
    return Geometry(op.input_info(0).shape[0], channels, win.plane)


def write_window_loops(
    w: StageWriter,
    g: Geometry,
    in_t: str,
    per_pixel: Callable[[StageWriter], None],
    fill: str = "0",
    flags: bool = False,
) -> None:
    """Line-buffer skeleton: read rows as needed, gather ``win[taps][C]`` (and, with ``flags``,
    ``valid[taps]``) for every output pixel, run ``per_pixel``; drain unused rows at the end."""
    p = g.p
    w(f"// line buffer: the last {g.span} input row(s) of {p.iw} pixels x {g.c} channels")
    w(f"{in_t} line[{g.span}][{p.iw}][{g.c}];")
    w("#pragma HLS ARRAY_PARTITION variable=line complete dim=3")
    with w.loop("n", g.n, label="images"):
        w("int next_row = 0;")
        with w.loop("oh", p.oh, label="out_rows"):
            w(f"int last = oh * {p.sh} - {p.pt} + {g.span - 1};")
            w(f"if (last > {p.ih - 1}) last = {p.ih - 1};")
            w.label("read_rows")
            read_rows = w.block("for (; next_row <= last; ++next_row)")
            with read_rows, w.loop("iw", p.iw), w.loop("c", g.c, pragma="PIPELINE II=1"):
                w(f"line[next_row % {g.span}][iw][c] = in0.read();")
            with w.loop("ow", p.ow, label="out_cols"):
                w(f"{in_t} win[{g.taps * g.c}];")
                w("#pragma HLS ARRAY_PARTITION variable=win complete")
                if flags:
                    w(f"bool valid[{g.taps}];")
                    w("#pragma HLS ARRAY_PARTITION variable=valid complete")
                with w.pipelined("gather", "t", g.taps):
                    w(f"const int ih = oh * {p.sh} - {p.pt} + (t / {p.kw}) * {p.dh};")
                    w(f"const int iw = ow * {p.sw} - {p.pl} + (t % {p.kw}) * {p.dw};")
                    w(f"const bool ok = ih >= 0 && ih < {p.ih} && iw >= 0 && iw < {p.iw};")
                    w(f"const int row = ok ? ih % {g.span} : 0, col = ok ? iw : 0;")
                    if flags:
                        w("valid[t] = ok;")
                    w(f"for (int c = 0; c < {g.c}; ++c) win[t * {g.c} + c] = ok ? line[row][col][c] : {in_t}({fill});")
                per_pixel(w)
        w.label("drain_rows")
        with w.block(f"for (; next_row < {p.ih}; ++next_row)"), w.loop("i", p.iw * g.c, pragma="PIPELINE II=1"):
            w("in0.read();")


class _Windowed(HlsImpl):
    def required_orders(self, orders: list[Order]) -> list[Order]:
        return [channels_last_order(self.op.input_info(0).shape)]

    def output_orders(self, orders: list[Order]) -> list[Order]:
        return [channels_last_order(self.op.output_info(0).shape)]


@register_hls("Conv")
class ConvHls(_Windowed):
    """Conv with constant weights: per output pixel, M x (taps x C/group) products over a reuse loop."""

    @property
    def conv(self) -> Conv:
        assert isinstance(self.op, Conv)
        return self.op

    @property
    def g(self) -> Geometry:
        dims = self.conv.plan.dims
        return geometry(self.op, dims.win, dims.c)

    def check(self, constants: dict[str, np.ndarray]) -> None:
        op = self.op
        if op.inputs[1] not in constants or (op.has_input(2) and op.inputs[2] not in constants):
            raise RModelError(f"node '{op.name}' (Conv): the HLS target needs constant weights and bias")
        geometry(op, self.conv.plan.dims.win, self.conv.plan.dims.c)  # 1-D and 2-D windows only

    def streamed_inputs(self, constants: dict[str, np.ndarray]) -> list[int]:
        return [0]

    def macs(self) -> int:
        g, dims = self.g, self.conv.plan.dims
        return g.n * g.p.oh * g.p.ow * dims.m * g.taps * dims.cg

    def multipliers(self, reuse: int) -> int:
        dims = self.conv.plan.dims
        per = dims.m * self.g.taps * dims.cg
        return math.ceil(per / max(1, min(reuse, per)))

    def latency(self, reuse: int) -> int:
        g, dims = self.g, self.conv.plan.dims
        return g.n * (g.span * g.p.iw * g.c + g.p.oh * g.p.ow * (g.taps + min(reuse, dims.m * g.taps * dims.cg)))

    def interval(self, reuse: int) -> int:
        g, dims = self.g, self.conv.plan.dims
        per_pixel = g.taps + min(reuse, dims.m * g.taps * dims.cg) + dims.m
        return g.n * max(g.p.ih * g.p.iw * g.c, g.p.oh * g.p.ow * per_pixel)

    def write(self, ctx: HlsContext, w: StageWriter) -> None:
        op, g, dims = self.conv, self.g, self.conv.plan.dims
        m, cg, mg = dims.m, dims.cg, dims.mg
        t_per = g.taps * cg
        total = m * t_per
        r = max(1, min(ctx.reuse, total))
        mults = math.ceil(total / r)
        weights = ctx.const(op.inputs[1])
        assert weights is not None
        weight = weights.astype(np.float32).reshape(m, cg, g.p.kh, g.p.kw).transpose(0, 2, 3, 1)
        wt = ctx.weight("w", weight)
        acc_t, res_t = ctx.type("accum"), ctx.type("result")
        bias = ctx.const(op.inputs[2]) if op.has_input(2) else None
        if bias is not None:
            b = ctx.weight("b", bias.astype(np.float32), "bias")
            init = f"acc[j] = {acc_t}({b}[j]);"
        else:
            init = f"acc[j] = {acc_t}(0);"
        guard = f"if (idx < {total}) " if mults * r != total else ""
        part = "complete" if mults == total else f"block factor={mults}"
        group_term = f" + (m / {mg}) * {cg}" if dims.group > 1 else ""

        def per_pixel(w: StageWriter) -> None:
            w(f"{acc_t} acc[{m}];")
            w("#pragma HLS ARRAY_PARTITION variable=acc complete")
            with w.loop("j", m, label="init", hang=False, pragma="UNROLL"):
                w(init)
            with w.pipelined("mac", "r", r, hang=False), w.loop("j", mults, pragma="UNROLL"):
                w(f"const int idx = r + j * {r};")
                w(f"const int m = idx / {t_per}, t = idx % {t_per};")
                w(f"{guard}acc[m] += win[(t / {cg}) * {g.c}{group_term} + t % {cg}] * {wt}[idx];")
            with w.pipelined("write", "j", m, hang=False):
                w(f"out0.write({res_t}(acc[j]));")

        w(f"// reuse factor {r}: {mults} multipliers, each used {r} times per output pixel")
        w(f"#pragma HLS ARRAY_PARTITION variable={wt} {part}")
        write_window_loops(w, g, ctx.in_types[0], per_pixel)


@register_hls("MaxPool", "AveragePool")
class PoolHls(_Windowed):
    @property
    def pool(self) -> Pool:
        assert isinstance(self.op, Pool)
        return self.op

    @property
    def g(self) -> Geometry:
        return geometry(self.op, self.pool.plan.win, self.op.input_info(0).shape[1])

    def check(self, constants: dict[str, np.ndarray]) -> None:
        geometry(self.op, self.pool.plan.win, self.op.input_info(0).shape[1])  # 1-D and 2-D windows only

    def write(self, ctx: HlsContext, w: StageWriter) -> None:
        op, g = self.pool, self.g
        in_t, acc_t, res_t = ctx.in_types[0], ctx.type("accum"), ctx.type("result")
        if op.is_max:

            def best(w: StageWriter) -> None:
                with w.pipelined("channels", "c", g.c, hang=False):
                    w(f"{in_t} best = win[c];")
                    w("bool any = false;")
                    with w.loop("t", g.taps):
                        w(f"if (valid[t] && (!any || win[t * {g.c} + c] > best)) best = win[t * {g.c} + c];")
                        w("any = any || valid[t];")
                    w(f"out0.write({res_t}(best));")

            write_window_loops(w, g, in_t, best, flags=True)
            return
        counts = list(op.plan.counts)
        if len(counts) == 1:
            counts = [(1,), counts[0]]
        table = np.outer(np.asarray(counts[0], np.float64), np.asarray(counts[1], np.float64)).ravel()
        if ctx.is_float("weight"):
            divisor = ctx.weight("count", table.astype(np.float32))
            scale = f"sum / {divisor}[oh * {g.p.ow} + ow]"
        else:
            inverse = ctx.weight("inv_count", (1.0 / table).astype(np.float32))
            scale = f"sum * {inverse}[oh * {g.p.ow} + ow]"

        def average(w: StageWriter) -> None:
            with w.pipelined("channels", "c", g.c, hang=False):
                w(f"{acc_t} sum = 0;")
                w(f"for (int t = 0; t < {g.taps}; ++t) sum += win[t * {g.c} + c];")
                w(f"out0.write({res_t}({scale}));")

        write_window_loops(w, g, in_t, average)


@register_hls("GlobalAveragePool", "GlobalMaxPool")
class GlobalPoolHls(HlsImpl):
    """Per-channel sum (or max) over all pixels; only C accumulators, no image buffer."""

    def required_orders(self, orders: list) -> list:
        return [channels_last_order(self.op.input_info(0).shape)]

    def write(self, ctx: HlsContext, w: StageWriter) -> None:
        op = self.op
        x = op.input_info(0)
        n, c, size = x.shape[0], x.shape[1], math.prod(x.shape[2:])
        in_t, acc_t, res_t = ctx.in_types[0], ctx.type("accum"), ctx.type("result")
        is_max = op.op_type == "GlobalMaxPool"
        if is_max:
            update, final = "if (p == 0 || v > acc[c]) acc[c] = v;", "acc[c]"
        elif ctx.is_float("weight"):
            update, final = "acc[c] += v;", f"acc[c] / {float(size)!r}f"
        else:
            inv = ctx.weight("inv_size", np.array([1.0 / size], np.float32))
            update, final = "acc[c] += v;", f"acc[c] * {inv}[0]"
        with w.loop("n", n, label="images"):
            w(f"{in_t if is_max else acc_t} acc[{c}];")
            w("#pragma HLS ARRAY_PARTITION variable=acc complete")
            w(f"for (int c = 0; c < {c}; ++c) acc[c] = 0;")
            with w.loop("p", size, label="pixels"), w.loop("c", c, pragma="PIPELINE II=1"):
                w(f"const {in_t} v = in0.read();")
                w(update)
            with w.pipelined("write", "c", c):
                w(f"out0.write({res_t}({final}));")
