"""Shrink: soft thresholding, y = x + bias where x < -lambd, x - bias where x > lambd, else 0.

The smallest complete operator, and the example of CONTRIBUTING.md ("Adding an operator").
"""

from __future__ import annotations

import numpy as np

from rmodel.cpp_writer import CppWriter

from .base import NO_PLAN, CpuContext, Inferred, Operator, Plan, ShapeContext, float_literal, register


@register("Shrink")
class Shrink(Operator[Plan]):
    """y = x + bias where x < -lambd, x - bias where x > lambd, 0 elsewhere (NaN gives 0, as ONNX)."""

    #: the attributes implemented; their defaults (bias 0, lambd 0.5) are read from onnx.defs
    attributes = {"bias": 0.0, "lambd": 0.5}
    #: the attributes as float32 values
    bias: float
    lambd: float

    def setup(self) -> None:
        self.bias = float(np.float32(self.attr["bias"]))
        self.lambd = float(np.float32(self.attr["lambd"]))

    def infer(self, ctx: ShapeContext) -> Inferred[Plan]:
        x = self.input_info(0)
        if x.dtype != np.float32:
            raise self.fail(f"input must be float32, got {x.dtype}")
        return self.inferred([self.out(0, x.dtype, x.shape)], NO_PLAN)

    def emit_cpu(self, ctx: CpuContext, w: CppWriter) -> None:
        low, high, bias = float_literal(-self.lambd), float_literal(self.lambd), float_literal(self.bias)
        w(f"const float* x = {ctx.ptr(self.inputs[0])};", f"float* y = {ctx.ptr(self.outputs[0])};")
        with w.loop("i", self.output_info(0).size):
            w("const float v = x[i];", f"y[i] = v < {low} ? v + {bias} : (v > {high} ? v - {bias} : 0.0f);")
