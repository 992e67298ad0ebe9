"""Softmax, LogSoftmax and Hardmax.

Before opset 13 these ops flatten the input to 2-D at ``axis`` (default 1) and work on each row;
from opset 13 on they work along the single axis ``axis`` (default -1). Both views are an
(outer, n, inner) tensor reduced over n: opset < 13 always has inner = 1.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from rmodel.cpp_sources import cpp_source

from . import mathfn
from .base import CpuContext, Operator, ShapeContext, normalize_axis, register


def _code(region: str) -> str:
    """A helper of ``operators/cpp/softmax.hpp``."""
    return cpp_source("rmodel.operators", "softmax.hpp", region)


@register("Softmax", "LogSoftmax", "Hardmax")
class Softmax(Operator):
    """y = exp(x - max) / sum(exp(x - max)) along an axis (LogSoftmax: its log; Hardmax: one-hot argmax)."""

    @classmethod
    def attribute_defaults(cls, op_type: str, opset: int) -> dict[str, Any]:
        return {"axis": 1 if opset < 13 else -1}

    def setup(self) -> None:
        self.axis_attr = int(self.attr["axis"])
        self.coerce_2d = self.opset < 13

    def infer(self, ctx: ShapeContext) -> list:
        x = self.input_info(0)
        if x.dtype != np.float32:
            raise self.fail(f"input must be float32, got {x.dtype}")
        if x.rank == 0:
            raise self.fail("input must have rank >= 1, got a scalar")
        axis = normalize_axis(self.axis_attr, x.rank, self)
        self.outer = math.prod(x.shape[:axis])
        if self.coerce_2d:
            self.n, self.inner = math.prod(x.shape[axis:]), 1
        else:
            self.n, self.inner = x.shape[axis], math.prod(x.shape[axis + 1 :])
        return [self.out(0, np.float32, x.shape)]

    def workspace(self) -> dict[np.dtype, int]:
        if self.op_type == "Hardmax" or self.inner == 1 or self.n == 0:
            return {}
        return {np.dtype(np.float32): self.inner, np.dtype(np.float64): self.inner}

    def flops(self) -> int:
        per_element = 1 if self.op_type == "Hardmax" else 4
        return per_element * self.outer * self.n * self.inner

    def emit_cpu(self, ctx: CpuContext) -> str:
        x, y = ctx.ptr(self.inputs[0]), ctx.ptr(self.outputs[0])
        if self.outer * self.n * self.inner == 0:
            return "// empty tensor: nothing to compute"
        if self.op_type == "Hardmax":
            ctx.helper("hardmax", _code("hardmax"))
            return f"detail::hardmax<{self.outer}, {self.n}, {self.inner}>({x}, {y});"
        log = "true" if self.op_type == "LogSoftmax" else "false"
        mathfn.use(ctx)  # registered first: the helpers below call exp_f32
        if self.inner == 1:
            ctx.helper("softmax_rows", _code("softmax_rows"))
            return f"detail::softmax_rows<{self.outer}, {self.n}, {log}>({x}, {y});"
        ctx.helper("softmax_strided", _code("softmax_strided"))
        return (
            f"detail::softmax_strided<{self.outer}, {self.n}, {self.inner}, {log}>"
            f"({x}, {y}, {ctx.scratch(np.float32)}, {ctx.scratch(np.float64)});"
        )
