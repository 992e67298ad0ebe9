"""Window geometry: the sliding window of Conv, ConvTranspose and the pools over the spatial axes.

``window_geometry`` resolves strides, dilations, pads and auto_pad into a ``Window`` (with the
output size, following ONNX and onnxruntime); ``Window.plane`` views a 1-D or 2-D window as 2-D
numbers (the depthwise and padded convolution paths and the HLS line buffer work on planes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from rmodel.cpp_sources import cpp_source
from rmodel.errors import RModelError

from ..base import Operator

AUTO_PADS = ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER")


def valid_range_code() -> str:
    """The ``valid_range`` helper: the outputs whose window tap lies inside the input."""
    return cpp_source("rmodel.operators", "conv.hpp", "valid_range")


@dataclass(frozen=True)
class Plane:
    """A 1-D or 2-D window as 2-D numbers (a 1-D window is one row: height 1, no vertical pads)."""

    ih: int
    iw: int
    oh: int
    ow: int
    kh: int
    kw: int
    sh: int
    sw: int
    dh: int
    dw: int
    pt: int
    pl: int
    pb: int
    pr: int

    @property
    def taps(self) -> int:
        return self.kh * self.kw


@dataclass(frozen=True)
class Window:
    """Resolved geometry of a sliding window over the spatial axes of an input ``in_spatial``."""

    in_spatial: tuple[int, ...]
    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    dilations: tuple[int, ...]
    pads_begin: tuple[int, ...]
    pads_end: tuple[int, ...]
    out: tuple[int, ...]

    @property
    def rank(self) -> int:
        return len(self.kernel)

    @property
    def spans(self) -> tuple[int, ...]:
        """Extent of the dilated kernel along each axis."""
        return tuple((k - 1) * d + 1 for k, d in zip(self.kernel, self.dilations, strict=True))

    @property
    def taps(self) -> int:
        return math.prod(self.kernel)

    @property
    def in_size(self) -> int:
        return math.prod(self.in_spatial)

    @property
    def out_size(self) -> int:
        return math.prod(self.out)

    def always_valid(self, axis: int) -> bool:
        """True when every tap of every window lies inside the input along ``axis``."""
        size, out, stride = self.in_spatial[axis], self.out[axis], self.strides[axis]
        kernel, dilation, pad_begin = self.kernel[axis], self.dilations[axis], self.pads_begin[axis]
        return pad_begin == 0 and (out - 1) * stride + (kernel - 1) * dilation - pad_begin <= size - 1

    def tap_counts(self, axis: int, include_pad: bool) -> list[int]:
        """Number of taps of each window along ``axis`` that an average divides by (``include_pad``:
        taps in the explicit padding count, never those past it that ``ceil_mode`` adds)."""
        size, pad_begin = self.in_spatial[axis], self.pads_begin[axis]
        low, high = (-pad_begin, size + self.pads_end[axis]) if include_pad else (0, size)
        counts = []
        for o in range(self.out[axis]):
            start = o * self.strides[axis] - pad_begin
            counts.append(sum(1 for k in range(self.kernel[axis]) if low <= start + k * self.dilations[axis] < high))
        return counts

    @property
    def plane(self) -> Plane | None:
        """The window as 2-D numbers (None for 3-D and up)."""
        if self.rank == 2:
            (ih, iw), (oh, ow), (kh, kw) = self.in_spatial, self.out, self.kernel
            (sh, sw), (dh, dw) = self.strides, self.dilations
            (pt, pl), (pb, pr) = self.pads_begin, self.pads_end
            return Plane(ih, iw, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr)
        if self.rank == 1:
            return Plane(
                1,
                self.in_spatial[0],
                1,
                self.out[0],
                1,
                self.kernel[0],
                1,
                self.strides[0],
                1,
                self.dilations[0],
                0,
                self.pads_begin[0],
                0,
                self.pads_end[0],
            )
        return None


def int_tuple(op: Operator, name: str, value: Any, rank: int, default: int, minimum: int) -> tuple[int, ...]:
    """Attribute ``name`` as a tuple of ``rank`` ints >= ``minimum`` (``default`` when absent)."""
    if value is None or value == ():
        return (default,) * rank
    values = tuple(int(v) for v in value)
    if len(values) != rank:
        raise op.fail(f"attribute '{name}' has {len(values)} values, expected {rank} (one per spatial axis)")
    if any(v < minimum for v in values):
        raise op.fail(f"attribute '{name}' = {list(values)} must hold values >= {minimum}")
    return values


def check_auto_pad(op: Operator, auto_pad: str) -> str:
    if auto_pad not in AUTO_PADS:
        raise RModelError(
            f"node '{op.name}' ({op.op_type}): auto_pad '{auto_pad}' is not one of {', '.join(AUTO_PADS)}"
        )
    return auto_pad


def conv_padding_and_group(op: Operator) -> tuple[str, int]:
    """A convolution's checked ``auto_pad`` and ``group`` attributes."""
    auto_pad = check_auto_pad(op, str(op.attr["auto_pad"]))
    group = int(op.attr["group"])
    if group < 1:
        raise RModelError(f"node '{op.name}' ({op.op_type}): group must be >= 1, got {group}")
    return auto_pad, group


def window_geometry(
    op: Operator,
    in_spatial: tuple[int, ...],
    kernel: tuple[int, ...],
    strides: Any,
    dilations: Any,
    pads: Any,
    auto_pad: str,
    ceil_mode: bool = False,
) -> Window:
    """Pads and output size of a window (Conv, pools), following ONNX and onnxruntime.

    With ``ceil_mode`` the last window must start inside the input or its begin padding (a window
    starting in the end padding is dropped), as onnxruntime and the ONNX reference do.
    """
    rank = len(in_spatial)
    strides_ = int_tuple(op, "strides", strides, rank, 1, 1)
    dilations_ = int_tuple(op, "dilations", dilations, rank, 1, 1)
    if pads is None or pads == ():
        pads_ = (0,) * (2 * rank)
    else:
        pads_ = tuple(int(p) for p in pads)
        if len(pads_) != 2 * rank:
            raise op.fail(f"attribute 'pads' has {len(pads_)} values, expected {2 * rank} (begin, end)")
        if any(p < 0 for p in pads_):
            raise op.fail(f"attribute 'pads' = {list(pads_)} must not be negative")
    begin, end, out = [], [], []
    for axis, size in enumerate(in_spatial):
        k, s, d = kernel[axis], strides_[axis], dilations_[axis]
        span = (k - 1) * d + 1
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            n = -(-size // s)
            total = max(0, (n - 1) * s + span - size)
            small = total // 2
            pb, pe = (small, total - small) if auto_pad == "SAME_UPPER" else (total - small, small)
        elif auto_pad == "VALID":
            pb = pe = 0
            n = (size - span) // s + 1 if size >= span else 0
            if ceil_mode and size >= span:
                n = -(-(size - span) // s) + 1
                if (n - 1) * s >= size:
                    n -= 1
        else:
            pb, pe = pads_[axis], pads_[axis + rank]
            extent = size + pb + pe - span
            if extent < 0:
                n = 0
            elif ceil_mode:
                n = -(-extent // s) + 1
                if (n - 1) * s >= size + pb:
                    n -= 1
            else:
                n = extent // s + 1
        if n < 1:
            raise op.fail(
                f"spatial axis {axis} of size {size} (padded by {pb}+{pe}) is smaller than the "
                f"{'dilated ' if d > 1 else ''}kernel extent {span}: the output would be empty"
            )
        begin.append(pb)
        end.append(pe)
        out.append(n)
    return Window(tuple(in_spatial), tuple(kernel), strides_, dilations_, tuple(begin), tuple(end), tuple(out))
