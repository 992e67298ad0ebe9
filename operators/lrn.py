"""LRN: local response normalization across channels (AlexNet, CaffeNet, ZFNet, GoogLeNet).

y[n, c, ...] = x[n, c, ...] * (bias + alpha / size * sum(x[n, j, ...]^2))^-beta over the channels
j of the window [c - floor((size - 1) / 2), c + ceil((size - 1) / 2)], for inputs (N, C, D1, ...)
of any rank >= 3.

The sum is a running window, as onnxruntime computes it: per channel, add the term that enters
the window and subtract the one that leaves it, each a separate product and sum (never fused into
one multiply-add), so the scale is bit for bit onnxruntime's: a NaN or infinity poisons every later
channel of its position, and without a bias the sum can cancel to a few digits where large squares
leave the window before small ones, in both. s^-beta is std::pow, or for beta 1, 0.5, 0.25 and
0.75 a division and square roots (a few ulp from onnxruntime's pow, several times faster); y = x * s^-beta.
Even sizes and alpha or beta <= 0, which onnxruntime refuses, follow the ONNX definition.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rmodel.cpp_sources import cpp_source
from rmodel.cpp_writer import CppWriter
from rmodel.errors import RModelError

from .base import CpuContext, Inferred, Operator, Plan, ShapeContext, float_literal, register

# One image (C channels of S contiguous values) at a time. ``run`` holds the scale
# bias + a * (window sum) of the current channel at every position; ``head`` and ``tail`` (S floats
# each, like ``run`` in the workspace) the terms a * x^2 entering and leaving the window. The terms
# are computed in a loop of their own, so that no compiler fuses a * x^2 + run into one multiply-add
# (g++ does by default in C++): the sums round as onnxruntime's. A term outside the channels is
# a * 0 (``pad``: +0 unless alpha is not finite), added once where onnxruntime adds its zero padding
# (adding it again changes nothing). power(s) is s^-beta.


@dataclass(frozen=True)
class LrnPlan(Plan):
    """The input as N images of C channels of S contiguous values."""

    n: int
    c: int
    s: int


@register("LRN")
class LRN(Operator[LrnPlan]):
    """Local response normalization over a window of ``size`` channels (float32, rank >= 3)."""

    size: int
    alpha: float
    beta: float
    bias: float
    #: alpha / size, a float division as onnxruntime's
    a: np.float32

    #: the attributes implemented; their defaults (alpha 1e-4, beta 0.75, bias 1) and the required
    #: ``size`` come from onnx.defs
    attributes = {"alpha": 1e-4, "beta": 0.75, "bias": 1.0, "size": None}

    def setup(self) -> None:
        self.size = int(self.attr["size"])
        if self.size < 1:
            raise RModelError(f"node '{self.name}' (LRN): size must be at least 1, got {self.size}")
        self.alpha = float(np.float32(self.attr["alpha"]))
        self.beta = float(np.float32(self.attr["beta"]))
        self.bias = float(np.float32(self.attr["bias"]))
        self.a = np.float32(self.alpha) / np.float32(self.size)

    def infer(self, ctx: ShapeContext) -> Inferred[LrnPlan]:
        x = self.input_info(0)
        if x.dtype != np.float32:
            raise self.fail(f"input must be float32, got {x.dtype}")
        if x.rank < 3:
            raise self.fail(f"input must have shape (N, C, D1, ...) of rank 3 or more, got {x.shape}")
        plan = LrnPlan(x.shape[0], x.shape[1], math.prod(x.shape[2:]))
        return self.inferred([self.out(0, np.float32, x.shape)], plan)

    def workspace(self) -> dict[np.dtype, int]:
        return {np.dtype(np.float32): 3 * self.plan.s}

    def flops(self) -> int:
        return 8 * self.plan.n * self.plan.c * self.plan.s

    def _power(self) -> str:
        """C++ lambda computing s^-beta as std::pow(s, -beta) does (sqrt forms where they are equal)."""
        # with a >= +0 and bias >= +0 the running sum is never -0 or -inf, where 1/sqrt differs from pow
        plain = not math.copysign(1.0, float(self.a)) < 0 and not math.copysign(1.0, self.bias) < 0
        forms = {
            1.0: "1.0f / s",
            0.5: "1.0f / std::sqrt(s)" if plain else None,
            0.25: "1.0f / std::sqrt(std::sqrt(s))" if plain else None,
            0.75: "1.0f / (std::sqrt(s) * std::sqrt(std::sqrt(s)))" if plain else None,
        }
        body = forms.get(self.beta) or f"std::pow(s, {float_literal(-self.beta)})"
        return f"[](float s) {{ return {body}; }}"

    def emit_cpu(self, ctx: CpuContext, w: CppWriter) -> None:
        p = self.plan
        ctx.helper("lrn", cpp_source("rmodel.operators", "lrn.hpp", "lrn"))
        with np.errstate(invalid="ignore"):
            pad = self.a * np.float32(0.0)
        # a window reaching PRE or POST channels beyond the tensor reaches every channel
        pre = min((self.size - 1) // 2, p.c)
        post = min(self.size // 2, p.c)
        w(
            f"detail::lrn<{p.n}, {p.c}, {p.s}, {pre}, {post}>({ctx.ptr(self.inputs[0])}, "
            f"{ctx.ptr(self.outputs[0])}, {ctx.scratch(np.float32)}, {float_literal(self.bias)}, "
            f"{float_literal(float(self.a))}, {float_literal(float(pad))}, {self._power()});"
        )
