"""Model sparsity, and taking rmodel's regularizers out of a model."""

from __future__ import annotations

from typing import Any

import numpy as np

from .regularizers import CUSTOM_REGULARIZERS


def _layers(model: Any) -> list[Any]:
    out: list[Any] = []
    for layer in model.layers:
        nested = getattr(layer, "layers", None)
        out += _layers(layer) if isinstance(nested, list) and nested else [layer]
    return out


def get_model_sparsity(model: Any) -> tuple[float, dict[str, float]]:
    """Fraction of zero kernel weights in the whole model and per layer (layers with a kernel)."""
    zeros = total = 0
    per_layer = {}
    for layer in _layers(model):
        kernel = getattr(layer, "kernel", None)
        if kernel is None:
            continue
        values = np.asarray(kernel)
        z = int(values.size - np.count_nonzero(values))
        per_layer[layer.name] = z / values.size if values.size else 0.0
        zeros, total = zeros + z, total + values.size
    return (zeros / total if total else 0.0), per_layer


def remove_custom_regularizers(model: Any) -> Any:
    """Drop rmodel's DenseRegularizer/ConvRegularizer from every layer (in place; returns the model),
    so the model saves and loads where rmodel is not installed."""
    for layer in _layers(model):
        if isinstance(getattr(layer, "kernel_regularizer", None), CUSTOM_REGULARIZERS):
            layer.kernel_regularizer = None
        for variable in layer.weights:
            if isinstance(getattr(variable, "regularizer", None), CUSTOM_REGULARIZERS):
                variable.regularizer = None
    return model
