"""Pooling: MaxPool, AveragePool (any number of spatial axes) and GlobalAveragePool/GlobalMaxPool.

Windowed pools accumulate into the output plane: for every output row and every kernel tap, the
innermost loop runs over the contiguous output positions whose input position is valid (the range
is computed per tap, so there are no bounds checks inside: ``conv/loops.py``). Averages are
divided at the end by the number of counted taps, which ONNX defines per axis
(``count_include_pad`` counts taps that fall in the explicit padding, never those past it that
``ceil_mode`` adds).
"""

from __future__ import annotations

import math
from contextlib import ExitStack
from dataclasses import dataclass

import numpy as np

from rmodel.cpp_sources import cpp_source
from rmodel.cpp_writer import CppWriter
from rmodel.errors import RModelError

from .base import REQUIRED, CpuContext, Inferred, Operator, Plan, ShapeContext, float_literal, register
from .conv.loops import tap_run, window_taps
from .conv.window import Window, check_auto_pad, valid_range_code, window_geometry


@dataclass(frozen=True)
class PoolPlan(Plan):
    win: Window
    #: images x channels
    planes: int
    #: AveragePool: the tap count of each window along each axis (empty for MaxPool)
    counts: tuple[tuple[int, ...], ...]


@register("MaxPool", "AveragePool")
class Pool(Operator[PoolPlan]):
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

    is_max: bool
    auto_pad: str
    kernel: tuple[int, ...]
    ceil_mode: bool
    include_pad: bool

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

    def infer(self, ctx: ShapeContext) -> Inferred[PoolPlan]:
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
        win = window_geometry(
            self,
            tuple(x.shape[2:]),
            self.kernel,
            self.attr["strides"],
            self.attr.get("dilations"),
            self.attr["pads"],
            self.auto_pad,
            self.ceil_mode,
        )
        counts = () if self.is_max else tuple(tuple(win.tap_counts(a, self.include_pad)) for a in range(win.rank))
        outs: list = [self.out(0, np.float32, (*x.shape[:2], *win.out))]
        return self.inferred(outs + [None] * (len(self.outputs) - 1), PoolPlan(win, x.shape[0] * x.shape[1], counts))

    def flops(self) -> int:
        return self.plan.planes * self.plan.win.out_size * math.prod(self.kernel)

    def emit_cpu(self, ctx: CpuContext, w: CppWriter) -> None:
        ctx.helper("valid_range", valid_range_code())
        win = self.plan.win
        init = "-std::numeric_limits<float>::infinity()" if self.is_max else "0.0f"
        w(f"const float* x = {ctx.ptr(self.inputs[0])};", f"float* y = {ctx.ptr(self.outputs[0])};")
        with w.loop("p", self.plan.planes):
            w(
                f"const float* xp = x + p * {win.in_size};",
                f"float* yp = y + p * {win.out_size};",
                f"for (std::size_t j = 0; j < {win.out_size}; ++j) yp[j] = {init};",
            )
            with window_taps(w, win, "xp", "yp") as taps:
                tap_run(w, win)
                with w.loop("o", "hi", "lo", type_="std::ptrdiff_t"):
                    w(f"const float v = {taps.src}[{taps.step} + off];")
                    # NaN propagates (v != v): a NaN input never turns into a plausible maximum
                    dst = taps.dst
                    w(f"{dst}[o] = (v > {dst}[o] || v != v) ? v : {dst}[o];" if self.is_max else f"{dst}[o] += v;")
            if not self.is_max:
                self._divide(w)

    def _divide(self, w: CppWriter) -> None:
        """Statements dividing the plane ``yp`` by each window's tap count."""
        win, counts = self.plan.win, self.plan.counts
        if all(len(set(c)) == 1 for c in counts):
            total = math.prod(c[0] for c in counts)
            w(f"for (std::size_t j = 0; j < {win.out_size}; ++j) yp[j] /= {float_literal(total)};")
            return
        for axis, c in enumerate(counts):
            values = ", ".join(float_literal(v) for v in c)
            w(f"static constexpr float count{axis}[{len(c)}] = {{{values}}};")
        index = ""
        with ExitStack() as stack:
            for axis in range(win.rank):
                stack.enter_context(w.loop(f"d{axis}", win.out[axis]))
                index = f"d{axis}" if not index else f"({index}) * {win.out[axis]} + d{axis}"
            divisor = " * ".join(f"count{a}[d{a}]" for a in range(win.rank))
            w(f"yp[{index}] /= {divisor};")


@dataclass(frozen=True)
class GlobalPoolPlan(Plan):
    #: images x channels
    planes: int
    #: elements of one plane
    size: int


@register("GlobalAveragePool", "GlobalMaxPool")
class GlobalPool(Operator[GlobalPoolPlan]):
    """Mean or maximum over all spatial axes of (N, C, spatial...), keeping them as size 1."""

    def infer(self, ctx: ShapeContext) -> Inferred[GlobalPoolPlan]:
        x = self.input_info(0)
        if x.dtype != np.float32:
            raise self.fail(f"only float32 is supported, got {x.dtype}")
        if x.rank < 2:
            raise self.fail(f"X must be (N, C, spatial...), got shape {x.shape}")
        plan = GlobalPoolPlan(x.shape[0] * x.shape[1], math.prod(x.shape[2:]))
        return self.inferred([self.out(0, np.float32, (*x.shape[:2], *([1] * (x.rank - 2))))], plan)

    def flops(self) -> int:
        return self.plan.planes * self.plan.size

    def emit_cpu(self, ctx: CpuContext, w: CppWriter) -> None:
        ctx.helper("global_pool", cpp_source("rmodel.operators", "pool.hpp", "global_pool"))
        is_max = "true" if self.op_type == "GlobalMaxPool" else "false"
        w(
            f"detail::global_pool<{self.plan.planes}, {self.plan.size}, {is_max}>("
            f"{ctx.ptr(self.inputs[0])}, {ctx.ptr(self.outputs[0])});"
        )
