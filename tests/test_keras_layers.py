"""Every supported Keras layer over its main options: Keras vs onnxruntime on our ONNX (1e-5
relative) vs the generated C++ (the 1e-6 criterion against onnxruntime)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from helpers import check_against_onnxruntime
from keras_models import CASE_NAMES, all_cases, inputs_for, keras_outputs, randomize

from rmodel.keras import keras_to_onnx

# Keras deprecates LayerNormalization(rms_scaling=True), which the layer tests still cover
pytestmark = pytest.mark.filterwarnings("ignore:You passed `rms_scaling=True`:UserWarning")


def _ort(proto: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def assert_close_to_keras(got: list[np.ndarray], ref: list[np.ndarray], rtol: float = 1e-5) -> None:
    assert len(got) == len(ref), f"{len(got)} outputs vs Keras {len(ref)}"
    for i, (g, r) in enumerate(zip(got, ref)):
        assert g.shape == r.shape, f"output {i}: shape {g.shape} vs Keras {r.shape}"
        tol = rtol * max(1.0, float(np.max(np.abs(r))) if r.size else 1.0)
        err = float(np.max(np.abs(g - r))) if r.size else 0.0
        assert err <= tol, f"output {i}: max|d| {err:.3e} > {tol:.3e} against Keras"


@pytest.mark.parametrize("case", CASE_NAMES)
def test_layer_matches_keras_and_cpp(case: str) -> None:
    model = randomize(all_cases()[case]())
    xs = inputs_for(model, np.random.default_rng(0))
    proto = keras_to_onnx(model)
    feeds = {vi.name: x for vi, x in zip(proto.graph.input, xs)}
    assert_close_to_keras(_ort(proto, feeds), keras_outputs(model, xs))
    check_against_onnxruntime(proto, feeds, batch_size=xs[0].shape[0])
