"""Keras file forms (Keras 3 .keras/.h5, tf-keras .h5/.keras, JSON + weights pairs), the tf2onnx
path, conversion without TensorFlow, bad files, unsupported layers and the extension point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import onnx  # noqa: E402
import pytest  # noqa: E402
from helpers import check_against_onnxruntime  # noqa: E402
from keras_models import keras_outputs, randomize  # noqa: E402

import rmodel  # noqa: E402
from rmodel.errors import ModelLoadError, UnsupportedOperatorError  # noqa: E402
from rmodel.keras import KerasLayer, keras_to_onnx, register_layer_converter, supported_layers  # noqa: E402
from rmodel.keras.graph import GraphBuilder, KTensor  # noqa: E402
from rmodel.verify import onnxruntime_session


def _ort(proto: onnx.ModelProto, xs: list[np.ndarray]) -> list[np.ndarray]:
    session = onnxruntime_session(proto)
    return session.run(None, {i.name: x for i, x in zip(session.get_inputs(), xs)})


def _assert_close(got: list[np.ndarray], ref: list[np.ndarray], rtol: float = 1e-5) -> None:
    assert len(got) == len(ref)
    for g, r in zip(got, ref):
        assert g.shape == r.shape, f"shape {g.shape} vs {r.shape}"
        np.testing.assert_allclose(g, r, rtol=0, atol=rtol * max(1.0, float(np.abs(r).max())))


def _build(keras: Any) -> Any:
    """Conv stack with BN, a nested Sequential, a shared Dense and an LSTM branch: two inputs, two outputs."""
    lay = keras.layers
    image, series = keras.Input((6, 6, 2), name="image"), keras.Input((5, 3), name="series")
    x = lay.Conv2D(4, 3, padding="same", activation="relu")(image)
    x = lay.BatchNormalization()(x)
    x = lay.MaxPooling2D()(x)
    x = lay.Flatten()(x)
    inner = keras.Sequential([keras.Input((36,)), lay.Dense(8, activation="relu"), lay.Dense(6)], name="inner")
    x = inner(x)
    shared = lay.Dense(6, activation="tanh", name="shared")
    s = lay.LSTM(6, return_sequences=True)(series)
    s = lay.GRU(5)(s)
    s = lay.Dense(6)(s)
    merged = lay.Add()([shared(x), shared(s)])
    return keras.Model([image, series], [lay.Dense(3, activation="softmax")(merged), s])


@pytest.fixture(scope="module")
def inputs() -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [rng.uniform(-1, 1, (2, 6, 6, 2)).astype(np.float32), rng.uniform(-1, 1, (2, 5, 3)).astype(np.float32)]


@pytest.fixture(scope="module")
def keras3_files(tmp_path_factory: pytest.TempPathFactory, inputs: list[np.ndarray]) -> dict[str, Any]:
    import keras

    folder = tmp_path_factory.mktemp("keras3")
    model = randomize(_build(keras))
    model.save(folder / "m.keras")
    model.save(folder / "m.h5")
    (folder / "m.json").write_text(model.to_json())
    model.save_weights(folder / "m.weights.h5")
    seq = randomize(
        keras.Sequential([keras.Input((4,)), keras.layers.Dense(5, activation="relu"), keras.layers.Dense(2)])
    )
    seq.save(folder / "seq.keras")
    x = np.random.default_rng(2).uniform(-1, 1, (2, 4)).astype(np.float32)
    return {
        "dir": folder,
        "model": model,
        "ref": keras_outputs(model, inputs),
        "seq": seq,
        "seq_x": x,
        "seq_ref": keras_outputs(seq, [x]),
    }


@pytest.fixture(scope="module")
def tf_keras_files(tmp_path_factory: pytest.TempPathFactory, inputs: list[np.ndarray]) -> dict[str, Any]:
    import tf_keras

    folder = tmp_path_factory.mktemp("tf_keras")
    model = randomize(_build(tf_keras))
    model.save(folder / "m.h5")
    model.save(folder / "m.keras")
    (folder / "m.json").write_text(model.to_json())
    model.save_weights(folder / "w.h5")
    return {"dir": folder, "ref": keras_outputs(model, inputs)}


def _as_tf213(src: Path, dst: Path) -> None:
    """Rewrite a .keras file the way TF 2.13-2.15 wrote it: 'layers' groups are called
    '_layer_checkpoint_dependencies' in model.weights.h5."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.namelist():
            data = zin.read(item)
            if item == "model.weights.h5":
                tmp = dst.with_suffix(".old.h5")
                tmp.write_bytes(data)
                new = dst.with_suffix(".new.h5")
                with h5py.File(tmp, "r") as fin, h5py.File(new, "w") as fout:

                    def copy(group: Any, out: Any) -> None:
                        for key, value in group.items():
                            name = "_layer_checkpoint_dependencies" if key == "layers" else key
                            if isinstance(value, h5py.Dataset):
                                out.create_dataset(name, data=value[()])
                            else:
                                copy(value, out.create_group(name))

                    copy(fin, fout)
                data = new.read_bytes()
            zout.writestr(item, data)


# ---- file forms ---------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["keras", "h5", "json+weights", "tf213"])
def test_keras3_files(form: str, keras3_files: dict[str, Any], inputs: list[np.ndarray]) -> None:
    folder = keras3_files["dir"]
    source: Any = {
        "keras": folder / "m.keras",
        "h5": folder / "m.h5",
        "json+weights": (folder / "m.json", folder / "m.weights.h5"),
    }.get(form)
    if form == "tf213":
        source = folder / "m_tf213.keras"
        _as_tf213(folder / "m.keras", source)
        with zipfile.ZipFile(source) as z, h5py.File(__import__("io").BytesIO(z.read("model.weights.h5"))) as h5:
            assert "_layer_checkpoint_dependencies" in h5 and "layers" not in h5
    proto = keras_to_onnx(source)
    onnx.checker.check_model(proto)
    _assert_close(_ort(proto, inputs), keras3_files["ref"])


@pytest.mark.parametrize("form", ["h5", "keras", "json+weights"])
def test_tf_keras_files(form: str, tf_keras_files: dict[str, Any], inputs: list[np.ndarray]) -> None:
    folder = tf_keras_files["dir"]
    source: Any = {
        "h5": folder / "m.h5",
        "keras": folder / "m.keras",
        "json+weights": (folder / "m.json", folder / "w.h5"),
    }[form]
    _assert_close(_ort(keras_to_onnx(source), inputs), tf_keras_files["ref"])


def test_sequential_file_and_cpp(keras3_files: dict[str, Any]) -> None:
    m = rmodel.keras.from_keras(keras3_files["dir"] / "seq.keras", batch_size=2)
    assert m.name == "seq"
    _assert_close(_ort(m.to_onnx(), [keras3_files["seq_x"]]), keras3_files["seq_ref"])
    check_against_onnxruntime(m, {m.input_names[0]: keras3_files["seq_x"]})


def test_multi_io_file_compiles(keras3_files: dict[str, Any], inputs: list[np.ndarray]) -> None:
    m = rmodel.keras.from_keras(keras3_files["dir"] / "m.h5", batch_size=2)
    assert m.input_names == ["image", "series"]
    feeds = dict(zip(m.input_names, inputs))
    check_against_onnxruntime(m, feeds)
    net = m.compile(binding="ctypes")
    _assert_close(list(net.predict(*inputs)), keras3_files["ref"])


def test_conv_stack_has_few_transposes(keras3_files: dict[str, Any]) -> None:
    proto = keras_to_onnx(keras3_files["dir"] / "m.keras")
    ops = [n.op_type for n in proto.graph.node]
    # one into channels-first before the conv, one back before Flatten, one into time-major for the LSTM
    assert ops.count("Transpose") == 3, ops
    assert "Gemm" in ops and "LSTM" in ops and "GRU" in ops and "Loop" not in ops


# ---- tf2onnx ------------------------------------------------------------------------------------


def test_native_matches_tf2onnx(keras3_files: dict[str, Any], inputs: list[np.ndarray]) -> None:
    model = keras3_files["model"]
    native, tf2 = keras_to_onnx(model), keras_to_onnx(model, converter="tf2onnx")
    _assert_close(_ort(tf2, inputs), _ort(native, inputs))
    seq = keras3_files["seq"]  # Keras 3 Sequential: tf2onnx's own from_keras fails on it
    _assert_close(_ort(keras_to_onnx(seq, converter="tf2onnx"), [keras3_files["seq_x"]]), keras3_files["seq_ref"])


def test_saved_model_directory(keras3_files: dict[str, Any], tmp_path: Path) -> None:
    seq = keras3_files["seq"]
    seq.export(tmp_path / "saved", verbose=False)
    m = rmodel.keras.from_keras(tmp_path / "saved", batch_size=2)
    net = m.compile(binding="ctypes")
    _assert_close([net.predict(keras3_files["seq_x"])], keras3_files["seq_ref"])


def test_not_a_saved_model_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not a TensorFlow SavedModel"):
        keras_to_onnx(tmp_path)


# ---- no TensorFlow ------------------------------------------------------------------------------

_BLOCKER = """
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "keras", "tf_keras", "tf2onnx"):
            raise ImportError(f"{name} is blocked in this test")
        return None
sys.meta_path.insert(0, _Block())
"""


def test_files_convert_without_tensorflow(
    keras3_files: dict[str, Any], tf_keras_files: dict[str, Any], tmp_path: Path, inputs: list[np.ndarray]
) -> None:
    (tmp_path / "sitecustomize.py").write_text(_BLOCKER)
    np.savez(tmp_path / "x.npz", *inputs)
    folder, tfk = keras3_files["dir"], tf_keras_files["dir"]
    script = textwrap.dedent(f"""
        import sys, numpy as np
        try:
            import tensorflow
            raise SystemExit("tensorflow import was not blocked")
        except ImportError:
            pass
        import rmodel, rmodel.keras
        from rmodel.verify import onnxruntime_session
        xs = list(np.load(r"{tmp_path / "x.npz"}").values())
        for source in [r"{folder / "m.keras"}", r"{folder / "m.h5"}", r"{tfk / "m.h5"}",
                       (r"{folder / "m.json"}", r"{folder / "m.weights.h5"}")]:
            proto = rmodel.keras.keras_to_onnx(source)
            s = onnxruntime_session(proto)
            out = s.run(None, {{i.name: x for i, x in zip(s.get_inputs(), xs)}})
            print(float(out[0].sum()))
        m = rmodel.keras.from_keras(r"{folder / "m.keras"}")
        assert not any(k.split(".")[0] in ("tensorflow", "keras", "tf_keras") for k in sys.modules), "TF was imported"
        try:
            rmodel.keras.keras_to_onnx(r"{folder / "m.keras"}", converter="tf2onnx")
        except rmodel.ModelLoadError as exc:
            assert "pip install rmodel-codegen[tf]" in str(exc), exc
            print("clear error")
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.split()
    assert lines[-1] == "error" and len(lines) == 6, result.stdout
    expected = float(keras3_files["ref"][0].sum())
    assert all(abs(float(v) - expected) < 1e-4 for v in lines[:2] + lines[3:4])


# ---- bad files ----------------------------------------------------------------------------------


def test_truncated_zip(keras3_files: dict[str, Any], tmp_path: Path) -> None:
    data = (keras3_files["dir"] / "m.keras").read_bytes()
    bad = tmp_path / "cut.keras"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match="cut.keras.*(not a readable .keras archive|damaged|complete)"):
        keras_to_onnx(bad)


def test_missing_weights_in_archive(keras3_files: dict[str, Any], tmp_path: Path) -> None:
    bad = tmp_path / "noweights.keras"
    with zipfile.ZipFile(keras3_files["dir"] / "m.keras") as zin, zipfile.ZipFile(bad, "w") as zout:
        for item in zin.namelist():
            if item != "model.weights.h5":
                zout.writestr(item, zin.read(item))
    with pytest.raises(ModelLoadError, match="lacks model.weights.h5"):
        keras_to_onnx(bad)


def test_weights_that_do_not_fit(keras3_files: dict[str, Any], tmp_path: Path) -> None:
    config = json.loads((keras3_files["dir"] / "m.json").read_text())
    for layer in config["config"]["layers"]:
        if layer["class_name"] == "LSTM":
            layer["config"]["units"] = 7
    arch = tmp_path / "other.json"
    arch.write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match=r"layer 'lstm.*shape \(3, 24\).*needs \(3, 28\).*do not belong"):
        keras_to_onnx((arch, keras3_files["dir"] / "m.weights.h5"))
    with pytest.raises(ModelLoadError, match="does not fit"):
        keras_to_onnx((arch, tf_weights_of(keras3_files)))


def tf_weights_of(keras3_files: dict[str, Any]) -> Path:
    """A legacy weights file of a different model (Keras 3 Sequential saved with the legacy writer)."""
    path = keras3_files["dir"] / "seq_legacy.h5"
    keras3_files["seq"].save(path)
    return path


def test_hdf5_that_is_not_keras(tmp_path: Path) -> None:
    path = tmp_path / "data.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=np.arange(4))
    with pytest.raises(ModelLoadError, match="no 'model_config'.*not a Keras model"):
        keras_to_onnx(path)
    with pytest.raises(ModelLoadError, match="holds no Keras weights"):
        keras_to_onnx(('{"class_name": "Sequential", "config": {"layers": []}}', path))


def test_not_hdf5_and_missing(tmp_path: Path) -> None:
    path = tmp_path / "junk.h5"
    path.write_bytes(b"not hdf5 at all")
    with pytest.raises(ModelLoadError, match="not a readable HDF5 file"):
        keras_to_onnx(path)
    with pytest.raises(ModelLoadError, match="no such file"):
        keras_to_onnx(tmp_path / "missing.keras")


# ---- unsupported layers and the extension point -------------------------------------------------


@pytest.fixture(scope="module")
def custom_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, np.ndarray]:
    import keras

    @keras.saving.register_keras_serializable(package="rmodel_test")
    class ScaledTanh(keras.layers.Layer):
        def __init__(self, scale: float = 2.0, **kwargs: Any):
            super().__init__(**kwargs)
            self.scale = scale

        def call(self, x: Any) -> Any:
            return keras.ops.tanh(x) * self.scale

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "scale": self.scale}

    inp = keras.Input((4,))
    x = keras.layers.Dense(4)(inp)
    x = ScaledTanh(3.0)(x)
    model = keras.Model(inp, keras.layers.Dense(2)(x))
    path = tmp_path_factory.mktemp("custom") / "custom.keras"
    model.save(path)
    x_in = np.random.default_rng(3).uniform(-1, 1, (2, 4)).astype(np.float32)
    return path, model, x_in


def test_unsupported_layers_listed_in_one_error(tmp_path: Path, custom_file: tuple[Path, Any, np.ndarray]) -> None:
    import keras

    inp = keras.Input((4,))
    x = keras.layers.Lambda(lambda t: t * 2.0, name="double")(inp)
    x = keras.layers.Dense(3)(x)
    x = keras.layers.Lambda(lambda t: t + 1.0, name="plus_one")(x)
    path = tmp_path / "lambda.keras"
    keras.Model(inp, x).save(path)
    with pytest.raises(UnsupportedOperatorError) as info:
        keras_to_onnx(path)
    message = str(info.value)
    assert "Lambda: 'double' (model.layers[1]), 'plus_one' (model.layers[3])" in message
    assert "register_layer_converter" in message
    assert info.value.unsupported == {"Lambda": ["double", "plus_one"]}
    if "ScaledTanh" not in supported_layers():
        with pytest.raises(UnsupportedOperatorError, match=r"ScaledTanh: 'scaled_tanh' \(model.layers\[2\]\)"):
            keras_to_onnx(custom_file[0])


def test_register_layer_converter(custom_file: tuple[Path, Any, np.ndarray]) -> None:
    path, model, x = custom_file

    def scaled_tanh(layer: KerasLayer, g: GraphBuilder) -> KTensor:
        t = layer.input
        y = g.op("Mul", [g.op("Tanh", [t.name]), g.const(np.float32(layer.config["scale"]), "scale")])
        return KTensor(y, t.shape, t.dtype, t.perm)

    register_layer_converter("ScaledTanh", scaled_tanh, replace=True)
    assert "ScaledTanh" in supported_layers()
    with pytest.raises(ValueError, match="exists already"):
        register_layer_converter("ScaledTanh", scaled_tanh)
    m = rmodel.keras.from_keras(path, batch_size=2)
    _assert_close(_ort(m.to_onnx(), [x]), keras_outputs(model, [x]))
    check_against_onnxruntime(m, {m.input_names[0]: x})


def test_supported_layers_cover_the_issue_list() -> None:
    names = set(supported_layers())
    wanted = {
        "Dense",
        "Activation",
        "ReLU",
        "LeakyReLU",
        "PReLU",
        "ELU",
        "Softmax",
        "Conv1D",
        "Conv2D",
        "DepthwiseConv2D",
        "SeparableConv1D",
        "SeparableConv2D",
        "Conv2DTranspose",
        "MaxPooling1D",
        "MaxPooling2D",
        "AveragePooling1D",
        "AveragePooling2D",
        "GlobalAveragePooling1D",
        "GlobalAveragePooling2D",
        "GlobalMaxPooling1D",
        "GlobalMaxPooling2D",
        "BatchNormalization",
        "LayerNormalization",
        "Flatten",
        "Reshape",
        "Permute",
        "RepeatVector",
        "Dropout",
        "ZeroPadding1D",
        "ZeroPadding2D",
        "Cropping1D",
        "Cropping2D",
        "UpSampling1D",
        "UpSampling2D",
        "Add",
        "Subtract",
        "Multiply",
        "Average",
        "Maximum",
        "Minimum",
        "Concatenate",
        "Dot",
        "LSTM",
        "GRU",
        "SimpleRNN",
        "Bidirectional",
        "TimeDistributed",
        "Embedding",
        "EinsumDense",
        "MultiHeadAttention",
        "Attention",
        "AdditiveAttention",
        "GroupNormalization",
        "UnitNormalization",
    }
    assert wanted <= names, wanted - names


def test_bad_converter_option() -> None:
    with pytest.raises(ModelLoadError, match="converter must be one of"):
        keras_to_onnx("x.keras", converter="magic")


# ---- options that used to be rejected: Keras 2 files and clear errors ---------------------------


def test_tf_keras_recurrent_options_and_output_padding(tmp_path: Path) -> None:
    """tf-keras (Keras 2) .h5: hard_sigmoid is 0.2 x + 0.5 there, initial states are listed as layer
    inputs, a Bidirectional backward layer of its own, Conv1DTranspose with output_padding."""
    import tf_keras

    lay = tf_keras.layers
    x, h, c = tf_keras.Input((4, 3)), tf_keras.Input((3,)), tf_keras.Input((3,))
    lstm = lay.LSTM(3, recurrent_activation="hard_sigmoid", activation="linear", return_sequences=True)(
        x, initial_state=[h, c]
    )
    bi = lay.Bidirectional(
        lay.GRU(3, recurrent_activation="hard_sigmoid"), backward_layer=lay.GRU(3, go_backwards=True, activation="relu")
    )(x, initial_state=[h, c])
    bi2 = lay.Bidirectional(
        lay.LSTM(3, return_sequences=True), backward_layer=lay.LSTM(2, go_backwards=True, return_sequences=True)
    )(x)
    up = lay.Conv1DTranspose(2, 3, strides=2, padding="same", output_padding=1)(lstm)
    model = randomize(tf_keras.Model([x, h, c], [lstm, bi, bi2, up]))
    model.save(tmp_path / "gaps.h5")
    rng = np.random.default_rng(4)
    xs = [
        rng.uniform(-2, 2, (2, 4, 3)).astype(np.float32),
        rng.uniform(-1, 1, (2, 3)).astype(np.float32),
        rng.uniform(-1, 1, (2, 3)).astype(np.float32),
    ]
    proto = keras_to_onnx(tmp_path / "gaps.h5")
    feeds = {vi.name: v for vi, v in zip(proto.graph.input, xs)}
    _assert_close(_ort(proto, xs), keras_outputs(model, xs))
    check_against_onnxruntime(proto, feeds, batch_size=2)


def _states_model(tmp_path: Path, edit: Any) -> tuple[Path, Path]:
    """Architecture JSON (changed by ``edit``) and weights of x, h, c -> LSTM(3)(x, initial_state=[h, c]) -> Dot."""
    import keras

    x, h, c = keras.Input((4, 3), name="x"), keras.Input((3,), name="h"), keras.Input((3,), name="c")
    y = keras.layers.LSTM(3, name="lstm")(x, initial_state=[h, c])
    model = keras.Model([x, h, c], keras.layers.Dot(axes=1, name="dot")([y, h]))
    config = json.loads(model.to_json())
    edit({layer["name"]: layer for layer in config["config"]["layers"]})
    path = tmp_path / "states.json"
    path.write_text(json.dumps(config))
    model.save_weights(tmp_path / "states.weights.h5")
    return path, tmp_path / "states.weights.h5"


def test_initial_state_errors(tmp_path: Path) -> None:
    def one_state(layers: dict[str, Any]) -> None:
        layers["lstm"]["inbound_nodes"][0]["kwargs"]["initial_state"].pop()

    with pytest.raises(ModelLoadError, match=r"'lstm' \(LSTM.*takes 2 initial state tensor\(s\), got 1"):
        keras_to_onnx(_states_model(tmp_path, one_state))

    def wide_state(layers: dict[str, Any]) -> None:
        layers["c"]["config"]["batch_shape"] = [None, 5]

    with pytest.raises(ModelLoadError, match=r"must have shape \(batch, 3\), got \(None, 5\)"):
        keras_to_onnx(_states_model(tmp_path, wide_state))

    def state_into_dot(layers: dict[str, Any]) -> None:
        node = layers["dot"]["inbound_nodes"][0]
        node["kwargs"]["initial_state"] = [node["args"][0][1]]

    with pytest.raises(UnsupportedOperatorError, match=r"'dot' \(Dot.*calling the layer with 'initial_state'"):
        keras_to_onnx(_states_model(tmp_path, state_into_dot))

    def batch_axis(layers: dict[str, Any]) -> None:
        layers["dot"]["config"]["axes"] = [0, 0]

    with pytest.raises(ModelLoadError, match="cannot contract the batch axis"):
        keras_to_onnx(_states_model(tmp_path, batch_axis))


def test_recurrent_activation_and_output_padding_errors(tmp_path: Path) -> None:
    import keras

    inp = keras.Input((4, 3))
    path = tmp_path / "exp.keras"
    keras.Model(inp, keras.layers.GRU(2, activation="exponential", name="gru")(inp)).save(path)
    with pytest.raises(
        UnsupportedOperatorError,
        match=r"'gru'.*activation 'exponential' inside a recurrent layer "
        r"\(supported: elu, hard_sigmoid, leaky_relu, linear",
    ):
        keras_to_onnx(path)
    inp = keras.Input((5, 2))
    config = json.loads(
        keras.Model(inp, keras.layers.Conv1DTranspose(2, 3, strides=2, output_padding=1)(inp)).to_json()
    )
    config["config"]["layers"][1]["config"]["output_padding"] = [2]
    (tmp_path / "op.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match=r"output_padding \(2,\) must lie in \[0, strides \(2,\)\)"):
        keras_to_onnx(tmp_path / "op.json")


def test_transformer_block_file_without_tensorflow(tmp_path: Path) -> None:
    """A small transformer encoder block saved as .keras converts from the file with TensorFlow,
    Keras and tf2onnx blocked, matches Keras, and compiles to C++ within the onnxruntime criterion."""
    from keras_models import all_cases

    model = randomize(all_cases()["transformer_block"]())
    model.save(tmp_path / "block.keras")
    x = np.random.default_rng(3).uniform(-1, 1, (2, 6, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "sitecustomize.py").write_text(_BLOCKER)
    script = textwrap.dedent(f"""
        import sys, numpy as np
        import rmodel.keras, onnx
        from rmodel.verify import onnxruntime_session
        proto = rmodel.keras.keras_to_onnx(r"{tmp_path / "block.keras"}")
        assert not any(k.split(".")[0] in ("tensorflow", "keras", "tf_keras") for k in sys.modules), "TF was imported"
        onnx.save(proto, r"{tmp_path / "block.onnx"}")
        s = onnxruntime_session(proto)
        np.save(r"{tmp_path / "y.npy"}", s.run(None, {{s.get_inputs()[0].name: np.load(r"{tmp_path / "x.npy"}")}})[0])
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    _assert_close([np.load(tmp_path / "y.npy")], keras_outputs(model, [x]))
    proto = onnx.load(tmp_path / "block.onnx")
    assert {"MatMul", "Softmax", "LayerNormalization"} <= {n.op_type for n in proto.graph.node}
    check_against_onnxruntime(proto, {proto.graph.input[0].name: x}, batch_size=2)


@pytest.mark.parametrize("maker", ["tf_keras", "keras"])
def test_attention_layers_in_every_file_form(maker: str, tmp_path: Path) -> None:
    """tf-keras names the MultiHeadAttention sub-layer groups '_query_dense' in .keras files and both
    write legacy .h5 by weight name: every form gives Keras' outputs."""
    import importlib

    mod = importlib.import_module(maker)
    lay = mod.layers
    q, v = mod.Input((4, 6)), mod.Input((5, 3))
    outs = [
        lay.MultiHeadAttention(2, 3, value_dim=4)(q, v),
        lay.MultiHeadAttention(2, 2, use_bias=False, output_shape=(3,))(q, q),
        lay.Attention(use_scale=True)([q, q]),
        lay.AdditiveAttention()([q, q]),
        lay.GroupNormalization(3)(q),
        lay.UnitNormalization()(q),
    ]
    model = randomize(mod.Model([q, v], outs))
    rng = np.random.default_rng(1)
    xs = [rng.uniform(-1, 1, (2, 4, 6)).astype(np.float32), rng.uniform(-1, 1, (2, 5, 3)).astype(np.float32)]
    ref = [np.asarray(o) for o in model(xs)]
    for suffix in (".h5", ".keras"):
        model.save(tmp_path / f"m{suffix}")
        _assert_close(_ort(keras_to_onnx(tmp_path / f"m{suffix}"), xs), ref)


def _keras21_files() -> tuple[dict[str, Any], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """A Keras 2.1-style Sequential (``config`` is a bare list of layers) and its weights."""
    rng = np.random.default_rng(21)
    weights = {
        "dense_1": (rng.standard_normal((4, 3)).astype(np.float32), rng.standard_normal(3).astype(np.float32)),
        "dense_2": (rng.standard_normal((3, 2)).astype(np.float32), rng.standard_normal(2).astype(np.float32)),
    }
    dense_1 = {
        "class_name": "Dense",
        "config": {"name": "dense_1", "batch_input_shape": [None, 4], "dtype": "float32", "units": 3,
                   "activation": "relu", "use_bias": True},
    }  # fmt: skip
    dense_2 = {
        "class_name": "Dense",
        "config": {"name": "dense_2", "units": 2, "activation": "softmax", "use_bias": True},
    }
    arch = {"class_name": "Sequential", "keras_version": "2.1.2", "backend": "tensorflow", "config": [dense_1, dense_2]}
    return arch, weights


def _write_keras21_weights(group: h5py.Group, weights: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    group.attrs["layer_names"] = [name.encode() for name in weights]
    for name, (kernel, bias) in weights.items():
        layer = group.create_group(name)
        layer.attrs["weight_names"] = [f"{name}/kernel:0".encode(), f"{name}/bias:0".encode()]
        layer.create_dataset(f"{name}/kernel:0", data=kernel)
        layer.create_dataset(f"{name}/bias:0", data=bias)


@pytest.mark.parametrize("form", ["json+weights", "full-h5"])
def test_keras21_sequential_with_a_bare_list_config(tmp_path: Path, form: str) -> None:
    arch, weights = _keras21_files()
    if form == "json+weights":
        (tmp_path / "m.json").write_text(json.dumps(arch))
        with h5py.File(tmp_path / "w.h5", "w") as f:
            f.attrs["keras_version"] = b"2.1.2"
            _write_keras21_weights(f, weights)
        source: Any = (str(tmp_path / "m.json"), str(tmp_path / "w.h5"))
    else:
        with h5py.File(tmp_path / "m.h5", "w") as f:
            f.attrs["model_config"] = json.dumps(arch).encode()
            f.attrs["keras_version"] = b"2.1.2"
            _write_keras21_weights(f.create_group("model_weights"), weights)
        source = tmp_path / "m.h5"
    m = rmodel.from_keras(source, batch_size=3)
    x = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    (w1, b1), (w2, b2) = weights["dense_1"], weights["dense_2"]
    z = np.maximum(x.astype(np.float64) @ w1 + b1, 0) @ w2 + b2
    ref = np.exp(z - z.max(axis=1, keepdims=True))
    ref /= ref.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(m.compile(binding="ctypes").predict(x), ref, atol=1e-6)
    check_against_onnxruntime(m, {m.input_names[0]: x})


@pytest.mark.parametrize("form", ["json+weights", "full-h5"])
def test_keras21_nested_sequential_first(tmp_path: Path, form: str) -> None:
    """A Keras 2.1 Sequential whose first layer is a Sequential (both bare lists): the input shape is
    the nested model's; the nested model's weights sit in one group under its name."""
    arch, weights = _keras21_files()
    inner = {"class_name": "Sequential", "config": arch["config"]}
    rng = np.random.default_rng(22)
    w3, b3 = rng.standard_normal((2, 5)).astype(np.float32), rng.standard_normal(5).astype(np.float32)
    outer = {**arch, "config": [inner, {"class_name": "Dense", "config": {"name": "dense_3", "units": 5}}]}

    def write(group: h5py.Group) -> None:
        group.attrs["layer_names"] = [b"sequential_1", b"dense_3"]
        nested = group.create_group("sequential_1")
        names = []
        for name, (kernel, bias) in weights.items():
            for part, data in (("kernel", kernel), ("bias", bias)):
                nested.create_dataset(f"{name}/{part}:0", data=data)
                names.append(f"{name}/{part}:0".encode())
        nested.attrs["weight_names"] = names
        dense = group.create_group("dense_3")
        dense.attrs["weight_names"] = [b"dense_3/kernel:0", b"dense_3/bias:0"]
        dense.create_dataset("dense_3/kernel:0", data=w3)
        dense.create_dataset("dense_3/bias:0", data=b3)

    inner["config"] = [dict(layer) for layer in inner["config"]]
    outer["config"][0]["config"] = inner["config"]
    outer["config"][0]["name"] = "sequential_1"
    if form == "json+weights":
        (tmp_path / "m.json").write_text(json.dumps(outer))
        with h5py.File(tmp_path / "w.h5", "w") as f:
            write(f)
        source: Any = (str(tmp_path / "m.json"), str(tmp_path / "w.h5"))
    else:
        with h5py.File(tmp_path / "m.h5", "w") as f:
            f.attrs["model_config"] = json.dumps(outer).encode()
            f.attrs["keras_version"] = b"2.1.2"
            write(f.create_group("model_weights"))
        source = tmp_path / "m.h5"
    m = rmodel.from_keras(source, batch_size=3)
    x = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    (w1, b1), (w2, b2) = weights["dense_1"], weights["dense_2"]
    z = np.maximum(x.astype(np.float64) @ w1 + b1, 0) @ w2 + b2
    ref = np.exp(z - z.max(axis=1, keepdims=True))
    ref = (ref / ref.sum(axis=1, keepdims=True)) @ w3 + b3
    np.testing.assert_allclose(m.compile(binding="ctypes").predict(x), ref, atol=1e-5)
    check_against_onnxruntime(m, {m.input_names[0]: x})
