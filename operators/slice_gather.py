"""Slice (constant starts/ends/axes/steps, negative steps included), Gather, GatherElements and GatherND
(constant or run-time integer indices, negative indices counting from the end).

Run-time indices outside ``[-dim, dim)`` are clamped into range (the generated code never reads out
of bounds; onnxruntime reports an error for them instead).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from rmodel.tensor import cpp_type

from .base import CpuContext, Operator, ShapeContext, normalize_axis, register, strides_of
from .strided_copy import as_int_list, copy_op, pointers, strided_copy

_INDEX_TYPES = (np.dtype(np.int64), np.dtype(np.int32))


@register("Slice")
class Slice(Operator):
    """y = x[starts:ends:steps] on the given axes (Python slicing rules, clamped bounds)."""

    @classmethod
    def attribute_defaults(cls, op_type: str, opset: int) -> dict[str, Any]:
        return {"starts": None, "ends": None, "axes": None} if opset < 10 else {}

    def _parameters(self, ctx: ShapeContext) -> list[list[int] | None]:
        if self.opset < 10:
            return [
                None if self.attr[k] is None else [int(v) for v in self.attr[k]] for k in ("starts", "ends", "axes")
            ] + [None]
        values = []
        for index, what in enumerate(("starts", "ends", "axes", "steps")):
            if not self.has_input(index + 1):
                values.append(None)
                continue
            value = as_int_list(ctx.const(self.inputs[index + 1]))
            if value is None:
                raise self.fail(f"{what} (input {index + 1}) must be a constant known at generation time")
            values.append(value)
        return values

    def infer(self, ctx: ShapeContext) -> list:
        x = self.input_info(0)
        starts, ends, axes, steps = self._parameters(ctx)
        if starts is None or ends is None:
            raise self.fail("needs starts and ends")
        axes = list(range(len(starts))) if axes is None else axes
        steps = [1] * len(starts) if steps is None else steps
        if not len(starts) == len(ends) == len(axes) == len(steps):
            raise self.fail(f"starts {starts}, ends {ends}, axes {axes} and steps {steps} differ in length")
        self.begin = [0] * x.rank
        self.step = [1] * x.rank
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
            self.begin[axis], self.step[axis], shape[axis] = first, step, count
        return [self.out(0, x.dtype, shape)]

    def flops(self) -> int:
        return 0

    def emit_cpu(self, ctx: CpuContext) -> str:
        x, out = self.input_info(0), self.output_info(0)
        strides = strides_of(x.shape)
        offset = sum(b * s for b, s in zip(self.begin, strides, strict=True))
        src = [st * s for st, s in zip(self.step, strides, strict=True)]
        return copy_op(ctx, self, out.shape, src, offset)


def _check_indices(op: Operator, indices: np.ndarray, extent: int) -> np.ndarray:
    """Constant indices validated against ``extent`` and made non-negative."""
    flat = np.asarray(indices, dtype=np.int64).reshape(-1)
    bad = flat[(flat < -extent) | (flat >= extent)]
    if bad.size:
        raise op.fail(f"index {int(bad[0])} is out of range for an axis of extent {extent}")
    return np.where(flat < 0, flat + extent, flat)


def _runtime_index(var: str, source: str, extent: int) -> list[str]:
    """C++ lines reading index ``source`` into ``var``, wrapping negatives and clamping into range."""
    return [
        f"std::int64_t {var} = static_cast<std::int64_t>({source});",
        f"if ({var} < 0) {var} += {extent};",
        f"{var} = {var} < 0 ? 0 : ({var} >= {extent} ? {extent - 1} : {var});",
    ]


@register("Gather")
class Gather(Operator):
    """y = x taken at ``indices`` along ``axis`` (numpy ``take``)."""

    attributes = {"axis": 0}

    def infer(self, ctx: ShapeContext) -> list:
        x, idx = self.input_info(0), self.input_info(1)
        if idx.dtype not in _INDEX_TYPES:
            raise self.fail(f"indices must be int32 or int64, got {idx.dtype}")
        if x.rank == 0:
            raise self.fail("cannot gather from a scalar")
        self.axis = normalize_axis(int(self.attr["axis"]), x.rank, self)
        const = ctx.const(self.inputs[1])
        self.const_indices = None if const is None else _check_indices(self, const, x.shape[self.axis])
        return [self.out(0, x.dtype, x.shape[: self.axis] + idx.shape + x.shape[self.axis + 1 :])]

    def flops(self) -> int:
        return 0

    def emit_cpu(self, ctx: CpuContext) -> str:
        x, idx = self.input_info(0), self.input_info(1)
        extent = x.shape[self.axis]
        outer = math.prod(x.shape[: self.axis])
        inner = math.prod(x.shape[self.axis + 1 :])
        count = idx.size
        lines = pointers(ctx, self.inputs[0], self.outputs[0], x.dtype)
        if count == 0 or outer * inner == 0:
            return "// (nothing to gather: empty tensor)"
        ids = self.const_indices
        if ids is not None:
            step = int(ids[1] - ids[0]) if count > 1 else 1
            if np.array_equal(ids, ids[0] + step * np.arange(count)):
                # evenly spaced constant indices: one strided copy
                lines.append(
                    strided_copy(
                        "src_",
                        "dst_",
                        (outer, count, inner),
                        (extent * inner, step * inner, 1),
                        None,
                        int(ids[0]) * inner,
                    )
                )
                return "\n".join(lines)
            table = ", ".join(str(int(i) * inner) for i in ids)
            lines.append(f"static constexpr std::size_t offsets_[{count}] = {{{table}}};")
            source = None
        else:
            lines.append(f"const {cpp_type(idx.dtype)}* indices_ = {ctx.ptr(self.inputs[1])};")
            source = "indices_[j]"
        lines.append(f"for (std::size_t o = 0; o < {outer}; ++o) {{")
        lines.append(f"  for (std::size_t j = 0; j < {count}; ++j) {{")
        if source is None:
            lines.append("    const std::size_t k = offsets_[j];")
        else:
            lines += ["    " + s for s in _runtime_index("index", source, extent)]
            scaled = f" * {inner}" if inner != 1 else ""
            lines.append(f"    const std::size_t k = static_cast<std::size_t>(index){scaled};")
        src = f"o * {extent * inner} + k" if outer > 1 else "k"
        dst = (f"o * {count * inner} + " if outer > 1 else "") + (f"j * {inner}" if inner != 1 else "j")
        if inner == 1:
            lines.append(f"    dst_[{dst}] = src_[{src}];")
        else:
            lines.append(f"    std::copy_n(src_ + {src}, {inner}, dst_ + {dst});")
        lines += ["  }", "}"]
        return "\n".join(lines)


@register("GatherElements")
class GatherElements(Operator):
    """y[i] = x[i with axis coordinate replaced by indices[i]] (indices may be smaller than x)."""

    attributes = {"axis": 0}

    def infer(self, ctx: ShapeContext) -> list:
        x, idx = self.input_info(0), self.input_info(1)
        if idx.dtype not in _INDEX_TYPES:
            raise self.fail(f"indices must be int32 or int64, got {idx.dtype}")
        if idx.rank != x.rank or x.rank == 0:
            raise self.fail(f"indices of shape {idx.shape} must have the rank of data {x.shape} (at least 1)")
        self.axis = normalize_axis(int(self.attr["axis"]), x.rank, self)
        if any(i > d for k, (i, d) in enumerate(zip(idx.shape, x.shape, strict=True)) if k != self.axis):
            raise self.fail(f"indices of shape {idx.shape} exceed data of shape {x.shape} outside axis {self.axis}")
        const = ctx.const(self.inputs[1])
        if const is not None:
            _check_indices(self, const, x.shape[self.axis])
        return [self.out(0, x.dtype, idx.shape)]

    def flops(self) -> int:
        return 0

    def emit_cpu(self, ctx: CpuContext) -> str:
        x, idx = self.input_info(0), self.input_info(1)
        if idx.size == 0:
            return "// (nothing to gather: empty tensor)"
        lines = pointers(ctx, self.inputs[0], self.outputs[0], x.dtype)
        lines.append(f"const {cpp_type(idx.dtype)}* indices_ = {ctx.ptr(self.inputs[1])};")
        x_strides = strides_of(x.shape)
        names = [f"i{d}" for d in range(idx.rank)]
        indent = ""
        for name, extent in zip(names, idx.shape, strict=True):
            lines.append(f"{indent}for (std::size_t {name} = 0; {name} < {extent}; ++{name}) {{")
            indent += "  "
        flat = " + ".join(f"{n} * {s}" if s != 1 else n for n, s in zip(names, strides_of(idx.shape), strict=True))
        lines.append(f"{indent}const std::size_t at = {flat};")
        lines += [indent + s for s in _runtime_index("index", "indices_[at]", x.shape[self.axis])]
        terms = [
            f"{n} * {s}" if s != 1 else n
            for k, (n, s) in enumerate(zip(names, x_strides, strict=True))
            if k != self.axis
        ]
        axis_stride = x_strides[self.axis]
        terms.append("static_cast<std::size_t>(index)" + (f" * {axis_stride}" if axis_stride != 1 else ""))
        lines.append(f"{indent}dst_[at] = src_[{' + '.join(terms)}];")
        for _ in names:
            indent = indent[:-2]
            lines.append(f"{indent}}}")
        return "\n".join(lines)


@register("GatherND")
class GatherND(Operator):
    """y = slices of x addressed by the last axis of ``indices`` (k coordinates after the first
    ``batch_dims`` axes, which data and indices share): each index tuple selects a block of
    ``prod(x.shape[batch_dims + k:])`` contiguous values."""

    attributes = {"batch_dims": 0}

    def infer(self, ctx: ShapeContext) -> list:
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
        self.batch_dims, self.depth = b, k
        const = ctx.const(self.inputs[1])
        self.const_offsets = None if const is None else self._offsets(np.asarray(const))
        return [self.out(0, x.dtype, idx.shape[:-1] + x.shape[b + k :])]

    def _offsets(self, indices: np.ndarray) -> np.ndarray:
        """The element offset into data of every index tuple (constant indices, checked)."""
        x = self.input_info(0)
        b, k = self.batch_dims, self.depth
        tuples = indices.reshape(-1, k).astype(np.int64)
        for j in range(k):
            tuples[:, j] = _check_indices(self, tuples[:, j], x.shape[b + j])
        strides = strides_of(x.shape)
        per_batch = len(tuples) // max(1, math.prod(x.shape[:b]))
        batch = np.arange(len(tuples)) // max(1, per_batch)
        return batch * math.prod(x.shape[b:]) + tuples @ np.asarray(strides[b : b + k], dtype=np.int64)

    def flops(self) -> int:
        return 0

    def emit_cpu(self, ctx: CpuContext) -> str:
        x, idx = self.input_info(0), self.input_info(1)
        b, k = self.batch_dims, self.depth
        inner = math.prod(x.shape[b + k :])
        count = math.prod(idx.shape[:-1])
        if count == 0 or inner == 0:
            return "// (nothing to gather: empty tensor)"
        lines = pointers(ctx, self.inputs[0], self.outputs[0], x.dtype)
        copy = "dst_[t] = src_[at];" if inner == 1 else f"std::copy_n(src_ + at, {inner}, dst_ + t * {inner});"
        if self.const_offsets is not None:
            table = ", ".join(str(int(v)) for v in self.const_offsets)
            lines += [
                f"static constexpr std::size_t offsets_[{count}] = {{{table}}};",
                f"for (std::size_t t = 0; t < {count}; ++t) {{",
                "  const std::size_t at = offsets_[t];",
                f"  {copy}",
                "}",
            ]
            return "\n".join(lines)
        strides = strides_of(x.shape)
        per_batch = count // max(1, math.prod(x.shape[:b]))
        lines += [
            f"const {cpp_type(idx.dtype)}* indices_ = {ctx.ptr(self.inputs[1])};",
            f"for (std::size_t t = 0; t < {count}; ++t) {{",
            f"  std::size_t at = t / {per_batch} * {math.prod(x.shape[b:])};",
        ]
        for j in range(k):
            lines += ["  " + s for s in _runtime_index(f"i{j}", f"indices_[t * {k} + {j}]", x.shape[b + j])]
            lines.append(f"  at += static_cast<std::size_t>(i{j}) * {strides[b + j]};")
        lines += [f"  {copy}", "}"]
        return "\n".join(lines)
