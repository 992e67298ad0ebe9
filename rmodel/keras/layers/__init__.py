"""Built-in converters from Keras layers to ONNX, one module per layer family."""

from __future__ import annotations

from typing import Any

from ..registry import CONVERTERS, OPS_PACKAGE
from . import applications, attention, conv, core, merge, ops, recurrent
from .common import ACTIVATIONS
from .recurrent import RECURRENT_ACTIVATIONS

#: the modules whose import registers the built-in converters
BUILT_IN = (applications, attention, conv, core, merge, ops, recurrent)


def supported_layers() -> list[str]:
    """Keras layer classes the native converter handles (built-in and registered)."""
    return sorted(CONVERTERS)


def _rows(keys: list[str], show: Any) -> list[str]:
    groups: dict[Any, list[str]] = {}
    for key in sorted(keys):
        groups.setdefault(CONVERTERS[key], []).append(key)
    rows = []
    for fn, names in sorted(groups.items(), key=lambda item: show(item[1][0])):
        doc = (fn.__doc__ or "custom converter").strip().splitlines()[0]
        rows.append(f"| {', '.join(show(n) for n in names)} | {doc} |")
    return rows


def layer_table() -> str:
    """Markdown tables of the supported Keras layers and operations and the ONNX they become (from
    the registry)."""
    ops_prefix = OPS_PACKAGE + "."
    layers = [k for k in CONVERTERS if not k.startswith(ops_prefix)]
    operations = [k for k in CONVERTERS if k.startswith(ops_prefix)]
    rows = [
        "| Keras layers | ONNX |",
        "|---|---|",
        "| InputLayer, Sequential, Functional (nested) | graph inputs, inlined |",
        *_rows(layers, lambda key: key),
        "",
        "Keras 3 operations on tensors (`keras.ops` functions and Python operators on Keras tensors, saved "
        f"as classes of `{OPS_PACKAGE}`):",
        "",
        "| Keras operations | ONNX |",
        "|---|---|",
        *_rows(operations, lambda key: key[len(ops_prefix) :]),
        "",
        "Activations (Activation layer and `activation=` options): " + ", ".join(ACTIVATIONS) + ".",
        "",
        "Activations inside LSTM, GRU and SimpleRNN (`activation=`, `recurrent_activation=`): "
        + ", ".join(RECURRENT_ACTIVATIONS)
        + ".",
    ]
    return "\n".join(rows)


__all__ = ["BUILT_IN", "layer_table", "supported_layers"]
