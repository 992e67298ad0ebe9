"""LRN over its attribute space, ranks, special values and types.

onnxruntime is the reference wherever it runs LRN: rank 4, odd sizes, alpha > 0 and beta > 0 (it
refuses everything else). Ranks 3 and 5 are compared with onnxruntime on the same data viewed as
rank 4 (N, C, D1*D2*..., 1): LRN mixes channels only, so the two are the same computation. Even
sizes and alpha/beta <= 0 are compared with the ONNX formula evaluated in float64 (``reference``,
itself checked against onnxruntime below). Criterion: max|d| <= 1e-6 * max(1, max|ref|).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import TEST_FLAGS, check_against_onnxruntime, make_model
from onnx import helper

import rmodel
from rmodel.emitters.hls import compile_hls
from rmodel.errors import RModelError, ShapeError, UnsupportedOperatorError
from rmodel.verify import compare, onnxruntime_run


def lrn(shape=(1, 5, 3, 3), dtype=np.float32, **attrs):
    attrs.setdefault("size", 3)
    return make_model(
        [helper.make_node("LRN", ["x"], ["y"], **attrs)], {"x": (dtype, list(shape))}, {"y": dtype}, opset=13
    )


def reference(x: np.ndarray, size: int, alpha: float = 1e-4, beta: float = 0.75, bias: float = 1.0) -> np.ndarray:
    """The ONNX definition in float64: x / (bias + alpha / size * square_sum)^beta, summed over the
    channels [c - floor((size - 1) / 2), c + ceil((size - 1) / 2)]."""
    x64 = x.astype(np.float64)
    square = x64**2
    sums = np.zeros_like(x64)
    channels = x.shape[1]
    for c in range(channels):
        lo, hi = max(0, c - math.floor((size - 1) / 2)), min(channels, c + math.ceil((size - 1) / 2) + 1)
        sums[:, c] = square[:, lo:hi].sum(axis=1)
    with np.errstate(all="ignore"):
        return (x64 / (bias + alpha / size * sums) ** beta).astype(np.float32)


def run(proto, x: np.ndarray) -> np.ndarray:
    return rmodel.from_onnx(proto).compile(binding="ctypes", flags=TEST_FLAGS).predict(x)


def lrn_variants(shape, variants: list[dict]):
    """One model: an LRN node per attribute set, all reading x (outputs y0, y1, ...)."""
    nodes = [helper.make_node("LRN", ["x"], [f"y{k}"], **attrs) for k, attrs in enumerate(variants)]
    outputs = {f"y{k}": np.float32 for k in range(len(variants))}
    return make_model(nodes, {"x": (np.float32, list(shape))}, outputs, opset=13)


def assert_close(got: np.ndarray, ref: np.ndarray) -> None:
    check = compare("y", got, ref)
    assert check.passed, f"max|d| {check.max_abs_diff:.3e} > {check.tolerance:.3e} at {check.worst_index}"


#: ONNX's defaults
DEFAULTS = {"alpha": 1e-4, "beta": 0.75, "bias": 1.0}
ATTRS = [
    {},  # alpha 1e-4, beta 0.75, bias 1 (AlexNet, GoogLeNet)
    {"alpha": 2e-5, "beta": 0.75, "bias": 1.0},  # ZFNet, Inception (caffe2)
    {"alpha": 0.5, "beta": 0.75, "bias": 0.25},
    {"alpha": 1.0, "beta": 0.5, "bias": 2.0},
    {"alpha": 0.3, "beta": 1.0, "bias": 0.5},
    {"alpha": 1.0, "beta": 0.25, "bias": 1.0},
    {"alpha": 2.0, "beta": 0.3, "bias": 0.1},
    {"alpha": 0.1, "beta": 2.0, "bias": 1.0},
    {"alpha": 1.0, "beta": 0.75, "bias": 0.0},
]


@pytest.mark.parametrize("size", [1, 3, 5, 7, 9])
@pytest.mark.parametrize("shape", [(2, 5, 4, 3), (1, 3, 2, 2), (1, 16, 7, 7)])
def test_cpu_matches_onnxruntime(shape, size):
    """Every attribute set at odd sizes (onnxruntime's), also larger than the number of channels."""
    x = np.random.default_rng(size).uniform(-3, 3, shape).astype(np.float32)
    check_against_onnxruntime(lrn_variants(shape, [{"size": size, **attrs} for attrs in ATTRS]), {"x": x})


def run_all(proto, x: np.ndarray) -> list[np.ndarray]:
    """Every output of ``proto`` compiled by rmodel."""
    got = rmodel.from_onnx(proto).compile(binding="ctypes", flags=TEST_FLAGS).predict(x)
    return list(got) if isinstance(got, tuple) else [got]


@pytest.mark.parametrize("size", [1, 3, 5])
@pytest.mark.parametrize("shape", [(2, 6, 5), (1, 3, 1), (1, 4, 2, 3, 2), (2, 7, 1, 2, 3, 2)])
def test_other_ranks_match_onnxruntime_on_the_rank_4_view(shape, size):
    x = np.random.default_rng(size).uniform(-3, 3, shape).astype(np.float32)
    variants = [{"size": size, **attrs} for attrs in ATTRS]
    view = (shape[0], shape[1], math.prod(shape[2:]), 1)
    refs = onnxruntime_run(lrn_variants(view, variants), {"x": x.reshape(view)})
    for got, ref in zip(run_all(lrn_variants(shape, variants), x), refs):
        assert_close(got, ref.reshape(shape))


@pytest.mark.parametrize("size", [2, 4, 6, 8])
@pytest.mark.parametrize("shape", [(2, 5, 4, 3), (1, 3, 2), (1, 6, 2, 2, 2)])
def test_even_sizes_match_the_onnx_formula(shape, size):
    """onnxruntime refuses even sizes; ONNX defines them (one channel more after c than before).
    Without bias (the last attribute set) the running sum, onnxruntime's, can cancel to a few
    significant digits where large squares leave the window before small ones: compared with the
    exact formula only with a bias."""
    x = np.random.default_rng(size).uniform(-3, 3, shape).astype(np.float32)
    variants = [attrs for attrs in ATTRS if attrs.get("bias", 1.0) > 0]
    got = run_all(lrn_variants(shape, [{"size": size, **attrs} for attrs in variants]), x)
    for attrs, g in zip(variants, got):
        assert_close(g, reference(x, size, **{**DEFAULTS, **attrs}))


@pytest.mark.parametrize(
    "attrs",
    [{"alpha": -0.01}, {"alpha": 0.0}, {"beta": 0.0}, {"beta": -0.5}, {"beta": -1.0, "alpha": 0.5}, {"bias": 3.0}],
    ids=str,
)
def test_attributes_onnxruntime_refuses_match_the_onnx_formula(attrs):
    x = np.random.default_rng(1).uniform(-3, 3, (2, 6, 3, 3)).astype(np.float32)
    assert_close(run(lrn(x.shape, size=3, **attrs), x), reference(x, 3, **{**DEFAULTS, **attrs}))


@pytest.mark.parametrize("size", [1, 3, 5])
def test_the_formula_reference_agrees_with_onnxruntime(size):
    x = np.random.default_rng(2).uniform(-3, 3, (2, 6, 4, 4)).astype(np.float32)
    attrs = {"alpha": 0.5, "beta": 0.75, "bias": 1.5}
    (ref,) = onnxruntime_run(lrn(x.shape, size=size, **attrs), {"x": x})
    assert_close(reference(x, size, **attrs), ref)


SPECIALS = np.array(
    [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-45, -1e-40, 1e-20, 3e38, -3e38, 1e20, 1.5, -2.0], np.float32
)


SPECIAL_ATTRS = [{}, {"beta": 0.5}, {"beta": 0.25}, {"beta": 1.0}, {"beta": 0.3}, {"beta": 3.0, "alpha": 1.0}]
SPECIAL_ATTRS += [{"bias": 0.0, "beta": b} for b in (0.75, 0.5, 1.0, 0.3)]


@pytest.mark.parametrize("size", [1, 3, 5])
def test_special_values(size):
    """NaN, infinities, overflowing squares, zeros (with bias 0: 0 * inf), subnormals. onnxruntime's
    running window carries a NaN or infinity on to every later channel of the position; so does
    rmodel, so the spatial positions below each hold one special value at a different channel."""
    c = len(SPECIALS)
    x = np.random.default_rng(3).uniform(-2, 2, (1, c, c, 2)).astype(np.float32)
    for k, value in enumerate(SPECIALS):
        x[0, k, k, 0] = value
        x[0, (k + 5) % c, k, 1] = value
    check_against_onnxruntime(lrn_variants(x.shape, [{"size": size, **attrs} for attrs in SPECIAL_ATTRS]), {"x": x})


def test_all_zero_input_with_zero_bias_is_nan_as_in_onnxruntime():
    x = np.zeros((1, 4, 2, 2), np.float32)
    check_against_onnxruntime(lrn(x.shape, size=3, bias=0.0), {"x": x})


def test_many_channels_and_a_wide_dynamic_range():
    """The running sum subtracts what it added; its rounding is onnxruntime's, so even large values
    leaving the window before small ones stay within the criterion."""
    rng = np.random.default_rng(4)
    x = (rng.uniform(-1, 1, (2, 256, 3, 5)) * 10.0 ** rng.integers(-6, 6, (2, 256, 3, 5))).astype(np.float32)
    for attrs in ({"size": 5}, {"size": 5, "bias": 1e-6, "alpha": 1.0}, {"size": 11, "bias": 0.0, "beta": 0.5}):
        check_against_onnxruntime(lrn(x.shape, **attrs), {"x": x})


def test_dynamic_batch():
    proto = lrn(("N", 6, 3, 3), size=5)
    check_against_onnxruntime(proto, batch_size=3)
    m = rmodel.from_onnx(proto, batch_size=None, max_batch=8)
    x = np.random.default_rng(5).uniform(-2, 2, (5, 6, 3, 3)).astype(np.float32)
    got = m.compile(binding="ctypes", flags=TEST_FLAGS).predict(x)
    assert_close(got, onnxruntime_run(proto, {"x": x})[0])


def test_opset_1_and_13():
    x = np.random.default_rng(6).uniform(-2, 2, (1, 7, 3, 3)).astype(np.float32)
    for opset in (1, 13):
        proto = make_model(
            [helper.make_node("LRN", ["x"], ["y"], size=3, alpha=0.01)],
            {"x": (np.float32, x.shape)},
            ["y"],
            opset=opset,
        )
        check_against_onnxruntime(proto, {"x": x})


@pytest.mark.parametrize("dtype", [np.float64, np.int32])
def test_only_float32(dtype):
    with pytest.raises(ShapeError, match=f"input must be float32, got {np.dtype(dtype).name}"):
        rmodel.from_onnx(lrn(dtype=dtype))


def test_rank_below_3_and_bad_size_are_refused():
    with pytest.raises(ShapeError, match=r"shape \(N, C, D1, \.\.\.\) of rank 3 or more, got \(2, 5\)"):
        rmodel.from_onnx(lrn((2, 5)))
    with pytest.raises(RModelError, match="size must be at least 1, got 0"):
        rmodel.from_onnx(lrn(size=0))
    with pytest.raises(RModelError, match="lacks its required attribute 'size'"):
        rmodel.from_onnx(make_model([helper.make_node("LRN", ["x"], ["y"])], {"x": (np.float32, [1, 3, 2])}, ["y"]))


def test_huge_size_costs_no_more_than_the_channels():
    """A window wider than the tensor covers every channel: the generated loops do not depend on size."""
    x = np.random.default_rng(7).uniform(-2, 2, (1, 4, 2, 2)).astype(np.float32)
    proto = lrn(x.shape, size=2**40 + 1, alpha=2.0**40)
    assert_close(run(proto, x), reference(x, 2**40 + 1, alpha=2.0**40))


def test_saved_and_loaded(tmp_path):
    """A .rmodel file keeps the attributes: the loaded model generates the same code."""
    m = rmodel.from_onnx(lrn((1, 6, 3, 3), size=4, alpha=0.02, beta=0.5, bias=2.0))
    m.save(tmp_path / "lrn.rmodel")
    assert rmodel.load(tmp_path / "lrn.rmodel").generate() == m.generate()


def test_no_hls_implementation():
    with pytest.raises(UnsupportedOperatorError, match=r"no HLS implementation: LRN \(node 'lrn_0'\)"):
        compile_hls(rmodel.from_onnx(lrn()))
