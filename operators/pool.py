"""Pooling: MaxPool, AveragePool (any number of spatial axes) and GlobalAveragePool/GlobalMaxPool.

Windowed pools accumulate into the output plane: for every output row and every kernel tap, the
innermost loop runs over the contiguous output positions whose input position is valid (the range
is computed per tap, so there are no bounds checks inside). Averages are divided at the end by the
number of counted taps, which ONNX defines per axis (``count_include_pad`` counts taps that fall in
the explicit padding, never those past it that ``ceil_mode`` adds).
"""

from __future__ import annotations

import math

import numpy as np

from rmodel.cpp_sources import cpp_source
from rmodel.errors import RModelError

from .base import REQUIRED, CpuContext, Operator, ShapeContext, float_literal, register
from .conv import Window, check_auto_pad, loop, valid_range_code, window_geometry, window_outer_loops


def tap_counts(
    size: int, out: int, kernel: int, stride: int, dilation: int, pad_begin: int, pad_end: int, include_pad: bool
) -> list[int]:
    """Number of taps of each window along one axis that an average divides by."""
    low, high = (-pad_begin, size + pad_end) if include_pad else (0, size)
    counts = []
    for o in range(out):
        start = o * stride - pad_begin
        counts.append(sum(1 for k in range(kernel) if low <= start + k * dilation < high))
    return counts


class _Pool(Operator):
    """MaxPool and AveragePool over the spatial axes of (N, C, spatial...)."""

    #: over all opsets and both ops (onnx.defs says which exist where)
    attributes = {
        "auto_pad": "NOTSET",
        "kernel_shape": REQUIRED,
        "pads": None,
        "strides": None,
        "ceil_mode": 0,
        "storage_order": 0,
        "dilations": None,
        "count_include_pad": 0,
    }

    def setup(self) -> None:
        self.is_max = self.op_type == "MaxPool"
        self.auto_pad = check_auto_pad(self, str(self.attr["auto_pad"]))
        self.kernel = tuple(int(k) for k in self.attr["kernel_shape"])
        if not self.kernel or any(k < 1 for k in self.kernel):
            raise RModelError(
                f"node '{self.name}' ({self.op_type}): kernel_shape {list(self.kernel)} must list positive sizes"
            )
        self.ceil_mode = bool(self.attr.get("ceil_mode", 0))
        self.include_pad = bool(self.attr.get("count_include_pad", 0))
        if len(self.outputs) > 1 and self.outputs[1]:
            raise RModelError(
                f"node '{self.name}' (MaxPool): the optional Indices output ('{self.outputs[1]}') is not "
                "supported; remove it from the model or compute the indices in another way"
            )

    def infer(self, ctx: ShapeContext) -> list:
        x = self.input_info(0)
        if x.dtype != np.float32:
            raise self.fail(f"only float32 is supported, got {x.dtype}")
        if x.rank < 3:
            raise self.fail(f"X must be (N, C, spatial...) with a spatial axis, got shape {x.shape}")
        if len(self.kernel) != x.rank - 2:
            raise self.fail(
                f"kernel_shape {list(self.kernel)} has {len(self.kernel)} axes but X {x.shape} has "
                f"{x.rank - 2} spatial axes"
            )
        self.in_spatial = tuple(x.shape[2:])
        self.planes = x.shape[0] * x.shape[1]
        self.win: Window = window_geometry(
            self,
            self.in_spatial,
            self.kernel,
            self.attr["strides"],
            self.attr.get("dilations"),
            self.attr["pads"],
            self.auto_pad,
            self.ceil_mode,
        )
        outs = [self.out(0, np.float32, (*x.shape[:2], *self.win.out))]
        return outs + [None] * (len(self.outputs) - 1)

    def flops(self) -> int:
        return self.planes * math.prod(self.win.out) * math.prod(self.kernel)

    def emit_cpu(self, ctx: CpuContext) -> str:
        ctx.helper("valid_range", valid_range_code())
        win = self.win
        rank = len(win.kernel)
        in_size, out_size = math.prod(self.in_spatial), math.prod(win.out)
        init = "-std::numeric_limits<float>::infinity()" if self.is_max else "0.0f"
        lines = [
            f"const float* x = {ctx.ptr(self.inputs[0])};",
            f"float* y = {ctx.ptr(self.outputs[0])};",
            f"for (std::size_t p = 0; p < {self.planes}; ++p) {{",
            f"  const float* xp = x + p * {in_size};",
            f"  float* yp = y + p * {out_size};",
            f"  for (std::size_t j = 0; j < {out_size}; ++j) yp[j] = {init};",
        ]
        outer, indent, src, dst, _ = window_outer_loops(win, self.in_spatial, "  ", "xp", "yp")
        lines += outer
        last = rank - 1
        s = win.strides[last]
        step = "o" if s == 1 else f"o * {s}"
        # NaN propagates (v != v): a NaN input never turns into a plausible maximum
        update = f"{dst}[o] = (v > {dst}[o] || v != v) ? v : {dst}[o];" if self.is_max else f"{dst}[o] += v;"
        lines += [
            indent + loop("k", 0, win.kernel[last]),
            f"{indent}  const std::ptrdiff_t off = k * {win.dilations[last]} - {win.pads_begin[last]};",
            f"{indent}  std::ptrdiff_t lo, hi;",
            f"{indent}  detail::valid_range(off, {s}, {self.in_spatial[last]}, {win.out[last]}, lo, hi);",
            f"{indent}  for (std::ptrdiff_t o = lo; o < hi; ++o) {{",
            f"{indent}    const float v = {src}[{step} + off];",
            f"{indent}    {update}",
            f"{indent}  }}",
            f"{indent}}}",
        ]
        for _ in range(2 * (rank - 1)):
            indent = indent[:-2]
            lines.append(f"{indent}}}")
        if not self.is_max:
            lines += self._divide()
        lines.append("}")
        return "\n".join(lines)

    def _divide(self) -> list[str]:
        """Statements dividing the plane ``yp`` by each window's tap count."""
        win = self.win
        rank = len(win.kernel)
        counts = [
            tap_counts(
                self.in_spatial[a],
                win.out[a],
                win.kernel[a],
                win.strides[a],
                win.dilations[a],
                win.pads_begin[a],
                win.pads_end[a],
                self.include_pad,
            )
            for a in range(rank)
        ]
        if all(len(set(c)) == 1 for c in counts):
            total = math.prod(c[0] for c in counts)
            return [f"  for (std::size_t j = 0; j < {math.prod(win.out)}; ++j) yp[j] /= {float_literal(total)};"]
        lines = []
        for axis, c in enumerate(counts):
            values = ", ".join(float_literal(v) for v in c)
            lines.append(f"  static constexpr float count{axis}[{len(c)}] = {{{values}}};")
        index, indent = "", "  "
        for axis in range(rank):
            lines.append(f"{indent}for (std::size_t d{axis} = 0; d{axis} < {win.out[axis]}; ++d{axis}) {{")
            indent += "  "
            index = f"d{axis}" if not index else f"({index}) * {win.out[axis]} + d{axis}"
        divisor = " * ".join(f"count{a}[d{a}]" for a in range(rank))
        lines.append(f"{indent}yp[{index}] /= {divisor};")
        for _ in range(rank):
            indent = indent[:-2]
            lines.append(f"{indent}}}")
        return lines


register("MaxPool", "AveragePool")(_Pool)


@register("GlobalAveragePool", "GlobalMaxPool")
class GlobalPool(Operator):
    """Mean or maximum over all spatial axes of (N, C, spatial...), keeping them as size 1."""

    def infer(self, ctx: ShapeContext) -> list:
        x = self.input_info(0)
        if x.dtype != np.float32:
            raise self.fail(f"only float32 is supported, got {x.dtype}")
        if x.rank < 2:
            raise self.fail(f"X must be (N, C, spatial...), got shape {x.shape}")
        self.planes = x.shape[0] * x.shape[1]
        self.size = math.prod(x.shape[2:])
        return [self.out(0, np.float32, (*x.shape[:2], *([1] * (x.rank - 2))))]

    def flops(self) -> int:
        return self.planes * self.size

    def emit_cpu(self, ctx: CpuContext) -> str:
        ctx.helper("global_pool", cpp_source("rmodel.operators", "pool.hpp", "global_pool"))
        is_max = "true" if self.op_type == "GlobalMaxPool" else "false"
        return (
            f"detail::global_pool<{self.planes}, {self.size}, {is_max}>("
            f"{ctx.ptr(self.inputs[0])}, {ctx.ptr(self.outputs[0])});"
        )
