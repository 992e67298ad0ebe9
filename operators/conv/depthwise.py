"""Depthwise strategies (one input channel per group), computed directly, without im2col.

* ``DepthwiseFlat``: 1-D/2-D, from a zero-padded copy of the channel split by stride phase, as
  flat runs over output rows (``depthwise_flat`` in operators/cpp/conv.hpp), when the planes fit
  in DEPTHWISE_FLAT_FLOATS.
* ``Depthwise2d``: 1-D/2-D channels too large for it: a few output rows at a time with bounds
  checks at the borders (``depthwise2d``).
* ``DepthwiseNd``: 3-D and up, tap by tap over the runs of valid outputs (``window_taps``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rmodel.cpp_sources import cpp_source
from rmodel.cpp_writer import CppWriter

from ..base import CpuContext
from ..kernels import keep_loop
from .loops import tap_run, window_taps
from .plan import ConvDims, ConvTensors, Strategy
from .window import Plane, valid_range_code

#: outputs per run of the padded depthwise kernel (its local accumulators: 4 AVX-512 or 8 AVX2
#: registers; 32, 96, 128 and 256 measured slower on the benchmark); a power of 2, the ``TILE`` of
#: ``depthwise_flat`` in operators/cpp/conv.hpp
DEPTHWISE_FLAT_TILE = 64
#: workspace limit in floats of the padded depthwise path (the padded stride planes);
#: larger channels take ``depthwise2d``
DEPTHWISE_FLAT_FLOATS = 16384


def _depthwise_code(region: str) -> str:
    """A depthwise helper of ``operators/cpp/conv.hpp``: ``RMODEL_KEEP_LOOP``'s definition, then the kernel."""
    return keep_loop() + "\n" + cpp_source("rmodel.operators", "conv.hpp", region)


def _per_channel(
    ctx: CpuContext, w: CppWriter, t: ConvTensors, dims: ConvDims, call: str, extra: str = "", pad: int = 0
) -> None:
    """One call of a depthwise helper per output channel (``extra`` arguments go before y; ``pad``:
    floats of a zeroed workspace ``pad`` first)."""
    p = dims.win.plane
    assert p is not None
    w(
        f"const float* x = {ctx.ptr(t.x)};",
        f"const float* w = {ctx.ptr(t.w)};",
        f"float* y = {ctx.ptr(t.y)};",
    )
    if pad:
        w(
            f"float* pad = {ctx.scratch(np.float32)};  // zero-padded stride planes: only interiors are rewritten",
            f"for (std::size_t i = 0; i < {pad}; ++i) pad[i] = 0.0f;",
        )
    if t.bias:
        w(f"const float* bias = {ctx.ptr(t.bias)};")
    bias = f"bias[oc % {dims.m}]" if t.bias else "0.0f"
    with w.loop("oc", dims.n * dims.m):
        w(
            f"// input channel oc / {dims.mg} of image oc / {dims.m}",
            f"detail::{call}(x + oc / {dims.mg} * {p.ih * p.iw}, w + oc % {dims.m} * {p.taps}, {bias},\n"
            f"    {extra}y + oc * {p.oh * p.ow});",
        )


@dataclass(frozen=True)
class DepthwiseFlat(Strategy):
    """Stride planes ``qh`` x ``qw`` (rows widened so runs fill whole vectors), ``flat`` outputs
    oh * qw, ``pad_size`` floats of planes including the runs' overreach."""

    plane: Plane
    qh: int
    qw: int
    flat: int
    pad_size: int

    @classmethod
    def plan(cls, dims: ConvDims) -> DepthwiseFlat | None:
        """None for 3-D and up, or planes larger than DEPTHWISE_FLAT_FLOATS."""
        p = dims.win.plane
        if p is None:
            return None
        qh, qw = -(-(p.pt + p.ih + p.pb) // p.sh), -(-(p.pl + p.iw + p.pr) // p.sw)
        # plane rows widened (with zeros) so runs fill whole vectors: a divisor of the run width
        # DEPTHWISE_FLAT_TILE (runs of whole rows), or a multiple of it (runs along a row)
        tile = DEPTHWISE_FLAT_TILE
        qw = 1 << (qw - 1).bit_length() if qw <= tile else -(-qw // tile) * tile  # tile: a power of 2
        flat = p.oh * qw
        reach = max(
            ((i * p.dh % p.sh) * p.sw + j * p.dw % p.sw) * qh * qw + i * p.dh // p.sh * qw + j * p.dw // p.sw
            for i in range(p.kh)
            for j in range(p.kw)
        )
        pad_size = max(p.sh * p.sw * qh * qw, reach + flat)
        if pad_size > DEPTHWISE_FLAT_FLOATS:
            return None
        return cls(p, qh, qw, flat, pad_size)

    def workspace(self, dims: ConvDims) -> int:
        return self.pad_size

    def emit(self, ctx: CpuContext, w: CppWriter, t: ConvTensors, dims: ConvDims) -> None:
        ctx.helper("depthwise_flat", _depthwise_code("depthwise_flat"))
        p = self.plane
        params = f"{p.ih}, {p.iw}, {p.oh}, {p.ow}, {p.kh}, {p.kw}, {p.sh}, {p.sw}, {p.dh}, {p.dw}, {p.pt}, {p.pl}"
        _per_channel(ctx, w, t, dims, f"depthwise_flat<{params}, {self.qh}, {self.qw}>", "pad, ", self.pad_size)


@dataclass(frozen=True)
class Depthwise2d(Strategy):
    """``depthwise2d`` per output channel (1-D as one output row); output columns [lo, hi) have
    all their horizontal taps inside the input row."""

    plane: Plane
    lo: int
    hi: int

    @classmethod
    def plan(cls, dims: ConvDims) -> Depthwise2d | None:
        """None for 3-D and up."""
        p = dims.win.plane
        if p is None:
            return None
        lo = min(p.ow, -(-p.pl // p.sw))
        last = p.iw - 1 + p.pl - (p.kw - 1) * p.dw
        return cls(p, lo, max(lo, min(p.ow, last // p.sw + 1 if last >= 0 else 0)))

    def emit(self, ctx: CpuContext, w: CppWriter, t: ConvTensors, dims: ConvDims) -> None:
        ctx.helper("depthwise2d", _depthwise_code("depthwise2d"))
        p = self.plane
        params = f"{p.ih}, {p.iw}, {p.oh}, {p.ow}, {p.kh}, {p.kw}, {p.sh}, {p.sw}, {p.dh}, {p.dw}, {p.pt}, {p.pl}"
        _per_channel(ctx, w, t, dims, f"depthwise2d<{params}, {self.lo}, {self.hi}>")


@dataclass(frozen=True)
class DepthwiseNd(Strategy):
    """Per output channel y = bias, then for every kernel tap y[o] += w * x[o * stride + offset]
    over the contiguous run of output positions whose input is valid."""

    def emit(self, ctx: CpuContext, w: CppWriter, t: ConvTensors, dims: ConvDims) -> None:
        ctx.helper("valid_range", valid_range_code())
        win = dims.win
        init = f"bias[oc % {dims.m}]" if t.bias else "0.0f"
        w(
            f"const float* x = {ctx.ptr(t.x)};",
            f"const float* w = {ctx.ptr(t.w)};",
            f"float* y = {ctx.ptr(t.y)};",
        )
        if t.bias:
            w(f"const float* bias = {ctx.ptr(t.bias)};")
        with w.loop("oc", dims.n * dims.m):
            w(
                f"const float* xp = x + oc / {dims.mg} * {win.in_size};  // input channel of this output channel",
                f"const float* wp = w + oc % {dims.m} * {win.taps};",
                f"float* yp = y + oc * {win.out_size};",
                f"for (std::size_t j = 0; j < {win.out_size}; ++j) yp[j] = {init};",
            )
            with window_taps(w, win, "xp", "yp") as taps:
                w(f"const float wv = wp[{taps.tap}];")
                tap_run(w, win)
                w(f"for (std::ptrdiff_t o = lo; o < hi; ++o) {taps.dst}[o] += wv * {taps.src}[{taps.step} + off];")
