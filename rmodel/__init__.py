"""rmodel: turn trained neural networks into fast, dependency-free C++ for CPUs and FPGAs.

import rmodel
m = rmodel.from_onnx("model.onnx", batch_size=1)
m.generate("model.hxx")          # self-contained C++17 header
net = m.compile()                # Python module built from that header (cached)
y = net.predict(x)
print(rmodel.verify(m))          # compare with onnxruntime
"""

from __future__ import annotations

__version__ = "0.1.0"

# In a source checkout, rmodel.operators and rmodel.emitters live in the top-level operators/ and
# emitters/ folders (an install maps them into the package). Make the checkout import the same way,
# so that `python3 -m rmodel` from the repository root works whatever is installed.
import os as _os  # noqa: E402

_checkout = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
if _os.path.isfile(_os.path.join(_checkout, "operators", "__init__.py")) and _os.path.isfile(
    _os.path.join(_checkout, "pyproject.toml")
):
    __path__.append(_checkout)  # type: ignore[name-defined]  # noqa: F821
del _checkout

from .errors import (  # noqa: E402
    BuildError,
    DTypeError,
    LimitExceededError,
    ModelLoadError,
    RModelError,
    ShapeError,
    UnsupportedOperatorError,
)
from .model import RModel  # noqa: E402
from .onnx_loader import from_onnx  # noqa: E402
from .serialize import load  # noqa: E402
from .tensor import TensorInfo  # noqa: E402
from .verify import VerifyReport, verify  # noqa: E402


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
