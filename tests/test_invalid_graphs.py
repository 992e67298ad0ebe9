"""Graphs that are not valid ONNX (a tensor written twice, cycles, unsorted nodes, duplicated graph
inputs/outputs) are refused with a ModelLoadError naming the tensor, as onnx's checker refuses them."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from helpers import make_model
from onnx import helper

import rmodel
from rmodel.errors import ModelLoadError


def _graph(nodes, inputs=None, outputs=("y",), inits=None) -> onnx.ModelProto:
    return make_model(nodes, inputs or {"x": (np.float32, [1, 4])}, list(outputs), inits or {})


CASES = {
    "writes_a_graph_input": (
        lambda: _graph([helper.make_node("Relu", ["x"], ["x"]), helper.make_node("Relu", ["x"], ["y"])]),
        "writes tensor 'x', which is already a graph input",
    ),
    "writes_an_initializer": (
        lambda: _graph(
            [helper.make_node("Relu", ["x"], ["w"]), helper.make_node("Add", ["x", "w"], ["y"])],
            inits={"w": np.ones(4, np.float32)},
        ),
        "writes tensor 'w', which is already an initializer",
    ),
    "two_writers": (
        lambda: _graph(
            [
                helper.make_node("Relu", ["x"], ["t"], name="a"),
                helper.make_node("Neg", ["x"], ["t"], name="b"),
                helper.make_node("Abs", ["t"], ["y"]),
            ]
        ),
        "node 'b' (Neg) writes tensor 't', which is already the output of node 'a' (Relu)",
    ),
    "cycle": (
        lambda: _graph(
            [
                helper.make_node("Add", ["x", "t2"], ["t1"], name="a"),
                helper.make_node("Relu", ["t1"], ["t2"], name="b"),
                helper.make_node("Abs", ["t2"], ["y"]),
            ]
        ),
        "reads tensor 't2'",
    ),
    "unsorted": (
        lambda: _graph([helper.make_node("Abs", ["t"], ["y"], name="late"), helper.make_node("Relu", ["x"], ["t"])]),
        "not topologically sorted",
    ),
    "duplicated_output": (
        lambda: _graph([helper.make_node("Relu", ["x"], ["y"])], outputs=("y", "y")),
        "graph output 'y' is listed 2 times",
    ),
    "output_nobody_writes": (
        lambda: _graph([helper.make_node("Relu", ["x"], ["y"])], outputs=("y", "z")),
        "'z' is produced by no node",
    ),
}


def _duplicated_input() -> onnx.ModelProto:
    m = _graph([helper.make_node("Relu", ["x"], ["y"])])
    m.graph.input.append(m.graph.input[0])
    return m


CASES["duplicated_input"] = (_duplicated_input, "graph input 'x' is listed 2 times")


@pytest.mark.parametrize("case", list(CASES))
def test_invalid_graph_is_refused(case):
    make, message = CASES[case]
    proto = make()
    with pytest.raises(ModelLoadError, match=message.replace("(", r"\(").replace(")", r"\)")):
        rmodel.from_onnx(proto)
    if case != "output_nobody_writes":  # the checker leaves dangling outputs to the runtime
        with pytest.raises(onnx.checker.ValidationError):
            onnx.checker.check_model(proto)


def test_an_input_that_is_also_an_initializer_is_allowed():
    # IR version 3 style: initializers listed as graph inputs too (a default value)
    m = _graph([helper.make_node("Add", ["x", "w"], ["y"])], inits={"w": np.ones((1, 4), np.float32)})
    m.graph.input.append(helper.make_tensor_value_info("w", onnx.TensorProto.FLOAT, [1, 4]))
    assert rmodel.from_onnx(m).constants["w"].shape == (1, 4)


@pytest.mark.parametrize("slot", ["node name", "tensor name", "symbolic dim"])
def test_names_that_are_not_utf8_are_a_load_error(slot):
    """protobuf hands out bytes for a string field that is not valid UTF-8: refused, not a crash."""
    names = {"node name": "NODEQQ", "tensor name": "x", "symbolic dim": "DIMQQQ"}
    model = make_model(
        [helper.make_node("Relu", ["x"], ["y"], name="NODEQQ")],
        {"x": (np.float32, ["DIMQQQ", 4])},
        ["y"],
    )
    if slot == "tensor name":
        model.graph.input[0].name = "XQQQQQ"
        model.graph.node[0].input[0] = "XQQQQQ"
        names[slot] = "XQQQQQ"
    data = model.SerializeToString()
    marker = names[slot].encode()
    assert marker in data
    damaged = data.replace(marker, b"\xff\xfe" + marker[2:])
    with pytest.raises(ModelLoadError, match="not valid UTF-8"):
        rmodel.from_onnx(damaged)
