"""Slice (constant starts/ends/axes/steps, negative steps included), Gather, GatherElements and GatherND
(constant or run-time integer indices, negative indices counting from the end).

Run-time indices outside ``[-dim, dim)`` are clamped into range (the generated code never reads out
of bounds; onnxruntime reports an error for them instead).
"""

from __future__ import annotations

import math
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import numpy as np

from rmodel.cpp_writer import CppWriter
from rmodel.tensor import cpp_type

from .base import CpuContext, Inferred, Operator, Plan, ShapeContext, normalize_axis, register, strides_of
from .strided_copy import as_int_list, pointers, write_copy_op, write_strided_copy

_INDEX_TYPES = (np.dtype(np.int64), np.dtype(np.int32))


@dataclass(frozen=True)
class SlicePlan(Plan):
    """The first index taken and the step on every axis of the input."""

    begin: tuple[int, ...]
    step: tuple[int, ...]


@dataclass(frozen=True)
class GatherPlan(Plan):
    """The (non-negative) gather axis and, for constant indices, their non-negative values."""

    axis: int
    const_indices: tuple[int, ...] | None = None


@dataclass(frozen=True)
class GatherNDPlan(Plan):
    """batch_dims, the length of an index tuple (depth) and, for constant indices, the element
    offset into data of every index tuple."""

    batch_dims: int
    depth: int
    const_offsets: tuple[int, ...] | None


@register("Slice")
class Slice(Operator[SlicePlan]):
    """y = x[starts:ends:steps] on the given axes (Python slicing rules, clamped bounds)."""

    @classmethod
    def attribute_defaults(cls, op_type: str, opset: int) -> dict[str, Any]:
        return {"starts": None, "ends": None, "axes": None} if opset < 10 else {}

    def _parameters(self, ctx: ShapeContext) -> list[list[int] | None]:
        if self.opset < 10:
            return [
                None if self.attr[k] is None else [int(v) for v in self.attr[k]] for k in ("starts", "ends", "axes")
            ] + [None]
        values: list[list[int] | None] = []
        for index, what in enumerate(("starts", "ends", "axes", "steps")):
            if not self.has_input(index + 1):
                values.append(None)
                continue
            value = as_int_list(ctx.const(self.inputs[index + 1]))
            if value is None:
                raise self.fail(f"{what} (input {index + 1}) must be a constant known at generation time")
            values.append(value)
        return values

    def infer(self, ctx: ShapeContext) -> Inferred[SlicePlan]:
        x = self.input_info(0)
        starts, ends, axes, steps = self._parameters(ctx)
        if starts is None or ends is None:
            raise self.fail("needs starts and ends")
        axes = list(range(len(starts))) if axes is None else axes
        steps = [1] * len(starts) if steps is None else steps
        if not len(starts) == len(ends) == len(axes) == len(steps):
            raise self.fail(f"starts {starts}, ends {ends}, axes {axes} and steps {steps} differ in length")
        begin = [0] * x.rank
        steps_ = [1] * x.rank
        shape = list(x.shape)
        seen: set[int] = set()
        for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
            axis = normalize_axis(axis, x.rank, self)
            if axis in seen:
                raise self.fail(f"axis {axis} is sliced twice (axes {axes})")
            seen.add(axis)
            if step == 0:
                raise self.fail(f"step 0 on axis {axis}")
            first, _, _ = slice(start, end, step).indices(x.shape[axis])
            count = len(range(*slice(start, end, step).indices(x.shape[axis])))
            begin[axis], steps_[axis], shape[axis] = first, step, count
        return self.inferred([self.out(0, x.dtype, shape)], SlicePlan(tuple(begin), tuple(steps_)))

    def flops(self) -> int:
        return 0

    def emit_cpu(self, ctx: CpuContext, w: CppWriter) -> None:
        x, out = self.input_info(0), self.output_info(0)
        strides = strides_of(x.shape)
        offset = sum(b * s for b, s in zip(self.plan.begin, strides, strict=True))
        src = [st * s for st, s in zip(self.plan.step, strides, strict=True)]
        write_copy_op(ctx, w, self, out.shape, src, offset)


def _check_indices(op: Operator, indices: np.ndarray, extent: int) -> np.ndarray:
    """Constant indices validated against ``extent`` and made non-negative."""
    flat = np.asarray(indices, dtype=np.int64).reshape(-1)
    bad = flat[(flat < -extent) | (flat >= extent)]
    if bad.size:
        raise op.fail(f"index {int(bad[0])} is out of range for an axis of extent {extent}")
    return np.where(flat < 0, flat + extent, flat)


def _runtime_index(w: CppWriter, var: str, source: str, extent: int) -> None:
    """Read index ``source`` into ``var``, wrapping negatives and clamping into range."""
    w(
        f"std::int64_t {var} = static_cast<std::int64_t>({source});",
        f"if ({var} < 0) {var} += {extent};",
        f"{var} = {var} < 0 ? 0 : ({var} >= {extent} ? {extent - 1} : {var});",
    )


@register("Gather")
class Gather(Operator[GatherPlan]):
    """y = x taken at ``indices`` along ``axis`` (numpy ``take``)."""

    attributes = {"axis": 0}

    def infer(self, ctx: ShapeContext) -> Inferred[GatherPlan]:
        x, idx = self.input_info(0), self.input_info(1)
        if idx.dtype not in _INDEX_TYPES:
            raise self.fail(f"indices must be int32 or int64, got {idx.dtype}")
        if x.rank == 0:
            raise self.fail("cannot gather from a scalar")
        axis = normalize_axis(int(self.attr["axis"]), x.rank, self)
        const = ctx.const(self.inputs[1])
        ids = None if const is None else tuple(int(i) for i in _check_indices(self, const, x.shape[axis]))
        return self.inferred(
            [self.out(0, x.dtype, x.shape[:axis] + idx.shape + x.shape[axis + 1 :])], GatherPlan(axis, ids)
        )

    def flops(self) -> int:
        return 0

    def emit_cpu(self, ctx: CpuContext, w: CppWriter) -> None:
        x, idx = self.input_info(0), self.input_info(1)
        axis = self.plan.axis
        extent = x.shape[axis]
        outer = math.prod(x.shape[:axis])
        inner = math.prod(x.shape[axis + 1 :])
        count = idx.size
        declarations = pointers(ctx, self.inputs[0], self.outputs[0], x.dtype)
        if count == 0 or outer * inner == 0:
            w("// (nothing to gather: empty tensor)")
            return
        w(*declarations)
        ids = self.plan.const_indices
        if ids is not None:
            step = ids[1] - ids[0] if count > 1 else 1
            if all(i == ids[0] + step * k for k, i in enumerate(ids)):
                # evenly spaced constant indices: one strided copy
                shape, strides = (outer, count, inner), (extent * inner, step * inner, 1)
                write_strided_copy(w, "src_", "dst_", shape, strides, None, ids[0] * inner)
                return
            w(f"static constexpr std::size_t offsets_[{count}] = {{{', '.join(str(i * inner) for i in ids)}}};")
        else:
            w(f"const {cpp_type(idx.dtype)}* indices_ = {ctx.ptr(self.inputs[1])};")
        src = f"o * {extent * inner} + k" if outer > 1 else "k"
        dst = (f"o * {count * inner} + " if outer > 1 else "") + (f"j * {inner}" if inner != 1 else "j")
        with w.loop("o", outer), w.loop("j", count):
            if ids is not None:
                w("const std::size_t k = offsets_[j];")
            else:
                _runtime_index(w, "index", "indices_[j]", extent)
                w(f"const std::size_t k = static_cast<std::size_t>(index){f' * {inner}' if inner != 1 else ''};")
            if inner == 1:
                w(f"dst_[{dst}] = src_[{src}];")
            else:
                w(f"std::copy_n(src_ + {src}, {inner}, dst_ + {dst});")


@register("GatherElements")
class GatherElements(Operator[GatherPlan]):
    """y[i] = x[i with axis coordinate replaced by indices[i]] (indices may be smaller than x)."""

    attributes = {"axis": 0}

    def infer(self, ctx: ShapeContext) -> Inferred[GatherPlan]:
        x, idx = self.input_info(0), self.input_info(1)
        if idx.dtype not in _INDEX_TYPES:
            raise self.fail(f"indices must be int32 or int64, got {idx.dtype}")
        if idx.rank != x.rank or x.rank == 0:
            raise self.fail(f"indices of shape {idx.shape} must have the rank of data {x.shape} (at least 1)")
        axis = normalize_axis(int(self.attr["axis"]), x.rank, self)
        if any(i > d for k, (i, d) in enumerate(zip(idx.shape, x.shape, strict=True)) if k != axis):
            raise self.fail(f"indices of shape {idx.shape} exceed data of shape {x.shape} outside axis {axis}")
        const = ctx.const(self.inputs[1])
        if const is not None:
            _check_indices(self, const, x.shape[axis])
        return self.inferred([self.out(0, x.dtype, idx.shape)], GatherPlan(axis))

    def flops(self) -> int:
        return 0

    def emit_cpu(self, ctx: CpuContext, w: CppWriter) -> None:
        x, idx = self.input_info(0), self.input_info(1)
        if idx.size == 0:
            w("// (nothing to gather: empty tensor)")
            return
        axis = self.plan.axis
        w(*pointers(ctx, self.inputs[0], self.outputs[0], x.dtype))
        w(f"const {cpp_type(idx.dtype)}* indices_ = {ctx.ptr(self.inputs[1])};")
        x_strides = strides_of(x.shape)
        names = [f"i{d}" for d in range(idx.rank)]
        flat = " + ".join(f"{n} * {s}" if s != 1 else n for n, s in zip(names, strides_of(idx.shape), strict=True))
        terms = [
            f"{n} * {s}" if s != 1 else n for k, (n, s) in enumerate(zip(names, x_strides, strict=True)) if k != axis
        ]
        axis_stride = x_strides[axis]
        terms.append("static_cast<std::size_t>(index)" + (f" * {axis_stride}" if axis_stride != 1 else ""))
        with ExitStack() as nest:
            for name, extent in zip(names, idx.shape, strict=True):
                nest.enter_context(w.loop(name, extent))
            w(f"const std::size_t at = {flat};")
            _runtime_index(w, "index", "indices_[at]", x.shape[axis])
            w(f"dst_[at] = src_[{' + '.join(terms)}];")


@register("GatherND")
class GatherND(Operator[GatherNDPlan]):
    """y = slices of x addressed by the last axis of ``indices`` (k coordinates after the first
    ``batch_dims`` axes, which data and indices share): each index tuple selects a block of
    ``prod(x.shape[batch_dims + k:])`` contiguous values."""

    attributes = {"batch_dims": 0}

    def infer(self, ctx: ShapeContext) -> Inferred[GatherNDPlan]:
        x, idx = self.input_info(0), self.input_info(1)
        if idx.dtype not in _INDEX_TYPES:
            raise self.fail(f"indices must be int32 or int64, got {idx.dtype}")
        b = int(self.attr["batch_dims"])
        if x.rank < 1 or idx.rank < 1:
            raise self.fail(f"data {x.shape} and indices {idx.shape} must both have rank >= 1")
        if not 0 <= b < min(x.rank, idx.rank):
            raise self.fail(
                f"batch_dims {b} must be in [0, {min(x.rank, idx.rank)}) for data {x.shape} and indices {idx.shape}"
            )
        if x.shape[:b] != idx.shape[:b]:
            raise self.fail(f"the first {b} (batch) dims of data {x.shape} and indices {idx.shape} differ")
        k = idx.shape[-1]
        if k < 1 or b + k > x.rank:
            raise self.fail(
                f"the last dim of indices {idx.shape} must be in [1, {x.rank - b}] (data rank {x.rank} - batch_dims {b})"
            )
        const = ctx.const(self.inputs[1])
        offsets = None if const is None else tuple(int(v) for v in self._offsets(np.asarray(const), x.shape, b, k))
        return self.inferred([self.out(0, x.dtype, idx.shape[:-1] + x.shape[b + k :])], GatherNDPlan(b, k, offsets))

    def _offsets(self, indices: np.ndarray, shape: tuple[int, ...], b: int, k: int) -> np.ndarray:
        """The element offset into data of ``shape`` of every index tuple (constant indices, checked)."""
        tuples = indices.reshape(-1, k).astype(np.int64)
        for j in range(k):
            tuples[:, j] = _check_indices(self, tuples[:, j], shape[b + j])
        strides = strides_of(shape)
        per_batch = len(tuples) // max(1, math.prod(shape[:b]))
        batch = np.arange(len(tuples)) // max(1, per_batch)
        return batch * math.prod(shape[b:]) + tuples @ np.asarray(strides[b : b + k], dtype=np.int64)

    def flops(self) -> int:
        return 0

    def emit_cpu(self, ctx: CpuContext, w: CppWriter) -> None:
        x, idx = self.input_info(0), self.input_info(1)
        b, k = self.plan.batch_dims, self.plan.depth
        inner = math.prod(x.shape[b + k :])
        count = math.prod(idx.shape[:-1])
        if count == 0 or inner == 0:
            w("// (nothing to gather: empty tensor)")
            return
        w(*pointers(ctx, self.inputs[0], self.outputs[0], x.dtype))
        copy = "dst_[t] = src_[at];" if inner == 1 else f"std::copy_n(src_ + at, {inner}, dst_ + t * {inner});"
        if self.plan.const_offsets is not None:
            table = ", ".join(str(v) for v in self.plan.const_offsets)
            w(f"static constexpr std::size_t offsets_[{count}] = {{{table}}};")
            with w.loop("t", count):
                w("const std::size_t at = offsets_[t];", copy)
            return
        strides = strides_of(x.shape)
        per_batch = count // max(1, math.prod(x.shape[:b]))
        w(f"const {cpp_type(idx.dtype)}* indices_ = {ctx.ptr(self.inputs[1])};")
        with w.loop("t", count):
            w(f"std::size_t at = t / {per_batch} * {math.prod(x.shape[b:])};")
            for j in range(k):
                _runtime_index(w, f"i{j}", f"indices_[t * {k} + {j}]", x.shape[b + j])
                w(f"at += static_cast<std::size_t>(i{j}) * {strides[b + j]};")
            w(copy)
