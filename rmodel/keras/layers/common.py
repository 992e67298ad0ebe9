"""Helpers shared by the layer converters: activations, weight specs, layout-preserving ops."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..graph import GraphBuilder, KTensor
from ..reader import WeightSpec
from ..registry import KerasLayer


def spec(
    name: str, index: int, shape: Sequence[int | None], h5_name: str | None = None, prefix: str = ""
) -> WeightSpec:
    """Spec of the ``index``-th variable of a layer (``vars/<index>`` in ``.keras`` files)."""
    return WeightSpec(name, f"{prefix}vars/{index}", h5_name or name, tuple(int(d) for d in shape))  # type: ignore[arg-type]


def like(x: KTensor, name: str, g: GraphBuilder | None = None) -> KTensor:
    """A tensor with the shape, dtype and layout of ``x`` held in ONNX tensor ``name``."""
    return KTensor(name, x.shape, x.dtype, x.perm)


def known(layer: KerasLayer, dims: Sequence[int | None], what: str) -> list[int]:
    if any(d is None for d in dims):
        raise layer.fail(f"{what} must be known (got {tuple(dims)})")
    return [int(d) for d in dims]  # type: ignore[arg-type]


def activation_name(value: Any) -> str:
    """The activation name from a config value (a string, or a serialized function)."""
    if value is None:
        return "linear"
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, dict):
        cfg = value.get("config")
        if isinstance(cfg, str):
            return cfg.lower()
        if isinstance(cfg, dict) and "name" in cfg:
            return str(cfg["name"]).lower()
        return str(value.get("class_name", "?")).lower()
    return str(value).lower()


def _gelu(g: GraphBuilder, x: str) -> str:
    scaled = g.op("Mul", [x, g.const(np.float32(1.0 / math.sqrt(2.0)), "inv_sqrt2")])
    erf = g.op("Add", [g.op("Erf", [scaled]), g.const(np.float32(1.0), "one")])
    return g.op("Mul", [g.op("Mul", [x, g.const(np.float32(0.5), "half")]), erf], name="gelu")


#: activations that need no parameters: Keras name -> ONNX op
SIMPLE_ACTIVATIONS = {
    "relu": "Relu",
    "sigmoid": "Sigmoid",
    "tanh": "Tanh",
    "softplus": "Softplus",
    "softsign": "Softsign",
    "exponential": "Exp",
    "selu": "Selu",
    "hard_silu": "HardSwish",
    "hard_swish": "HardSwish",
}
ACTIVATIONS = sorted(
    {
        *SIMPLE_ACTIVATIONS,
        "mish",
        "linear",
        "elu",
        "relu6",
        "leaky_relu",
        "hard_sigmoid",
        "swish",
        "silu",
        "gelu",
        "softmax",
        "log_softmax",
    }
)


def activation(layer: KerasLayer, g: GraphBuilder, x: KTensor, value: Any) -> KTensor:
    """``x`` passed through a Keras activation (given by name or serialized)."""
    name = activation_name(value)
    if name in ("linear", "none"):
        return x
    if name in SIMPLE_ACTIVATIONS:
        return like(x, g.op(SIMPLE_ACTIVATIONS[name], [x.name], name=name))
    if name == "elu":
        return like(x, g.op("Elu", [x.name], alpha=1.0))
    if name == "relu6":
        return like(
            x, g.op("Clip", [x.name, g.const(np.float32(0), "zero"), g.const(np.float32(6), "six")], name="relu6")
        )
    if name == "leaky_relu":
        return like(x, g.op("LeakyRelu", [x.name], alpha=0.2))
    if name == "hard_sigmoid":
        alpha = 0.2 if layer.keras_major < 3 else 1.0 / 6.0
        return like(x, g.op("HardSigmoid", [x.name], alpha=alpha, beta=0.5))
    if name in ("swish", "silu"):
        return like(x, g.op("Mul", [x.name, g.op("Sigmoid", [x.name])], name="swish"))
    if name == "mish":  # ONNX Mish needs opset 18
        return like(x, g.op("Mul", [x.name, g.op("Tanh", [g.op("Softplus", [x.name])])], name="mish"))
    if name == "gelu":
        return like(x, _gelu(g, x.name))
    if name in ("softmax", "log_softmax"):
        op = "Softmax" if name == "softmax" else "LogSoftmax"
        return like(x, g.op(op, [x.name], axis=x.onnx_axis(-1)))
    raise layer.unsupported(f"activation '{name}'")


def int_list(value: Any, n: int) -> list[int]:
    """A Keras int-or-tuple option as a list of ``n`` ints."""
    if isinstance(value, (list, tuple)):
        values = [int(v) for v in value]
        if len(values) == 1 and n > 1:
            values = values * n
        return values
    return [int(value)] * n
