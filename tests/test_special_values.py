"""Special values per operator: NaN, infinities, signed zeros, subnormals and huge values give what
onnxruntime gives (NaN never turns into a plausible number), and integer arithmetic and casts have
defined results (no undefined behaviour; tests/test_sanitizers.py runs these under UBSan)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from helpers import TEST_FLAGS, make_model
from onnx import TensorProto, helper

import rmodel
from rmodel import examples
from rmodel.verify import onnxruntime_run

SPECIAL = np.array(
    [np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-40, -1e-40, 3e38, -3e38, 0.5, -0.5, 25, -25, 100, -100, 2.5], np.float32
)
ROWS = np.array(
    [
        [1, np.nan, 3, 2],
        [1, np.inf, 3, 2],
        [-np.inf, -np.inf, -np.inf, -np.inf],
        [np.nan, 1, 2, 3],
        [3, 2, 1, np.nan],
        [np.inf, np.inf, 1, 2],
        [-np.inf, 5, np.inf, 0],
        [1e-40, -1e-40, -0.0, 0.0],
    ],
    np.float32,
)


def _run(proto: onnx.ModelProto, feeds: dict[str, np.ndarray], opset_ok: bool = True) -> list[np.ndarray]:
    m = rmodel.from_onnx(proto)
    net = m.compile(binding="ctypes", flags=TEST_FLAGS)
    got = net.predict(*[feeds[n] for n in m.input_names])
    return [got] if len(m.outputs) == 1 else list(got)


def assert_same_specials(got: np.ndarray, ref: np.ndarray, where: str) -> None:
    """NaN where the reference has NaN, the same infinities, finite values within 1e-5 relative."""
    got64, ref64 = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    assert got64.shape == ref64.shape, where
    nan_got, nan_ref = np.isnan(got64), np.isnan(ref64)
    assert np.array_equal(nan_got, nan_ref), f"{where}: NaN at {np.argwhere(nan_got != nan_ref)[:5].tolist()}"
    inf = np.isinf(ref64) | np.isinf(got64)
    assert np.array_equal(got64[inf], ref64[inf]), f"{where}: infinities {got64[inf]} vs {ref64[inf]}"
    finite = ~(nan_ref | inf)
    np.testing.assert_allclose(got64[finite], ref64[finite], rtol=1e-5, atol=1e-6, err_msg=where)


def _against_onnxruntime(proto: onnx.ModelProto, feeds: dict[str, np.ndarray], where: str) -> None:
    got = _run(proto, feeds)
    ref = onnxruntime_run(proto, feeds, [o.name for o in proto.graph.output])
    for g, r in zip(got, ref):
        if r.dtype == np.bool_ or np.issubdtype(r.dtype, np.integer):
            np.testing.assert_array_equal(g, r, err_msg=where)
        else:
            assert_same_specials(g, r, where)


UNARY = [
    "Relu", "LeakyRelu", "Elu", "Celu", "Selu", "ThresholdedRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh",
    "Softplus", "Softsign", "Exp", "Log", "Sqrt", "Reciprocal", "Erf", "Sin", "Cos", "Floor", "Ceil", "Round",
    "Neg", "Abs", "Sign", "Softmax", "LogSoftmax", "Hardmax", "Identity",
]  # fmt: skip


@pytest.mark.parametrize("op", UNARY)
def test_unary_special_values(op):
    x = SPECIAL.reshape(1, -1)
    proto = make_model([helper.make_node(op, ["x"], ["y"])], {"x": (np.float32, [1, x.size])}, ["y"])
    _against_onnxruntime(proto, {"x": x}, op)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_special_values(approximate):
    x = SPECIAL.reshape(1, -1)
    node = helper.make_node("Gelu", ["x"], ["y"], approximate=approximate)
    _against_onnxruntime(make_model([node], {"x": (np.float32, [1, x.size])}, ["y"], opset=20), {"x": x}, "Gelu")


BINARY = ["Max", "Min", "Add", "Sub", "Mul", "Div", "Pow", "PRelu", "Sum", "Mean"]
COMPARE = ["Less", "Greater", "Equal", "LessOrEqual", "GreaterOrEqual"]


@pytest.mark.parametrize("op", BINARY + COMPARE)
def test_binary_special_values_in_either_position(op):
    a = np.repeat(SPECIAL, SPECIAL.size).reshape(1, -1)
    b = np.tile(SPECIAL, SPECIAL.size).reshape(1, -1)
    outputs = {"y": np.bool_} if op in COMPARE else ["y"]
    proto = make_model(
        [helper.make_node(op, ["a", "b"], ["y"])],
        {"a": (np.float32, [1, a.size]), "b": (np.float32, [1, b.size])},
        outputs,
    )
    _against_onnxruntime(proto, {"a": a, "b": b}, op)


def test_three_way_max_and_min_propagate_nan():
    a, b, c = (np.roll(SPECIAL, k).reshape(1, -1) for k in range(3))
    for op in ("Max", "Min"):
        proto = make_model(
            [helper.make_node(op, ["a", "b", "c"], ["y"])],
            {n: (np.float32, [1, SPECIAL.size]) for n in "abc"},
            ["y"],
        )
        _against_onnxruntime(proto, {"a": a, "b": b, "c": c}, op)


@pytest.mark.parametrize("low,high", [(0.0, 6.0), (-1.0, None), (None, 1.0), (None, None)])
def test_clip_special_values(low, high):
    inputs, consts = ["x"], {}
    for name, value in (("lo", low), ("hi", high)):
        if value is None:
            inputs.append("")
        else:
            inputs.append(name)
            consts[name] = np.array(value, np.float32)
    proto = make_model([helper.make_node("Clip", inputs, ["y"])], {"x": (np.float32, [1, SPECIAL.size])}, ["y"], consts)
    _against_onnxruntime(proto, {"x": SPECIAL.reshape(1, -1)}, f"Clip({low}, {high})")


@pytest.mark.parametrize(
    "op",
    [
        "ReduceSum",
        "ReduceMean",
        "ReduceProd",
        "ReduceL1",
        "ReduceL2",
        "ReduceLogSum",
        "ReduceLogSumExp",
        "ReduceSumSquare",
    ],
)
def test_reductions_special_values(op):
    proto = make_model(
        [helper.make_node(op, ["x", "axes"], ["y"], keepdims=1)],
        {"x": (np.float32, list(ROWS.shape))},
        ["y"],
        {"axes": np.array([1], np.int64)},
        opset=18,
    )
    _against_onnxruntime(proto, {"x": ROWS}, op)


@pytest.mark.parametrize("op", ["ArgMax", "ArgMin", "Softmax", "LogSoftmax", "Hardmax"])
def test_row_operators_special_values(op):
    outputs = {"y": np.int64} if op.startswith("Arg") else ["y"]
    proto = make_model([helper.make_node(op, ["x"], ["y"], axis=1)], {"x": (np.float32, list(ROWS.shape))}, outputs)
    _against_onnxruntime(proto, {"x": ROWS}, op)


def test_normalization_and_products_propagate_nan_and_inf():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3)).astype(np.float32)
    ones, zeros = np.ones(4, np.float32), np.zeros(4, np.float32)
    cases = {
        "MatMul": ([helper.make_node("MatMul", ["x", "w"], ["y"])], {"w": w}),
        "Gemm": ([helper.make_node("Gemm", ["x", "w"], ["y"])], {"w": w}),
        "LayerNormalization": (
            [helper.make_node("LayerNormalization", ["x", "s", "b"], ["y"])],
            {"s": ones, "b": zeros},
        ),
    }
    for name, (nodes, consts) in cases.items():
        proto = make_model(nodes, {"x": (np.float32, list(ROWS.shape))}, ["y"], consts)
        _against_onnxruntime(proto, {"x": ROWS}, name)


# ---- max-type reductions: NaN anywhere gives NaN --------------------------------------------
# onnxruntime's vectorized max kernels return NaN or a number depending on where in a SIMD lane
# the NaN falls; ONNX leaves it open. rmodel's rule is numpy's: any NaN in the window gives NaN.


def test_reduce_max_min_propagate_nan():
    for op, ref in (("ReduceMax", np.max), ("ReduceMin", np.min)):
        proto = make_model(
            [helper.make_node(op, ["x", "axes"], ["y"], keepdims=0)],
            {"x": (np.float32, list(ROWS.shape))},
            ["y"],
            {"axes": np.array([1], np.int64)},
            opset=18,
        )
        assert_same_specials(_run(proto, {"x": ROWS})[0], ref(ROWS, axis=1), op)


def test_max_pools_propagate_nan():
    x = ROWS.reshape(1, 1, *ROWS.shape)
    proto = make_model(
        [helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[1, 4])], {"x": (np.float32, list(x.shape))}, ["y"]
    )
    expected = np.max(ROWS, axis=1).reshape(1, 1, -1, 1)
    assert_same_specials(_run(proto, {"x": x})[0], expected, "MaxPool")
    g = ROWS.reshape(1, ROWS.shape[0], ROWS.shape[1], 1)
    proto = make_model([helper.make_node("GlobalMaxPool", ["x"], ["y"])], {"x": (np.float32, list(g.shape))}, ["y"])
    assert_same_specials(_run(proto, {"x": g})[0], np.max(ROWS, axis=1).reshape(1, -1, 1, 1), "GlobalMaxPool")
    # many planes and long rows: the eight-lane global pooling kernel and its tail
    big = np.arange(2 * 3 * 37, dtype=np.float32).reshape(2, 3, 37, 1)
    big[0, 1, 20, 0] = np.nan
    big[1, 2, 36, 0] = np.nan
    proto = make_model([helper.make_node("GlobalMaxPool", ["x"], ["y"])], {"x": (np.float32, list(big.shape))}, ["y"])
    assert_same_specials(_run(proto, {"x": big})[0], np.max(big, axis=(2, 3), keepdims=True), "GlobalMaxPool wide")


def test_mlp_with_a_nan_feature_returns_nan():
    proto = examples.mlp()
    m = rmodel.from_onnx(proto)
    x = np.random.default_rng(1).standard_normal(m.inputs[0].shape).astype(np.float32)
    x[0, 3] = np.nan
    got = m.compile(binding="ctypes", flags=TEST_FLAGS).predict(x)
    ref = onnxruntime_run(proto, {m.input_names[0]: x}, m.output_names)[0]
    assert np.isnan(ref).all() and np.isnan(got).all()


# ---- integers: defined results where C++ would have undefined behaviour -----------------------

INT_TYPES = [np.int8, np.uint8, np.int16, np.int32, np.int64]


def _extremes(dtype: type) -> np.ndarray:
    info = np.iinfo(dtype)
    values = [info.min, info.min + 1, -1, 0, 1, 2, info.max - 1, info.max, info.max // 2 + 1]
    return np.array([v for v in values if info.min <= v <= info.max], dtype=dtype)


@pytest.mark.parametrize("dtype", INT_TYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("op", ["Add", "Sub", "Mul"])
def test_integer_arithmetic_wraps(op, dtype):
    v = _extremes(dtype)
    a, b = np.repeat(v, v.size), np.tile(v, v.size)
    proto = make_model(
        [helper.make_node(op, ["a", "b"], ["y"])], {"a": (dtype, [a.size]), "b": (dtype, [b.size])}, {"y": dtype}
    )
    got = _run(proto, {"a": a, "b": b})[0]
    with np.errstate(over="ignore"):
        expected = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply}[op](a, b)  # numpy wraps too
    np.testing.assert_array_equal(got, expected)
    if dtype in (np.int32, np.int64):  # onnxruntime implements these types
        np.testing.assert_array_equal(got, onnxruntime_run(proto, {"a": a, "b": b}, ["y"])[0])


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("op", ["Neg", "Abs", "Sign"])
def test_integer_neg_abs_of_the_minimum(op, dtype):
    v = _extremes(dtype)
    proto = make_model([helper.make_node(op, ["x"], ["y"])], {"x": (dtype, [v.size])}, {"y": dtype})
    got = _run(proto, {"x": v})[0]
    with np.errstate(over="ignore"):
        expected = {"Neg": np.negative, "Abs": np.abs, "Sign": np.sign}[op](v)
    np.testing.assert_array_equal(got, expected)
    if dtype in (np.int32, np.int64):
        np.testing.assert_array_equal(got, onnxruntime_run(proto, {"x": v}, ["y"])[0])


CAST_INPUTS = np.array(
    [
        np.nan,
        np.inf,
        -np.inf,
        3e9,
        -3e9,
        1e20,
        -1e20,
        300.7,
        -300.7,
        70000.5,
        -70000.5,
        2.9,
        -2.9,
        2**31,
        -(2**31),
        0.0,
    ],
    np.float32,
)


@pytest.mark.parametrize(
    "dtype,proto_type",
    [
        (np.int8, TensorProto.INT8),
        (np.uint8, TensorProto.UINT8),
        (np.int16, TensorProto.INT16),
        (np.int32, TensorProto.INT32),
        (np.int64, TensorProto.INT64),
        (np.bool_, TensorProto.BOOL),
    ],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
def test_float_to_integer_casts_match_onnxruntime(dtype, proto_type):
    proto = make_model(
        [helper.make_node("Cast", ["x"], ["y"], to=proto_type)], {"x": (np.float32, [CAST_INPUTS.size])}, {"y": dtype}
    )
    got = _run(proto, {"x": CAST_INPUTS})[0]
    np.testing.assert_array_equal(got, onnxruntime_run(proto, {"x": CAST_INPUTS}, ["y"])[0])
