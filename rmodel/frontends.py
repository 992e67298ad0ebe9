"""Pick the front end for a model given by path or object."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .errors import ModelLoadError
from .model import RModel

KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")


def load_model(source: Any, batch_size: int | None = 1, **options: Any) -> RModel:
    """An RModel from an .onnx / .keras / .h5 / .rmodel file, a SavedModel directory, an
    onnx.ModelProto or a keras.Model."""
    from .onnx_loader import from_onnx

    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        suffix = path.suffix.lower()
        if suffix == ".onnx":
            return from_onnx(path, batch_size, **options)
        if suffix == ".rmodel":
            from .serialize import load

            if options or batch_size != 1:
                raise ModelLoadError(".rmodel files keep the options they were saved with; give none")
            return load(path)
        if suffix in KERAS_SUFFIXES or path.is_dir():
            from .keras import from_keras

            return from_keras(path, batch_size=batch_size, **options)
        if not path.exists():
            raise ModelLoadError(f"{path}: no such file")
        raise ModelLoadError(
            f"{path}: unknown model format '{suffix}'; rmodel reads .onnx, .keras, .h5, .rmodel files "
            "and TensorFlow SavedModel directories"
        )
    if type(source).__name__ == "ModelProto":
        return from_onnx(source, batch_size, **options)
    from .keras import from_keras

    return from_keras(source, batch_size=batch_size, **options)
