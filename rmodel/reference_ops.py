"""Operators of onnx's reference evaluator replaced where it disagrees with the ONNX specification,
for the float64 reference of ``verify`` (``REFERENCE_OVERRIDES``).

- MaxPool with ``ceil_mode`` and padding: onnx 1.23's evaluator adds windows that start in the
  end padding (an 8 x 8 input, 3 x 3 kernel, stride 1, pads 1 gives 10 x 10 instead of 8 x 8), so a
  GoogLeNet export cannot be evaluated. Here the output size follows the specification (the last
  window must start inside the input or the begin padding), as onnxruntime and rmodel do.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
from onnx.reference.op_run import OpRun


def _pool_geometry(
    spatial: tuple[int, ...],
    kernel: list[int],
    strides: list[int],
    dilations: list[int],
    pads: list[int],
    auto_pad: str,
    ceil: bool,
) -> tuple[list[int], list[int]]:
    """(begin pads, output sizes) of a pooling window per spatial axis."""
    rank = len(spatial)
    begin, out = [], []
    for axis in range(rank):
        size, k, s, d = spatial[axis], kernel[axis], strides[axis], dilations[axis]
        span = d * (k - 1) + 1
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            count = math.ceil(size / s)
            total = max(0, (count - 1) * s + span - size)
            pb = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
        elif auto_pad == "VALID":
            count, pb = (size - span) // s + 1, 0
        else:
            pb, pe = pads[axis], pads[axis + rank]
            room = size + pb + pe - span
            count = (-(-room // s) if ceil else room // s) + 1
            if ceil and (count - 1) * s >= size + pb:
                count -= 1
        begin.append(pb)
        out.append(count)
    return begin, out


class MaxPool(OpRun):
    """MaxPool (output Y only) with the specification's output size."""

    op_domain = ""

    def _run(
        self,
        x: np.ndarray,
        auto_pad: Any = None,
        ceil_mode: Any = None,
        dilations: Any = None,
        kernel_shape: Any = None,
        pads: Any = None,
        storage_order: Any = None,
        strides: Any = None,
    ) -> tuple[np.ndarray]:
        if len(self.output) > 1 and self.output[1]:
            raise NotImplementedError("MaxPool's Indices output")
        rank = x.ndim - 2
        kernel = list(kernel_shape)
        strides = list(strides or [1] * rank)
        dilations = list(dilations or [1] * rank)
        pads = list(pads or [0] * (2 * rank))
        mode = auto_pad.decode() if isinstance(auto_pad, bytes) else (auto_pad or "NOTSET")
        begin, out = _pool_geometry(x.shape[2:], kernel, strides, dilations, pads, mode, bool(ceil_mode))
        widths = [(0, 0), (0, 0)]
        for axis in range(rank):
            needed = (out[axis] - 1) * strides[axis] + dilations[axis] * (kernel[axis] - 1) + 1
            widths.append((begin[axis], max(0, needed - begin[axis] - x.shape[2 + axis])))
        padded = np.pad(x, widths, constant_values=-np.inf)
        y = np.full((*x.shape[:2], *out), -np.inf, dtype=x.dtype)
        for taps in itertools.product(*(range(k) for k in kernel)):
            window = tuple(
                slice(t * d, t * d + (o - 1) * s + 1, s)
                for t, d, o, s in zip(taps, dilations, out, strides, strict=True)
            )
            np.maximum(y, padded[(slice(None), slice(None)) + window], out=y)
        return (y,)


#: ``new_ops`` for ``onnx.reference.ReferenceEvaluator``
REFERENCE_OVERRIDES: list[type[OpRun]] = [MaxPool]
