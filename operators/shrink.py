"""Shrink: soft thresholding, y = x + bias where x < -lambd, x - bias where x > lambd, else 0.

The smallest complete operator, and the example of CONTRIBUTING.md ("Adding an operator").
"""

from __future__ import annotations

import numpy as np

from .base import CpuContext, Operator, ShapeContext, float_literal, register


@register("Shrink")
class Shrink(Operator):
    """y = x + bias where x < -lambd, x - bias where x > lambd, 0 elsewhere (NaN gives 0, as ONNX)."""

    #: the attributes implemented; their defaults (bias 0, lambd 0.5) are read from onnx.defs
    attributes = {"bias": 0.0, "lambd": 0.5}

    def setup(self) -> None:
        self.bias = float(np.float32(self.attr["bias"]))
        self.lambd = float(np.float32(self.attr["lambd"]))

    def infer(self, ctx: ShapeContext) -> list:
        x = self.input_info(0)
        if x.dtype != np.float32:
            raise self.fail(f"input must be float32, got {x.dtype}")
        return [self.out(0, x.dtype, x.shape)]

    def emit_cpu(self, ctx: CpuContext) -> str:
        size = self.output_info(0).size
        low, high, bias = float_literal(-self.lambd), float_literal(self.lambd), float_literal(self.bias)
        return "\n".join(
            [
                f"const float* x = {ctx.ptr(self.inputs[0])};",
                f"float* y = {ctx.ptr(self.outputs[0])};",
                f"for (std::size_t i = 0; i < {size}; ++i) {{",
                "  const float v = x[i];",
                f"  y[i] = v < {low} ? v + {bias} : (v > {high} ? v - {bias} : 0.0f);",
                "}",
            ]
        )
