"""Transpose: one strided copy (operators/strided.py) with the input strides permuted."""

from __future__ import annotations

from .base import CpuContext, Operator, ShapeContext, register, strides_of
from .strided import copy_op


@register("Transpose")
class Transpose(Operator):
    """Permute axes: output dim k is input dim perm[k] (default: reversed)."""

    attributes = {"perm": None}

    def infer(self, ctx: ShapeContext) -> list:
        x = self.input_info(0)
        perm = self.attr["perm"]
        self.perm = tuple(range(x.rank))[::-1] if perm is None else tuple(int(p) for p in perm)
        if sorted(self.perm) != list(range(x.rank)):
            raise self.fail(f"perm {list(self.perm)} is not a permutation of 0..{x.rank - 1} (input shape {x.shape})")
        return [self.out(0, x.dtype, [x.shape[p] for p in self.perm])]

    def flops(self) -> int:
        return 0

    def emit_cpu(self, ctx: CpuContext) -> str:
        x = self.input_info(0)
        in_strides = strides_of(x.shape)
        return copy_op(ctx, self, self.output_info(0).shape, [in_strides[p] for p in self.perm])
