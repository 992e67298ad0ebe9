"""verify() against a float64 evaluation of the same ONNX (deep networks: two float32 engines
cannot agree to 1e-6, so rmodel passes when it is no less accurate than onnxruntime), and verify's
probes on models with very many outputs and with weights in a file."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from helpers import TEST_FLAGS, make_model, weights
from onnx import helper

import rmodel
from rmodel.verify import (
    VerifyReport,
    add_float64_reference,
    compare,
    first_divergence,
    float64_reference,
    onnxruntime_run,
    to_float64,
    verify,
)


def _scaled(k: int = 64) -> onnx.ModelProto:
    rng = np.random.default_rng(3)
    return make_model(
        [
            helper.make_node("MatMul", ["x", "w"], ["h"]),
            helper.make_node("Cast", ["h"], ["h64"], to=onnx.TensorProto.FLOAT),
            helper.make_node("Tanh", ["h64"], ["y"]),
        ],
        {"x": (np.float32, [2, k])},
        ["y"],
        {"w": weights(rng, k, 3)},
    )


def test_float64_copy_computes_in_float64():
    proto = _scaled()
    wide = to_float64(proto)
    assert all(t.data_type == onnx.TensorProto.DOUBLE for t in wide.graph.initializer)
    assert wide.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    assert [a.i for a in wide.graph.node[1].attribute] == [onnx.TensorProto.DOUBLE]
    x = np.random.default_rng(0).uniform(-1, 1, (2, 64)).astype(np.float32)
    exact = float64_reference(proto, {"x": x})[0]
    assert exact.dtype == np.float64
    w = onnx.numpy_helper.to_array(proto.graph.initializer[0]).astype(np.float64)
    np.testing.assert_allclose(exact, np.tanh(x.astype(np.float64) @ w), rtol=1e-14)


def _report(got: np.ndarray, ref: np.ndarray, proto: onnx.ModelProto, x: np.ndarray) -> VerifyReport:
    report = VerifyReport("m", [compare("y", got, ref)], inputs={"x": x})
    add_float64_reference(report, proto, {"x": x}, [got], [ref])
    return report


def test_no_less_accurate_than_onnxruntime_passes_and_says_so():
    proto = _scaled()
    x = np.random.default_rng(1).uniform(-1, 1, (2, 64)).astype(np.float32)
    exact = float64_reference(proto, {"x": x})[0]
    ort = (exact + 4e-6).astype(np.float32)  # an engine 4e-6 off ...
    better = (exact - 2e-6).astype(np.float32)  # ... and one 2e-6 off the other way: 6e-6 apart
    report = _report(better, ort, proto, x)
    check = report.checks[0]
    assert not check.within_tolerance and check.as_accurate_as_onnxruntime and report.ok
    assert check.f64_rmodel < check.f64_onnxruntime
    assert "ok (as accurate as onnxruntime against float64)" in str(report)
    worse = (exact - 9e-6).astype(np.float32)
    report = _report(worse, ort, proto, x)
    assert not report.ok and "FAIL" in str(report)


def test_onnxruntime_at_its_less_accurate_optimization_level_bounds_the_error():
    """onnxruntime's error depends on the order its kernels sum in, which its optimization level
    changes: rmodel passes when it is no less accurate than onnxruntime at either level."""
    proto = _scaled()
    x = np.random.default_rng(1).uniform(-1, 1, (2, 64)).astype(np.float32)
    exact = float64_reference(proto, {"x": x})[0]
    ort = (exact + 4e-6).astype(np.float32)
    middle = (exact - 6e-6).astype(np.float32)  # worse than the default level's 4e-6 ...
    report = _report(middle, ort, proto, x)
    check = report.checks[0]
    assert check.f64_onnxruntime_basic is not None and not report.ok  # (basic = default on a MatMul)
    check.f64_onnxruntime_basic = 8e-6  # ... better than a basic level 8e-6 off
    assert check.f64_onnxruntime_bound == 8e-6 and check.as_accurate_as_onnxruntime and report.ok
    assert "(basic opt)" in str(report) and "8.000e-06" in str(report)


def test_onnxruntime_basic_level_differs_on_convolutions():
    """Where onnxruntime's default level changes the layout of a convolution (NCHWc), its basic level
    sums in another order: verify measures both when the 1e-6 criterion does not already pass."""
    rng = np.random.default_rng(5)
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])]
    proto = make_model(nodes, {"x": (np.float32, [1, 64, 8, 8])}, ["y"], {"w": weights(rng, 64, 64, 3, 3, fan_in=576)})
    x = rng.uniform(-1, 1, (1, 64, 8, 8)).astype(np.float32)
    ref = onnxruntime_run(proto, {"x": x})[0]
    check = _report(ref + np.float32(1e-4), ref, proto, x).checks[0]
    assert check.f64_onnxruntime_basic is not None and check.f64_onnxruntime_basic != check.f64_onnxruntime
    check = _report(ref, ref, proto, x).checks[0]  # within tolerance: the basic level is not run
    assert check.within_tolerance and check.f64_onnxruntime is not None and check.f64_onnxruntime_basic is None


def test_verify_reports_both_engines_against_float64():
    m = rmodel.from_onnx(_scaled())
    report = verify(m, binding="ctypes", flags=TEST_FLAGS)
    check = report.checks[0]
    assert report.ok and check.f64_rmodel is not None and check.f64_onnxruntime is not None
    assert check.f64_rmodel < 1e-6 and check.f64_onnxruntime < 1e-6
    assert "f64: rmodel" in str(report)


def test_nan_where_the_reference_is_finite_is_infinitely_wrong():
    proto = _scaled()
    x = np.random.default_rng(2).uniform(-1, 1, (2, 64)).astype(np.float32)
    ref = onnxruntime_run(proto, {"x": x})[0]
    got = ref.copy()
    got[0, 0] = np.nan
    report = _report(got, ref, proto, x)
    assert report.checks[0].f64_rmodel == float("inf") and not report.ok


@pytest.mark.slow
def test_a_thousand_outputs_compile_and_verify():
    """The convenience overload (a std::tuple of vectors) is left out above 64 outputs: g++ gives up
    on tuples of about a thousand; verify's first-divergence probe returns every intermediate tensor."""
    count = 1100
    nodes = [helper.make_node("Relu" if k % 2 else "Neg", ["x"], [f"y{k}"]) for k in range(count)]
    m = rmodel.from_onnx(make_model(nodes, {"x": (np.float32, [1, 3])}, [f"y{k}" for k in range(count)]))
    code = m.generate()
    assert "std::tuple<" not in code and "no overload returning vectors" in code
    assert verify(m, binding="ctypes", flags=TEST_FLAGS).ok


def test_first_divergence_builds_its_probe_like_the_model(monkeypatch):
    """The probe gets the compile options of the model being verified (weights='file' stays a file)."""
    m = rmodel.from_onnx(_scaled())
    seen = []
    original = rmodel.RModel.compile

    def spy(self, **options):
        seen.append(options)
        return original(self, **options)

    monkeypatch.setattr(rmodel.RModel, "compile", spy)
    x = np.random.default_rng(4).uniform(-1, 1, (2, 64)).astype(np.float32)
    assert first_divergence(m, {"x": x}, "ctypes", weights="file", flags=TEST_FLAGS) is None
    assert seen == [{"binding": "ctypes", "weights": "file", "flags": TEST_FLAGS}]


@pytest.mark.parametrize(
    "attrs",
    [
        {"kernel_shape": [3, 3], "strides": [1, 1], "pads": [1, 1, 1, 1], "ceil_mode": 1},  # the evaluator's 10 x 10
        {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1},
        {"kernel_shape": [2, 3], "strides": [2, 2], "pads": [1, 0, 1, 2], "ceil_mode": 1},
        {"kernel_shape": [3, 2], "strides": [2, 1], "dilations": [2, 1], "pads": [1, 1, 0, 0]},
        {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER"},
        {"kernel_shape": [2, 2], "strides": [3, 3], "auto_pad": "SAME_LOWER"},
        {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "VALID"},
    ],
)
def test_float64_reference_max_pool_follows_the_specification(attrs):
    """onnx's reference MaxPool is replaced (rmodel/reference_ops.py): same result as onnxruntime."""
    from onnx.reference import ReferenceEvaluator

    from rmodel.reference_ops import REFERENCE_OVERRIDES

    proto = make_model([helper.make_node("MaxPool", ["x"], ["y"], **attrs)], {"x": (np.float32, [2, 3, 8, 7])}, ["y"])
    x = np.random.default_rng(6).uniform(-1, 1, (2, 3, 8, 7)).astype(np.float32)
    ref = onnxruntime_run(proto, {"x": x})[0]
    wide = ReferenceEvaluator(to_float64(proto), new_ops=REFERENCE_OVERRIDES).run(None, {"x": x.astype(np.float64)})[0]
    assert wide.dtype == np.float64 and wide.shape == ref.shape
    np.testing.assert_array_equal(wide.astype(np.float32), ref)
