"""Every supported Keras layer over its main options: Keras vs onnxruntime on our ONNX (1e-5
relative) vs the generated C++ (the 1e-6 criterion against onnxruntime)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from helpers import check_against_onnxruntime
from keras_models import CASE_NAMES, all_cases, inputs_for, keras_outputs, randomize

from rmodel.keras import keras_to_onnx
from rmodel.verify import onnxruntime_session

# Keras deprecates LayerNormalization(rms_scaling=True), which the layer tests still cover
pytestmark = pytest.mark.filterwarnings("ignore:You passed `rms_scaling=True`:UserWarning")


def _ort(proto: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    return onnxruntime_session(proto).run(None, feeds)


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


def test_attention_errors(tmp_path: Path) -> None:
    import json

    import keras

    from rmodel.errors import ModelLoadError, UnsupportedOperatorError

    lay = keras.layers
    q, m = keras.Input((4, 6)), keras.Input((4, 4))
    model = keras.Model([q, m], lay.MultiHeadAttention(2, 3, name="mha")(q, q, attention_mask=m))
    with pytest.raises(UnsupportedOperatorError, match=r"'mha' \(MultiHeadAttention.*'attention_mask'"):
        keras_to_onnx(model)
    out, _ = lay.MultiHeadAttention(2, 3, name="scores")(q, q, return_attention_scores=True)
    with pytest.raises(UnsupportedOperatorError, match=r"'scores'.*return_attention_scores=True"):
        keras_to_onnx(keras.Model(q, out))
    with pytest.raises(UnsupportedOperatorError, match=r"'window'.*sliding_window"):
        keras_to_onnx(keras.Model(q, lay.MultiHeadAttention(2, 3, sliding_window=2, name="window")(q, q)))
    x = keras.Input((3, 4, 5))
    with pytest.raises(UnsupportedOperatorError, match=r"attention_axes=\[2\] \(only the default axes"):
        keras_to_onnx(keras.Model(x, lay.MultiHeadAttention(2, 3, attention_axes=(2,))(x, x)))
    qm, vm = keras.Input((4,), dtype="bool"), keras.Input((4,), dtype="bool")
    with pytest.raises(UnsupportedOperatorError, match=r"\(Attention.*calling the layer with 'mask'"):
        keras_to_onnx(keras.Model([q, qm, vm], lay.Attention()([q, q], mask=[qm, vm])))

    def edited(model: object, name: str, key: str, value: object) -> object:
        config = json.loads(model.to_json())  # type: ignore[attr-defined]
        for layer in config["config"]["layers"]:
            if layer["name"] == name:
                layer["config"][key] = value
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(config))
        return path

    x = keras.Input((3, 6))
    gn = keras.Model(x, lay.GroupNormalization(2, name="gn")(x))
    with pytest.raises(ModelLoadError, match=r"'gn'.*6 channels cannot be split into 4 groups"):
        keras_to_onnx(edited(gn, "gn", "groups", 4))
    att = keras.Model(q, lay.Attention(name="att")([q, q]))
    with pytest.raises(ModelLoadError, match=r"'att'.*score_mode must be 'dot' or 'concat', got 'cosine'"):
        keras_to_onnx(edited(att, "att", "score_mode", "cosine"))
    un = keras.Model(x, lay.UnitNormalization(axis=-1, name="un")(x))
    with pytest.raises(ModelLoadError, match=r"'un'.*the batch axis cannot be normalized over"):
        keras_to_onnx(edited(un, "un", "axis", [0, 2]))
