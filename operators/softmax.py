"""Softmax, LogSoftmax and Hardmax.

Before opset 13 these ops flatten the input to 2-D at ``axis`` (default 1) and work on each row;
from opset 13 on they work along the single axis ``axis`` (default -1). Both views are an
(outer, n, inner) tensor reduced over n: opset < 13 always has inner = 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from rmodel.cpp_sources import cpp_source
from rmodel.cpp_writer import CppWriter

from . import mathfn
from .base import CpuContext, Inferred, Operator, Plan, ShapeContext, normalize_axis, register


def _code(region: str) -> str:
    """A helper of ``operators/cpp/softmax.hpp``."""
    return cpp_source("rmodel.operators", "softmax.hpp", region)


@dataclass(frozen=True)
class SoftmaxPlan(Plan):
    """The input as (outer, n, inner), reduced over n; ``axis`` the (non-negative) axis attribute
    (before opset 13 the axes from it on are flattened into n)."""

    axis: int
    outer: int
    n: int
    inner: int


@register("Softmax", "LogSoftmax", "Hardmax")
class Softmax(Operator[SoftmaxPlan]):
    """y = exp(x - max) / sum(exp(x - max)) along an axis (LogSoftmax: its log; Hardmax: one-hot argmax)."""

    axis_attr: int
    #: opset < 13: flatten to 2-D at axis
    coerce_2d: bool

    @classmethod
    def attribute_defaults(cls, op_type: str, opset: int) -> dict[str, Any]:
        return {"axis": 1 if opset < 13 else -1}

    def setup(self) -> None:
        self.axis_attr = int(self.attr["axis"])
        self.coerce_2d = self.opset < 13

    def infer(self, ctx: ShapeContext) -> Inferred[SoftmaxPlan]:
        x = self.input_info(0)
        if x.dtype != np.float32:
            raise self.fail(f"input must be float32, got {x.dtype}")
        if x.rank == 0:
            raise self.fail("input must have rank >= 1, got a scalar")
        axis = normalize_axis(self.axis_attr, x.rank, self)
        outer = math.prod(x.shape[:axis])
        if self.coerce_2d:
            n, inner = math.prod(x.shape[axis:]), 1
        else:
            n, inner = x.shape[axis], math.prod(x.shape[axis + 1 :])
        return self.inferred([self.out(0, np.float32, x.shape)], SoftmaxPlan(axis, outer, n, inner))

    def workspace(self) -> dict[np.dtype, int]:
        p = self.plan
        if self.op_type == "Hardmax" or p.inner == 1 or p.n == 0:
            return {}
        return {np.dtype(np.float32): p.inner, np.dtype(np.float64): p.inner}

    def flops(self) -> int:
        per_element = 1 if self.op_type == "Hardmax" else 4
        return per_element * self.plan.outer * self.plan.n * self.plan.inner

    def emit_cpu(self, ctx: CpuContext, w: CppWriter) -> None:
        p = self.plan
        x, y = ctx.ptr(self.inputs[0]), ctx.ptr(self.outputs[0])
        if p.outer * p.n * p.inner == 0:
            w.comment("empty tensor: nothing to compute")
            return
        if self.op_type == "Hardmax":
            ctx.helper("hardmax", _code("hardmax"))
            w(f"detail::hardmax<{p.outer}, {p.n}, {p.inner}>({x}, {y});")
            return
        log = "true" if self.op_type == "LogSoftmax" else "false"
        mathfn.use(ctx)  # registered first: the helpers below call exp_f32
        if p.inner == 1:
            ctx.helper("softmax_rows", _code("softmax_rows"))
            w(f"detail::softmax_rows<{p.outer}, {p.n}, {log}>({x}, {y});")
            return
        ctx.helper("softmax_strided", _code("softmax_strided"))
        w(
            f"detail::softmax_strided<{p.outer}, {p.n}, {p.inner}, {log}>"
            f"({x}, {y}, {ctx.scratch(np.float32)}, {ctx.scratch(np.float64)});"
        )
