"""rmodel: turn trained neural networks into fast, dependency-free C++ for CPUs and FPGAs.

import rmodel
m = rmodel.from_onnx("model.onnx", batch_size=1)
m.generate("model.hxx")          # self-contained C++17 header
net = m.compile()                # Python module built from that header (cached)
y = net.predict(x)
print(rmodel.verify(m))          # compare with onnxruntime
"""

from __future__ import annotations

from . import emitters  # noqa: F401  (importing it registers the code-generation targets: cpu, hls)
from ._version import __version__
from .errors import (
    BuildError,
    DTypeError,
    LimitExceededError,
    ModelLoadError,
    RModelError,
    ShapeError,
    UnsupportedOperatorError,
)
from .model import RModel
from .onnx_loader import from_onnx
from .serialize import load
from .tensor import TensorInfo
from .verify import VerifyReport, verify


def from_keras(source, batch_size: int | None = 1, **options) -> RModel:
    """An RModel from a Keras model: a ``.keras``/``.h5`` file, an ``(arch.json, weights.h5)`` pair,
    a live ``keras.Model`` or a SavedModel directory. Files need no TensorFlow.
    Options: ``converter="native"|"tf2onnx"``, ``name``, and those of ``from_onnx``."""
    from .keras import from_keras as _from_keras

    return _from_keras(source, batch_size=batch_size, **options)


def keras_to_onnx(source, **options):
    """The normalised ONNX ModelProto rmodel makes of a Keras model (valid for onnx.checker)."""
    from .keras import keras_to_onnx as _keras_to_onnx

    return _keras_to_onnx(source, **options)


def supported_operators() -> list[str]:
    """ONNX op types rmodel generates code for."""
    from .operators import supported_operators as _supported

    return _supported()


__all__ = [
    "BuildError",
    "DTypeError",
    "LimitExceededError",
    "ModelLoadError",
    "RModel",
    "RModelError",
    "ShapeError",
    "TensorInfo",
    "UnsupportedOperatorError",
    "VerifyReport",
    "__version__",
    "from_keras",
    "from_onnx",
    "keras_to_onnx",
    "load",
    "supported_operators",
    "verify",
]
