"""Built-in converters from Keras layers to ONNX, one module per layer family."""

from __future__ import annotations

from typing import Any

from ..registry import CONVERTERS
from . import applications, attention, conv, core, merge, ops, recurrent
from .common import ACTIVATIONS
from .recurrent import RECURRENT_ACTIVATIONS

#: the modules whose import registers the built-in converters
BUILT_IN = (applications, attention, conv, core, merge, ops, recurrent)


def supported_layers() -> list[str]:
    """Keras layer classes the native converter handles (built-in and registered)."""
    return sorted(CONVERTERS)


def layer_table() -> str:
    """Markdown table of the supported Keras layers and the ONNX they become (from the registry)."""
    groups: dict[Any, list[str]] = {}
    for name in sorted(CONVERTERS):
        groups.setdefault(CONVERTERS[name], []).append(name)
    rows = [
        "| Keras layers | ONNX |",
        "|---|---|",
        "| InputLayer, Sequential, Functional (nested) | graph inputs, inlined |",
    ]
    for fn, names in sorted(groups.items(), key=lambda item: item[1][0]):
        doc = (fn.__doc__ or "custom converter").strip().splitlines()[0]
        rows.append(f"| {', '.join(names)} | {doc} |")
    rows.append("")
    rows.append("Activations (Activation layer and `activation=` options): " + ", ".join(ACTIVATIONS) + ".")
    rows.append("")
    rows.append(
        "Activations inside LSTM, GRU and SimpleRNN (`activation=`, `recurrent_activation=`): "
        + ", ".join(RECURRENT_ACTIVATIONS)
        + "."
    )
    return "\n".join(rows)


__all__ = ["BUILT_IN", "layer_table", "supported_layers"]
