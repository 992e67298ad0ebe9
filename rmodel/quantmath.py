"""QuantizeLinear and DequantizeLinear in numpy, as onnxruntime computes them, for load-time folding.

onnx's reference evaluator has no DequantizeLinear before opset 19 (QDQ models of opset 13-18
hold one per weight) and converts int32 to float before subtracting the zero point; these
follow onnxruntime's CPU kernels (and ``operators/quantize.py``) bit for bit:
``float(int32(x) - zero_point) * scale`` and ``saturate(round_half_even(x / scale) + zero_point)``
with the quotient in float32 and NaN to the type's minimum less the zero point.
"""

from __future__ import annotations

import numpy as np
from onnx import NodeProto, helper

#: the integer types the folds handle (the rest, e.g. float8 or int4, go to onnx's evaluator)
_TYPES = (np.int8, np.uint8, np.int16, np.uint16, np.int32)


def _along(param: np.ndarray, rank: int, axis: int) -> np.ndarray:
    """A scalar or 1-D per-axis parameter shaped to broadcast against a tensor of ``rank``."""
    if param.size == 1:
        return param.reshape(())
    shape = [1] * rank
    shape[axis % rank] = param.size
    return param.reshape(shape)


def dequantize(x: np.ndarray, scale: np.ndarray, zero: np.ndarray | None, axis: int = 1) -> np.ndarray:
    """``float(x - zero) * scale`` in float32, the difference in int32 (wrapping)."""
    diff = x.astype(np.int64) - (0 if zero is None else _along(zero.astype(np.int64), x.ndim, axis))
    diff = diff.astype(np.int32)  # wraps modulo 2^32 like onnxruntime's int32 subtraction
    return (diff.astype(np.float32) * _along(scale.astype(np.float32), x.ndim, axis)).astype(np.float32)


def quantize(x: np.ndarray, scale: np.ndarray, zero: np.ndarray | None, dtype: np.dtype, axis: int = 1) -> np.ndarray:
    """``saturate(round_half_even(x / scale) + zero)`` with the quotient in float32."""
    info = np.iinfo(dtype)
    z = np.float32(0) if zero is None else _along(zero.astype(np.float32), x.ndim, axis)
    with np.errstate(all="ignore"):
        v = x.astype(np.float32) / _along(scale.astype(np.float32), x.ndim, axis)
        v = np.where(v > info.min - z, v, info.min - z)  # NaN -> the minimum
        v = np.where(v < info.max - z, v, info.max - z)
        return (np.rint(v) + z).astype(dtype)


def fold(node: NodeProto, values: list[np.ndarray | None]) -> list[np.ndarray] | None:
    """The outputs of a Quantize/DequantizeLinear node with constant inputs, or None when the node
    is another op or uses what these folds do not handle (blocked scales, other types)."""
    if node.domain not in ("", "ai.onnx") or node.op_type not in ("QuantizeLinear", "DequantizeLinear"):
        return None
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if attrs.get("block_size", 0) or len(values) < 2 or values[0] is None or values[1] is None:
        return None
    x, scale = values[0], values[1]
    zero = values[2] if len(values) > 2 else None
    if scale.dtype != np.float32 or scale.ndim > 1 or (zero is not None and zero.dtype.type not in _TYPES):
        return None
    axis = int(attrs.get("axis", 1))
    if node.op_type == "DequantizeLinear":
        if x.dtype.type not in _TYPES or attrs.get("output_dtype", 0) not in (0, 1):
            return None
        return [dequantize(x, scale, zero, axis)]
    out = zero.dtype if zero is not None else np.dtype(np.uint8)
    if zero is None and attrs.get("output_dtype", 0):
        out = np.dtype(helper.tensor_dtype_to_np_dtype(int(attrs["output_dtype"])))
    if x.dtype != np.float32 or out.type not in _TYPES:
        return None
    return [quantize(x, scale, zero, out, axis)]
