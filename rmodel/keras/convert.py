"""Walk a Keras model config (Sequential or Functional, nested) and build ONNX layer by layer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx

from ..errors import ModelLoadError, RModelError, UnsupportedOperatorError
from ..naming import comment_text
from .graph import GraphBuilder, KTensor
from .layers import BUILT_IN as _BUILT_IN  # noqa: F401  (importing the layers registers their converters)
from .reader import KerasSource, NoWeights, WeightScope, to_snake_case
from .registry import CALL_ARG_NAMES, CONVERTERS, STATE_COUNT, KerasLayer, converter_key, is_operation

MODEL_CLASSES = ("Sequential", "Functional", "Model")

# ---- model walk --------------------------------------------------------------------------------


def _layers_of(model_cfg: dict[str, Any]) -> list[dict[str, Any]]:
    return list(model_cfg.get("config", {}).get("layers") or [])


def normalize_config(cfg: Any) -> Any:
    """``cfg`` with every Sequential whose ``config`` is a bare list of layers (Keras <= 2.1 files,
    common in physics repositories) rewritten as ``{"name": ..., "layers": [...]}``, nested models
    included, so the walker sees one form only."""
    if isinstance(cfg, list):
        return [normalize_config(item) for item in cfg]
    if not isinstance(cfg, dict):
        return cfg
    out = {key: normalize_config(value) for key, value in cfg.items()}
    if out.get("class_name") in MODEL_CLASSES and isinstance(out.get("config"), list):
        out["config"] = {"name": out.get("name") or "sequential", "layers": out["config"]}
    return out


def find_unsupported(model_cfg: dict[str, Any], path: str = "model") -> dict[str, list[str]]:
    """Layers without a converter: class -> ['name (position)', ...], nested models included."""
    found: dict[str, list[str]] = {}
    for index, layer in enumerate(_layers_of(model_cfg)):
        cls = layer.get("class_name", "?")
        name = layer.get("config", {}).get("name") or layer.get("name") or "?"
        where = f"{path}.layers[{index}]"
        if cls in MODEL_CLASSES:
            for k, v in find_unsupported(layer, f"{where} '{name}'").items():
                found.setdefault(k, []).extend(v)
            continue
        if cls == "InputLayer":
            continue
        key = converter_key(layer)
        if key not in CONVERTERS:
            found.setdefault(key, []).append(f"'{name}' ({where})")
        for key in ("layer", "backward_layer"):
            inner = layer.get("config", {}).get(key)
            if isinstance(inner, dict) and inner.get("class_name") and cls in ("Bidirectional", "TimeDistributed"):
                inner_cls = inner["class_name"]
                if inner_cls not in CONVERTERS and inner_cls not in MODEL_CLASSES:
                    found.setdefault(inner_cls, []).append(
                        f"'{inner.get('config', {}).get('name', '?')}' (inside {where})"
                    )
    return found


def _input_spec(layer: dict[str, Any]) -> tuple[tuple[int | None, ...], np.dtype]:
    cfg = layer.get("config", {})
    shape = cfg.get("batch_shape") or cfg.get("batch_input_shape")
    if shape is None and cfg.get("shape") is not None:
        shape = [None, *cfg["shape"]]
    if shape is None:
        raise ModelLoadError(f"input layer '{cfg.get('name')}' has no shape in the model config")
    dtype = cfg.get("dtype") or "float32"
    if isinstance(dtype, dict):
        dtype = dtype.get("config", {}).get("name", "float32")
    try:
        np_dtype = np.dtype(dtype)
    except TypeError as exc:
        raise ModelLoadError(
            f"input layer '{cfg.get('name')}' has dtype {dtype!r}, which rmodel cannot handle"
        ) from exc
    if np_dtype == np.float64:
        np_dtype = np.dtype(np.float32)
    return tuple(shape), np_dtype


def _history(item: Any) -> tuple[str, int, int] | None:
    """(layer, node, tensor) of a serialized Keras tensor reference, else None."""
    if isinstance(item, dict) and item.get("class_name") == "__keras_tensor__":
        h = item["config"]["keras_history"]
        return str(h[0]), int(h[1]), int(h[2])
    return None


def _flat_refs(value: Any) -> list[tuple[str, int, int]]:
    ref = _history(value)
    if ref is not None:
        return [ref]
    if isinstance(value, (list, tuple)):
        return [r for v in value for r in _flat_refs(v)]
    if isinstance(value, dict) and value.get("class_name") != "__keras_tensor__":
        return [r for v in value.values() for r in _flat_refs(v)]
    return []


def _parse_named(node: Any, call_args: Sequence[str]) -> tuple[list[tuple[str, int, int]], dict[str, Any]]:
    """Inputs of a layer called with several named tensor arguments (``mha(query, value, key=...)``):
    the tensors of ``call_args`` given positionally or by keyword, in ``call_args`` order; which
    ones were given is listed in ``kwargs[CALL_ARG_NAMES]``. Other tensor keywords (masks) stay in
    the keyword arguments for the converter to reject."""
    given: dict[str, Any] = {}
    if isinstance(node, dict):  # Keras 3
        args = node.get("args", [])
        kwargs = dict(node.get("kwargs", {}))
        if len(args) > len(call_args):
            raise ModelLoadError(f"a layer call passes {len(args)} positional arguments; at most {len(call_args)}")
        given.update(zip(call_args, args))
    else:  # Keras 2: [[layer, node, tensor, {"value": [layer, node, tensor], ...}]]
        if len(node) != 1:
            raise ModelLoadError("a layer call with named tensor arguments lists several first arguments")
        entry = node[0]
        kwargs = dict(entry[3]) if len(entry) > 3 and isinstance(entry[3], dict) else {}
        given[call_args[0]] = {"class_name": "__keras_tensor__", "config": {"keras_history": entry[:3]}}
    for name in call_args:
        if name in kwargs:
            value = kwargs.pop(name)
            if isinstance(value, list) and len(value) >= 3 and isinstance(value[0], str):
                value = {"class_name": "__keras_tensor__", "config": {"keras_history": value[:3]}}
            given[name] = value
    refs, names = [], []
    for name in call_args:
        found = _flat_refs(given.get(name))
        if len(found) > 1:
            raise ModelLoadError(f"the layer call's '{name}' argument holds {len(found)} tensors; one expected")
        if found:
            refs.append(found[0])
            names.append(name)
    kwargs[CALL_ARG_NAMES] = names
    return refs, kwargs


#: keyword arguments under which :func:`_parse_node` hands an operation's call on
OP_ARGS, OP_KWARGS = "__op_args__", "__op_kwargs__"


def _parse_operation(node: Any) -> tuple[list[tuple[str, int, int]], dict[str, Any]]:
    """A Keras 3 operation's call: every tensor of its arguments (positional, then keyword, in order)
    and the raw arguments, to be rebuilt with the tensors by :func:`_rebuild`."""
    if not isinstance(node, dict):
        raise ModelLoadError("an operation's call is not recorded as {'args': ..., 'kwargs': ...}")
    args, kwargs = list(node.get("args", [])), dict(node.get("kwargs", {}))
    return _flat_refs(args) + _flat_refs(kwargs), {OP_ARGS: args, OP_KWARGS: kwargs}


def _rebuild(value: Any, tensors: list[KTensor]) -> Any:
    """A serialized call argument with its tensors taken from ``tensors`` (in :func:`_flat_refs`
    order, consumed) and Keras' serialized constants decoded: ``__numpy__`` arrays to numpy,
    ``__tuple__`` to tuples, ``__slice__`` to slices, ``__ellipsis__`` to ``...``."""
    if _history(value) is not None:
        return tensors.pop(0)
    if isinstance(value, list):
        return [_rebuild(v, tensors) for v in value]
    if isinstance(value, dict):
        kind, cfg = value.get("class_name"), value.get("config")
        if kind == "__numpy__" and isinstance(cfg, dict):
            return np.asarray(cfg.get("value"), dtype=cfg.get("dtype"))
        if kind == "__tuple__" and isinstance(cfg, dict):
            return tuple(_rebuild(v, tensors) for v in cfg.get("value", []))
        if kind == "__slice__" and isinstance(cfg, dict):
            return slice(cfg.get("start"), cfg.get("stop"), cfg.get("step"))
        if kind == "__ellipsis__":
            return Ellipsis
        return {k: _rebuild(v, tensors) for k, v in value.items()}
    return value


def _parse(layer: dict[str, Any], node: Any) -> tuple[list[tuple[str, int, int]], dict[str, Any]]:
    """Inputs and keyword arguments of one inbound node of ``layer`` (a layer or an operation)."""
    if is_operation(layer):
        return _parse_operation(node)
    return _parse_node(node, _call_args(layer))


def _parse_node(node: Any, call_args: Sequence[str] | None = None) -> tuple[list[tuple[str, int, int]], dict[str, Any]]:
    """Inputs (flattened first argument, then any initial states) and keyword arguments of one
    inbound node. Initial states (``initial_state=`` or the second positional argument) are appended
    to the inputs and counted in ``kwargs[STATE_COUNT]``; Keras 2 configs list them as inputs already.
    ``call_args``: the layer's named tensor arguments (see :func:`_parse_named`)."""
    if call_args:
        return _parse_named(node, call_args)
    if isinstance(node, dict):  # Keras 3: {"args": [...], "kwargs": {...}}
        args = node.get("args", [])
        named: dict[str, Any] = dict(node.get("kwargs", {}))
        refs = _flat_refs(args[0]) if args else []
        states = _flat_refs(args[1]) if len(args) > 1 else []
        states += _flat_refs(named.pop("initial_state", None))
        for extra in args[2:]:
            if _flat_refs(extra):
                raise ModelLoadError("a layer call passes tensors as extra positional arguments; not supported")
        if states:
            named[STATE_COUNT] = len(states)
        return refs + states, named
    # Keras 2: [[layer, node, tensor, kwargs], ...]
    refs = []
    kwargs: dict[str, Any] = {}
    for entry in node:
        refs.append((str(entry[0]), int(entry[1]), int(entry[2])))
        if len(entry) > 3 and isinstance(entry[3], dict):
            kwargs.update(entry[3])
    return refs, kwargs


def _io_refs(value: Any) -> list[tuple[str, int, int]]:
    """input_layers / output_layers: [name, node, tensor] or a list of those (or a dict)."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str) and isinstance(value[1], int):
        return [(value[0], value[1], value[2])]
    return [(str(v[0]), int(v[1]), int(v[2])) for v in value]


class ModelConverter:
    """Converts one KerasSource into an ONNX ModelProto."""

    def __init__(self, source: KerasSource, batch_size: int | None = None):
        self.source = source
        self.batch_size = batch_size
        self.graph = GraphBuilder(source.name)

    def convert(self) -> onnx.ModelProto:
        cfg = normalize_config(self.source.config)
        if cfg.get("class_name") not in MODEL_CLASSES:
            raise ModelLoadError(
                f"{self.source.origin}: the top-level object is a '{cfg.get('class_name')}', not a Sequential or "
                "Functional model; subclassed models cannot be read from their config (use converter='tf2onnx')"
            )
        unsupported = find_unsupported(cfg)
        if unsupported:
            lines = [f"  - {cls}: {', '.join(where)}" for cls, where in sorted(unsupported.items())]
            raise UnsupportedOperatorError(
                f"{self.source.origin}: the model uses {len(unsupported)} Keras layer class(es) rmodel cannot convert:\n"
                + "\n".join(lines)
                + "\nRegister a converter with rmodel.keras.register_layer_converter(class_name, fn) "
                "(see rmodel.keras.supported_layers()), or convert with converter='tf2onnx'.",
                {cls: [w.split(" ")[0].strip("'") for w in where] for cls, where in unsupported.items()},
            )
        inputs = self._model_inputs(cfg)
        outputs, names = self.run_model(cfg, self.source.weights, inputs, "model")
        used: set[str] = set()
        for tensor, name in zip(outputs, names):
            self.graph.add_output(tensor, name if name not in used else f"{name}_out")
            used.add(name)
        model = self.graph.model()
        onnx.checker.check_model(model)
        return model

    # ---- inputs ---------------------------------------------------------------------------
    def _model_inputs(self, cfg: dict[str, Any]) -> list[KTensor]:
        layers = _layers_of(cfg)
        if cfg["class_name"] == "Sequential":
            first = layers[0] if layers else None
            if first is None:
                raise ModelLoadError(f"{self.source.origin}: the Sequential model has no layers")
            if first.get("class_name") == "InputLayer":
                shape, dtype = _input_spec(first)
                name = first["config"].get("name", "input")
            else:
                shape = first.get("config", {}).get("batch_input_shape") or cfg["config"].get("build_input_shape")
                if shape is None and first.get("build_config"):
                    shape = first["build_config"].get("input_shape")
                if shape is None and first.get("class_name") in MODEL_CLASSES:
                    return self._model_inputs(first)  # a nested model first: its input is the model's
                if shape is None:
                    raise ModelLoadError(
                        f"{self.source.origin}: the Sequential model was never built (no input shape in its config); "
                        "build it with an Input layer before saving"
                    )
                dtype = np.dtype(np.float32)
                name = "input"
            return [self.graph.add_input(name, tuple(shape), dtype, self.batch_size)]
        by_name = {layer_name(layer): layer for layer in layers}
        tensors = []
        for ref in _io_refs(cfg["config"]["input_layers"]):
            layer = by_name.get(ref[0])
            if layer is None or layer.get("class_name") != "InputLayer":
                raise ModelLoadError(f"{self.source.origin}: model input '{ref[0]}' is not an InputLayer of the model")
            shape, dtype = _input_spec(layer)
            tensors.append(self.graph.add_input(ref[0], shape, dtype, self.batch_size))
        return tensors

    # ---- models ---------------------------------------------------------------------------
    def run_model(
        self, cfg: dict[str, Any], scope: WeightScope, inputs: list[KTensor], path: str
    ) -> tuple[list[KTensor], list[str]]:
        """Convert the layers of a (nested) model applied to ``inputs``; return its outputs and names."""
        layers = _layers_of(cfg)
        snakes = _snake_names(layers)
        if cfg["class_name"] == "Sequential":
            if len(inputs) != 1:
                raise ModelLoadError(f"{path}: a Sequential model takes one input, got {len(inputs)}")
            x = inputs[0]
            last = "output"
            for index, layer in enumerate(layers):
                if layer.get("class_name") == "InputLayer":
                    continue
                outs = self.call_layer(layer, snakes[index], scope, [x], {}, f"{path}.layers[{index}]")
                if len(outs) != 1:
                    raise ModelLoadError(f"{path}.layers[{index}]: a layer in a Sequential model must have one output")
                x, last = outs[0], layer_name(layer)
            return [x], [last]

        config = cfg["config"]
        available: dict[tuple[str, int, int], KTensor] = {}
        for ref, tensor in zip(_io_refs(config["input_layers"]), inputs):
            available[ref] = tensor
        # Nested models built on an Input own a first node that configs leave out, so references
        # to their calls count from 1 (Keras 3 for Functional, Keras 2 for both model classes).
        highest: dict[str, int] = {}
        all_refs = [r for layer in layers for n in layer.get("inbound_nodes") or [] for r in _parse(layer, n)[0]]
        for ref in all_refs + _io_refs(config["output_layers"]):
            highest[ref[0]] = max(highest.get(ref[0], -1), ref[1])
        pending: list[tuple[int, int, Any]] = []
        for index, layer in enumerate(layers):
            if layer.get("class_name") == "InputLayer":
                continue
            nodes = layer.get("inbound_nodes") or []
            offset = int(layer.get("class_name") in MODEL_CLASSES and highest.get(layer_name(layer), -1) >= len(nodes))
            for node_index, node in enumerate(nodes):
                pending.append((index, node_index + offset, node))
        while pending:
            progress = False
            remaining = []
            for index, node_index, node in pending:
                refs, kwargs = _parse(layers[index], node)
                if not all(r in available for r in refs):
                    remaining.append((index, node_index, node))
                    continue
                layer = layers[index]
                outs = self.call_layer(
                    layer, snakes[index], scope, [available[r] for r in refs], kwargs, f"{path}.layers[{index}]"
                )
                for tensor_index, tensor in enumerate(outs):
                    available[(layer_name(layer), node_index, tensor_index)] = tensor
                progress = True
            if not progress:
                missing = sorted({r[0] for i, _, n in remaining for r in _parse(layers[i], n)[0] if r not in available})
                raise ModelLoadError(f"{path}: the model graph cannot be resolved; layers {missing} produce no tensors")
            pending = remaining
        outputs, names = [], []
        for ref in _io_refs(config["output_layers"]):
            if ref not in available:
                raise ModelLoadError(f"{path}: model output {list(ref)} is produced by no layer")
            outputs.append(available[ref])
            names.append(ref[0])
        return outputs, names

    def call_layer(
        self,
        layer: dict[str, Any],
        snake: str,
        scope: WeightScope,
        inputs: list[KTensor],
        kwargs: dict[str, Any],
        position: str,
    ) -> list[KTensor]:
        cls = layer.get("class_name", "?")
        name = layer_name(layer)
        if cls in MODEL_CLASSES:
            outs, _ = self.run_model(layer, scope.submodel(name, snake), inputs, f"{position} '{name}'")
            return outs
        key = converter_key(layer)
        fn = CONVERTERS[key]
        if OP_ARGS in kwargs:  # an operation: no weights, its arguments rebuilt around the tensors
            pending = list(inputs)
            args, op_kwargs = _rebuild(kwargs[OP_ARGS], pending), _rebuild(kwargs[OP_KWARGS], pending)
            ctx = KerasLayer(
                layer, inputs, NoWeights(), position, self.source.keras_major, {}, key=key, args=args, kwargs=op_kwargs
            )
        else:
            given = {arg: kwargs.get(arg) for arg in ("mask", "initial_state", "constants")}
            if kwargs.get(STATE_COUNT) and not getattr(fn, "takes_initial_state", False):
                given["initial_state"] = kwargs[STATE_COUNT]
            for arg, value in given.items():
                if value is not None:
                    raise KerasLayer(
                        layer, inputs, scope.layer(name, snake), position, self.source.keras_major, key=key
                    ).unsupported(f"calling the layer with '{arg}'")
            ctx = KerasLayer(
                layer, inputs, scope.layer(name, snake), position, self.source.keras_major, kwargs, key=key
            )
        previous = self.graph.scope
        self.graph.scope = f"{name}/"
        try:
            result = fn(ctx, self.graph)
        except RModelError:
            raise
        except Exception as exc:  # a malformed config reaching a converter must say where it is
            raise ModelLoadError(
                f"{self.source.origin}: {position} '{comment_text(name)}' ({comment_text(key)}) cannot be converted: "
                f"its configuration or weights are malformed ({type(exc).__name__}: {exc})"
            ) from exc
        finally:
            self.graph.scope = previous
        items = [result] if isinstance(result, (KTensor, str)) else list(result)
        return [
            self.graph.tensor(item, (None, *self.graph.onnx_shape(item)[1:]), self.graph.onnx_dtype(item))
            if isinstance(item, str)
            else item
            for item in items
        ]


def _call_args(layer: dict[str, Any]) -> Sequence[str] | None:
    """The named tensor arguments of the layer's converter (``fn.call_args``), if it declares any."""
    fn = CONVERTERS.get(converter_key(layer))
    return getattr(fn, "call_args", None)


def layer_name(layer: dict[str, Any]) -> str:
    return str(layer.get("config", {}).get("name") or layer.get("name") or "?")


def _snake_names(layers: list[dict[str, Any]]) -> list[str]:
    """The group names Keras gives a container's layers in ``.keras`` weight files (operations are
    not layers: they have no group and take no number)."""
    used: dict[str, int] = {}
    names = []
    for layer in layers:
        if is_operation(layer):
            names.append("")
            continue
        base = to_snake_case(layer.get("class_name", "layer"))
        if base in used:
            used[base] += 1
            names.append(f"{base}_{used[base]}")
        else:
            used[base] = 0
            names.append(base)
    return names
