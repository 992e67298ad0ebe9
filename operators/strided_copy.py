"""Strided copies: the copy code the data-movement operators share (registers no operator).

A strided copy moves ``dst[dst_offset + sum(i_k * dst_stride_k)] = src[src_offset + sum(i_k * src_stride_k)]``
for every index ``i`` of a loop shape. Transpose, Slice, Expand, Tile, Concat, Split and Pad are all
one or a few such copies with strides known at generation time, so they share this generator: it
drops unit dims, merges dims that stay adjacent on both sides, and emits plain nested loops whose
innermost loop is the last (contiguous on the output side) dim, so g++ vectorizes it.
``write_strided_copy`` / ``write_copy_op`` write the copy into the caller's CppWriter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import ExitStack
from typing import Any

import numpy as np

from rmodel.cpp_writer import CppWriter
from rmodel.tensor import cpp_type

from .base import CpuContext, Operator, strides_of

EMPTY = "// (nothing to copy: empty tensor)"


def merge_dims(shape: Sequence[int], *stride_sets: Sequence[int]) -> tuple[list[int], list[list[int]]]:
    """Drop extent-1 dims and merge neighbours that are adjacent in every stride set.

    Returns (extents, one stride list per stride set). An empty shape means one element.
    """
    extents: list[int] = []
    strides: list[list[int]] = [[] for _ in stride_sets]
    for axis, extent in enumerate(shape):
        if extent == 1:
            continue
        per_set = [int(s[axis]) for s in stride_sets]
        if extents and all(strides[k][-1] == per_set[k] * extent for k in range(len(stride_sets))):
            extents[-1] *= extent
            for k in range(len(stride_sets)):
                strides[k][-1] = per_set[k]
        else:
            extents.append(int(extent))
            for k in range(len(stride_sets)):
                strides[k].append(per_set[k])
    return extents, strides


def index_expr(offset: int, strides: Sequence[int], names: Sequence[str]) -> str:
    """``offset + i0 * s0 - i1 * 3 ...`` (terms with zero stride left out; unsigned wrap-around is exact)."""
    text = str(offset) if offset else ""
    for stride, name in zip(strides, names, strict=True):
        if stride == 0:
            continue
        term = name if abs(stride) == 1 else f"{name} * {abs(stride)}"
        if not text:
            text = term if stride > 0 else f"0 - {term}"
        else:
            text += f" + {term}" if stride > 0 else f" - {term}"
    return text or "0"


def write_strided_copy(
    w: CppWriter,
    src: str,
    dst: str,
    shape: Sequence[int],
    src_strides: Sequence[int],
    dst_strides: Sequence[int] | None = None,
    src_offset: int = 0,
    dst_offset: int = 0,
    loop_prefix: str = "i",
) -> None:
    """Loops copying ``src`` to ``dst`` over ``shape`` (``dst_strides`` default: contiguous)."""
    if any(d == 0 for d in shape):
        w(EMPTY)
        return
    if dst_strides is None:
        dst_strides = strides_of(shape)
    extents, (s_src, s_dst) = merge_dims(shape, src_strides, dst_strides)
    if len(extents) == 1 and s_src[0] == 1 and s_dst[0] == 1:
        src_ptr = f"{src} + {src_offset}" if src_offset else src
        dst_ptr = f"{dst} + {dst_offset}" if dst_offset else dst
        w(f"std::copy_n({src_ptr}, {extents[0]}, {dst_ptr});")
        return
    names = [f"{loop_prefix}{d}" for d in range(len(extents))]
    with ExitStack() as stack:
        for name, extent in zip(names, extents, strict=True):
            stack.enter_context(w.loop(name, extent))
        w(f"{dst}[{index_expr(dst_offset, s_dst, names)}] = {src}[{index_expr(src_offset, s_src, names)}];")


def copy_statement(ctx: CpuContext, src_name: str, dst_name: str, size: int, dtype: Any) -> str:
    """memcpy of a whole tensor (Reshape and friends: the data does not move)."""
    if size == 0:
        return EMPTY
    return f"std::memcpy({ctx.ptr(dst_name)}, {ctx.ptr(src_name)}, {size} * sizeof({cpp_type(dtype)}));"


def pointers(ctx: CpuContext, src_name: str, dst_name: str, dtype: Any) -> list[str]:
    """``const T* src_ = ...; T* dst_ = ...;`` declarations."""
    t = cpp_type(dtype)
    return [f"const {t}* src_ = {ctx.ptr(src_name)};", f"{t}* dst_ = {ctx.ptr(dst_name)};"]


def write_copy_op(
    ctx: CpuContext, w: CppWriter, op: Operator, shape: Sequence[int], src_strides: Sequence[int], src_offset: int = 0
) -> None:
    """A whole operator that is one strided copy of input 0 into output 0 (nothing for empty outputs)."""
    if math.prod(shape) == 0:
        w(EMPTY)
        return
    w(*pointers(ctx, op.inputs[0], op.outputs[0], op.input_info(0).dtype))
    write_strided_copy(w, "src_", "dst_", shape, src_strides, None, src_offset)


def as_int_list(value: np.ndarray | None) -> list[int] | None:
    """A constant 0-d/1-d integer tensor as a list of Python ints."""
    if value is None:
        return None
    return [int(v) for v in np.asarray(value).reshape(-1)]
