"""The registry of Keras layer converters: Keras class name -> function building its ONNX.

Layer modules (``rmodel.keras.layers.*``) register built-in converters with ``@converter``; users
add theirs with ``register_layer_converter``. The model walker (``rmodel.keras.convert``) reads it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import ModelLoadError, UnsupportedOperatorError
from ..registry import Registry
from .graph import GraphBuilder, KTensor
from .reader import LayerWeights, WeightSpec

#: keyword argument telling a converter how many of its last inputs are initial states
STATE_COUNT = "initial_state_count"

#: keyword argument listing the call argument each input came from (converters with ``call_args``)
CALL_ARG_NAMES = "call_arg_names"

#: what a converter may return: one tensor, several, or ONNX names (Keras layout)
ConverterResult = KTensor | str | Sequence[KTensor | str]
Converter = Callable[["KerasLayer", GraphBuilder], ConverterResult]

#: Keras class name -> converter
CONVERTERS: Registry[Converter] = Registry("converter for Keras layer class")
#: decorator registering a built-in converter for the given Keras layer classes
converter = CONVERTERS.register


def register_layer_converter(class_name: str, fn: Converter, *, replace: bool = False) -> None:
    """Let rmodel convert Keras layers of class ``class_name`` with ``fn(layer, graph)``.

    ``layer`` is a :class:`KerasLayer` (config, inputs, weights); ``graph`` is the
    :class:`GraphBuilder` to add ONNX nodes to. ``fn`` returns the output tensor(s): a
    :class:`KTensor` or the name of an ONNX tensor in Keras (channels-last) layout. Set
    ``fn.takes_initial_state = True`` if ``fn`` handles calls with ``initial_state=``: the states then
    follow the first input in ``layer.inputs``.
    """
    if not callable(fn):
        raise TypeError("register_layer_converter needs a callable fn(layer, graph)")
    CONVERTERS.add(class_name, fn, replace=replace)


class KerasLayer:
    """A Keras layer call as a converter sees it."""

    def __init__(
        self,
        cfg: dict[str, Any],
        inputs: list[KTensor],
        weights: LayerWeights,
        position: str,
        keras_major: int,
        call_kwargs: dict[str, Any] | None = None,
    ):
        self.class_name: str = cfg.get("class_name", "?")
        self.config: dict[str, Any] = cfg.get("config", {})
        self.name: str = self.config.get("name") or cfg.get("name") or self.class_name.lower()
        self.inputs = inputs
        self._weights = weights
        self.position = position
        self.keras_major = keras_major
        self.call_kwargs = call_kwargs or {}

    @property
    def input(self) -> KTensor:
        if len(self.inputs) != 1:
            raise self.fail(f"expects one input, got {len(self.inputs)}")
        return self.inputs[0]

    def get(self, key: str, default: Any = None) -> Any:
        return self.config.get(key, default)

    def weights(self, specs: Sequence[WeightSpec]) -> dict[str, np.ndarray]:
        """The layer's variables, checked against ``specs`` (names, places and shapes)."""
        return self._weights.fetch(specs, self.name)

    def weight_list(self) -> list[np.ndarray]:
        """Every stored variable of the layer in file order (for custom converters)."""
        return self._weights.all()

    def fail(self, message: str) -> ModelLoadError:
        return ModelLoadError(f"Keras layer '{self.name}' ({self.class_name}, {self.position}): {message}")

    def unsupported(self, option: str) -> UnsupportedOperatorError:
        return UnsupportedOperatorError(
            f"Keras layer '{self.name}' ({self.class_name}, {self.position}): {option} is not supported by rmodel's "
            "Keras converter; try converter='tf2onnx' or register your own converter with "
            "rmodel.keras.register_layer_converter",
            {self.class_name: [self.name]},
        )
