"""Shrink over its attribute space, special values and types: CPU against onnxruntime (1e-6) and
the HLS C simulation (float mode: 1e-6; fixed point: within the type's resolution)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import check_against_onnxruntime, make_model
from onnx import helper
from test_hls import assert_matches, hls_errors

import rmodel
from rmodel.errors import RModelError


def shrink(shape=(2, 3, 5), **attrs):
    return make_model([helper.make_node("Shrink", ["x"], ["y"], **attrs)], {"x": (np.float32, list(shape))}, ["y"])


ATTRS = [{}, {"lambd": 1.0}, {"bias": 0.25}, {"bias": -0.5, "lambd": 0.0}, {"bias": 2.0, "lambd": 0.3}]


@pytest.mark.parametrize("attrs", ATTRS, ids=str)
@pytest.mark.parametrize("shape", [(7,), (2, 3, 5), (1, 1, 4, 4)])
def test_cpu_matches_onnxruntime(shape, attrs):
    x = np.random.default_rng(0).uniform(-2, 2, shape).astype(np.float32)
    check_against_onnxruntime(shrink(shape, **attrs), {"x": x})


def test_special_values_and_thresholds():
    x = np.array([np.nan, np.inf, -np.inf, 0.5, -0.5, 0.5000001, -0.5000001, 0.0, -0.0], np.float32)
    check_against_onnxruntime(shrink(x.shape, bias=0.1), {"x": x})


def test_only_float32():
    proto = make_model([helper.make_node("Shrink", ["x"], ["y"])], {"x": (np.int32, [4])}, {"y": np.int32})
    with pytest.raises(RModelError, match="input must be float32, got int32"):
        rmodel.from_onnx(proto)


@pytest.mark.parametrize("attrs", ATTRS, ids=str)
def test_hls_float_mode(attrs):
    assert_matches(shrink(**attrs))


def test_hls_fixed_point():
    """Soft thresholding (bias == lambd) is continuous, so quantizing x moves y by at most a few
    steps of ap_fixed<16,6> (2^-10); with bias != lambd an input rounded across the threshold jumps."""
    errors = hls_errors(shrink(bias=0.5, lambd=0.5), precision="ap_fixed<16,6>", samples=4)
    assert all(d <= 4 * 2**-10 for d, _ in errors.values()), errors
