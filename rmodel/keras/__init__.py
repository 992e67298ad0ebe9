"""Keras front end: ``.keras`` / ``.h5`` files, architecture-JSON + weights pairs and live
``keras.Model`` objects, normalised to ONNX and loaded like any ONNX model.

    import rmodel.keras
    m = rmodel.keras.from_keras("model.keras", batch_size=1)
    proto = rmodel.keras.keras_to_onnx("model.h5")          # a plain onnx.ModelProto

Files are read with json, zipfile and h5py only: no TensorFlow or Keras is needed (or imported).
Live models are saved to a temporary ``.keras`` file and read the same way, unless
``converter="tf2onnx"`` is asked for (TensorFlow and tf2onnx needed); SavedModel directories always
go through tf2onnx.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import onnx

from ..errors import ModelLoadError, RModelError
from ..model import RModel
from .graph import GraphBuilder, KTensor
from .layers import layer_table, supported_layers
from .reader import KerasSource, WeightSpec, read_json_and_weights, read_path
from .registry import KerasLayer, register_layer_converter

CONVERTERS_AVAILABLE = ("native", "tf2onnx")


def _is_live_model(source: Any) -> bool:
    return hasattr(source, "get_config") and hasattr(source, "layers") and not isinstance(source, (str, os.PathLike))


def _read(source: Any) -> KerasSource:
    if isinstance(source, tuple):
        if len(source) != 2:
            raise ModelLoadError("give an architecture/weights pair as (arch_json_path_or_text, weights_h5_path)")
        return read_json_and_weights(source[0], source[1])
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.suffix.lower() == ".json":
            return read_json_and_weights(path, None)
        return read_path(path)
    raise ModelLoadError(f"cannot read a Keras model from a {type(source).__name__}")


def keras_to_onnx(
    source: Any, *, batch_size: int | None = None, converter: str = "native", opset: int | None = None
) -> onnx.ModelProto:
    """The model as a clean ONNX ModelProto (opset 17, batch axis symbolic unless ``batch_size``).

    ``source``: a ``.keras`` or ``.h5`` path, an ``(arch.json, weights.h5)`` pair, a ``keras.Model``
    or a SavedModel directory. ``converter``: ``"native"`` (default, no TensorFlow needed for
    files) or ``"tf2onnx"``.
    """
    if converter not in CONVERTERS_AVAILABLE:
        raise ModelLoadError(f"converter must be one of {CONVERTERS_AVAILABLE}, got {converter!r}")
    if isinstance(source, (str, os.PathLike)) and Path(source).is_dir():
        from .tf2onnx_path import saved_model_to_onnx

        return saved_model_to_onnx(Path(source), opset=opset)
    if converter == "tf2onnx":
        if not _is_live_model(source):
            from .tf2onnx_path import load_keras_with_tf

            source = load_keras_with_tf(source)
        from .tf2onnx_path import live_model_to_onnx

        return live_model_to_onnx(source, opset=opset)
    if _is_live_model(source):
        with tempfile.TemporaryDirectory(prefix="rmodel_keras_") as tmp:
            path = Path(tmp) / f"{getattr(source, 'name', None) or 'model'}.keras"
            try:
                source.save(path)
            except Exception as exc:
                raise ModelLoadError(
                    f"the Keras model could not be saved for conversion ({type(exc).__name__}: {exc}); "
                    "try converter='tf2onnx'"
                ) from exc
            return keras_to_onnx(path, batch_size=batch_size)
    from .convert import ModelConverter

    where = str(source[0]) if isinstance(source, tuple) else str(source)
    try:
        read = _read(source)
    except RModelError:
        raise
    except Exception as exc:  # h5py/json/zip oddities of a damaged or forged file
        raise ModelLoadError(f"{where}: cannot be read as a Keras model ({type(exc).__name__}: {exc})") from exc
    try:
        return ModelConverter(read, batch_size).convert()
    except RModelError:
        raise
    except Exception as exc:  # malformed configuration outside any one layer
        raise ModelLoadError(
            f"{read.origin}: the Keras model configuration is malformed ({type(exc).__name__}: {exc})"
        ) from exc
    finally:
        read.close()


def from_keras(
    source: Any, batch_size: int | None = 1, *, converter: str = "native", name: str | None = None, **options: Any
) -> RModel:
    """An RModel from a Keras model (file, arch/weights pair, live model or SavedModel directory)."""
    from ..onnx_loader import from_onnx

    proto = keras_to_onnx(source, converter=converter)
    if name is None:
        if isinstance(source, (str, os.PathLike)):
            name = Path(source).stem
        elif isinstance(source, tuple):
            name = Path(str(source[0])).stem if not str(source[0]).lstrip().startswith("{") else None
        elif _is_live_model(source):
            name = getattr(source, "name", None)
    return from_onnx(proto, batch_size, name=name, **options)


__all__ = [
    "GraphBuilder",
    "KTensor",
    "KerasLayer",
    "WeightSpec",
    "from_keras",
    "keras_to_onnx",
    "layer_table",
    "register_layer_converter",
    "supported_layers",
]
