"""Einsum (e.g. Keras EinsumDense "abc,cd->abd"), lowered to one nest of loops.

Loop order: the output's labels (all but its last), then the summed labels, then the output's last
label innermost, so y[..., d] += a[..., c] * w[c, d] runs over contiguous memory like a matmul.
Ellipsis ("...") is not supported.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass

import numpy as np

from rmodel.cpp_writer import CppWriter
from rmodel.errors import RModelError

from .base import CpuContext, Inferred, Operator, Plan, ShapeContext, TensorInfo, register, strides_of


@dataclass(frozen=True)
class EinsumPlan(Plan):
    """Size of every label, and the labels summed over (in first-use order)."""

    sizes: Mapping[str, int]
    summed: str


@register("Einsum")
class Einsum(Operator[EinsumPlan]):
    """Sum over the labels missing from the output of the product of the operands."""

    #: the labels of each operand
    terms: list[str]
    output_labels: str

    attributes = {"equation": ""}

    def setup(self) -> None:
        equation = str(self.attr["equation"]).replace(" ", "")
        if "..." in equation:
            raise RModelError(
                f"node '{self.name}' (Einsum): equation '{equation}' uses an ellipsis ('...'), which rmodel "
                "does not support; write every axis as a letter"
            )
        if not re.fullmatch(r"[A-Za-z]*(,[A-Za-z]*)*(->[A-Za-z]*)?", equation):
            raise RModelError(f"node '{self.name}' (Einsum): cannot parse equation '{equation}'")
        lhs, _, rhs = equation.partition("->")
        self.terms = lhs.split(",")
        if "->" not in equation:  # implicit output: labels used once, in alphabetical order
            counts = {c: lhs.count(c) for c in lhs if c != ","}
            rhs = "".join(sorted(c for c, n in counts.items() if n == 1))
        if len(set(rhs)) != len(rhs) or any(c not in lhs for c in rhs):
            raise RModelError(
                f"node '{self.name}' (Einsum): output '{rhs}' of '{equation}' repeats a label or uses one "
                "that no operand has"
            )
        self.output_labels = rhs

    def infer(self, ctx: ShapeContext) -> Inferred[EinsumPlan]:
        if len(self.inputs) != len(self.terms):
            raise self.fail(f"equation has {len(self.terms)} operand(s) but the node has {len(self.inputs)} inputs")
        sizes: dict[str, int] = {}
        for index, term in enumerate(self.terms):
            info = self.input_info(index)
            if info.dtype != np.float32:
                raise self.fail(f"input {index} must be float32, got {info.dtype}")
            if info.rank != len(term):
                raise self.fail(f"operand '{term}' has {len(term)} labels but input {index} has shape {info.shape}")
            for label, size in zip(term, info.shape, strict=True):
                if sizes.setdefault(label, size) != size:
                    raise self.fail(
                        f"label '{label}' has size {sizes[label]} and {size} (input {index}); "
                        "broadcasting in Einsum is not supported"
                    )
        summed = "".join(dict.fromkeys(c for t in self.terms for c in t if c not in self.output_labels))
        outputs: list[TensorInfo | None] = [self.out(0, np.float32, tuple(sizes[c] for c in self.output_labels))]
        return self.inferred(outputs, EinsumPlan(sizes, summed))

    def flops(self) -> int:
        return 2 * math.prod(self.plan.sizes.values()) * max(len(self.terms) - 1, 1)

    def emit_cpu(self, ctx: CpuContext, w: CppWriter) -> None:
        sizes = self.plan.sizes
        out = self.output_labels
        order = list(out[:-1]) + list(self.plan.summed) + list(out[-1:])
        y = ctx.ptr(self.outputs[0])
        size = math.prod(sizes[c] for c in out)
        w(f"for (std::size_t i = 0; i < {size}; ++i) {y}[i] = 0.0f;")
        if any(sizes[c] == 0 for c in order):
            return
        operands = [(ctx.ptr(name), term) for name, term in zip(self.inputs, self.terms, strict=True)] + [(y, out)]
        refs = []
        for pointer, term in operands:
            strides: dict[str, int] = {}
            for label, stride in zip(term, strides_of([sizes[c] for c in term]), strict=True):
                strides[label] = strides.get(label, 0) + stride  # a repeated label walks a diagonal
            index = " + ".join(f"{c}_ * {s}" if s != 1 else f"{c}_" for c, s in strides.items()) or "0"
            refs.append(f"{pointer}[{index}]")
        with ExitStack() as loops:
            for label in order:
                loops.enter_context(w.loop(f"{label}_", sizes[label]))
            w(f"{refs[-1]} += {' * '.join(refs[:-1])};")
