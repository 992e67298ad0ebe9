"""HLS activations: Relu, LeakyRelu, Sigmoid, Tanh (elementwise) and Softmax.

In float mode the functions are computed with <cmath> (exactly like the CPU target); with
fixed-point types sigmoid, tanh and softmax's exponential use lookup tables whose size and range
are set by the ``table_size`` and ``table_range`` options.
"""

from __future__ import annotations

import math

import numpy as np

from ..softmax import Softmax
from . import ANY, HlsContext, HlsImpl, register_hls, transpose_order

#: wide enough to hold the scaled value of any input type the tables are used with
INDEX_T = "ap_fixed<48, 24>"


def lut_index(value: str, low: float, high: float, size: int) -> str:
    """C++ statements setting ``int idx`` to the nearest of ``size`` table points spanning [low, high]."""
    scale = (size - 1) / (high - low)
    return (
        f"{INDEX_T} t = {value};\n"
        f"t -= {INDEX_T}({low!r});\n"
        f"t *= {INDEX_T}({scale!r});\n"
        f"t += {INDEX_T}(0.5);\n"
        f"int idx = t < 0 ? 0 : t.to_int();\n"
        f"if (idx > {size - 1}) idx = {size - 1};"
    )


def table_points(low: float, high: float, size: int) -> np.ndarray:
    return np.linspace(low, high, size, dtype=np.float64)


class _Elementwise(HlsImpl):
    """y = f(x) element by element, in whatever order x arrives."""

    def required_orders(self, orders: list) -> list:
        return [ANY]

    def output_orders(self, orders: list) -> list:
        return [orders[0]]

    def interval(self, reuse: int) -> int:
        return self.op.output_info(0).size

    def statements(self, ctx: HlsContext) -> str:
        """Statements computing ``y`` (result type) from ``v`` (input type)."""
        raise NotImplementedError

    def emit(self, ctx: HlsContext) -> str:
        size = self.op.output_info(0).size
        inner = "\n".join("  " + line for line in self.statements(ctx).splitlines())
        return (
            f"apply:\nfor (int i = 0; i < {size}; ++i) {{\n#pragma HLS PIPELINE II=1\n"
            f"  const {ctx.in_types[0]} v = in0.read();\n{inner}\n  out0.write(y);\n}}"
        )


@register_hls("Relu")
class ReluHls(_Elementwise):
    def statements(self, ctx: HlsContext) -> str:
        t = ctx.in_types[0]
        return f"const {ctx.type('result')} y = v > {t}(0) ? v : {t}(0);"


@register_hls("LeakyRelu")
class LeakyReluHls(_Elementwise):
    def macs(self) -> int:
        return self.op.output_info(0).size

    def multipliers(self, reuse: int) -> int:
        return 1

    def statements(self, ctx: HlsContext) -> str:
        t, res, w = ctx.in_types[0], ctx.type("result"), ctx.type("weight")
        alpha = float(np.float32(self.op.attr["alpha"]))
        return f"const {w} alpha = {alpha!r}f;\nconst {res} y = v >= {t}(0) ? {res}(v) : {res}(alpha * v);"


class _Table(_Elementwise):
    """An activation computed by <cmath> in float mode and by a lookup table otherwise."""

    low_is_negative_range = True

    def function(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def float_expression(self) -> str:
        raise NotImplementedError

    def statements(self, ctx: HlsContext) -> str:
        res = ctx.type("result")
        if ctx.is_float("table"):
            return f"const {res} y = {self.float_expression()};"
        rng, size = ctx.config.table_range, ctx.config.table_size
        table = ctx.weight("table", self.function(table_points(-rng, rng, size)).astype(np.float32), "table")
        return f"{lut_index('v', -rng, rng, size)}\nconst {res} y = {table}[idx];"


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
        return 2 * self.op.output_info(0).size

    def emit(self, ctx: HlsContext) -> str:
        _, length, rows, _ = self._geometry()
        in_t, acc, res = ctx.in_types[0], ctx.type("accum"), ctx.type("result")
        fixed = not ctx.is_float("table")
        if fixed:
            rng, size = ctx.config.table_range, ctx.config.table_size
            exp_table = ctx.weight("exp_table", np.exp(table_points(-rng, 0.0, size)).astype(np.float32), "table")
            inv_high = float(max(length, 2))
            inv_table = ctx.weight("inv_table", (1.0 / table_points(1.0, inv_high, size)).astype(np.float32), "table")
            tt = ctx.type("table")
            exp_code = f"{lut_index('d', -rng, 0.0, size)}\n      e[i] = {exp_table}[idx];"
            inv_code = f"{{\n    {lut_index('sum', 1.0, inv_high, size)}\n    inv = {inv_table}[idx];\n  }}"
            e_t, inv_decl = tt, f"{tt} inv;"
        else:
            exp_code = "e[i] = std::exp(float(x[i]) - float(m));"
            inv_code = "inv = 1.0f / float(sum);"
            e_t, inv_decl = "float", "float inv;"
        d_line = f"      const {acc} d = {acc}(x[i]) - {acc}(m);" if fixed else ""
        exp_lines = "\n".join(line for line in [d_line, "      " + exp_code.replace("\n", "\n      ")] if line)
        return f"""rows:
for (int r = 0; r < {rows}; ++r) {{
  {in_t} x[{length}];
  {e_t} e[{length}];
  {in_t} m = 0;
  {acc} sum = 0;
  {inv_decl}
read:
  for (int i = 0; i < {length}; ++i) {{
#pragma HLS PIPELINE II=1
    x[i] = in0.read();
    if (i == 0 || x[i] > m) m = x[i];
  }}
exponentials:
  for (int i = 0; i < {length}; ++i) {{
#pragma HLS PIPELINE II=1
    {{
{exp_lines}
    }}
    sum += e[i];
  }}
  {inv_code}
normalize:
  for (int i = 0; i < {length}; ++i) {{
#pragma HLS PIPELINE II=1
    out0.write({res}(e[i] * inv));
  }}
}}"""
