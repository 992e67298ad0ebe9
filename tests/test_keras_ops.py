"""Keras 3 operations on tensors (``x + 3.0``, ``keras.ops.mean(x, axis=1)``, ``x[:, 0]``...) and the
layer classes Keras Applications define (LayerScale, CustomScaleLayer, StochasticDepth): every
converted operation against Keras' predict, onnxruntime on the ONNX (1e-5) and the compiled C++
(the 1e-6 criterion), in the file forms that record them."""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from helpers import check_against_onnxruntime  # noqa: E402
from keras_models import keras_outputs, randomize  # noqa: E402

from rmodel.errors import UnsupportedOperatorError  # noqa: E402
from rmodel.keras import keras_to_onnx  # noqa: E402
from rmodel.keras.registry import converter_key, is_operation  # noqa: E402
from rmodel.verify import onnxruntime_session  # noqa: E402


class _Lazy:
    """``keras.<path>`` imported on first use, so that collecting the tests does not import Keras."""

    def __init__(self, path: str):
        self.path = path

    def __getattr__(self, name: str) -> Any:
        import keras

        obj: Any = keras
        for part in self.path.split("."):
            obj = getattr(obj, part) if part else obj
        return getattr(obj, name)


ops, lay, keras_ = _Lazy("ops"), _Lazy("layers"), _Lazy("")


def _model(shapes: list[tuple[int, ...]], body: Callable[..., Any]) -> Any:
    inputs = [keras_.Input(s) for s in shapes]
    return keras_.Model(inputs if len(inputs) > 1 else inputs[0], body(*inputs))


def _conv(x: Any, channels: int = 4) -> Any:
    """A convolution, so that the operation sees a channels-first ONNX layout."""
    return lay.Conv2D(channels, 3, padding="same")(x)


def _cases() -> dict[str, Callable[[], Any]]:
    seq3 = [(4, 3)]
    image = [(5, 5, 3)]
    pos = lambda x: ops.abs(x) + 0.25  # noqa: E731  (inputs of sqrt, log, ...)
    unary = {
        "negative": lambda x: -x,
        "abs": ops.abs,
        "absolute_operator": lambda x: abs(x),
        "sign": ops.sign,
        "square": ops.square,
        "sqrt": lambda x: ops.sqrt(pos(x)),
        "exp": ops.exp,
        "log": lambda x: ops.log(pos(x)),
        "tanh": ops.tanh,
        "sin": ops.sin,
        "cos": ops.cos,
        "floor": lambda x: ops.floor(x * 3.0),
        "ceil": lambda x: ops.ceil(x * 3.0),
        "round": lambda x: ops.round(x * 3.0),
        "reciprocal": lambda x: ops.reciprocal(pos(x)),
        "erf": ops.erf,
        "rsqrt": lambda x: ops.rsqrt(pos(x)),
        "log1p": lambda x: ops.log1p(pos(x)),
        "expm1": ops.expm1,
        "sigmoid": ops.sigmoid,
        "relu": ops.relu,
        "relu6": lambda x: ops.relu6(x * 8.0),
        "softplus": ops.softplus,
        "softsign": ops.softsign,
        "selu": ops.selu,
        "elu": lambda x: ops.elu(x, alpha=0.7),
        "leaky_relu": lambda x: ops.leaky_relu(x, negative_slope=0.3),
        "silu": ops.silu,
        "hard_sigmoid": lambda x: ops.hard_sigmoid(x * 4.0),
        "hard_silu": lambda x: ops.hard_silu(x * 4.0),
        "gelu_exact": lambda x: ops.gelu(x, approximate=False),
        "gelu_tanh": lambda x: ops.gelu(x, approximate=True),
        "softmax_axis1": lambda x: ops.softmax(x, axis=1),
        "log_softmax": ops.log_softmax,
    }
    cases: dict[str, Callable[[], Any]] = {}
    for name, fn in unary.items():
        cases[name] = lambda fn=fn: _model(seq3, fn)
        cases[f"{name}_conv"] = lambda fn=fn: _model(image, lambda x: lay.Flatten()(fn(_conv(x))))
    cases.update(
        {
            # arithmetic with constants on either side, tensors, numpy arrays, channels-first layouts
            "add_constant": lambda: _model(seq3, lambda x: x + 3.0),
            "constant_plus": lambda: _model(seq3, lambda x: 3.0 + x),
            "constant_minus": lambda: _model(seq3, lambda x: 2.0 - x),
            "divide_constant_by": lambda: _model(seq3, lambda x: 1.5 / (ops.abs(x) + 0.5)),
            "add_tensors": lambda: _model(seq3 * 2, lambda a, b: a + b),
            "subtract_multiply_divide": lambda: _model(seq3 * 2, lambda a, b: (a - b) * b / (ops.abs(a) + 1.0)),
            "ops_functions": lambda: _model(
                seq3 * 2, lambda a, b: ops.divide(ops.multiply(ops.add(a, b), ops.subtract(a, 1.0)), 2.0)
            ),
            "power": lambda: _model(seq3, lambda x: x**2 + ops.power(ops.abs(x) + 0.1, 1.5)),
            "maximum_minimum": lambda: _model(seq3 * 2, lambda a, b: ops.maximum(a, 0.2) + ops.minimum(a, b)),
            "floor_divide": lambda: _model(seq3, lambda x: (x * 7.0) // 2.0),
            "numpy_constant": lambda: _model(seq3, lambda x: x * np.array([1.0, -2.0, 0.5], np.float32)),
            "numpy_constant_conv": lambda: _model(
                image, lambda x: lay.Flatten()(_conv(x) * np.arange(1, 5, dtype=np.float32) + np.float32(0.5))
            ),
            "numpy_matrix_constant_left": lambda: _model(
                seq3, lambda x: ops.subtract(np.arange(12, dtype=np.float32).reshape(4, 3), x)
            ),
            "conv_plus_conv": lambda: _model(image, lambda x: lay.Flatten()(_conv(x) * 0.5 + _conv(x))),
            "conv_times_pooled": lambda: _model(  # squeeze-and-excitation style
                image,
                lambda x: lay.Flatten()(
                    (lambda c: c * ops.sigmoid(ops.mean(c, axis=(1, 2), keepdims=True) + 3.0))(_conv(x))
                ),
            ),
            "lower_rank_tensor": lambda: _model(
                image, lambda x: lay.Flatten()((lambda c: c + ops.mean(c, axis=0))(_conv(x)))
            ),
            "lower_rank_tensor_keras_order": lambda: _model(seq3, lambda x: x - ops.max(x, axis=0)),
            # comparisons, logic, where, casts
            "compare_cast": lambda: _model(
                seq3,
                lambda x: ops.concatenate(
                    [
                        ops.cast(x > 0.1, "float32"),
                        ops.cast(x >= 0.0, "float32"),
                        ops.cast(x < -0.2, "float32"),
                        ops.cast(x <= 0.3, "float32"),
                        ops.cast(ops.equal(ops.round(x * 2.0), 1.0), "float32"),
                        ops.cast(ops.not_equal(ops.round(x * 2.0), 0.0), "float32"),
                    ],
                    axis=-1,
                ),
            ),
            "logical": lambda: _model(
                seq3 * 2,
                lambda a, b: ops.cast(
                    ops.logical_or(ops.logical_and(a > 0, b > 0), ops.logical_xor(a > 0.5, ops.logical_not(b < 0))),
                    "float32",
                ),
            ),
            "where": lambda: _model(seq3 * 2, lambda a, b: ops.where(a > 0, a, b * 0.1)),
            "where_constants": lambda: _model(image, lambda x: lay.Flatten()(ops.where(_conv(x) > 0, 1.0, -2.0))),
            "cast_int": lambda: _model(seq3, lambda x: ops.cast(ops.cast(x * 5.0, "int32") * 2, "float32")),
            "int_plus_float": lambda: _model(seq3, lambda x: ops.cast(x * 5.0, "int32") + 0.5),
            "clip": lambda: _model(seq3, lambda x: ops.clip(x, -0.4, 0.3)),
            # reductions
            "mean_keepdims": lambda: _model(seq3, lambda x: ops.mean(x, axis=-1, keepdims=True)),
            "sum_all": lambda: _model(seq3, lambda x: ops.reshape(ops.sum(x), (1, 1)) + x[:, :1, 0]),
            "max_min_prod": lambda: _model(
                seq3,
                lambda x: ops.concatenate(
                    [ops.max(x, axis=1), ops.min(x, axis=1), ops.prod(x, axis=1), ops.amax(x, axis=-2)], axis=-1
                ),
            ),
            "mean_conv_axes": lambda: _model(image, lambda x: lay.Dense(3)(ops.mean(_conv(x), axis=(1, 2)))),
            "sum_conv_keep_spatial": lambda: _model(image, lambda x: lay.Flatten()(ops.sum(_conv(x), axis=-1))),
            "mean_conv_keepdims": lambda: _model(
                image, lambda x: lay.Flatten()(_conv(x) - ops.mean(_conv(x), axis=-1, keepdims=True))
            ),
            # shapes and layouts
            "reshape": lambda: _model(seq3, lambda x: ops.reshape(x, (-1, 12))),
            "reshape_conv": lambda: _model(image, lambda x: ops.reshape(_conv(x), (-1, 25, 4))),
            "transpose": lambda: _model(seq3, lambda x: ops.transpose(x, (0, 2, 1))),
            "transpose_conv_dense": lambda: _model(
                image, lambda x: lay.Flatten()(lay.Dense(2)(ops.transpose(_conv(x), (0, 3, 1, 2))))
            ),
            "expand_squeeze": lambda: _model(seq3, lambda x: ops.squeeze(ops.expand_dims(x, 1) * 2.0, axis=1)),
            "expand_dims_several": lambda: _model(seq3, lambda x: ops.expand_dims(x, (1, -1))),
            "squeeze_conv": lambda: _model(image, lambda x: ops.squeeze(lay.Conv2D(1, 3, padding="same")(x), axis=-1)),
            "concatenate_conv": lambda: _model(
                image, lambda x: lay.Flatten()(ops.concatenate([_conv(x), _conv(x, 2)], axis=-1))
            ),
            "concatenate_axis1": lambda: _model(seq3 * 2, lambda a, b: ops.concatenate([a, b], axis=1)),
            "stack": lambda: _model(seq3 * 2, lambda a, b: ops.stack([a, b], axis=1)),
            "split": lambda: _model(seq3, lambda x: ops.split(x, [1, 3], axis=1)),
            "split_conv": lambda: _model(image, lambda x: [lay.Flatten()(t) for t in ops.split(_conv(x), 2, axis=-1)]),
            "matmul": lambda: _model([(4, 3), (3, 5)], lambda a, b: ops.matmul(a, b)),
            "matmul_operator_constant": lambda: _model(
                seq3, lambda x: x @ np.arange(6, dtype=np.float32).reshape(3, 2)
            ),
            "matmul_vector": lambda: _model(seq3, lambda x: ops.matmul(x, np.array([1.0, 2.0, -1.0], np.float32))),
            "take": lambda: _model(seq3, lambda x: ops.take(x, [2, 0], axis=1)),
            "get_item": lambda: _model(
                seq3,
                lambda x: [x[:, 1:3], x[:, 0], x[..., -1], x[:, ::-1, None], x[:, -2:, 1:], x[:, 1::2, 2:0:-1]],
            ),
            "get_item_conv": lambda: _model(image, lambda x: lay.Flatten()(_conv(x)[:, 1:4, :, 1:3])),
            "convnext_style_residual": lambda: _model(
                image, lambda x: lay.Flatten()((lambda c: c + lay.Dense(4)(lay.LayerNormalization()(c)))(_conv(x)))
            ),
        }
    )
    return cases


CASES = _cases()


def _inputs(model: Any, rng: np.random.Generator) -> list[np.ndarray]:
    return [rng.uniform(-1, 1, (2, *t.shape[1:])).astype(np.float32) for t in model.inputs]


def _check(proto: Any, model: Any, xs: list[np.ndarray], rtol: float = 1e-5) -> None:
    session = onnxruntime_session(proto)
    feeds = {i.name: x for i, x in zip(session.get_inputs(), xs)}
    got = session.run(None, feeds)
    ref = keras_outputs(model, xs)
    assert len(got) == len(ref)
    for i, (g, r) in enumerate(zip(got, ref)):
        assert g.shape == r.shape, f"output {i}: shape {g.shape} vs Keras {r.shape}"
        assert g.dtype == r.dtype, f"output {i}: dtype {g.dtype} vs Keras {r.dtype}"
        tol = rtol * max(1.0, float(np.max(np.abs(r))) if r.size else 1.0)
        err = float(np.max(np.abs(g.astype(np.float64) - r.astype(np.float64)))) if r.size else 0.0
        assert err <= tol, f"output {i}: max|d| {err:.3e} > {tol:.3e} against Keras"
    check_against_onnxruntime(proto, feeds, batch_size=xs[0].shape[0])


@pytest.mark.parametrize("case", sorted(CASES))
def test_operation_matches_keras_and_cpp(case: str) -> None:
    model = randomize(CASES[case]())
    xs = _inputs(model, np.random.default_rng(0))
    proto = keras_to_onnx(model)
    _check(proto, model, xs)


# ---- file forms -------------------------------------------------------------------------------------


def _ops_model() -> Any:
    """Operations whose class names are also layers' (Add, Multiply, Concatenate, Reshape, Maximum)."""
    a, b = keras_.Input((4, 3)), keras_.Input((4, 3))
    x = lay.Add()([a, b]) + 3.0
    x = ops.maximum(x * b, lay.Maximum()([a, b]))
    x = ops.concatenate([x, lay.Concatenate()([a, b])], axis=-1)
    return keras_.Model([a, b], ops.reshape(lay.Dense(2)(x), (-1, 8)))


def test_operations_in_keras_and_h5_files(tmp_path: Path) -> None:
    """``.keras`` records each node's module; Keras 3's legacy ``.h5`` does not, and its operation
    nodes are told from layers of the same class name by their config (no ``trainable``)."""
    model = randomize(_ops_model())
    xs = _inputs(model, np.random.default_rng(1))
    model.save(tmp_path / "m.keras")
    model.save(tmp_path / "m.h5")
    layers = json.loads(zipfile.ZipFile(tmp_path / "m.keras").read("config.json"))["config"]["layers"]
    keys = [converter_key(layer) for layer in layers]
    assert "keras.src.ops.numpy.Add" in keys and "Add" in keys and "Maximum" in keys
    assert "keras.src.ops.numpy.Maximum" in keys and "keras.src.ops.numpy.Reshape" in keys
    with h5py.File(tmp_path / "m.h5") as f:
        h5_layers = json.loads(f.attrs["model_config"])["config"]["layers"]
    assert all("module" not in layer for layer in h5_layers)
    assert [converter_key(layer) for layer in h5_layers] == keys
    assert [is_operation(layer) for layer in h5_layers] == [k.startswith("keras.src.ops") for k in keys]
    for path in (tmp_path / "m.keras", tmp_path / "m.h5"):
        _check(keras_to_onnx(path), model, xs)


def test_converter_keys() -> None:
    """Module + class name where it matters, the class name everywhere else."""
    tensor = {"class_name": "__keras_tensor__", "config": {"keras_history": ["x", 0, 0]}}
    call = [{"args": [tensor, 3.0], "kwargs": {}}]
    layer_cfg = {"name": "n", "trainable": True}
    cases = [
        ({"module": "keras.src.ops.numpy", "class_name": "Add", "config": {"name": "n"}}, "keras.src.ops.numpy.Add"),
        ({"module": "keras.layers", "class_name": "Add", "config": layer_cfg}, "Add"),
        ({"module": "keras.src.layers.merging.add", "class_name": "Add", "config": layer_cfg}, "Add"),
        ({"module": "my_package.layers", "class_name": "Dense", "config": layer_cfg}, "Dense"),
        # a LayerScale of another package is not ConvNeXt's
        ({"module": "my_package", "class_name": "LayerScale", "config": layer_cfg}, "LayerScale"),
        (
            {"module": "keras.src.applications.convnext", "class_name": "LayerScale", "config": layer_cfg},
            "keras.src.applications.convnext.LayerScale",
        ),
        # legacy .h5 (no modules): operations have no 'trainable'; Keras' own classes by name
        ({"class_name": "Add", "config": {"name": "n"}, "inbound_nodes": call}, "keras.src.ops.numpy.Add"),
        ({"class_name": "Add", "config": layer_cfg, "inbound_nodes": call}, "Add"),
        ({"class_name": "LayerScale", "config": layer_cfg}, "keras.src.applications.convnext.LayerScale"),
        # a custom layer whose get_config() leaves out 'trainable' is no operation
        ({"class_name": "ScaledTanh", "config": {"scale": 2.0}, "inbound_nodes": call}, "ScaledTanh"),
        ({"class_name": "Add", "config": {"name": "n"}, "inbound_nodes": [[["x", 0, 0, {}]]]}, "Add"),  # Keras 2
    ]
    for cfg, key in cases:
        assert converter_key(cfg) == key, cfg
        assert is_operation(cfg) == key.startswith("keras.src.ops."), cfg


def test_unsupported_operations_listed_in_one_error(tmp_path: Path) -> None:
    x = keras_.Input((4, 3))
    y = ops.cumsum(x + 1.0, axis=1)
    y = ops.sort(y * 2.0, axis=-1)
    path = tmp_path / "unsupported.keras"
    keras_.Model(x, lay.Lambda(lambda t: t * 2.0, name="double")(y)).save(path)
    with pytest.raises(UnsupportedOperatorError) as info:
        keras_to_onnx(path)
    message = str(info.value)
    assert "3 Keras layer class(es)" in message
    assert "keras.src.ops.numpy.Cumsum: 'cumsum' (model.layers[2])" in message
    assert "keras.src.ops.numpy.Sort: 'sort' (model.layers[4])" in message
    assert "Lambda: 'double' (model.layers[5])" in message
    assert info.value.unsupported == {
        "Lambda": ["double"],
        "keras.src.ops.numpy.Cumsum": ["cumsum"],
        "keras.src.ops.numpy.Sort": ["sort"],
    }


def test_unsupported_operation_arguments() -> None:
    x = keras_.Input((4, 3))
    with pytest.raises(UnsupportedOperatorError, match=r"\(keras.src.ops.numpy.Round, model.layers\[1\]\): decimals=1"):
        keras_to_onnx(keras_.Model(x, ops.round(x, decimals=1)))
    with pytest.raises(UnsupportedOperatorError, match=r"\(keras.src.ops.numpy.Take, .*without an axis"):
        keras_to_onnx(keras_.Model(x, ops.take(x, [1, 2])))


# ---- classes defined in Keras Applications ----------------------------------------------------------


def _applications_model() -> Any:
    from keras.src.applications.convnext import LayerScale, StochasticDepth
    from keras.src.applications.inception_resnet_v2 import CustomScaleLayer

    x = keras_.Input((6, 6, 3))
    c = lay.Conv2D(4, 3, padding="same")(x)  # channels-first in ONNX
    d = lay.Dense(4)(lay.LayerNormalization(epsilon=1e-6)(c))
    block = c + StochasticDepth(0.2)(LayerScale(0.5, 4)(d))  # ConvNeXt block end
    mixed = CustomScaleLayer(0.17)([c, lay.Conv2D(4, 1)(c)])  # Inception-ResNet residual
    flat = LayerScale(0.1, 4)(lay.Dense(4)(x))  # Keras-order input
    return keras_.Model(x, [lay.Flatten()(block), lay.Flatten()(mixed), flat])


@pytest.mark.parametrize("form", ["keras", "h5"])
def test_keras_applications_layers(form: str, tmp_path: Path) -> None:
    model = randomize(_applications_model())
    xs = _inputs(model, np.random.default_rng(2))
    path = tmp_path / f"m.{form}"
    model.save(path)
    _check(keras_to_onnx(path), model, xs)


# Whole Keras Applications (MobileNetV3, ConvNeXt, InceptionResNetV2, ...): test_keras_applications.py
