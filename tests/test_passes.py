"""Graph passes (rmodel.passes): each applies where it should (fewer operators, same results as
onnxruntime on the original model), leaves alone what it must, and keeps graph outputs intact."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from helpers import check_against_onnxruntime, make_model, weights
from onnx import helper

import rmodel
from rmodel.errors import RModelError
from rmodel.passes import PASSES, optimize
from rmodel.verify import onnxruntime_run, random_inputs

F32 = np.float32


def _ops(m: rmodel.RModel) -> list[str]:
    return [op.op_type for op in m.operators]


def _node_ops(proto: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in proto.graph.node]


def _check(proto: onnx.ModelProto, expected: list[str]) -> rmodel.RModel:
    """The optimized model has exactly ``expected`` operators and matches onnxruntime on ``proto``;
    its re-export is valid ONNX computing the same."""
    m = check_against_onnxruntime(proto)
    assert _ops(m) == expected
    assert _ops(rmodel.from_onnx(proto, optimize=False)) == _node_ops(proto)
    exported = m.to_onnx()
    onnx.checker.check_model(exported, full_check=True)
    feeds = random_inputs(m, rng=np.random.default_rng(1))
    for got, ref in zip(
        onnxruntime_run(exported, feeds, m.output_names), onnxruntime_run(proto, feeds, m.output_names)
    ):
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-6 * max(1.0, float(np.abs(ref).max())))
    return m


def _unchanged(proto: onnx.ModelProto) -> None:
    """No pass applies: the loaded operators are the ONNX nodes, one for one."""
    m = rmodel.from_onnx(proto)
    assert _ops(m) == _node_ops(proto)
    assert all(v == 0 for v in optimize(m).values())


# ---- MatMul + Add -> Gemm -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bias_shape", "bias_first"),
    [((6,), False), ((1, 6), True), ((), False), ((1,), True), ((1, 1), False)],
)
def test_matmul_add_becomes_gemm(bias_shape: tuple[int, ...], bias_first: bool) -> None:
    rng = np.random.default_rng(len(bias_shape))
    add_inputs = ["bias", "y"] if bias_first else ["y", "bias"]
    proto = make_model(
        [helper.make_node("MatMul", ["x", "W"], ["y"]), helper.make_node("Add", add_inputs, ["z"])],
        {"x": (F32, (3, 5))},
        ["z"],
        {"W": weights(rng, 5, 6), "bias": rng.uniform(-1, 1, bias_shape).astype(F32)},
    )
    m = _check(proto, ["Gemm"])
    assert m.output_names == ["z"]
    assert m.tensors[m.operators[0].inputs[2]].shape == (6,)  # the fast Dense path: one bias row


def _matmul_add(
    w_const: bool = True,
    bias_shape: tuple[int, ...] = (6,),
    bias_const: bool = True,
    x_shape: tuple[int, ...] = (3, 5),
    extra: str | None = None,
) -> onnx.ModelProto:
    rng = np.random.default_rng(2)
    inputs: dict[str, Any] = {"x": (F32, x_shape)}
    inits: dict[str, np.ndarray] = {}
    for name, shape, const in (("W", (5, 6), w_const), ("bias", bias_shape, bias_const)):
        if const:
            inits[name] = rng.uniform(-1, 1, shape).astype(F32)
        else:
            inputs[name] = (F32, shape)
    nodes = [helper.make_node("MatMul", ["x", "W"], ["y"]), helper.make_node("Add", ["y", "bias"], ["z"])]
    outputs = ["z"]
    if extra == "second reader":
        nodes.append(helper.make_node("Relu", ["y"], ["r"]))
        outputs.append("r")
    elif extra == "graph output":
        outputs.append("y")
    return make_model(nodes, inputs, outputs, inits)


@pytest.mark.parametrize(
    "case",
    [
        {"bias_shape": (3, 6)},
        {"bias_shape": (3, 1)},
        {"bias_shape": (1, 3, 6)},
        {"w_const": False},
        {"bias_const": False},
        {"x_shape": (2, 3, 5)},
        {"extra": "second reader"},
        {"extra": "graph output"},
    ],
    ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()),
)
def test_matmul_add_left_alone(case: dict[str, Any]) -> None:
    _unchanged(_matmul_add(**case))


def test_matmul_add_left_alone_still_matches() -> None:
    check_against_onnxruntime(_matmul_add(extra="second reader"))


# ---- Conv / Gemm / MatMul + BatchNormalization or per-channel Mul/Add/Sub ---------------------------


def _bn_params(rng: np.random.Generator, c: int) -> dict[str, np.ndarray]:
    return {
        "gamma": rng.uniform(0.5, 1.5, c).astype(F32),
        "beta": rng.uniform(-1, 1, c).astype(F32),
        "mean": rng.uniform(-0.5, 0.5, c).astype(F32),
        "var": rng.uniform(0.2, 2.0, c).astype(F32),
    }


def _bn(x: str, y: str, epsilon: float = 1e-5) -> onnx.NodeProto:
    return helper.make_node("BatchNormalization", [x, "gamma", "beta", "mean", "var"], [y], epsilon=epsilon)


@pytest.mark.parametrize(
    ("spatial", "group", "bias", "epsilon"),
    [((6, 6), 1, True, 1e-5), ((6, 6), 2, False, 1e-3), ((9,), 1, False, 1e-5), ((9,), 4, True, 0.1)],
)
def test_conv_batchnorm_folds(spatial: tuple[int, ...], group: int, bias: bool, epsilon: float) -> None:
    rng = np.random.default_rng(group)
    c_in, c_out, kernel = 4, 8, (3,) * len(spatial)
    inits = {"W": weights(rng, c_out, c_in // group, *kernel, fan_in=c_in // group * 9), **_bn_params(rng, c_out)}
    conv_inputs = ["x", "W"]
    if bias:
        inits["B"] = rng.uniform(-1, 1, c_out).astype(F32)
        conv_inputs.append("B")
    nodes = [
        helper.make_node("Conv", conv_inputs, ["c"], group=group, pads=[1] * 2 * len(spatial)),
        _bn("c", "bn", epsilon),
        helper.make_node("Relu", ["bn"], ["y"]),
    ]
    proto = make_model(nodes, {"x": (F32, (2, c_in, *spatial))}, ["y"], inits)
    m = _check(proto, ["Conv", "Relu"])
    assert m.operators[0].has_input(2)


# per-channel Mul / Add / Sub constants after a (1, 4, 5, 5) Conv output, tf2onnx style
@pytest.mark.parametrize(
    "chain",
    [
        [("Mul", (4, 1, 1)), ("Add", (1, 4, 1, 1))],
        [("Mul", ()), ("Sub", (4, 1, 1))],
        [("Add", (1, 4, 1, 1)), ("Mul", (1,))],
        [("Mul", (1, 4, 1, 1), "const first")],
    ],
    ids=lambda chain: "-".join(f"{s[0]}{s[1]}" for s in chain),
)
def test_conv_mul_add_folds(chain: list[tuple]) -> None:
    rng = np.random.default_rng(len(chain))
    inits = {"W": weights(rng, 4, 3, 3, 3, fan_in=27)}
    nodes = [helper.make_node("Conv", ["x", "W"], ["t0"])]
    for index, (op_type, shape, *order) in enumerate(chain):
        const = f"k{index}"
        inits[const] = rng.uniform(0.5, 1.5, shape).astype(F32)
        ins = [const, f"t{index}"] if order else [f"t{index}", const]
        nodes.append(helper.make_node(op_type, ins, [f"t{index + 1}"]))
    proto = make_model(nodes, {"x": (F32, (1, 3, 7, 7))}, [f"t{len(chain)}"], inits)
    _check(proto, ["Conv"])


@pytest.mark.parametrize(
    ("producer", "chain", "expected"),
    [
        ("Gemm", ["BatchNormalization"], "Gemm"),
        ("GemmTransB", ["Mul", "Add"], "Gemm"),
        ("GemmBeta0", ["Add"], "Gemm"),
        ("MatMul", ["Mul"], "MatMul"),
        ("MatMul", ["BatchNormalization"], "Gemm"),
        ("MatMul", ["Sub", "Mul"], "Gemm"),
        ("MatMul", ["Add", "Mul", "Add"], "Gemm"),
    ],
)
def test_product_affine_folds(producer: str, chain: list[str], expected: str) -> None:
    rng = np.random.default_rng(len(chain))
    k, n = 7, 5
    inits = {"C": rng.uniform(-1, 1, (4, 1)).astype(F32), **_bn_params(rng, n)}
    if producer == "MatMul":
        inits["W"] = weights(rng, k, n)
        nodes = [helper.make_node("MatMul", ["x", "W"], ["t0"])]
    else:
        trans_b = producer == "GemmTransB"
        inits["W"] = weights(rng, *((n, k) if trans_b else (k, n)), fan_in=k)
        beta = 0.0 if producer == "GemmBeta0" else 2.0
        nodes = [helper.make_node("Gemm", ["x", "W", "C"], ["t0"], alpha=0.5, beta=beta, transB=int(trans_b))]
    for index, op_type in enumerate(chain):
        if op_type == "BatchNormalization":
            nodes.append(_bn(f"t{index}", f"t{index + 1}"))
            continue
        const = f"k{index}"
        inits[const] = rng.uniform(0.5, 1.5, (n,) if index % 2 else (1, n)).astype(F32)
        nodes.append(helper.make_node(op_type, [f"t{index}", const], [f"t{index + 1}"]))
    proto = make_model(nodes, {"x": (F32, (4, k))}, [f"t{len(chain)}"], inits)
    _check(proto, [expected])


def _conv_then(node: onnx.NodeProto | None, const_shape: tuple[int, ...] | None = None, **opts: Any) -> onnx.ModelProto:
    """Conv (1, 3, 6, 6) -> (1, 4, 4, 4) then ``node`` reading "c" with constant "k" (or BN params)."""
    rng = np.random.default_rng(5)
    inputs: dict[str, Any] = {"x": (F32, (1, 3, 6, 6))}
    inits: dict[str, np.ndarray] = {**_bn_params(rng, 4)}
    if opts.get("runtime_w"):
        inputs["W"] = (F32, (4, 3, 3, 3))
    else:
        inits["W"] = weights(rng, 4, 3, 3, 3, fan_in=27)
    if const_shape is not None:
        inits["k"] = rng.uniform(0.5, 1.5, const_shape).astype(F32)
    if opts.get("zero_var"):
        inits["var"][1] = 0.0  # scale gamma / sqrt(0 + 0) = inf: not folded
    if opts.get("runtime_bn"):
        for name in ("gamma", "var"):
            inputs[name] = (F32, (4,))
            del inits[name]
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"]), node]
    outputs = [node.output[0]]
    if opts.get("second_reader"):
        nodes.append(helper.make_node("Relu", ["c"], ["r"]))
        outputs.append("r")
    if opts.get("graph_output"):
        outputs.append("c")
    return make_model(nodes, inputs, outputs, inits)


@pytest.mark.parametrize(
    "proto",
    [
        pytest.param(_conv_then(_bn("c", "y"), runtime_bn=True), id="bn-runtime-params"),
        pytest.param(_conv_then(_bn("c", "y"), second_reader=True), id="bn-second-reader"),
        pytest.param(_conv_then(_bn("c", "y"), graph_output=True), id="bn-conv-is-graph-output"),
        pytest.param(_conv_then(_bn("c", "y"), runtime_w=True), id="bn-runtime-weights"),
        pytest.param(_conv_then(helper.make_node("Mul", ["c", "k"], ["y"]), (1, 1, 4, 4)), id="mul-spatial"),
        pytest.param(_conv_then(helper.make_node("Mul", ["c", "k"], ["y"]), (2, 4, 1, 1)), id="mul-broadcasts-up"),
        pytest.param(_conv_then(helper.make_node("Add", ["c", "k"], ["y"]), (4, 1)), id="add-wrong-axis"),
        pytest.param(_conv_then(helper.make_node("Sub", ["k", "c"], ["y"]), (4, 1, 1)), id="sub-const-first"),
        pytest.param(_conv_then(helper.make_node("Div", ["c", "k"], ["y"]), (4, 1, 1)), id="div"),
        pytest.param(
            _conv_then(_bn("c", "y", epsilon=0.0), zero_var=True),
            id="bn-zero-variance",
            marks=pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning"),
        ),
    ],
)
def test_affine_fold_left_alone(proto: onnx.ModelProto) -> None:
    _unchanged(proto)


def test_fold_left_alone_still_matches() -> None:
    check_against_onnxruntime(_conv_then(_bn("c", "y"), second_reader=True))


def test_pytorch_style_residual_block() -> None:
    """Conv-BN-Relu-Conv-BN + skip -> Relu: both BatchNorms fold, the skip Add stays."""
    rng = np.random.default_rng(7)
    inits = {"W1": weights(rng, 4, 4, 3, 3, fan_in=36), "W2": weights(rng, 4, 4, 3, 3, fan_in=36)}
    nodes = []
    for index in (1, 2):
        params = _bn_params(rng, 4)
        inits.update({f"{k}{index}": v for k, v in params.items()})
        src = "x" if index == 1 else "r1"
        nodes += [
            helper.make_node("Conv", [src, f"W{index}"], [f"c{index}"], pads=[1, 1, 1, 1]),
            helper.make_node("BatchNormalization", [f"c{index}", *(f"{k}{index}" for k in params)], [f"b{index}"]),
        ]
        if index == 1:
            nodes.append(helper.make_node("Relu", ["b1"], ["r1"]))
    nodes += [helper.make_node("Add", ["b2", "x"], ["s"]), helper.make_node("Relu", ["s"], ["y"])]
    proto = make_model(nodes, {"x": (F32, (1, 4, 5, 5))}, ["y"], inits)
    _check(proto, ["Conv", "Relu", "Conv", "Add", "Relu"])


# ---- Transpose chains --------------------------------------------------------------------------


def _transposes(
    perms: list[tuple[int, ...] | None], before: bool, after: bool, extra_output: int | None = None
) -> onnx.ModelProto:
    """x (2, 3, 4, 5) -> [Relu] -> Transpose(perm) ... -> [Relu] -> y; perm None = default (reversed)."""
    nodes, current = [], "x"
    if before:
        nodes.append(helper.make_node("Relu", ["x"], ["r0"]))
        current = "r0"
    for index, perm in enumerate(perms):
        attrs = {} if perm is None else {"perm": list(perm)}
        nodes.append(helper.make_node("Transpose", [current], [f"t{index}"], **attrs))
        current = f"t{index}"
    if after:
        nodes.append(helper.make_node("Relu", [current], ["y"]))
        current = "y"
    outputs = [current] + ([f"t{extra_output}"] if extra_output is not None else [])
    return make_model(nodes, {"x": (F32, (2, 3, 4, 5))}, outputs)


NHWC, NCHW = (0, 2, 3, 1), (0, 3, 1, 2)


@pytest.mark.parametrize(
    ("perms", "before", "after", "extra_output", "expected"),
    [
        ([NHWC, NCHW], True, True, None, ["Relu", "Relu"]),  # cancel: readers read the input
        ([NHWC, NCHW], True, False, None, ["Relu"]),  # cancel, output: Relu writes the graph output
        ([NHWC, NCHW], False, False, None, ["Transpose"]),  # input returned as output: one copy kept
        ([None, None], False, True, None, ["Relu"]),  # default perms cancel
        ([NHWC, (0, 2, 1, 3)], False, True, None, ["Transpose", "Relu"]),  # composed
        ([NHWC, NHWC, NHWC], True, True, None, ["Relu", "Relu"]),  # three make the identity
        ([NHWC, NHWC, NHWC, NHWC], True, True, None, ["Relu", "Transpose", "Relu"]),  # four make one
        ([NHWC, NHWC, (0, 2, 1, 3)], False, True, None, ["Transpose", "Relu"]),
        ([(0, 1, 2, 3)], True, True, None, ["Relu", "Relu"]),  # identity perm alone
        ([NHWC, NCHW], True, True, 0, ["Relu", "Transpose", "Relu"]),  # first is an output: kept
        ([NHWC, (0, 2, 1, 3)], True, True, 0, ["Relu", "Transpose", "Transpose", "Relu"]),  # no gain
    ],
)
def test_transposes_merge(
    perms: list[tuple[int, ...] | None], before: bool, after: bool, extra_output: int | None, expected: list[str]
) -> None:
    proto = _transposes(perms, before, after, extra_output)
    m = _check(proto, expected)
    assert m.output_names == [o.name for o in proto.graph.output]


# ---- Identity / Dropout ------------------------------------------------------------------------


def test_identity_and_dropout_removed() -> None:
    nodes = [
        helper.make_node("Identity", ["x"], ["a"]),
        helper.make_node("Relu", ["a"], ["b"]),
        helper.make_node("Dropout", ["b"], ["c"]),
        helper.make_node("Identity", ["c"], ["d"]),
        helper.make_node("Sigmoid", ["d"], ["e"]),
        helper.make_node("Dropout", ["e", "ratio"], ["y"]),
    ]
    proto = make_model(nodes, {"x": (F32, (2, 9))}, ["y", "d"], {"ratio": np.array(0.3, F32)})
    m = _check(proto, ["Relu", "Sigmoid"])
    assert m.operators[0].outputs == ["d"] and m.operators[1].outputs == ["y"]


def test_dropout_opset7_removed() -> None:
    proto = make_model(
        [helper.make_node("Dropout", ["x"], ["d"], ratio=0.2), helper.make_node("Tanh", ["d"], ["y"])],
        {"x": (F32, (3, 4))},
        ["y"],
        opset=7,
    )
    _check(proto, ["Tanh"])


@pytest.mark.parametrize(
    "proto",
    [
        pytest.param(make_model([helper.make_node("Identity", ["x"], ["y"])], {"x": (F32, (4,))}, ["y"]), id="in-out"),
        pytest.param(
            make_model(
                [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Identity", ["r"], ["y"])],
                {"x": (F32, (4,))},
                ["y", "r"],
            ),
            id="input-is-output",
        ),
        pytest.param(
            make_model(
                [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Dropout", ["r"], ["y", "mask"])],
                {"x": (F32, (4,))},
                {"y": F32, "mask": np.bool_},
            ),
            id="dropout-mask-used",
        ),
    ],
)
def test_identity_kept(proto: onnx.ModelProto) -> None:
    _unchanged(proto)


# ---- optimize(), the loader switch, a real tf2onnx export --------------------------------------


def _everything() -> onnx.ModelProto:
    rng = np.random.default_rng(9)
    nodes = [
        helper.make_node("Identity", ["x"], ["i"]),
        helper.make_node("Transpose", ["i"], ["t1"], perm=[1, 0]),
        helper.make_node("Transpose", ["t1"], ["t2"], perm=[1, 0]),
        helper.make_node("MatMul", ["t2", "W"], ["mm"]),
        helper.make_node("Add", ["mm", "bias"], ["a"]),
        helper.make_node("Mul", ["a", "s"], ["y"]),
    ]
    inits = {"W": weights(rng, 6, 4), "bias": rng.uniform(-1, 1, 4).astype(F32), "s": rng.uniform(-1, 1, 4).astype(F32)}
    return make_model(nodes, {"x": (F32, (3, 6))}, ["y"], inits)


def test_optimize_false_keeps_graph_and_optimize_reports() -> None:
    proto = _everything()
    plain = rmodel.from_onnx(proto, optimize=False)
    assert _ops(plain) == _node_ops(proto)
    assert [op.name for op in plain.operators] == [f"{t.lower()}_{i}" for i, t in enumerate(_node_ops(proto))]
    counts = optimize(plain)
    assert counts == {"remove_identities": 1, "merge_transposes": 1, "matmul_add_to_gemm": 1, "fold_channel_affine": 1}
    assert _ops(plain) == ["Gemm"]
    assert sorted(plain.constants) == sorted(plain.used_constants())  # the unfolded weights are gone
    assert all(v == 0 for v in optimize(plain).values())  # a fixed point
    check_against_onnxruntime(plain)  # against its own re-export
    _check(proto, ["Gemm"])


def test_optimize_selected_passes() -> None:
    m = rmodel.from_onnx(_everything(), optimize=False)
    assert optimize(m, passes=["merge_transposes"]) == {"merge_transposes": 1}
    assert _ops(m) == ["Identity", "MatMul", "Add", "Mul"]
    assert optimize(m, passes=[PASSES["remove_identities"]]) == {"remove_identities": 1}
    assert _ops(m) == ["MatMul", "Add", "Mul"]


@pytest.mark.parametrize("bad", ["fuse_everything", 3])
def test_optimize_bad_pass(bad: Any) -> None:
    m = rmodel.from_onnx(_everything(), optimize=False)
    with pytest.raises(RModelError, match="unknown pass 'fuse_everything'|must be a name or a function"):
        optimize(m, passes=[bad])


def test_optimized_model_saves_and_loads(tmp_path: Path) -> None:
    m = rmodel.from_onnx(_everything())
    m.save(tmp_path / "m.rmodel")
    loaded = rmodel.load(tmp_path / "m.rmodel")
    assert _ops(loaded) == ["Gemm"]
    assert loaded.generate() == m.generate()


def test_tf2onnx_keras_model_shrinks() -> None:
    """tf2onnx's Dense = MatMul+Add, BatchNormalization = Mul+Add: all folded away."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    from keras_models import randomize

    lay = keras.layers
    image = keras.Input((8, 8, 3))
    x = lay.Conv2D(4, 3, padding="same")(image)
    x = lay.BatchNormalization()(x)
    x = lay.Activation("relu")(x)
    x = lay.Conv2D(5, 3)(x)
    x = lay.BatchNormalization()(x)
    x = lay.Flatten()(x)
    x = lay.Dense(6)(x)
    x = lay.BatchNormalization()(x)
    x = lay.Dense(3, activation="softmax")(x)
    proto = rmodel.keras_to_onnx(randomize(keras.Model(image, x)), converter="tf2onnx")
    plain = rmodel.from_onnx(proto, batch_size=2, optimize=False)
    m = check_against_onnxruntime(proto, batch_size=2)
    assert _ops(m).count("Gemm") == 2 and "MatMul" not in _ops(m)
    assert not {"Mul", "Add", "BatchNormalization"} & set(_ops(m))
    assert len(m.operators) <= len(plain.operators) - 8, (_ops(plain), _ops(m))
