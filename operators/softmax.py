"""Softmax, LogSoftmax and Hardmax.

Before opset 13 these ops flatten the input to 2-D at ``axis`` (default 1) and work on each row;
from opset 13 on they work along the single axis ``axis`` (default -1). Both views are an
(outer, n, inner) tensor reduced over n: opset < 13 always has inner = 1.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import mathfn
from .base import CpuContext, Operator, ShapeContext, normalize_axis, register

# Rows of length N are contiguous. The max is subtracted before exp, so large inputs cannot
# overflow; the sum of exponentials is accumulated in double. Softmax writes the exponentials first
# (a loop the compiler vectorizes: detail::exp_f32 of mathfn.py) and sums them in a second loop.
SOFTMAX_ROWS = """template <std::size_t OUTER, std::size_t N, bool LOG>
inline void softmax_rows(const float* x, float* y) {
  for (std::size_t o = 0; o < OUTER; ++o) {
    const float* xr = x + o * N;
    float* yr = y + o * N;
    float mx = xr[0];
    for (std::size_t k = 1; k < N; ++k) mx = std::max(mx, xr[k]);
    double sum = 0.0;
    if (LOG) {
      for (std::size_t k = 0; k < N; ++k) sum += exp_f32(xr[k] - mx);
    } else {
      for (std::size_t k = 0; k < N; ++k) yr[k] = exp_f32(xr[k] - mx);
      for (std::size_t k = 0; k < N; ++k) sum += yr[k];
    }
    if (LOG) {
      const float shift = mx + static_cast<float>(std::log(sum));
      for (std::size_t k = 0; k < N; ++k) yr[k] = xr[k] - shift;
    } else {
      const float scale = static_cast<float>(1.0 / sum);
      for (std::size_t k = 0; k < N; ++k) yr[k] *= scale;
    }
  }
}"""

# The reduced axis has stride INNER: every pass runs over INNER contiguous values, keeping the
# running max (mx) and sum per column in the workspace.
SOFTMAX_STRIDED = """template <std::size_t OUTER, std::size_t N, std::size_t INNER, bool LOG>
inline void softmax_strided(const float* x, float* y, float* mx, double* sum) {
  for (std::size_t o = 0; o < OUTER; ++o) {
    const float* xo = x + o * N * INNER;
    float* yo = y + o * N * INNER;
    for (std::size_t j = 0; j < INNER; ++j) mx[j] = xo[j];
    for (std::size_t k = 1; k < N; ++k)
      for (std::size_t j = 0; j < INNER; ++j) mx[j] = std::max(mx[j], xo[k * INNER + j]);
    for (std::size_t j = 0; j < INNER; ++j) sum[j] = 0.0;
    for (std::size_t k = 0; k < N; ++k)
      for (std::size_t j = 0; j < INNER; ++j) {
        const float e = exp_f32(xo[k * INNER + j] - mx[j]);
        sum[j] += e;
        if (!LOG) yo[k * INNER + j] = e;
      }
    if (LOG) {
      for (std::size_t j = 0; j < INNER; ++j) mx[j] += static_cast<float>(std::log(sum[j]));
      for (std::size_t k = 0; k < N; ++k)
        for (std::size_t j = 0; j < INNER; ++j) yo[k * INNER + j] = xo[k * INNER + j] - mx[j];
    } else {
      for (std::size_t j = 0; j < INNER; ++j) mx[j] = static_cast<float>(1.0 / sum[j]);
      for (std::size_t k = 0; k < N; ++k)
        for (std::size_t j = 0; j < INNER; ++j) yo[k * INNER + j] *= mx[j];
    }
  }
}"""

# 1 at the first element equal to the maximum along the axis, 0 elsewhere. As onnxruntime: the
# maximum is folded with std::max from the first element, so a leading NaN gives an all-zero row
# and a later NaN is passed over.
HARDMAX = """template <std::size_t OUTER, std::size_t N, std::size_t INNER>
inline void hardmax(const float* x, float* y) {
  for (std::size_t i = 0; i < OUTER * N * INNER; ++i) y[i] = 0.0f;
  for (std::size_t o = 0; o < OUTER; ++o) {
    for (std::size_t j = 0; j < INNER; ++j) {
      const float* xc = x + o * N * INNER + j;
      float mx = xc[0];
      for (std::size_t k = 1; k < N; ++k) mx = std::max(mx, xc[k * INNER]);
      for (std::size_t k = 0; k < N; ++k) {
        if (xc[k * INNER] == mx) {
          y[o * N * INNER + k * INNER + j] = 1.0f;
          break;
        }
      }
    }
  }
}"""


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
            ctx.helper("hardmax", HARDMAX)
            return f"detail::hardmax<{self.outer}, {self.n}, {self.inner}>({x}, {y});"
        log = "true" if self.op_type == "LogSoftmax" else "false"
        mathfn.use(ctx)  # registered first: the helpers below call exp_f32
        if self.inner == 1:
            ctx.helper("softmax_rows", SOFTMAX_ROWS)
            return f"detail::softmax_rows<{self.outer}, {self.n}, {log}>({x}, {y});"
        ctx.helper("softmax_strided", SOFTMAX_STRIDED)
        return (
            f"detail::softmax_strided<{self.outer}, {self.n}, {self.inner}, {log}>"
            f"({x}, {y}, {ctx.scratch(np.float32)}, {ctx.scratch(np.float64)});"
        )
