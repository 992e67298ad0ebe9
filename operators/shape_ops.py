"""Operators that change only the shape (Reshape, Flatten, Squeeze, Unsqueeze, Dropout at inference:
the data is copied unchanged), and the broadcasting copies Expand and Tile."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from rmodel.cpp_writer import CppWriter
from rmodel.tensor import cpp_type

from .base import (
    NO_PLAN,
    CpuContext,
    Inferred,
    Operator,
    Plan,
    ShapeContext,
    TensorInfo,
    broadcast_shapes,
    normalize_axis,
    register,
    strides_of,
)
from .strided_copy import as_int_list, copy_statement, write_copy_op


class _Copy(Operator[Plan]):
    """An operator whose output holds the input's elements in the same order."""

    def flops(self) -> int:
        return 0

    def emit_cpu(self, ctx: CpuContext, w: CppWriter) -> None:
        x = self.input_info(0)
        w(copy_statement(ctx, self.inputs[0], self.outputs[0], x.size, x.dtype))

    def axes_from(self, ctx: ShapeContext, what: str) -> list[int] | None:
        """Axes from the 'axes' attribute (opset < 13) or the constant second input (opset >= 13)."""
        if self.opset < 13:
            axes = self.attr.get("axes")
            return None if axes is None else [int(a) for a in axes]
        if not self.has_input(1):
            return None
        axes = as_int_list(ctx.const(self.inputs[1]))
        if axes is None:
            raise self.fail(f"the {what} axes (input 1) must be a constant known at generation time")
        return axes


@register("Reshape")
class Reshape(_Copy):
    """Same data, new shape: 0 copies the input dim (unless allowzero), -1 is inferred."""

    @classmethod
    def attribute_defaults(cls, op_type: str, opset: int) -> dict[str, Any]:
        if opset < 5:
            return {"shape": None, "consumed_inputs": None}
        return {"allowzero": 0} if opset >= 14 else {}

    def infer(self, ctx: ShapeContext) -> Inferred[Plan]:
        x = self.input_info(0)
        if self.opset < 5:
            requested = None if self.attr["shape"] is None else [int(d) for d in self.attr["shape"]]
        else:
            requested = as_int_list(ctx.const(self.inputs[1])) if self.has_input(1) else None
            if requested is None and self.has_input(1):
                raise self.fail(
                    "the target shape (input 1) is computed at run time; rmodel needs it known at generation "
                    "time (fix the model's input shapes so that shape computations fold to constants)"
                )
        if requested is None:
            raise self.fail("no target shape given")
        allowzero = bool(self.attr.get("allowzero", 0))
        shape: list[int] = []
        for axis, dim in enumerate(requested):
            if dim == 0 and not allowzero:
                if axis >= x.rank:
                    raise self.fail(f"shape {requested}: 0 at axis {axis} copies a dim the input {x.shape} lacks")
                shape.append(x.shape[axis])
            elif dim < -1:
                raise self.fail(f"shape {requested} has the invalid dim {dim}")
            else:
                shape.append(dim)
        if shape.count(-1) > 1:
            raise self.fail(f"shape {requested} has more than one -1")
        if -1 in shape:
            if allowzero and 0 in shape:
                raise self.fail(f"shape {requested} has both -1 and 0 with allowzero=1")
            known = math.prod(d for d in shape if d != -1)
            if known == 0 or x.size % known:
                raise self.fail(f"cannot reshape {x.shape} ({x.size} elements) to {requested}")
            shape[shape.index(-1)] = x.size // known
        if math.prod(shape) != x.size:
            raise self.fail(f"cannot reshape {x.shape} ({x.size} elements) to {requested} ({math.prod(shape)})")
        return self.inferred([self.out(0, x.dtype, shape)], NO_PLAN)


@register("Flatten")
class Flatten(_Copy):
    """Same data as a matrix: dims before ``axis`` become rows, the rest columns."""

    attributes = {"axis": 1}

    def infer(self, ctx: ShapeContext) -> Inferred[Plan]:
        x = self.input_info(0)
        axis = int(self.attr["axis"])
        if not -x.rank <= axis <= x.rank:
            raise self.fail(f"axis {axis} is out of range for an input of rank {x.rank} (allowed {-x.rank}..{x.rank})")
        if axis < 0:
            axis += x.rank
        return self.inferred([self.out(0, x.dtype, (math.prod(x.shape[:axis]), math.prod(x.shape[axis:])))], NO_PLAN)


@register("Squeeze")
class Squeeze(_Copy):
    """Remove the given extent-1 axes (all of them when no axes are given)."""

    @classmethod
    def attribute_defaults(cls, op_type: str, opset: int) -> dict[str, Any]:
        return {"axes": None} if opset < 13 else {}

    def infer(self, ctx: ShapeContext) -> Inferred[Plan]:
        x = self.input_info(0)
        axes = self.axes_from(ctx, "squeezed")
        if axes is None:
            drop = {a for a, d in enumerate(x.shape) if d == 1}
        else:
            drop = {normalize_axis(a, x.rank, self) for a in axes}
            wrong = sorted(a for a in drop if x.shape[a] != 1)
            if wrong:
                raise self.fail(f"cannot squeeze axes {wrong} of shape {x.shape}: their extent is not 1")
        return self.inferred([self.out(0, x.dtype, [d for a, d in enumerate(x.shape) if a not in drop])], NO_PLAN)


@register("Unsqueeze")
class Unsqueeze(_Copy):
    """Insert extent-1 axes at the given positions of the output."""

    @classmethod
    def attribute_defaults(cls, op_type: str, opset: int) -> dict[str, Any]:
        return {"axes": None} if opset < 13 else {}

    def infer(self, ctx: ShapeContext) -> Inferred[Plan]:
        x = self.input_info(0)
        axes = self.axes_from(ctx, "inserted")
        if not axes:
            raise self.fail("needs the axes to insert")
        rank = x.rank + len(axes)
        normalized = [normalize_axis(a, rank, self) for a in axes]
        if len(set(normalized)) != len(normalized):
            raise self.fail(f"axes {axes} name the same output axis twice")
        dims = iter(x.shape)
        return self.inferred(
            [self.out(0, x.dtype, [1 if a in normalized else next(dims) for a in range(rank)])], NO_PLAN
        )


@register("Dropout")
class Dropout(_Copy):
    """Inference: the identity; the optional mask output is all true (nothing is dropped)."""

    @classmethod
    def attribute_defaults(cls, op_type: str, opset: int) -> dict[str, Any]:
        if opset < 6:
            return {"ratio": 0.5, "is_test": 0, "consumed_inputs": None}
        if opset < 7:
            return {"ratio": 0.5, "is_test": 0}
        if opset < 12:
            return {"ratio": 0.5}
        return {"seed": None}

    def infer(self, ctx: ShapeContext) -> Inferred[Plan]:
        x = self.input_info(0)
        if self.has_input(2):
            training = ctx.const(self.inputs[2])
            if training is None:
                raise self.fail("training_mode (input 2) is computed at run time; rmodel only does inference")
            if bool(np.asarray(training).reshape(-1)[0]):
                raise self.fail("training_mode is true; rmodel generates inference code only (set it to false)")
        outs: list[TensorInfo | None] = [self.out(0, x.dtype, x.shape)]
        if len(self.outputs) > 1 and self.outputs[1]:
            outs.append(self.out(1, np.bool_ if self.opset >= 10 else x.dtype, x.shape))
        return self.inferred(outs, NO_PLAN)

    def emit_cpu(self, ctx: CpuContext, w: CppWriter) -> None:
        # ratio (input 1) does not matter at inference
        if self.has_input(1) and ctx.const(self.inputs[1]) is None:
            w(f"(void){ctx.ptr(self.inputs[1])};")
        super().emit_cpu(ctx, w)
        if len(self.output_infos) > 1 and self.output_infos[1] is not None and self.output_infos[1].size:
            mask = self.output_info(1)
            one = "true" if mask.dtype == np.bool_ else f"{cpp_type(mask.dtype)}(1)"
            w(f"std::fill_n({ctx.ptr(self.outputs[1])}, {mask.size}, {one});")


@register("Expand")
class Expand(Operator[Plan]):
    """Broadcast the input to a (constant) shape, numpy-style in both directions."""

    constant_inputs = (1,)

    def infer(self, ctx: ShapeContext) -> Inferred[Plan]:
        x = self.input_info(0)
        shape = as_int_list(ctx.const(self.inputs[1]))
        assert shape is not None
        if any(d < 0 for d in shape):
            raise self.fail(f"shape {shape} has negative dims")
        return self.inferred([self.out(0, x.dtype, broadcast_shapes(self, x.shape, tuple(shape)))], NO_PLAN)

    def flops(self) -> int:
        return 0

    def emit_cpu(self, ctx: CpuContext, w: CppWriter) -> None:
        x, out = self.input_info(0), self.output_info(0)
        padded = (1,) * (out.rank - x.rank) + x.shape
        src = [s if d != 1 else 0 for s, d in zip(strides_of(padded), padded, strict=True)]
        write_copy_op(ctx, w, self, out.shape, src)


@dataclass(frozen=True)
class TilePlan(Plan):
    """How many times the input is repeated along every axis."""

    repeats: tuple[int, ...]


@register("Tile")
class Tile(Operator[TilePlan]):
    """Repeat the input ``repeats[k]`` times along axis k (repeats constant)."""

    constant_inputs = (1,)

    def infer(self, ctx: ShapeContext) -> Inferred[TilePlan]:
        x = self.input_info(0)
        repeats = as_int_list(ctx.const(self.inputs[1]))
        assert repeats is not None
        if len(repeats) != x.rank or any(r < 0 for r in repeats):
            raise self.fail(f"repeats {repeats} must be {x.rank} non-negative numbers for an input of shape {x.shape}")
        shape = [d * r for d, r in zip(x.shape, repeats, strict=True)]
        return self.inferred([self.out(0, x.dtype, shape)], TilePlan(tuple(repeats)))

    def flops(self) -> int:
        return 0

    def emit_cpu(self, ctx: CpuContext, w: CppWriter) -> None:
        x = self.input_info(0)
        # view the output as (r0, d0, r1, d1, ...): the repeat dims have input stride 0
        shape: list[int] = []
        src: list[int] = []
        for r, d, s in zip(self.plan.repeats, x.shape, strides_of(x.shape), strict=True):
            shape += [r, d]
            src += [0, s]
        write_copy_op(ctx, w, self, shape, src)
