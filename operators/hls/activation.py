"""HLS activations: Relu, LeakyRelu, Sigmoid, Tanh (elementwise) and Softmax.

In float mode the functions are computed with <cmath> (exactly like the CPU target); with
fixed-point types sigmoid, tanh and softmax's exponential use lookup tables whose size and range
are set by the ``table_size`` and ``table_range`` options.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from rmodel.cpp_writer import CppWriter

from ..softmax import Softmax
from . import ANY, HlsContext, HlsImpl, Schedule, StageWriter, register_hls, transpose_order

#: wide enough to hold the scaled value of any input type the tables are used with
INDEX_T = "ap_fixed<48, 24>"
#: fractional bits of INDEX_T
INDEX_FRACTION = 24


def lut_shift(low: float, high: float, size: int, half_open: bool) -> int | None:
    """k when a ``half_open`` table of ``size`` points over [low, high) is ``2^k`` points per unit
    (0 <= k <= 20) and ``low`` less half a step is exact in INDEX_T: the index is then a shift of the
    input's bits (no multiplier). None otherwise: ``size`` points spanning [low, high] (tables whose
    upper end is a common input, like softmax's exp(0)), indexed through a multiplication."""
    if not half_open or not high > low:
        return None
    k = round(math.log2(size / (high - low)))
    if not 0 <= k <= 20 or size / (high - low) != 2.0**k:
        return None
    start = (low - 0.5 / 2**k) * 2**INDEX_FRACTION
    if start != math.floor(start) or abs(start) >= 2.0**47:  # within the 48 bits of INDEX_T
        return None
    return k


def write_lut_index(w: CppWriter, value: str, low: float, high: float, size: int, half_open: bool = False) -> None:
    """Statements setting ``int idx`` to the nearest of the ``size`` points of ``table_points``."""
    w(f"{INDEX_T} t = {value};")
    k = lut_shift(low, high, size, half_open)
    if k is not None:  # idx = floor((v - low) * 2^k + 1/2): the bits of t from 2^-k up
        w(f"t -= {INDEX_T}({low - 0.5 / 2**k!r});  // the first point less half a step")
        w(f"int idx = t < 0 ? 0 : (t * ap_ufixed<1, {k + 1}>({2**k})).to_int();  // a shift by {k}")
    else:
        w(f"t -= {INDEX_T}({low!r});")
        w(f"t *= {INDEX_T}({(size - 1) / (high - low)!r});")
        w(f"t += {INDEX_T}(0.5);")
        w("int idx = t < 0 ? 0 : t.to_int();")
    w(f"if (idx > {size - 1}) idx = {size - 1};")


def table_points(low: float, high: float, size: int, half_open: bool = False) -> np.ndarray:
    """The inputs of a table's points: ``low + i / 2^k`` when ``lut_shift`` gives k (the last point
    one step below ``high``), else ``size`` points from ``low`` to ``high``."""
    k = lut_shift(low, high, size, half_open)
    if k is not None:
        return low + np.arange(size, dtype=np.float64) / 2.0**k
    return np.linspace(low, high, size, dtype=np.float64)


class _Elementwise(HlsImpl):
    """y = f(x) element by element, in whatever order x arrives."""

    def required_orders(self, orders: list) -> list:
        return [ANY]

    def output_orders(self, orders: list) -> list:
        return [orders[0]]

    def interval(self, reuse: int) -> int:
        return self.op.output_info(0).size

    def statements(self, ctx: HlsContext, w: StageWriter) -> None:
        """Write the statements computing ``y`` (result type) from ``v`` (input type)."""
        raise NotImplementedError

    packing = "words"

    def depth(self, s: Schedule) -> int:
        return 1

    def write(self, ctx: HlsContext, w: StageWriter) -> None:
        with w.pipelined("apply", "i", self.op.output_info(0).size):
            w(f"const {ctx.in_types[0]} v = in0.read();")
            self.statements(ctx, w)
            w("out0.write(y);")

    def write_parallel(self, ctx: HlsContext, w: StageWriter) -> None:
        with w.loop("i", self.op.output_info(0).size, pragma="UNROLL"):
            w(f"const {ctx.in_types[0]} v = in0[i];")
            self.statements(ctx, w)
            w("out0[i] = y;")

    def write_words(self, ctx: HlsContext, w: StageWriter, lanes: int) -> None:
        with w.loop("l", lanes, pragma="UNROLL"):
            w(f"const {ctx.in_types[0]} v = x_word.data[l];")
            self.statements(ctx, w)
            w("y_word.data[l] = y;")


@register_hls("Relu")
class ReluHls(_Elementwise):
    fusable = True

    def depth(self, s: Schedule) -> int:
        return 0  # a comparison and a multiplexer ahead of the next register

    def statements(self, ctx: HlsContext, w: StageWriter) -> None:
        t = ctx.in_types[0]
        w(f"const {ctx.type('result')} y = v > {t}(0) ? v : {t}(0);")


@register_hls("LeakyRelu")
class LeakyReluHls(_Elementwise):
    def macs(self) -> int:
        return self.op.output_info(0).size

    def multipliers(self, reuse: int) -> int:
        return 1

    def statements(self, ctx: HlsContext, w: StageWriter) -> None:
        t, res, weight = ctx.in_types[0], ctx.type("result"), ctx.type("weight")
        alpha = float(np.float32(self.op.attr["alpha"]))
        w(f"const {weight} alpha = {alpha!r}f;")
        w(f"const {res} y = v >= {t}(0) ? {res}(v) : {res}(alpha * v);")


class _Table(_Elementwise):
    """An activation computed by <cmath> in float mode and by a lookup table otherwise."""

    low_is_negative_range = True

    def function(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def float_expression(self) -> str:
        raise NotImplementedError

    def statements(self, ctx: HlsContext, w: StageWriter) -> None:
        res = ctx.type("result")
        if ctx.is_float("table"):
            w(f"const {res} y = {self.float_expression()};")
            return
        rng, size = ctx.config.table_range, ctx.config.table_size
        points = table_points(-rng, rng, size, half_open=True)
        table = ctx.weight("table", self.function(points).astype(np.float32), "table")
        write_lut_index(w, "v", -rng, rng, size, half_open=True)
        w(f"const {res} y = {table}[idx];")


@register_hls("Sigmoid")
class SigmoidHls(_Table):
    def function(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-x))

    def float_expression(self) -> str:
        return "1.0f / (1.0f + std::exp(-float(v)))"


@register_hls("Tanh")
class TanhHls(_Table):
    def function(self, x: np.ndarray) -> np.ndarray:
        return np.tanh(x)

    def float_expression(self) -> str:
        return "std::tanh(float(v))"


@register_hls("Softmax")
class SoftmaxHls(HlsImpl):
    """exp(x - max) / sum over one axis; the axis is streamed innermost (a reorder if it is not)."""

    op: Softmax

    def _geometry(self) -> tuple[tuple[int, ...], int, int, object]:
        op = self.op
        shape = op.input_info(0).shape
        rank = max(len(shape), 1)
        axis = op.plan.axis
        if op.coerce_2d:  # coerced to 2-D at axis: the inner block is already contiguous
            inner = math.prod(shape[axis:])
            return shape, inner, math.prod(shape) // max(inner, 1), None
        perm = tuple(d for d in range(rank) if d != axis) + (axis,)
        return (
            shape,
            shape[axis] if shape else 1,
            math.prod(shape) // max(shape[axis] if shape else 1, 1),
            (transpose_order(shape, perm) if shape else None),
        )

    def required_orders(self, orders: list) -> list:
        return [self._geometry()[3]]

    def output_orders(self, orders: list) -> list:
        return [self._geometry()[3]]

    def interval(self, reuse: int) -> int:
        return 3 * self.op.output_info(0).size  # read, exponentials, normalize

    def depth(self, s: Schedule) -> int:
        length = self._geometry()[1]
        return 1 + s.sum(length) + 1 + s.multiply()  # exp table, sum, 1/sum table, product

    def write(self, ctx: HlsContext, w: StageWriter) -> None:
        self._write_rows(ctx, w, None)

    def write_parallel(self, ctx: HlsContext, w: StageWriter) -> None:
        _, length, rows, order = self._geometry()
        flat = f"r * {length} + i"
        if order is not None:
            flat = f"{ctx.index_table('flat', np.asarray(order))}[{flat}]"
        self._write_rows(ctx, w, flat)

    def _write_rows(self, ctx: HlsContext, w: StageWriter, flat: str | None) -> None:
        """Serial stage (``flat`` None: read and write streams) or io_parallel body (element i of row
        r is ``in0[flat]``/``out0[flat]``, every loop unrolled)."""
        _, length, rows, _ = self._geometry()
        in_t, acc, res = ctx.in_types[0], ctx.type("accum"), ctx.type("result")
        if ctx.is_float("table"):
            e_t = "float"

            def exponential(w: StageWriter) -> None:
                w("e[i] = std::exp(float(x[i]) - float(m));")

            def inverse(w: StageWriter) -> None:
                w("inv = 1.0f / float(sum);")

        else:
            rng, size = ctx.config.table_range, ctx.config.table_size
            # points -range + (i + 1) / 2^k when that is a shift index: the last point is exactly 0
            # (the largest element's exp(0) = 1); else size points spanning [-range, 0]
            step = rng / size
            shifted = lut_shift(-rng + step, step, size, half_open=True) is not None
            exp_low, exp_high = (-rng + step, step) if shifted else (-rng, 0.0)
            points = table_points(exp_low, exp_high, size, half_open=shifted)
            exp_table = ctx.weight("exp_table", np.exp(points).astype(np.float32), "table")
            inv_high = float(max(length, 2))
            inv_table = ctx.weight("inv_table", (1.0 / table_points(1.0, inv_high, size)).astype(np.float32), "table")
            e_t = ctx.type("table")

            def exponential(w: StageWriter) -> None:
                w(f"const {acc} d = {acc}(x[i]) - {acc}(m);")
                write_lut_index(w, "d", exp_low, exp_high, size, half_open=shifted)
                w(f"e[i] = {exp_table}[idx];")

            def inverse(w: StageWriter) -> None:
                with w.block():
                    write_lut_index(w, "sum", 1.0, inv_high, size)
                    w(f"inv = {inv_table}[idx];")

        def loop(label: str, var: str, stop: int) -> Any:
            """A pipelined loop (serial) or an unrolled one (io_parallel)."""
            if flat is None:
                return w.pipelined(label, var, stop)
            return w.loop(var, stop, label=label, pragma="UNROLL")

        with w.loop("r", rows, label="rows", pragma=None if flat is None else "UNROLL"):
            w(f"{in_t} x[{length}];", f"{e_t} e[{length}];", f"{in_t} m = 0;", f"{acc} sum = 0;", f"{e_t} inv;")
            with loop("read", "i", length):
                w("x[i] = in0.read();" if flat is None else f"x[i] = in0[{flat}];")
                w("if (i == 0 || x[i] > m) m = x[i];")
            with loop("exponentials", "i", length):
                with w.block():
                    exponential(w)
                w("sum += e[i];")
            inverse(w)
            with loop("normalize", "i", length):
                w(f"out0.write({res}(e[i] * inv));" if flat is None else f"out0[{flat}] = {res}(e[i] * inv);")
