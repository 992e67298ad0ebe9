"""The tf2onnx path: live Keras models and SavedModel directories through TensorFlow.

TensorFlow and tf2onnx are optional (``pip install rmodel-codegen[tf]``) and imported only here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import onnx

from ..errors import ModelLoadError
from .graph import OPSET


def _tf() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        import tensorflow as tf
    except ImportError as exc:
        raise ModelLoadError(
            "this conversion needs TensorFlow (live models with converter='tf2onnx' and SavedModel directories); "
            "install it with: pip install rmodel-codegen[tf]  (Keras files convert without it using converter='native')"
        ) from exc
    return tf


def _tf2onnx() -> Any:
    _tf()
    try:
        import tf2onnx
    except ImportError as exc:
        raise ModelLoadError("converter='tf2onnx' needs tf2onnx: pip install rmodel-codegen[tf]") from exc
    return tf2onnx


def _convert(function: Any, signature: list[Any], opset: int | None) -> onnx.ModelProto:
    tf2onnx = _tf2onnx()
    try:
        proto, _ = tf2onnx.convert.from_function(function, input_signature=signature, opset=opset or OPSET)
    except Exception as exc:
        raise ModelLoadError(f"tf2onnx could not convert the model: {type(exc).__name__}: {exc}") from exc
    return proto


def live_model_to_onnx(model: Any, opset: int | None = None) -> onnx.ModelProto:
    """Convert a live ``keras.Model`` with tf2onnx via a ``tf.function`` wrapper (works for Keras 3
    Sequential models too, where ``tf2onnx.convert.from_keras`` does not)."""
    tf = _tf()
    inputs = getattr(model, "inputs", None)
    if not inputs:
        raise ModelLoadError("the Keras model has no defined inputs; build it with keras.Input before converting")
    signature = [
        tf.TensorSpec(t.shape, t.dtype, name=str(getattr(t, "name", f"input_{i}")).split(":")[0].replace("/", "_"))
        for i, t in enumerate(inputs)
    ]

    @tf.function
    def call(*args: Any) -> Any:
        return model(list(args) if len(args) > 1 else args[0], training=False)

    return _convert(call, signature, opset)


def load_keras_with_tf(source: Any) -> Any:
    """Load a Keras file (or arch/weights pair) with Keras itself, for the tf2onnx path."""
    _tf()
    import keras

    try:
        if isinstance(source, tuple):
            arch = Path(source[0])
            model = keras.models.model_from_json(arch.read_text() if arch.is_file() else str(source[0]))
            model.load_weights(str(source[1]))
            return model
        return keras.models.load_model(str(source), compile=False)
    except Exception as exc:
        raise ModelLoadError(f"Keras could not load {source}: {type(exc).__name__}: {exc}") from exc


def saved_model_to_onnx(path: Path, opset: int | None = None) -> onnx.ModelProto:
    """Convert the ``serving_default`` signature of a TensorFlow SavedModel directory."""
    if not (path / "saved_model.pb").is_file():
        raise ModelLoadError(f"{path} is a directory but not a TensorFlow SavedModel (no saved_model.pb)")
    tf = _tf()
    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as exc:
        raise ModelLoadError(f"TensorFlow could not load the SavedModel {path}: {exc}") from exc
    signature = loaded.signatures.get("serving_default") if hasattr(loaded, "signatures") else None
    if signature is None:
        raise ModelLoadError(f"the SavedModel {path} has no 'serving_default' signature")
    _, kwargs = signature.structured_input_signature
    names = sorted(kwargs)
    specs = [tf.TensorSpec(kwargs[n].shape, kwargs[n].dtype, name=n) for n in names]

    @tf.function
    def call(*args: Any) -> Any:
        outputs = signature(**dict(zip(names, args)))
        return [outputs[k] for k in sorted(outputs)]

    return _convert(call, specs, opset)
