"""Transpose: one strided copy (``strided_copy.py``) with the input strides permuted."""

from __future__ import annotations

from dataclasses import dataclass

from rmodel.cpp_writer import CppWriter

from .base import CpuContext, Inferred, Operator, Plan, ShapeContext, register, strides_of
from .strided_copy import write_copy_op


@dataclass(frozen=True)
class TransposePlan(Plan):
    #: output dim k is input dim perm[k] (the attribute, or reversed axes by default)
    perm: tuple[int, ...]


@register("Transpose")
class Transpose(Operator[TransposePlan]):
    """Permute axes: output dim k is input dim perm[k] (default: reversed)."""

    attributes = {"perm": None}

    def infer(self, ctx: ShapeContext) -> Inferred[TransposePlan]:
        x = self.input_info(0)
        given = self.attr["perm"]
        perm = tuple(range(x.rank))[::-1] if given is None else tuple(int(p) for p in given)
        if sorted(perm) != list(range(x.rank)):
            raise self.fail(f"perm {list(perm)} is not a permutation of 0..{x.rank - 1} (input shape {x.shape})")
        return self.inferred([self.out(0, x.dtype, [x.shape[p] for p in perm])], TransposePlan(perm))

    def flops(self) -> int:
        return 0

    def emit_cpu(self, ctx: CpuContext, w: CppWriter) -> None:
        in_strides = strides_of(self.input_info(0).shape)
        write_copy_op(ctx, w, self, self.output_info(0).shape, [in_strides[p] for p in self.plan.perm])
