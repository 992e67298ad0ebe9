"""The window loops of the CPU code, written once for Conv, ConvTranspose and the pools.

* ``window_taps``: per output position and kernel tap of every axis but the last (taps in the
  padding skipped), then per tap of the last axis; ``tap_run`` bounds the contiguous run of
  outputs whose input is valid for that tap (the pools and N-D depthwise convolutions).
* ``kernel_taps``: loops over every kernel tap with the flat tap index (im2col and col2im).
* ``gather``: the input positions of a block of outputs for one tap, zeros in the padding (im2col).
* ``scatter``: the adjoint, adding a tap's values into the outputs they reach (col2im).

Every function writes into a ``CppWriter``; ``valid_range`` is the helper of
``operators/cpp/conv.hpp`` (callers register it with ``valid_range_code``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import NamedTuple

from rmodel.cpp_writer import CppWriter

from .window import Window


class Taps(NamedTuple):
    """Where the innermost tap loop of ``window_taps`` stands."""

    #: input row pointer of the current taps of the outer axes
    src: str
    #: output row pointer of the current output position of the outer axes
    dst: str
    #: flat index of the tap (over all axes; the last axis's tap is ``k``)
    tap: str
    #: input offset of output ``o`` of the row (add ``off`` from ``tap_run``)
    step: str


def if_else(w: CppWriter, condition: str, then: str, otherwise: str) -> None:
    """``if (condition) { then } else { otherwise }`` around two single statements."""
    with w.block(f"if ({condition})"):
        w(then)
    with w.orelse():
        w(otherwise)


@contextmanager
def window_taps(w: CppWriter, win: Window, src: str, dst: str) -> Iterator[Taps]:
    """Loops over output position and kernel tap of every spatial axis but the last, skipping
    taps that fall in the padding, then over the last axis's taps ``k``; yields inside that loop."""
    with ExitStack() as stack:
        tap = ""
        for axis in range(win.rank - 1):
            stack.enter_context(w.loop(f"o{axis}", win.out[axis], type_="std::ptrdiff_t"))
            w(f"float* y{axis} = {dst} + o{axis} * {math.prod(win.out[axis + 1 :])};")
            stack.enter_context(w.loop(f"k{axis}", win.kernel[axis], type_="std::ptrdiff_t"))
            w(
                f"const std::ptrdiff_t i{axis} = o{axis} * {win.strides[axis]} + k{axis} * "
                f"{win.dilations[axis]} - {win.pads_begin[axis]};",
                f"if (i{axis} < 0 || i{axis} >= {win.in_spatial[axis]}) continue;",
                f"const float* x{axis} = {src} + i{axis} * {math.prod(win.in_spatial[axis + 1 :])};",
            )
            src, dst = f"x{axis}", f"y{axis}"
            tap = f"k{axis}" if not tap else f"({tap}) * {win.kernel[axis]} + k{axis}"
        last = win.rank - 1
        stack.enter_context(w.loop("k", win.kernel[last], type_="std::ptrdiff_t"))
        stride = win.strides[last]
        index = "k" if not tap else f"({tap}) * {win.kernel[last]} + k"
        yield Taps(src, dst, index, "o" if stride == 1 else f"o * {stride}")


def tap_run(w: CppWriter, win: Window) -> None:
    """Inside ``window_taps``: ``off`` (input offset of the tap) and the outputs [lo, hi) of the
    row whose input position is inside the input."""
    last = win.rank - 1
    w(
        f"const std::ptrdiff_t off = k * {win.dilations[last]} - {win.pads_begin[last]};",
        "std::ptrdiff_t lo, hi;",
        f"detail::valid_range(off, {win.strides[last]}, {win.in_spatial[last]}, {win.out[last]}, lo, hi);",
    )


@contextmanager
def kernel_taps(w: CppWriter, win: Window) -> Iterator[str]:
    """Loops ``k0, k1...`` over every kernel tap; yields the flat tap index inside them."""
    with ExitStack() as stack:
        for axis in range(win.rank):
            stack.enter_context(w.loop(f"k{axis}", win.kernel[axis], type_="std::ptrdiff_t"))
        index = "k0"
        for axis in range(1, win.rank):
            index = f"({index}) * {win.kernel[axis]} + k{axis}"
        yield index


def gather(w: CppWriter, win: Window, src: str, dst: str, rows: str, offsets: list[str]) -> None:
    """Fill ``dst`` ([rows, out[1:]...], contiguous) with src[o * stride + offset] per axis, zero
    where the input position falls outside the input. ``offsets`` are C++ expressions (signed);
    axes where every tap is inside the input (``Window.always_valid``) get no check."""
    rank = win.rank
    in_blocks = [math.prod(win.in_spatial[a + 1 :]) for a in range(rank)]
    out_blocks = [math.prod(win.out[a + 1 :]) for a in range(rank)]
    extents: list[int | str] = [rows, *win.out[1:]]
    src_ptr, dst_ptr = src, dst
    with ExitStack() as stack:
        for axis in range(rank - 1):
            o, i = f"o{axis}", f"i{axis}"
            stack.enter_context(w.loop(o, extents[axis], type_="std::ptrdiff_t"))
            w(
                f"float* d{axis} = {dst_ptr} + {o} * {out_blocks[axis]};",
                f"const std::ptrdiff_t {i} = {o} * {win.strides[axis]} + {offsets[axis]};",
            )
            if not win.always_valid(axis):
                with w.block(f"if ({i} < 0 || {i} >= {win.in_spatial[axis]})"):
                    w(f"for (std::size_t j = 0; j < {out_blocks[axis]}; ++j) d{axis}[j] = 0.0f;", "continue;")
            w(f"const float* s{axis} = {src_ptr} + {i} * {in_blocks[axis]};")
            src_ptr, dst_ptr = f"s{axis}", f"d{axis}"
        last = rank - 1
        count, stride, off = extents[last], win.strides[last], offsets[last]
        step = "o" if stride == 1 else f"o * {stride}"
        if win.always_valid(last):
            w(
                f"const float* s = {src_ptr} + ({off});",
                f"for (std::ptrdiff_t o = 0; o < {count}; ++o) {dst_ptr}[o] = s[{step}];",
            )
        else:
            w(
                f"const std::ptrdiff_t off = {off};",
                "std::ptrdiff_t lo, hi;",
                f"detail::valid_range(off, {stride}, {win.in_spatial[last]}, {count}, lo, hi);",
                f"for (std::ptrdiff_t o = 0; o < lo; ++o) {dst_ptr}[o] = 0.0f;",
                f"for (std::ptrdiff_t o = lo; o < hi; ++o) {dst_ptr}[o] = {src_ptr}[{step} + off];",
                f"for (std::ptrdiff_t o = hi; o < {count}; ++o) {dst_ptr}[o] = 0.0f;",
            )


def scatter(w: CppWriter, win: Window, src: str, dst: str) -> None:
    """Inside ``kernel_taps`` of a transposed window (input: ``win.in_spatial``, output:
    ``win.out``): add src[(i...)] into dst[i * stride + k * dilation - pad], skipping positions
    that fall outside the output (the cropped padding)."""
    rank = win.rank
    ins, outs = win.in_spatial, win.out
    out_blocks = [math.prod(outs[a + 1 :]) for a in range(rank)]
    in_blocks = [math.prod(ins[a + 1 :]) for a in range(rank)]
    with ExitStack() as stack:
        for axis in range(rank):
            off = f"k{axis} * {win.dilations[axis]} - {win.pads_begin[axis]}"
            w(
                f"std::ptrdiff_t lo{axis}, hi{axis};",
                f"detail::valid_range({off}, {win.strides[axis]}, {outs[axis]}, {ins[axis]}, lo{axis}, hi{axis});",
            )
            if axis < rank - 1:
                stack.enter_context(w.loop(f"i{axis}", f"hi{axis}", f"lo{axis}", type_="std::ptrdiff_t"))
                w(
                    f"const float* r{axis} = {src} + i{axis} * {in_blocks[axis]};",
                    f"float* y{axis} = {dst} + (i{axis} * {win.strides[axis]} + {off}) * {out_blocks[axis]};",
                )
                src, dst = f"r{axis}", f"y{axis}"
        last = rank - 1
        s = win.strides[last]
        step = "i" if s == 1 else f"i * {s}"
        w(
            f"const std::ptrdiff_t off = k{last} * {win.dilations[last]} - {win.pads_begin[last]};",
            f"for (std::ptrdiff_t i = lo{last}; i < hi{last}; ++i) {dst}[{step} + off] += {src}[i];",
        )
