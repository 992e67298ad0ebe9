"""Whole models against onnxruntime: MLP, CNN with BatchNorm and pooling, LSTM, GRU, and a model
with two inputs, a skip connection and two outputs; each at batch 1 and a larger batch."""

from __future__ import annotations

import dataclasses

import onnx
import pytest
from helpers import check_against_onnxruntime

import rmodel
from rmodel import examples


@pytest.mark.parametrize("name", sorted(examples.ALL))
@pytest.mark.parametrize("batch_size", [1, 5])
def test_example_model_matches_onnxruntime(name, batch_size):
    proto = examples.ALL[name]()
    onnx.checker.check_model(proto)
    m = check_against_onnxruntime(proto, batch_size=batch_size)
    assert m.batch_size == batch_size


@pytest.mark.parametrize("name", sorted(examples.ALL))
def test_verify_reports_success_through_pybind11(name):
    report = rmodel.verify(rmodel.from_onnx(examples.ALL[name](), batch_size=2))
    assert report.ok, str(report)
    assert "ok" in str(report)


def test_verify_names_the_first_diverging_operator():
    m = rmodel.from_onnx(examples.mlp(), batch_size=2)
    relu = next(op for op in m.operators if op.op_type == "Relu")
    relu.plan = dataclasses.replace(relu.plan, expression="v > 0.0f ? v : 0.01f * v")  # sabotage: a leaky ReLU
    report = rmodel.verify(m, binding="ctypes")
    assert not report.ok
    assert report.divergence is not None and report.divergence.startswith(f"{relu.name} (Relu)")
    with pytest.raises(rmodel.RModelError, match="verification failed"):
        report.raise_if_failed()
