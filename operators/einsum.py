"""Einsum (e.g. Keras EinsumDense "abc,cd->abd"), lowered to one nest of loops.

Loop order: the output's labels (all but its last), then the summed labels, then the output's last
label innermost, so y[..., d] += a[..., c] * w[c, d] runs over contiguous memory like a matmul.
Ellipsis ("...") is not supported.
"""

from __future__ import annotations

import math
import re

import numpy as np

from rmodel.errors import RModelError

from .base import CpuContext, Operator, ShapeContext, register, strides_of


@register("Einsum")
class Einsum(Operator):
    """Sum over the labels missing from the output of the product of the operands."""

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

    def infer(self, ctx: ShapeContext) -> list:
        if len(self.inputs) != len(self.terms):
            raise self.fail(f"equation has {len(self.terms)} operand(s) but the node has {len(self.inputs)} inputs")
        self.sizes: dict[str, int] = {}
        for index, term in enumerate(self.terms):
            info = self.input_info(index)
            if info.dtype != np.float32:
                raise self.fail(f"input {index} must be float32, got {info.dtype}")
            if info.rank != len(term):
                raise self.fail(f"operand '{term}' has {len(term)} labels but input {index} has shape {info.shape}")
            for label, size in zip(term, info.shape, strict=True):
                if self.sizes.setdefault(label, size) != size:
                    raise self.fail(
                        f"label '{label}' has size {self.sizes[label]} and {size} (input {index}); "
                        "broadcasting in Einsum is not supported"
                    )
        self.summed = "".join(dict.fromkeys(c for t in self.terms for c in t if c not in self.output_labels))
        return [self.out(0, np.float32, tuple(self.sizes[c] for c in self.output_labels))]

    def flops(self) -> int:
        return 2 * math.prod(self.sizes.values()) * max(len(self.terms) - 1, 1)

    def emit_cpu(self, ctx: CpuContext) -> str:
        out = self.output_labels
        order = list(out[:-1]) + list(self.summed) + list(out[-1:])
        y = ctx.ptr(self.outputs[0])
        size = math.prod(self.sizes[c] for c in out)
        lines = [f"for (std::size_t i = 0; i < {size}; ++i) {y}[i] = 0.0f;"]
        if any(self.sizes[c] == 0 for c in order):
            return lines[0]
        operands = [(ctx.ptr(name), term) for name, term in zip(self.inputs, self.terms, strict=True)] + [(y, out)]
        indent = ""
        for label in order:
            lines.append(f"{indent}for (std::size_t {label}_ = 0; {label}_ < {self.sizes[label]}; ++{label}_) {{")
            indent += "  "
        refs = []
        for pointer, term in operands:
            strides: dict[str, int] = {}
            for label, stride in zip(term, strides_of([self.sizes[c] for c in term]), strict=True):
                strides[label] = strides.get(label, 0) + stride  # a repeated label walks a diagonal
            index = " + ".join(f"{c}_ * {s}" if s != 1 else f"{c}_" for c, s in strides.items()) or "0"
            refs.append(f"{pointer}[{index}]")
        lines.append(f"{indent}{refs[-1]} += {' * '.join(refs[:-1])};")
        for _ in order:
            indent = indent[:-2]
            lines.append(f"{indent}}}")
        return "\n".join(lines)
