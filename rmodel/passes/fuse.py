"""Fusion passes: fold what follows a matrix product or convolution into its weights.

* ``matmul_add_to_gemm``: MatMul(x, W) + bias (tf2onnx's Dense) -> Gemm(x, W, bias).
* ``fold_channel_affine``: Conv / Gemm / MatMul followed by a per-channel affine map - a
  BatchNormalization with constant parameters, or a Mul / Add / Sub by a constant that varies
  only along the channel axis (axis 1: Conv's output channels, the columns of a product) - becomes
  one operator with scaled weights and a shifted bias (PyTorch's Conv+BatchNorm, tf2onnx's
  BatchNormalization as Mul+Add).

Both apply only when the intermediate tensor has no other reader and is not a graph output, and
only to float32 tensors. Folded weights are computed in float64 and rounded once to float32.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ..operators.base import Operator
from ..operators.normalization import BatchNormalization
from .rewrite import add_constant, build, readers, replace, sole_reader

if TYPE_CHECKING:
    from ..model import RModel

#: operators that may apply a per-channel affine map
_CONSUMERS = ("BatchNormalization", "Mul", "Add", "Sub")
#: (scale, shift) per channel, float64
Affine = tuple[np.ndarray, np.ndarray]


def _const(model: RModel, name: str) -> np.ndarray | None:
    value = model.constants.get(name) if name else None
    return value if value is not None and value.dtype == np.float32 else None


def _is_matrix_product(model: RModel, op: Operator) -> bool:
    """MatMul of a run-time matrix by a constant matrix (a Dense layer)."""
    if op.op_type != "MatMul" or op.inputs[0] in model.constants:
        return False
    w = _const(model, op.inputs[1])
    return w is not None and w.ndim == 2 and model.tensors[op.inputs[0]].rank == 2


def _product_source(model: RModel, op: Operator) -> bool:
    """Whether ``op`` can absorb a per-channel affine map into its constant weights."""
    if op.op_type == "Conv":
        return _const(model, op.inputs[1]) is not None and (
            not op.has_input(2) or _const(model, op.inputs[2]) is not None
        )
    if op.op_type == "Gemm":
        return (
            op.inputs[0] not in model.constants
            and _const(model, op.inputs[1]) is not None
            and (not op.has_input(2) or _const(model, op.inputs[2]) is not None)
        )
    return _is_matrix_product(model, op)


def _channel_vector(value: np.ndarray, out_shape: tuple[int, ...]) -> np.ndarray | None:
    """``value`` as one number per channel (axis 1 of ``out_shape``), if it broadcasts against the
    output only along that axis (and does not enlarge it); else None."""
    rank = len(out_shape)
    if value.ndim > rank or rank < 2:
        return None
    padded = (1,) * (rank - value.ndim) + value.shape
    channels = out_shape[1]
    if any(d != 1 for axis, d in enumerate(padded) if axis != 1) or padded[1] not in (1, channels):
        return None
    return np.broadcast_to(value.astype(np.float64).reshape(-1), (channels,)).copy()


def channel_affine(model: RModel, op: Operator, src: str) -> Affine | None:
    """The per-channel (scale, shift) that ``op`` applies to its input ``src``, or None (also when
    they are not finite: folding inf or nan into weights would not give the same results)."""
    affine = _channel_affine(model, op, src)
    if affine is None or not all(np.all(np.isfinite(v)) for v in affine):
        return None
    return affine


def _channel_affine(model: RModel, op: Operator, src: str) -> Affine | None:
    out_shape = model.tensors[src].shape
    if model.tensors[src].dtype != np.float32 or len(out_shape) < 2:
        return None
    channels = out_shape[1]
    ones, zeros = np.ones(channels), np.zeros(channels)
    if op.op_type in ("Mul", "Add", "Sub") and len(op.inputs) == 2 and src in op.inputs:
        position = op.inputs.index(src)
        other = op.inputs[1 - position]
        value = _const(model, other)
        if value is None or other == src or (op.op_type == "Sub" and position != 0):
            return None
        vector = _channel_vector(value, out_shape)
        if vector is None:
            return None
        if op.op_type == "Mul":
            return vector, zeros
        return ones, vector if op.op_type == "Add" else -vector
    if isinstance(op, BatchNormalization) and op.inputs[0] == src and (op.spatial or len(out_shape) == 2):
        params = [_const(model, name) for name in op.inputs[1:5]]
        if any(p is None or p.size != channels for p in params):
            return None
        scale, bias, mean, var = (p.astype(np.float64).reshape(-1) for p in params)  # type: ignore[union-attr]
        with np.errstate(divide="ignore", invalid="ignore"):  # non-finite results are refused
            a = scale / np.sqrt(var + float(np.float32(op.epsilon)))
        return a, bias - mean * a
    return None


def _fused(model: RModel, producer: Operator, consumer: Operator, affine: Affine) -> Operator:
    """``producer`` with ``affine`` folded in, writing ``consumer``'s output."""
    scale, shift = affine
    out = consumer.outputs[0]
    hint = producer.name
    w_name = producer.inputs[1]
    w = model.constants[w_name].astype(np.float64)
    has_shift = bool(np.any(shift != 0.0))
    if producer.op_type == "Conv":
        if np.any(scale != 1.0):
            w_name = add_constant(
                model, f"{hint}_W", (w * scale.reshape((-1,) + (1,) * (w.ndim - 1))).astype(np.float32)
            )
        inputs = [producer.inputs[0], w_name]
        if producer.has_input(2) or has_shift:
            b = model.constants[producer.inputs[2]].astype(np.float64) if producer.has_input(2) else 0.0
            inputs.append(add_constant(model, f"{hint}_B", (b * scale + shift).astype(np.float32)))
        return build(model, "Conv", producer.name, inputs, [out], producer.attrs, producer.opset)
    # Gemm / MatMul: Y = alpha * A'B' + beta * C; scale the columns of B' and fold into C
    attrs = dict(producer.attrs) if producer.op_type == "Gemm" else {}
    trans_b = bool(attrs.get("transB", 0))
    if np.any(scale != 1.0):
        w_scaled = w * (scale[:, None] if trans_b else scale[None, :])
        w_name = add_constant(model, f"{hint}_W", w_scaled.astype(np.float32))
    inputs = [producer.inputs[0], w_name]
    has_c = producer.op_type == "Gemm" and producer.has_input(2) and float(attrs.get("beta", 1.0)) != 0.0
    if has_c or has_shift:
        c = model.constants[producer.inputs[2]].astype(np.float64) * float(attrs.get("beta", 1.0)) if has_c else 0.0
        c = np.asarray(c * scale + shift)
        if c.ndim == 2 and c.shape[0] == 1:
            c = c[0]
        inputs.append(add_constant(model, f"{hint}_C", c.astype(np.float32)))
        attrs["beta"] = 1.0
    elif producer.op_type == "Gemm" and producer.has_input(2):
        inputs.append(producer.inputs[2])  # beta = 0: C is never read, keep the node as it was
    op_type = "Gemm" if producer.op_type == "Gemm" or len(inputs) == 3 else "MatMul"
    return build(model, op_type, producer.name, inputs, [out], attrs, producer.opset)


def _fold_one(model: RModel, wanted: Callable[[Operator, Operator], bool]) -> bool:
    """Apply the first possible fold of a consumer into its producer (pairs chosen by ``wanted``)."""
    reading = readers(model)
    for producer in model.operators:
        if len(producer.outputs) != 1 or not _product_source(model, producer):
            continue
        consumer = sole_reader(model, producer.outputs[0], reading)
        if consumer is None or not wanted(producer, consumer):
            continue
        affine = channel_affine(model, consumer, producer.outputs[0])
        if affine is None:
            continue
        fused = _fused(model, producer, consumer, affine)
        assert model.tensors[fused.outputs[0]].shape == model.tensors[consumer.outputs[0]].shape
        replace(model, [consumer], {id(producer): fused})
        return True
    return False


def _matmul_add(producer: Operator, consumer: Operator) -> bool:
    return producer.op_type == "MatMul" and consumer.op_type == "Add"


def matmul_add_to_gemm(model: RModel) -> int:
    """MatMul(x (M,K), constant W (K,N)) + constant bias of shape (), (1,), (N,), (1,1) or (1,N)
    -> Gemm(x, W, bias). Returns the number of pairs fused."""
    count = 0
    while _fold_one(model, _matmul_add):
        count += 1
    return count


def fold_channel_affine(model: RModel) -> int:
    """Conv/Gemm/MatMul followed by BatchNormalization or a per-channel Mul/Add/Sub by a constant
    -> one Conv/Gemm/MatMul with folded weights and bias (MatMul+Add is left to
    ``matmul_add_to_gemm``). Returns the number of operators folded."""
    count = 0
    while _fold_one(model, lambda p, c: c.op_type in _CONSUMERS and not _matmul_add(p, c)):
        count += 1
    return count
