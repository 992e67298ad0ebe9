"""Concat (join tensors along an axis) and Split (cut one tensor into pieces along an axis)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from rmodel.cpp_writer import CppWriter
from rmodel.tensor import cpp_type

from .base import CpuContext, Inferred, Operator, Plan, ShapeContext, TensorInfo, normalize_axis, register
from .strided_copy import as_int_list, write_strided_copy


@dataclass(frozen=True)
class ConcatPlan(Plan):
    """The (non-negative) axis the inputs are joined along."""

    axis: int


@dataclass(frozen=True)
class SplitPlan(Plan):
    """The (non-negative) axis the input is cut along and the extent of every piece on it."""

    axis: int
    sizes: tuple[int, ...]


@register("Concat")
class Concat(Operator[ConcatPlan]):
    """Join the inputs along ``axis``; every other dim must agree."""

    attributes = {"axis": 1}  # required from opset 4 (onnx.defs); before, optional with 1 as documented

    def infer(self, ctx: ShapeContext) -> Inferred[ConcatPlan]:
        infos = [self.input_info(i) for i in range(len(self.inputs))]
        if not infos:
            raise self.fail("needs at least one input")
        first = infos[0]
        axis = normalize_axis(int(self.attr["axis"]), first.rank, self)
        for info in infos[1:]:
            if info.dtype != first.dtype:
                raise self.fail(
                    f"inputs have different dtypes: '{first.name}' {first.dtype}, '{info.name}' {info.dtype}"
                )
            if info.rank != first.rank or any(
                a != b for k, (a, b) in enumerate(zip(info.shape, first.shape, strict=True)) if k != axis
            ):
                raise self.fail(
                    f"input '{info.name}' of shape {info.shape} does not fit '{first.name}' of shape "
                    f"{first.shape} outside axis {axis}"
                )
        shape = list(first.shape)
        shape[axis] = sum(i.shape[axis] for i in infos)
        return self.inferred([self.out(0, first.dtype, shape)], ConcatPlan(axis))

    def flops(self) -> int:
        return 0

    def emit_cpu(self, ctx: CpuContext, w: CppWriter) -> None:
        out = self.output_info(0)
        if out.size == 0:
            w("// (nothing to concatenate: empty output)")
            return
        t = cpp_type(out.dtype)
        axis = self.plan.axis
        outer = math.prod(out.shape[:axis])
        out_block = math.prod(out.shape[axis:])
        w(f"{t}* dst_ = {ctx.ptr(self.outputs[0])};")
        offset = 0
        for k, name in enumerate(self.inputs):
            info = ctx.info(name)
            block = math.prod(info.shape[axis:])
            if block:
                w(f"const {t}* src{k}_ = {ctx.ptr(name)};")
                write_strided_copy(w, f"src{k}_", "dst_", (outer, block), (block, 1), (out_block, 1), 0, offset)
            offset += block


@register("Split")
class Split(Operator[SplitPlan]):
    """Cut the input along ``axis`` into pieces of the given sizes (or equal pieces)."""

    #: 'split' is an attribute before opset 13, 'num_outputs' exists from 18 (onnx.defs says which)
    attributes = {"axis": 0, "split": None, "num_outputs": None}

    def infer(self, ctx: ShapeContext) -> Inferred[SplitPlan]:
        x = self.input_info(0)
        axis = normalize_axis(int(self.attr["axis"]), x.rank, self)
        extent = x.shape[axis]
        count = len(self.outputs)
        if self.opset < 13:
            sizes = None if self.attr["split"] is None else [int(s) for s in self.attr["split"]]
        elif self.has_input(1):
            sizes = as_int_list(ctx.const(self.inputs[1]))
            if sizes is None:
                raise self.fail("the split sizes (input 1) must be a constant known at generation time")
        else:
            sizes = None
        num_outputs = self.attr.get("num_outputs")
        if sizes is not None and num_outputs is not None:
            raise self.fail("give either the split input or the num_outputs attribute, not both")
        if sizes is None:
            if num_outputs is not None:
                if int(num_outputs) != count:
                    raise self.fail(f"num_outputs={num_outputs} but the node has {count} outputs")
                chunk = -(-extent // count)
                sizes = [min(chunk, max(extent - k * chunk, 0)) for k in range(count)]
            else:
                if extent % count:
                    raise self.fail(f"axis {axis} of extent {extent} does not split into {count} equal parts")
                sizes = [extent // count] * count
        if len(sizes) != count or any(s < 0 for s in sizes) or sum(sizes) != extent:
            raise self.fail(
                f"split sizes {sizes} must be {count} non-negative numbers summing to {extent} "
                f"(axis {axis} of shape {x.shape})"
            )
        outs: list[TensorInfo | None] = []
        for k, size in enumerate(sizes):
            shape = list(x.shape)
            shape[axis] = size
            outs.append(self.out(k, x.dtype, shape) if self.outputs[k] else None)
        return self.inferred(outs, SplitPlan(axis, tuple(sizes)))

    def flops(self) -> int:
        return 0

    def emit_cpu(self, ctx: CpuContext, w: CppWriter) -> None:
        x = self.input_info(0)
        if x.size == 0:
            w("// (nothing to split: empty input)")
            return
        t = cpp_type(x.dtype)
        axis = self.plan.axis
        outer = math.prod(x.shape[:axis])
        inner = math.prod(x.shape[axis + 1 :])
        in_block = x.shape[axis] * inner
        w(f"const {t}* src_ = {ctx.ptr(self.inputs[0])};")
        offset = 0
        for k, (name, size) in enumerate(zip(self.outputs, self.plan.sizes, strict=True)):
            block = size * inner
            if name and block:
                w(f"{t}* dst{k}_ = {ctx.ptr(name)};")
                write_strided_copy(w, "src_", f"dst{k}_", (outer, block), (in_block, 1), (block, 1), offset, 0)
            offset += block
