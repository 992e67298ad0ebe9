"""HLS convolution and pooling over a streaming line buffer, and global pools, in every IO type.

Images stream pixel by pixel with all channels of a pixel together (channels-last order). 1-D
windows are 2-D ones of height 1; Conv covers groups, hence depthwise convolutions.

- io_serial (one value per word): a stage keeps the last (kernel height - 1) * dilation + 1 input
  rows in a line buffer, gathers the window of each output pixel from it, multiplies it through a
  reuse loop and writes the output pixel's channels one by one.
- io_stream (one pixel per word): one loop over the padded input plane, pipelined at II = reuse
  factor. Each iteration reads the pixel at its position (padding positions read nothing and shift
  in zeros), shifts it through line buffers into window registers and, at every position that
  completes a window of a valid output, computes and writes one output pixel.
- io_parallel: the window of every output pixel is gathered from the input array, all unrolled.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace

import numpy as np

from rmodel.errors import RModelError

from ..base import Operator
from ..conv import Conv, Plane, Window
from ..pool import Pool
from . import HlsContext, HlsImpl, Order, StageWriter, channels_last_order, register_hls
from .cost import Cost, Schedule
from .products import Products, kept_weights, products, write_products


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
    def span_w(self) -> int:
        """Input columns one output pixel reads (the window registers' width)."""
        return (self.p.kw - 1) * self.p.dw + 1

    @property
    def taps(self) -> int:
        return self.p.taps

    @property
    def padded_h(self) -> int:
        """Rows of the padded plane that io_stream walks (ceil_mode windows may reach past the pads)."""
        p = self.p
        return max(p.pt + p.ih + p.pb, (p.oh - 1) * p.sh + self.span)

    @property
    def padded_w(self) -> int:
        p = self.p
        return max(p.pl + p.iw + p.pr, (p.ow - 1) * p.sw + self.span_w)

    @property
    def outputs(self) -> int:
        """Output pixels per inference."""
        return self.n * self.p.oh * self.p.ow

    def tap(self, t: str, oy: str, ox: str) -> tuple[str, str, str]:
        """C++ input row, column of tap ``t`` of output pixel (``oy``, ``ox``), and the test that the tap
        is inside the image (of variables ``ih``, ``iw`` holding them)."""
        p = self.p
        ih = f"{oy} * {p.sh} - {p.pt} + ({t} / {p.kw}) * {p.dh}"
        iw = f"{ox} * {p.sw} - {p.pl} + ({t} % {p.kw}) * {p.dw}"
        return ih, iw, f"ih >= 0 && ih < {p.ih} && iw >= 0 && iw < {p.iw}"


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
    """io_serial line-buffer skeleton: read rows as needed, gather ``win[taps][C]`` (and, with
    ``flags``, ``valid[taps]``) for every output pixel, run ``per_pixel``; drain unused rows at the end."""
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
                    ih, iw, ok = g.tap("t", "oh", "ow")
                    w(f"const int ih = {ih};", f"const int iw = {iw};", f"const bool ok = {ok};")
                    w(f"const int row = ok ? ih % {g.span} : 0, col = ok ? iw : 0;")
                    if flags:
                        w("valid[t] = ok;")
                    w(f"for (int c = 0; c < {g.c}; ++c) win[t * {g.c} + c] = ok ? line[row][col][c] : {in_t}({fill});")
                per_pixel(w)
        w.label("drain_rows")
        with w.block(f"for (; next_row < {p.ih}; ++next_row)"), w.loop("i", p.iw * g.c, pragma="PIPELINE II=1"):
            w("in0.read();")


def write_packed_window(
    ctx: HlsContext,
    w: StageWriter,
    g: Geometry,
    ii: int,
    per_output: Callable[[StageWriter], None],
    positions: bool = False,
) -> None:
    """io_stream skeleton: one loop over the padded plane (pipelined at ``ii``) that reads a pixel
    word where the position is inside the image, shifts it into the line buffers and the window
    registers ``win[span][span_w][C]`` and runs ``per_output`` (with ``int oy, ox`` if
    ``positions``) at every position that completes the window of an output pixel."""
    p, c = g.p, g.c
    in_t, word = ctx.in_types[0], ctx.in_words[0]
    ph, pw, span, span_w = g.padded_h, g.padded_w, g.span, g.span_w
    if span > 1:
        w(f"// line buffers: the last {span - 1} row(s) of the padded plane ({pw} pixels x {c} channels)")
        w(f"static {in_t} line[{span - 1}][{pw}][{c}];")
        w("#pragma HLS ARRAY_PARTITION variable=line complete dim=1")
        w("#pragma HLS ARRAY_PARTITION variable=line complete dim=3")
    w(f"// window registers: {span} x {span_w} pixels")
    w(f"static {in_t} win[{span}][{span_w}][{c}];")
    w("#pragma HLS ARRAY_PARTITION variable=win complete dim=0")
    inside = [f"y >= {p.pt}"] if p.pt else []
    inside += [f"y < {p.pt + p.ih}"] if ph > p.pt + p.ih else []
    inside += [f"x >= {p.pl}"] if p.pl else []
    inside += [f"x < {p.pl + p.iw}"] if pw > p.pl + p.iw else []
    done = [f"y >= {span - 1}", f"y <= {(p.oh - 1) * p.sh + span - 1}"]
    done += [f"x >= {span_w - 1}", f"x <= {(p.ow - 1) * p.sw + span_w - 1}"]
    if p.sh > 1:
        done.append(f"(y - {span - 1}) % {p.sh} == 0")
    if p.sw > 1:
        done.append(f"(x - {span_w - 1}) % {p.sw} == 0")
    with w.loop("n", g.n, label="images"):
        w("int y = 0, x = 0;")
        with w.loop("i", ph * pw, label="pixels", hang=False, pragma=f"PIPELINE II={ii}"):
            w(f"{word} pixel;")
            if inside:
                with w.block(f"if ({' && '.join(inside)})"):
                    w("pixel = in0.read();")
                with w.orelse(), w.loop("c", c, pragma="UNROLL"):
                    w(f"pixel.data[c] = {in_t}(0);")
            else:
                w("pixel = in0.read();")
            # channels innermost: whole pixels move (vectorized in C simulation; all registers in HLS)
            if span_w > 1:
                with (
                    w.loop("r", span, label="shift", hang=False, pragma="UNROLL"),
                    w.loop("j", span_w - 1, pragma="UNROLL"),
                    w.loop("c", c, pragma="UNROLL"),
                ):
                    w("win[r][j][c] = win[r][j + 1][c];")
            with w.loop("c", c, label="enter", hang=False, pragma="UNROLL"):
                for k in range(span - 1):
                    w(f"win[{k}][{span_w - 1}][c] = line[{k}][x][c];")
                w(f"win[{span - 1}][{span_w - 1}][c] = pixel.data[c];")
                for k in range(span - 2):
                    w(f"line[{k}][x][c] = line[{k + 1}][x][c];")
                if span > 1:
                    w(f"line[{span - 2}][x][c] = pixel.data[c];")
            with w.block(f"if ({' && '.join(done)})"):
                if positions:
                    oy = f"y - {span - 1}" if p.sh == 1 else f"(y - {span - 1}) / {p.sh}"
                    ox = f"x - {span_w - 1}" if p.sw == 1 else f"(x - {span_w - 1}) / {p.sw}"
                    w(f"const int oy = {oy}, ox = {ox};")
                per_output(w)
            with w.block(f"if (++x == {pw})"):
                w("x = 0;")
                w("++y;")


@contextmanager
def unrolled(w: StageWriter, *loops: tuple[str, int]) -> Iterator[None]:
    """Nested ``for (int var = 0; var < stop; ++var)`` loops, each with ``#pragma HLS UNROLL``."""
    with ExitStack() as stack:
        for var, stop in loops:
            stack.enter_context(w.loop(var, stop, pragma="UNROLL"))
        yield


def window_value(g: Geometry, t: str, c: str) -> str:
    """C++ value of channel ``c`` of tap ``t`` in the io_stream window registers."""
    p = g.p
    return f"win[({t} / {p.kw}) * {p.dh}][({t} % {p.kw}) * {p.dw}][{c}]"


class _Windowed(HlsImpl):
    packing = "custom"

    @property
    def g(self) -> Geometry:
        raise NotImplementedError

    def required_orders(self, orders: list[Order]) -> list[Order]:
        return [channels_last_order(self.op.input_info(0).shape)]

    def output_orders(self, orders: list[Order]) -> list[Order]:
        return [channels_last_order(self.op.output_info(0).shape)]

    def packed_lanes(self) -> tuple[list[int], list[int]]:
        return [self.op.input_info(0).shape[1]], [self.op.output_info(0).shape[1]]

    def window_cost(self, s: Schedule, *, steps: int, serial_pixel: int, depth: int, multipliers: int) -> Cost:
        """Cost of a windowed stage: ``steps`` reuse steps per output pixel, ``serial_pixel`` pipelined
        iterations per output pixel in io_serial (gather, reuse loop, write), ``multipliers`` of one
        output pixel's products, ``depth`` cycles of one output pixel's arithmetic."""
        g, p = self.g, self.g.p
        if s.io_type == "io_serial":
            trips = g.n * p.ih * p.iw * g.c + g.outputs * serial_pixel
            return Cost(multipliers, trips=trips, latency=trips, interval=trips, buffered=g.span * p.iw * g.c)
        if s.io_type == "io_parallel":
            return Cost(g.outputs * multipliers, trips=g.outputs * steps, latency=depth, interval=max(1, steps))
        pixels = g.n * g.padded_h * g.padded_w  # one per II = reuse cycles, padding included
        interval = pixels * max(1, steps)
        buffered = (g.span - 1) * g.padded_w * g.c  # the line buffers (the window is registers)
        # the first window is complete after (span - 1) padded rows and span_w pixels of the next
        first = ((g.span - 1) * g.padded_w + g.span_w) * max(1, steps) + depth
        return Cost(
            multipliers,
            trips=pixels + g.outputs * steps,
            latency=interval + depth,
            interval=interval,
            buffered=buffered,
            first=first,
        )


@register_hls("Conv")
class ConvHls(_Windowed):
    """Conv with constant weights: per output pixel, M x (taps x C/group) products (``write_products``)."""

    fuses_activation = True

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
        return self.g.outputs * self.conv.plan.dims.m * self.conv.plan.dims.kdim

    def accumulated_terms(self) -> int:
        return self.conv.plan.dims.kdim

    def has_bias(self) -> bool:
        return self.op.has_input(2)

    def reuse_work(self) -> int:
        return self.conv.plan.dims.m * self.conv.plan.dims.kdim

    # ---- the products of one output pixel ---------------------------------------------------
    def weight_matrix(self, constants: dict[str, np.ndarray]) -> np.ndarray:
        """(M x taps * C/group) weights, term u = tap * C/group + channel within the group."""
        dims, p = self.conv.plan.dims, self.g.p
        weights = constants[self.op.inputs[1]].astype(np.float32)
        return np.ascontiguousarray(weights.reshape(dims.m, dims.cg, p.kh, p.kw).transpose(0, 2, 3, 1)).reshape(
            dims.m, dims.kdim
        )

    def sources(self) -> tuple[np.ndarray, str]:
        """Index into the gathered window ``a[taps * C]`` (tap-major) of every term of every output,
        as a (M x terms) table and as a C++ expression of ``o, u``."""
        dims, c = self.conv.plan.dims, self.g.c
        o, u = np.meshgrid(np.arange(dims.m), np.arange(dims.kdim), indexing="ij")
        table = (u // dims.cg) * c + (o // dims.mg) * dims.cg + u % dims.cg
        group = f" + (o / {dims.mg}) * {dims.cg}" if dims.group > 1 else ""
        if dims.cg == 1:
            return table, f"u * {c}{group}"
        return table, f"(u / {dims.cg}) * {c}{group} + u % {dims.cg}"

    def plan_products(self, precision: object, constants: dict[str, np.ndarray], reuse: int) -> Products:
        weight = self.weight_matrix(constants)
        return products(weight, kept_weights(precision, weight), reuse)

    def _accumulate(self, ctx: HlsContext, w: StageWriter, a: str) -> None:
        """``acc[M]`` declared, set to the bias and summed over the window ``a`` (all unrolled but
        the reuse loop)."""
        op, m = self.op, self.conv.plan.dims.m
        acc_t = ctx.type("accum")
        w(f"{acc_t} acc[{m}];")
        w("#pragma HLS ARRAY_PARTITION variable=acc complete")
        if op.has_input(2):
            bias = ctx.const(op.inputs[2])
            assert bias is not None
            b = ctx.weight("b", bias.astype(np.float32), "bias")
            init = f"acc[j] = {acc_t}({b}[j]);"
        else:
            init = f"acc[j] = {acc_t}(0);"
        with w.loop("j", m, label="init", hang=False, pragma="UNROLL"):
            w(init)
        table, expr = self.sources()
        write_products(ctx, w, a=a, acc="acc", weight=self.weight_matrix(ctx.constants), source=table, source_expr=expr)

    # ---- code -------------------------------------------------------------------------------
    def write(self, ctx: HlsContext, w: StageWriter) -> None:
        m, res_t = self.conv.plan.dims.m, ctx.type("result")

        def per_pixel(w: StageWriter) -> None:
            self._accumulate(ctx, w, "win")
            with w.pipelined("write", "j", m, hang=False):
                w(f"out0.write({res_t}(acc[j]));")

        write_window_loops(w, self.g, ctx.in_types[0], per_pixel)

    def write_packed(self, ctx: HlsContext, w: StageWriter) -> None:
        g, m, res_t = self.g, self.conv.plan.dims.m, ctx.type("result")
        plan = self.plan_products(ctx.config.precision("weight"), ctx.constants, ctx.reuse)

        def per_output(w: StageWriter) -> None:
            w(f"{ctx.in_types[0]} a[{g.taps * g.c}];")
            w("#pragma HLS ARRAY_PARTITION variable=a complete")
            with unrolled(w, ("t", g.taps), ("c", g.c)):
                w(f"a[t * {g.c} + c] = {window_value(g, 't', 'c')};")
            self._accumulate(ctx, w, "a")
            w(f"{ctx.out_words[0]} y_word;")
            with w.loop("j", m, pragma="UNROLL"):
                w(f"y_word.data[j] = {ctx.written(f'{res_t}(acc[j])')};")
            w("out0.write(y_word);")

        write_packed_window(ctx, w, g, plan.reuse if plan.nonzero else 1, per_output)

    def write_parallel(self, ctx: HlsContext, w: StageWriter) -> None:
        g, p, m, res_t = self.g, self.g.p, self.conv.plan.dims.m, ctx.type("result")
        in_t = ctx.in_types[0]
        with unrolled(w, ("n", g.n), ("oy", p.oh), ("ox", p.ow)):
            w(f"{in_t} a[{g.taps * g.c}];")
            w("#pragma HLS ARRAY_PARTITION variable=a complete")
            with unrolled(w, ("t", g.taps), ("c", g.c)):
                ih, iw, ok = g.tap("t", "oy", "ox")
                w(f"const int ih = {ih};", f"const int iw = {iw};")
                w(f"a[t * {g.c} + c] = ({ok}) ? in0[((n * {g.c} + c) * {p.ih} + ih) * {p.iw} + iw] : {in_t}(0);")
            self._accumulate(ctx, w, "a")
            with w.loop("j", m, pragma="UNROLL"):
                w(f"out0[((n * {m} + j) * {p.oh} + oy) * {p.ow} + ox] = {res_t}(acc[j]);")

    def cost(self, s: Schedule) -> Cost:
        g, dims = self.g, self.conv.plan.dims
        plan = self.plan_products(s.weight_precision, s.constants, s.reuse)
        steps = plan.reuse if plan.nonzero else 0
        stored = plan.nonzero + (dims.m if self.has_bias() else 0)
        cost = self.window_cost(
            s,
            steps=steps,
            serial_pixel=g.taps + steps + dims.m,
            depth=s.mac(dims.kdim) if plan.nonzero else 1,
            multipliers=plan.multipliers,
        )
        storage = "rom" if s.strategy == "resource" else "registers"
        return replace(cost, skipped=g.outputs * plan.skipped, stored=stored, storage=storage)


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

    def _scale(self, ctx: HlsContext, pixel: str) -> str:
        """C++ factor (``* x``) or divisor (``/ x``) of output pixel ``pixel``'s sum."""
        counts = list(self.pool.plan.counts)
        if len(counts) == 1:
            counts = [(1,), counts[0]]
        table = np.outer(np.asarray(counts[0], np.float64), np.asarray(counts[1], np.float64)).ravel()
        if ctx.is_float("weight"):
            return f"/ {ctx.weight('count', table.astype(np.float32))}[{pixel}]"
        return f"* {ctx.weight('inv_count', (1.0 / table).astype(np.float32))}[{pixel}]"

    def _reduce(self, ctx: HlsContext, w: StageWriter, value: str, out: str, positions: bool) -> None:
        """``out`` = the max or average over the window of output pixel (``oy``, ``ox``) of channel
        ``c``; ``value`` reads tap ``t`` (zero in the padding), from ``ih, iw`` if ``positions``."""
        g, in_t, res_t = self.g, ctx.in_types[0], ctx.type("result")
        is_max = self.pool.is_max
        if is_max:
            w(f"{in_t} best = 0;", "bool any = false;")
        else:
            w(f"{ctx.type('accum')} sum = 0;")
        with w.loop("t", g.taps, pragma="UNROLL"):
            if is_max or positions:
                ih, iw, ok = g.tap("t", "oy", "ox")
                w(f"const int ih = {ih};", f"const int iw = {iw};", f"const bool ok = {ok};")
            if is_max:
                w(f"const {in_t} v = {value};")
                w("if (ok && (!any || v > best)) best = v;")
                w("any = any || ok;")
            else:
                w(f"sum += {value};")
        if is_max:
            w(f"{out} = {res_t}(best);")
        else:
            w(f"{out} = {res_t}(sum {self._scale(ctx, f'oy * {g.p.ow} + ox')});")

    def write(self, ctx: HlsContext, w: StageWriter) -> None:
        g, in_t, res_t = self.g, ctx.in_types[0], ctx.type("result")
        if self.pool.is_max:

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
        scale = self._scale(ctx, f"oh * {g.p.ow} + ow")

        def average(w: StageWriter) -> None:
            with w.pipelined("channels", "c", g.c, hang=False):
                w(f"{ctx.type('accum')} sum = 0;")
                w(f"for (int t = 0; t < {g.taps}; ++t) sum += win[t * {g.c} + c];")
                w(f"out0.write({res_t}(sum {scale}));")

        write_window_loops(w, g, in_t, average)

    def write_packed(self, ctx: HlsContext, w: StageWriter) -> None:
        g = self.g

        def per_output(w: StageWriter) -> None:
            w(f"{ctx.out_words[0]} y_word;")
            with w.loop("c", g.c, pragma="UNROLL"):
                self._reduce(ctx, w, window_value(g, "t", "c"), "y_word.data[c]", positions=False)
            w("out0.write(y_word);")

        write_packed_window(ctx, w, g, 1, per_output, positions=True)

    def write_parallel(self, ctx: HlsContext, w: StageWriter) -> None:
        g, p, in_t = self.g, self.g.p, ctx.in_types[0]
        plane = f"(n * {g.c} + c)"
        value = f"ok ? in0[{plane} * {p.ih * p.iw} + ih * {p.iw} + iw] : {in_t}(0)"
        with unrolled(w, ("n", g.n), ("c", g.c), ("oy", p.oh), ("ox", p.ow)):
            out = f"out0[({plane} * {p.oh} + oy) * {p.ow} + ox]"
            self._reduce(ctx, w, value, out, positions=True)

    def cost(self, s: Schedule) -> Cost:
        g, is_max = self.g, self.pool.is_max
        depth = s.sum(g.taps) + (0 if is_max else s.multiply())
        lanes = {"io_serial": 1, "io_stream": g.c, "io_parallel": g.c}[s.io_type]
        cost = self.window_cost(s, steps=0, serial_pixel=g.taps + g.c, depth=depth, multipliers=0 if is_max else lanes)
        return replace(cost, stored=0 if is_max else g.p.oh * g.p.ow)  # the count table


@register_hls("GlobalAveragePool", "GlobalMaxPool")
class GlobalPoolHls(HlsImpl):
    """Per-channel sum (or max) over all pixels; only C accumulators, no image buffer."""

    packing = "custom"

    def _sizes(self) -> tuple[int, int, int]:
        """Images, channels and pixels per channel."""
        shape = self.op.input_info(0).shape
        return shape[0], shape[1], math.prod(shape[2:])

    def required_orders(self, orders: list) -> list:
        return [channels_last_order(self.op.input_info(0).shape)]

    def packed_lanes(self) -> tuple[list[int], list[int]]:
        _, c, _ = self._sizes()
        return [c], [c]

    def _is_max(self) -> bool:
        return self.op.op_type == "GlobalMaxPool"

    def _terms(self, ctx: HlsContext) -> tuple[str, str, str]:
        """Accumulator type, update of ``acc[c]`` by ``v`` at pixel ``p`` and the final value of channel c."""
        _, _, size = self._sizes()
        in_t, acc_t = ctx.in_types[0], ctx.type("accum")
        if self._is_max():
            return in_t, "if (p == 0 || v > acc[c]) acc[c] = v;", "acc[c]"
        if ctx.is_float("weight"):
            return acc_t, "acc[c] += v;", f"acc[c] / {float(size)!r}f"
        inv = ctx.weight("inv_size", np.array([1.0 / size], np.float32))
        return acc_t, "acc[c] += v;", f"acc[c] * {inv}[0]"

    def write(self, ctx: HlsContext, w: StageWriter) -> None:
        n, c, size = self._sizes()
        in_t, res_t = ctx.in_types[0], ctx.type("result")
        acc_t, update, final = self._terms(ctx)
        with w.loop("n", n, label="images"):
            w(f"{acc_t} acc[{c}];")
            w("#pragma HLS ARRAY_PARTITION variable=acc complete")
            w(f"for (int c = 0; c < {c}; ++c) acc[c] = 0;")
            with w.loop("p", size, label="pixels"), w.loop("c", c, pragma="PIPELINE II=1"):
                w(f"const {in_t} v = in0.read();")
                w(update)
            with w.pipelined("write", "c", c):
                w(f"out0.write({res_t}({final}));")

    def write_packed(self, ctx: HlsContext, w: StageWriter) -> None:
        n, c, size = self._sizes()
        in_t, res_t = ctx.in_types[0], ctx.type("result")
        acc_t, update, final = self._terms(ctx)
        with w.loop("n", n, label="images"):
            w(f"{acc_t} acc[{c}];")
            w("#pragma HLS ARRAY_PARTITION variable=acc complete")
            with w.loop("c", c, pragma="UNROLL"):
                w("acc[c] = 0;")
            with w.loop("p", size, label="pixels", hang=False, pragma="PIPELINE II=1"):
                w(f"const {ctx.in_words[0]} pixel = in0.read();")
                with w.loop("c", c, pragma="UNROLL"):
                    w(f"const {in_t} v = pixel.data[c];")
                    w(update)
            w(f"{ctx.out_words[0]} y_word;")
            with w.loop("c", c, pragma="UNROLL"):
                w(f"y_word.data[c] = {res_t}({final});")
            w("out0.write(y_word);")

    def write_parallel(self, ctx: HlsContext, w: StageWriter) -> None:
        n, c, size = self._sizes()
        in_t, res_t = ctx.in_types[0], ctx.type("result")
        acc_t, update, final = self._terms(ctx)
        w(f"{acc_t} acc[{c}];")
        w("#pragma HLS ARRAY_PARTITION variable=acc complete")
        with w.loop("n", n, label="images", pragma="UNROLL"), w.loop("c", c, pragma="UNROLL"):
            w("acc[c] = 0;")
            with w.loop("p", size, pragma="UNROLL"):
                w(f"const {in_t} v = in0[(n * {c} + c) * {size} + p];")
                w(update)
            w(f"out0[n * {c} + c] = {res_t}({final});")

    def cost(self, s: Schedule) -> Cost:
        n, c, size = self._sizes()
        multipliers = 0 if self._is_max() else 1
        if s.io_type == "io_serial":
            trips = n * (size * c + c)
            return Cost(multipliers, trips=trips, latency=trips, interval=trips)
        depth = s.sum(size) + (0 if self._is_max() else s.multiply())
        if s.io_type == "io_parallel":
            return Cost(n * c * multipliers, trips=0, latency=depth, interval=1)
        trips = n * size
        return Cost(c * multipliers, trips=trips, latency=trips + depth, interval=trips)
