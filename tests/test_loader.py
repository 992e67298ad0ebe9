"""ONNX loading: symbolic dims, constant folding, unsupported ops and broken files."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from helpers import check_against_onnxruntime, make_model, weights
from onnx import TensorProto, helper, numpy_helper

import rmodel
from rmodel.errors import DTypeError, ModelLoadError, ShapeError, UnsupportedOperatorError


def dense_model(batch_dim: str | int | None) -> onnx.ModelProto:
    rng = np.random.default_rng(1)
    model = make_model(
        [helper.make_node("Gemm", ["x", "W", "b"], ["y"], name="dense")],
        {"x": (np.float32, [batch_dim, 8])},
        ["y"],
        {"W": weights(rng, 8, 3), "b": weights(rng, 3)},
    )
    if batch_dim is None:  # a dim with neither value nor name
        model.graph.input[0].type.tensor_type.shape.dim[0].Clear()
    return model


@pytest.mark.parametrize("batch_dim", ["batch_size", "N", "unk__613", "StatefulPartitionedCall:0", None])
@pytest.mark.parametrize("batch_size", [1, 3])
def test_any_symbolic_batch_dim_is_fixed(batch_dim, batch_size):
    m = check_against_onnxruntime(dense_model(batch_dim), batch_size=batch_size)
    assert m.inputs[0].shape == (batch_size, 8)
    assert m.outputs[0].shape == (batch_size, 3)


def test_other_symbolic_dims_need_values():
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], {"x": (np.float32, ["batch", "seq", 4])}, ["y"])
    with pytest.raises(ShapeError, match=r"'x' axis 1 \('seq'\).*dim_values"):
        rmodel.from_onnx(model)
    m = check_against_onnxruntime(model, batch_size=2, dim_values={"seq": 5})
    assert m.inputs[0].shape == (2, 5, 4)


def test_input_shapes_override():
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], {"x": (np.float32, ["a", "b"])}, ["y"])
    m = rmodel.from_onnx(model, input_shapes={"x": (3, 7)})
    assert m.inputs[0].shape == (3, 7)
    with pytest.raises(ShapeError, match="not inputs of the model"):
        rmodel.from_onnx(model, input_shapes={"z": (1,)})


def test_empty_input_is_refused_clearly():
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], {"x": (np.float32, [2, 0, 3])}, ["y"])
    with pytest.raises(ShapeError, match="input 'x' has size 0 on axis 1; rmodel does not support empty tensors"):
        rmodel.from_onnx(model)
    # a first axis of size 0 is taken for the batch, as a symbolic one (some exporters write 0 for it)
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], {"x": (np.float32, [0, 3])}, ["y"])
    assert rmodel.from_onnx(model, batch_size=2).inputs[0].shape == (2, 3)


def test_bad_batch_size():
    with pytest.raises(ShapeError, match="positive"):
        rmodel.from_onnx(dense_model("N"), batch_size=0)


def test_constant_subgraphs_of_any_op_are_folded():
    """Weights computed from constants (ConstantOfShape, Range, Tile, CumSum...) become plain constants."""
    nodes = [
        helper.make_node("Constant", [], ["shape"], value=numpy_helper.from_array(np.array([4], np.int64))),
        helper.make_node(
            "ConstantOfShape", ["shape"], ["ones"], value=numpy_helper.from_array(np.array([0.5], np.float32))
        ),
        helper.make_node("CumSum", ["ones", "axis"], ["ramp"]),
        helper.make_node("Tile", ["ramp", "reps"], ["tiled"]),
        helper.make_node("Mul", ["x", "tiled"], ["y"]),
    ]
    model = make_model(
        nodes,
        {"x": (np.float32, ["N", 8])},
        ["y"],
        {"axis": np.array(0, np.int64), "reps": np.array([2], np.int64)},
    )
    m = check_against_onnxruntime(model, batch_size=2)
    assert [op.op_type for op in m.operators] == ["Mul"]


def test_shape_of_known_tensor_is_folded():
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Cast", ["s"], ["s32"], to=TensorProto.INT32),
        helper.make_node("ReduceProd", ["s32"], ["n"], keepdims=1),
        helper.make_node("Cast", ["n"], ["nf"], to=TensorProto.FLOAT),
        helper.make_node("Div", ["x", "nf"], ["y"]),
    ]
    model = make_model(nodes, {"x": (np.float32, ["N", 3, 4])}, ["y"])
    m = check_against_onnxruntime(model, batch_size=2)
    assert [op.op_type for op in m.operators] == ["Div"]
    np.testing.assert_array_equal(m.constants[m.operators[0].inputs[1]], np.array([24.0], np.float32))


def test_dead_branches_are_dropped():
    nodes = [
        helper.make_node("Relu", ["x"], ["y"]),
        helper.make_node("Sigmoid", ["x"], ["unused"]),
    ]
    m = rmodel.from_onnx(make_model(nodes, {"x": (np.float32, [1, 4])}, ["y"]))
    assert [op.op_type for op in m.operators] == ["Relu"]


def test_unsupported_ops_are_all_listed_at_once():
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="relu"),
        helper.make_node("TopK", ["r", "k"], ["v", "i"], name="topk_a"),
        helper.make_node("Relu", ["v"], ["v2"], name="relu_after"),
        helper.make_node("TopK", ["v2", "k"], ["w", "j"], name="topk_b"),
        helper.make_node("NonZero", ["r"], ["nz"], name="nonzero"),
        helper.make_node("Custom", ["r"], ["c"], name="custom", domain="com.example"),
    ]
    model = make_model(
        nodes,
        {"x": (np.float32, [1, 6])},
        {"w": np.float32, "nz": np.int64, "c": np.float32},
        {"k": np.array([2], np.int64)},
    )
    with pytest.raises(UnsupportedOperatorError) as info:
        rmodel.from_onnx(model)
    message = str(info.value)
    assert "3 operator type(s)" in message
    assert "TopK: nodes topk_a, topk_b" in message
    assert "NonZero: node nonzero" in message
    assert "com.example::Custom: node custom" in message
    assert "supported_operators" in message
    assert set(info.value.unsupported) == {"TopK", "NonZero", "com.example::Custom"}


@pytest.mark.parametrize(
    "content",
    [b"", b"this is not an onnx model", bytes(range(256)) * 4, None],
    ids=["empty", "text", "binary", "truncated"],
)
def test_corrupt_files_give_clear_errors(tmp_path, content):
    path = tmp_path / "bad.onnx"
    if content is None:
        content = dense_model("N").SerializeToString()[:-40]
    path.write_bytes(content)
    with pytest.raises(ModelLoadError, match="bad.onnx"):
        rmodel.from_onnx(path)


def test_missing_file():
    with pytest.raises(ModelLoadError, match="no such file"):
        rmodel.from_onnx("/nonexistent/model.onnx")


def test_broken_graph_reference():
    model = make_model([helper.make_node("Add", ["x", "ghost"], ["y"], name="add")], {"x": (np.float32, [1, 2])}, ["y"])
    with pytest.raises(ModelLoadError, match="node 'add' .* reads tensor 'ghost'"):
        rmodel.from_onnx(model)


def test_unsupported_input_dtype():
    graph = helper.make_graph(
        [helper.make_node("Identity", ["s"], ["y"])],
        "g",
        [helper.make_tensor_value_info("s", TensorProto.STRING, [1])],
        [helper.make_tensor_value_info("y", TensorProto.STRING, [1])],
    )
    with pytest.raises(DTypeError, match="input 's' has data type STRING"):
        rmodel.from_onnx(helper.make_model(graph))


def test_bad_attribute_is_named():
    model = make_model([helper.make_node("Relu", ["x"], ["y"], name="r", bogus=3)], {"x": (np.float32, [1, 2])}, ["y"])
    with pytest.raises(rmodel.RModelError, match="node 'r' \\(Relu\\) has attribute\\(s\\) bogus"):
        rmodel.from_onnx(model)


def test_outputs_that_are_constants_or_inputs(tmp_path):
    model = make_model(
        [helper.make_node("Relu", ["x"], ["y"])],
        {"x": (np.float32, [2, 3])},
        ["y", "x", "c"],
        {"c": np.arange(4, dtype=np.float32)},
    )
    model.graph.output[1].CopyFrom(helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3]))
    check_against_onnxruntime(model)


def test_shared_weights_and_repeated_use():
    rng = np.random.default_rng(3)
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["h"]),
        helper.make_node("Tanh", ["h"], ["t"]),
        helper.make_node("MatMul", ["t", "W"], ["h2"]),
        helper.make_node("Add", ["h2", "x"], ["y"]),
    ]
    check_against_onnxruntime(
        make_model(nodes, {"x": (np.float32, ["N", 6])}, ["y"], {"W": weights(rng, 6, 6)}), batch_size=5
    )


def test_loop_reading_runtime_tensors_is_reported_unsupported():
    """A Loop whose body reads a run-time tensor from the outer graph is not constant (tf2onnx GRU)."""
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Add", ["acc_in", "x"], ["acc_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_in", TensorProto.FLOAT, [1, 2]),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, [1, 2]),
        ],
    )
    model = make_model(
        [helper.make_node("Loop", ["trip", "cond", "zero"], ["y"], name="loop", body=body)],
        {"x": (np.float32, [1, 2])},
        ["y"],
        {"trip": np.array(3, np.int64), "cond": np.array(True), "zero": np.zeros((1, 2), np.float32)},
    )
    with pytest.raises(UnsupportedOperatorError, match="Loop: node loop"):
        rmodel.from_onnx(model)


def test_attribute_defaults_come_from_the_onnx_schema():
    from rmodel.operators.base import REQUIRED, onnx_defaults

    leaky = onnx_defaults("LeakyRelu", 17, {"alpha": 0.5})
    assert leaky == {"alpha": float(np.float32(0.01))}  # the schema's float32 default, not the declared value
    # Concat-1 documents axis=1 without a schema default (the declared value); Concat-4+ requires it
    assert onnx_defaults("Concat", 1, {"axis": 1}) == {"axis": 1}
    assert onnx_defaults("Concat", 13, {"axis": 1}) == {"axis": REQUIRED}
    assert set(onnx_defaults("Clip", 6, {"min": None, "max": None})) == {"min", "max"}
    assert onnx_defaults("Clip", 13, {"min": None, "max": None}) == {}
    # optional without an ONNX default: the declared value
    assert onnx_defaults("Conv", 17, {"pads": None, "group": 7})["pads"] is None
    assert onnx_defaults("Conv", 17, {"pads": None, "group": 7})["group"] == 1
    assert onnx_defaults("GRU", 1, {"direction": "forward"})["direction"] == "forward"  # schema typo corrected
    # no schema (another domain): declared as is
    assert onnx_defaults("NoSuchOp", 17, {"a": 3}) == {"a": 3}


def test_an_attribute_the_opset_does_not_have_is_refused():
    from helpers import make_model
    from onnx import helper

    proto = make_model([helper.make_node("Clip", ["x"], ["y"], min=0.0)], {"x": (np.float32, [1, 4])}, ["y"], opset=13)
    with pytest.raises(rmodel.RModelError, match="attribute"):
        rmodel.from_onnx(proto)
