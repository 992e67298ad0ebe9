"""Keras Applications, whole: each network (seeded, ``weights=None``, a small input) is saved as
``.keras`` and as ``.h5``; both files must convert to the same C++, which must compile and pass
``verify`` (1e-6 against onnxruntime, or no less accurate than onnxruntime against a float64
evaluation of the same ONNX) and agree with Keras' own predict.

Batch-norm statistics are randomized (Keras initializes them to the identity, which would test the
folding of BatchNormalization into the convolutions away).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from keras_models import keras_outputs, randomize_batch_norm  # noqa: E402

import rmodel  # noqa: E402
from rmodel.verify import KERAS_RTOL, verify  # noqa: E402

pytestmark = pytest.mark.slow

#: name: (input side, input range). "pixels" (0..255) for networks that carry their own
#: preprocessing layers, "unit" (-1..1) for those that expect preprocessed inputs.
APPLICATIONS: dict[str, tuple[int, str]] = {
    "MobileNetV2": (32, "unit"),
    "MobileNetV3Small": (32, "pixels"),
    "MobileNetV3Large": (32, "pixels"),
    "ResNet50": (32, "unit"),
    "ResNet50V2": (32, "unit"),
    "EfficientNetB0": (32, "pixels"),
    "EfficientNetV2B0": (32, "pixels"),
    "DenseNet121": (32, "unit"),
    "NASNetMobile": (32, "unit"),
    "Xception": (71, "unit"),
    "InceptionV3": (75, "unit"),
    "InceptionResNetV2": (75, "unit"),
    "ConvNeXtTiny": (32, "pixels"),
}


def _application(name: str, side: int) -> Any:
    import keras

    keras.utils.set_random_seed(0)
    model = getattr(keras.applications, name)(weights=None, input_shape=(side, side, 3), classifier_activation=None)
    return randomize_batch_norm(model)


@pytest.mark.parametrize("name", list(APPLICATIONS))
def test_keras_application(name: str, tmp_path: Path) -> None:
    side, kind = APPLICATIONS[name]
    model = _application(name, side)
    model.save(tmp_path / f"{name}.keras")
    model.save(tmp_path / f"{name}.h5")
    from_keras_v3 = rmodel.from_keras(tmp_path / f"{name}.keras")
    from_h5 = rmodel.from_keras(tmp_path / f"{name}.h5")
    # with the weights in side files: comparing embedded weights as text costs more than building
    header = from_keras_v3.generate(tmp_path / "keras.hxx", weights="file")
    assert from_h5.generate(tmp_path / "h5.hxx", weights="file") == header, (
        "the .keras and .h5 files of one network must give the same C++"
    )
    weights = (tmp_path / "keras.hxx.weights").read_bytes()
    assert (tmp_path / "h5.hxx.weights").read_bytes() == weights, "... and the same weights"

    rng = np.random.default_rng(0)
    x = (
        rng.uniform(0, 255, (1, side, side, 3)) if kind == "pixels" else rng.uniform(-1, 1, (1, side, side, 3))
    ).astype(np.float32)
    net = from_keras_v3.compile(binding="ctypes")
    report = verify(from_keras_v3, {from_keras_v3.input_names[0]: x}, compiled=net)
    assert report.ok, str(report)
    (check,) = report.checks
    assert check.max_abs_ref > 1e-3, f"the network's output carries no signal: {report}"

    ref = keras_outputs(model, [x])[0]
    got = net.predict(x)
    assert got.shape == ref.shape
    worst = float(np.max(np.abs(got - ref)))
    assert worst <= KERAS_RTOL * max(1.0, float(np.max(np.abs(ref)))), f"{name}: max|rmodel - Keras| = {worst:.3g}"
