"""The registry of Keras layer converters: Keras class -> function building its ONNX.

Layer modules (``rmodel.keras.layers.*``) register built-in converters with ``@converter``; users
add theirs with ``register_layer_converter``. The model walker (``rmodel.keras.convert``) reads it.

A converter is found by :func:`converter_key`. Layers are registered under their class name
(``Dense``), whatever module the file names (``keras.layers``, ``keras.src.layers.core.dense``, a
user package). Where the class name alone is ambiguous the key includes the module: Keras 3
operations on tensors (``x + 3.0``, ``keras.ops.mean``) are saved as functional nodes of classes in
``keras.src.ops.*`` whose names clash with layers (``Add``, ``Reshape``, ``Concatenate``), and are
registered as ``keras.src.ops.numpy.Add``; classes defined inside Keras Applications are registered
as ``keras.src.applications.convnext.LayerScale``.
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

#: converter key (class name, or module.ClassName for operations and Keras Applications classes) -> converter
CONVERTERS: Registry[Converter] = Registry("converter for Keras layer class")
#: decorator registering a built-in converter for the given Keras layer classes
converter = CONVERTERS.register

#: the package of Keras 3's operation classes (``keras.src.ops.numpy``, ``.nn``, ``.math``, ``.core``)
OPS_PACKAGE = "keras.src.ops"


def _ops_by_class() -> dict[str, str]:
    return {key.rsplit(".", 1)[1]: key for key in CONVERTERS if key.startswith(OPS_PACKAGE + ".")}


def _qualified_by_class() -> dict[str, str]:
    """Class name -> key of the module-qualified converters that are not operations (Keras
    Applications classes), for files that do not record modules."""
    return {key.rsplit(".", 1)[1]: key for key in CONVERTERS if "." in key and not key.startswith(OPS_PACKAGE + ".")}


def is_operation(cfg: dict[str, Any]) -> bool:
    """Whether a functional node is a Keras 3 operation (``keras.src.ops.*``), not a layer.

    ``.keras`` files and ``to_json()`` record the module; Keras 3's legacy ``.h5`` writer does not,
    but an operation's config lacks the ``trainable`` entry every layer's config has (and its call
    is recorded as ``{"args": ..., "kwargs": ...}``, Keras 3 only). Without a module only operations
    rmodel converts are recognized (so a custom layer whose config lacks ``trainable`` keeps its
    class name)."""
    module = cfg.get("module")
    if isinstance(module, str):
        return module == OPS_PACKAGE or module.startswith(OPS_PACKAGE + ".")
    config = cfg.get("config")
    nodes = cfg.get("inbound_nodes")
    return (
        isinstance(config, dict)
        and "trainable" not in config
        and isinstance(nodes, list)
        and bool(nodes)
        and isinstance(nodes[0], dict)
        and cfg.get("class_name") in _ops_by_class()
    )


def converter_key(cfg: dict[str, Any]) -> str:
    """The registry key of a layer (or operation) config: ``module.ClassName`` where a converter is
    registered under it or the class is an operation, else the class name."""
    cls = str(cfg.get("class_name", "?"))
    module = cfg.get("module")
    if is_operation(cfg):
        return f"{module}.{cls}" if isinstance(module, str) else _ops_by_class()[cls]
    if isinstance(module, str) and f"{module}.{cls}" in CONVERTERS:
        return f"{module}.{cls}"
    if not module and cls not in CONVERTERS:
        return _qualified_by_class().get(cls, cls)
    return cls


def register_layer_converter(class_name: str, fn: Converter, *, replace: bool = False) -> None:
    """Let rmodel convert Keras layers of class ``class_name`` with ``fn(layer, graph)``.

    ``class_name`` is the class name (``"ScaledTanh"``: any module), or ``"module.ClassName"`` as the
    file records it (``"keras.src.ops.numpy.Cumsum"``) for a converter of that class only.

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
        key: str | None = None,
        args: list[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
    ):
        self.class_name: str = cfg.get("class_name", "?")
        #: the registry key the converter was found under (``module.ClassName`` for operations)
        self.key: str = key or self.class_name
        #: operations: the call's positional and keyword arguments, tensors as KTensors and
        #: constants as numpy arrays (Python scalars stay Python scalars)
        self.args: list[Any] = args or []
        self.kwargs: dict[str, Any] = kwargs or {}
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
        return ModelLoadError(f"Keras layer '{self.name}' ({self.key}, {self.position}): {message}")

    def unsupported(self, option: str) -> UnsupportedOperatorError:
        return UnsupportedOperatorError(
            f"Keras layer '{self.name}' ({self.key}, {self.position}): {option} is not supported by rmodel's "
            "Keras converter; try converter='tf2onnx' or register your own converter with "
            "rmodel.keras.register_layer_converter",
            {self.key: [self.name]},
        )
