"""Softmax family, normalization and reduction operators against onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import check_against_onnxruntime, make_model
from onnx import helper

import rmodel
from rmodel.errors import RModelError, ShapeError

RNG = np.random.default_rng(1234)


def _f32(*shape: int, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    return RNG.uniform(low, high, shape).astype(np.float32)


# ---- Softmax, LogSoftmax, Hardmax ----------------------------------------------------------
SOFTMAX_OPS = ("Softmax", "LogSoftmax", "Hardmax")


def _softmax_model(shape: tuple[int, ...], axis: int | None, opset: int):
    kwargs = {} if axis is None else {"axis": axis}
    nodes = [helper.make_node(op, ["X"], [f"{op}_out"], **kwargs) for op in SOFTMAX_OPS]
    return make_model(nodes, {"X": (np.float32, shape)}, [f"{op}_out" for op in SOFTMAX_OPS], opset=opset)


@pytest.mark.parametrize(
    ("opset", "shape", "axis"),
    [
        # opset < 13: flatten to 2-D at axis (default 1)
        (11, (2, 3, 4), None),
        (11, (2, 3, 4), 0),
        (11, (2, 3, 4), 2),
        (11, (2, 3, 4), -2),
        (11, (7,), 0),
        (10, (3, 5), None),
        # opset >= 13: one axis (default -1), any position
        (13, (2, 3, 4), None),
        (13, (2, 3, 4), 0),
        (13, (2, 3, 4), 1),
        (13, (2, 3, 4), -3),
        (13, (2, 3, 1, 5), 2),
        (13, (7,), 0),
        (13, (2, 33), -1),
    ],
)
def test_softmax_logsoftmax_hardmax(opset: int, shape: tuple[int, ...], axis: int | None) -> None:
    check_against_onnxruntime(_softmax_model(shape, axis, opset))


@pytest.mark.parametrize(("opset", "axis"), [(11, 1), (13, -1), (13, 1)])
def test_softmax_is_stable_for_large_inputs(opset: int, axis: int) -> None:
    """Inputs far beyond exp's float range: the max must be subtracted first."""
    x = _f32(2, 6, 3, low=-1000.0, high=1000.0)
    x[0, 0, 0] = 3e38
    check_against_onnxruntime(_softmax_model((2, 6, 3), axis, opset), {"X": x})


@pytest.mark.parametrize(("shape", "axis"), [((3, 1000), -1), ((37, 6), 0)])
def test_softmax_long_rows_with_underflow_and_minus_infinity(shape: tuple[int, int], axis: int) -> None:
    """Long rows (the vectorized exp loop and its remainder), contiguous and strided: entries whose
    exponential underflows to 0 or lands in the subnormal range, and -inf entries (exactly 0 out)."""
    x = _f32(*shape, low=-30.0, high=30.0)
    flat = x.reshape(-1) if axis == -1 else x.T.reshape(-1)
    n = shape[axis]
    flat[1:n:7] = -np.inf
    flat[2:n:11] = flat[0] - 95.0  # exp(-95 - ...): subnormal or 0
    flat[n : 2 * n] = np.linspace(-200.0, 0.0, n, dtype=np.float32)  # one row across the whole range
    x = flat.reshape(shape) if axis == -1 else flat.reshape(shape[::-1]).T.copy()
    nodes = [helper.make_node(op, ["X"], [op], axis=axis) for op in ("Softmax", "LogSoftmax")]
    model = make_model(nodes, {"X": (np.float32, shape)}, ["Softmax", "LogSoftmax"], opset=13)
    check_against_onnxruntime(model, {"X": x})


@pytest.mark.parametrize("axis", [0, -1])
def test_hardmax_picks_first_of_ties(axis: int) -> None:
    x = RNG.integers(0, 3, (4, 5)).astype(np.float32)
    check_against_onnxruntime(_softmax_model((4, 5), axis, 13), {"X": x})


@pytest.mark.parametrize("op", SOFTMAX_OPS)
def test_softmax_errors(op: str) -> None:
    model = make_model([helper.make_node(op, ["X"], ["Y"], axis=3)], {"X": (np.float32, (2, 3, 4))}, ["Y"])
    with pytest.raises(ShapeError, match="axis 3 is out of range"):
        rmodel.from_onnx(model)
    model = make_model([helper.make_node(op, ["X"], ["Y"])], {"X": (np.int32, (2, 3))}, {"Y": np.int32})
    with pytest.raises(ShapeError, match="must be float32"):
        rmodel.from_onnx(model)


# ---- BatchNormalization --------------------------------------------------------------------
def _bn_params(c: int | tuple[int, ...]) -> dict[str, np.ndarray]:
    shape = (c,) if isinstance(c, int) else c
    return {
        "scale": _f32(*shape, low=0.5, high=2.0),
        "bias": _f32(*shape),
        "mean": _f32(*shape),
        "var": _f32(*shape, low=0.1, high=2.0),
    }


BN_INPUTS = ["X", "scale", "bias", "mean", "var"]


@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 5), (2, 3, 4, 4), (1, 3, 2, 2, 3)])
@pytest.mark.parametrize(("opset", "epsilon"), [(9, None), (15, 1e-3)])
def test_batchnorm_constant_parameters(shape: tuple[int, ...], opset: int, epsilon: float | None) -> None:
    kwargs = {} if epsilon is None else {"epsilon": epsilon}
    if opset >= 14:
        kwargs["training_mode"] = 0
    node = helper.make_node("BatchNormalization", BN_INPUTS, ["Y"], momentum=0.99, **kwargs)
    model = make_model([node], {"X": (np.float32, shape)}, ["Y"], _bn_params(shape[1]), opset=opset)
    check_against_onnxruntime(model)


@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 5)])
def test_batchnorm_runtime_parameters(shape: tuple[int, ...]) -> None:
    params = _bn_params(shape[1])
    inputs = {"X": (np.float32, shape), **{k: (np.float32, v.shape) for k, v in params.items()}}
    node = helper.make_node("BatchNormalization", BN_INPUTS, ["Y"], epsilon=1e-2)
    model = make_model([node], inputs, ["Y"], opset=14)
    check_against_onnxruntime(model, {"X": _f32(*shape), **params})


@pytest.mark.parametrize("spatial", [0, 1])
def test_batchnorm_opset7_spatial(spatial: int) -> None:
    shape = (2, 3, 4)
    params = _bn_params(shape[1] if spatial else shape[1:])
    node = helper.make_node("BatchNormalization", BN_INPUTS, ["Y"], spatial=spatial, epsilon=1e-4)
    model = make_model([node], {"X": (np.float32, shape)}, ["Y"], params, opset=7)
    check_against_onnxruntime(model)


def test_batchnorm_errors() -> None:
    params = _bn_params(3)
    node = helper.make_node("BatchNormalization", BN_INPUTS, ["Y"], training_mode=1)
    with pytest.raises(RModelError, match="training_mode=1 is not supported"):
        rmodel.from_onnx(make_model([node], {"X": (np.float32, (2, 3))}, ["Y"], params, opset=15))
    node = helper.make_node("BatchNormalization", BN_INPUTS, ["Y", "running_mean", "running_var"])
    with pytest.raises(RModelError, match="training-mode statistics"):
        rmodel.from_onnx(
            make_model([node], {"X": (np.float32, (2, 3))}, ["Y", "running_mean", "running_var"], params, opset=15)
        )
    node = helper.make_node("BatchNormalization", BN_INPUTS, ["Y"])
    with pytest.raises(ShapeError, match=r"scale has shape \(3,\), expected \(4,\)"):
        rmodel.from_onnx(make_model([node], {"X": (np.float32, (2, 4, 5))}, ["Y"], params, opset=15))
    with pytest.raises(ShapeError, match=r"X must have shape \(N, C, ...\)"):
        rmodel.from_onnx(make_model([node], {"X": (np.float32, (3,))}, ["Y"], params, opset=15))


# ---- LayerNormalization --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("shape", "axis", "param_shape", "bias", "stats"),
    [
        ((2, 3, 8), -1, (8,), True, False),
        ((2, 3, 8), 1, (3, 8), True, True),
        ((2, 3, 8), 0, (2, 3, 8), False, True),
        ((2, 3, 8), -2, (1, 8), True, False),  # scale broadcast over the normalized shape
        ((5, 300), -1, (300,), False, False),  # a long row
        ((6,), 0, (6,), True, True),
    ],
)
def test_layernorm(shape, axis, param_shape, bias, stats) -> None:
    inputs = ["X", "S", "B"] if bias else ["X", "S"]
    outputs = ["Y", "Mean", "InvStdDev"] if stats else ["Y"]
    nodes = [
        helper.make_node("LayerNormalization", inputs, outputs, axis=axis),
        helper.make_node("LayerNormalization", inputs, ["Y_eps"], axis=axis, epsilon=0.5),
    ]
    inits = {"S": _f32(*param_shape, low=0.5, high=2.0), "B": _f32(*param_shape)}
    if not bias:
        del inits["B"]
    check_against_onnxruntime(make_model(nodes, {"X": (np.float32, shape)}, outputs + ["Y_eps"], inits))


def test_layernorm_runtime_scale_and_bias() -> None:
    node = helper.make_node("LayerNormalization", ["X", "S", "B"], ["Y"], axis=-1)
    model = make_model([node], {"X": (np.float32, (3, 4, 6)), "S": (np.float32, (6,)), "B": (np.float32, (6,))}, ["Y"])
    check_against_onnxruntime(model)


def test_layernorm_errors() -> None:
    inputs = {"X": (np.float32, (2, 3, 8))}
    node = helper.make_node("LayerNormalization", ["X", "S"], ["Y"], stash_type=0)
    with pytest.raises(RModelError, match="stash_type=0 is not supported"):
        rmodel.from_onnx(make_model([node], inputs, ["Y"], {"S": _f32(8)}))
    node = helper.make_node("LayerNormalization", ["X", "S"], ["Y"], axis=-1)
    with pytest.raises(ShapeError, match="does not broadcast to the normalized shape"):
        rmodel.from_onnx(make_model([node], inputs, ["Y"], {"S": _f32(3, 8)}))
    node = helper.make_node("LayerNormalization", ["X", "S"], ["Y"], axis=1)
    with pytest.raises(ShapeError, match="computed at run time"):
        rmodel.from_onnx(make_model([node], {**inputs, "S": (np.float32, (1, 8))}, ["Y"]))


# ---- InstanceNormalization, LpNormalization ------------------------------------------------
@pytest.mark.parametrize(("shape", "epsilon"), [((2, 3, 5), None), ((1, 4, 3, 3), 1e-2), ((2, 2, 2, 3, 2), 1e-6)])
def test_instancenorm(shape: tuple[int, ...], epsilon: float | None) -> None:
    kwargs = {} if epsilon is None else {"epsilon": epsilon}
    node = helper.make_node("InstanceNormalization", ["X", "S", "B"], ["Y"], **kwargs)
    inits = {"S": _f32(shape[1], low=0.5, high=2.0), "B": _f32(shape[1])}
    check_against_onnxruntime(make_model([node], {"X": (np.float32, shape)}, ["Y"], inits))


def test_instancenorm_errors() -> None:
    node = helper.make_node("InstanceNormalization", ["X", "S", "B"], ["Y"])
    with pytest.raises(ShapeError, match="rank >= 3"):
        rmodel.from_onnx(make_model([node], {"X": (np.float32, (2, 3))}, ["Y"], {"S": _f32(3), "B": _f32(3)}))
    with pytest.raises(ShapeError, match=r"scale has shape \(4,\), expected \(3,\)"):
        rmodel.from_onnx(make_model([node], {"X": (np.float32, (2, 3, 4))}, ["Y"], {"S": _f32(4), "B": _f32(3)}))


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_lpnorm(axis: int) -> None:
    nodes = [helper.make_node("LpNormalization", ["X"], [f"Y{p}"], axis=axis, p=p) for p in (1, 2)]
    nodes.append(helper.make_node("LpNormalization", ["X"], ["Y_default"]))
    x = _f32(3, 4, 5)
    x[1, :, :] = 0.0  # zero norms along every axis somewhere: the output is 0 there
    x[:, 2, :] = 0.0
    model = make_model(nodes, {"X": (np.float32, (3, 4, 5))}, ["Y1", "Y2", "Y_default"])
    check_against_onnxruntime(model, {"X": x})


def test_lpnorm_errors() -> None:
    node = helper.make_node("LpNormalization", ["X"], ["Y"], p=3)
    with pytest.raises(RModelError, match="p must be 1 or 2"):
        rmodel.from_onnx(make_model([node], {"X": (np.float32, (2, 3))}, ["Y"]))


# ---- Reductions ----------------------------------------------------------------------------
REDUCE_OPS = (
    "ReduceSum",
    "ReduceMean",
    "ReduceProd",
    "ReduceSumSquare",
    "ReduceL1",
    "ReduceL2",
    "ReduceLogSum",
    "ReduceLogSumExp",
    "ReduceMax",
    "ReduceMin",
)
AXES_INPUT_FROM = {op: 13 if op == "ReduceSum" else 18 for op in REDUCE_OPS}


def _reduce_model(shape, axes, opset, ops=REDUCE_OPS, dtype=np.float32, **attrs):
    """All ``ops`` over the same input in one model; ReduceLogSum reads |X| so its input is positive."""
    nodes = [helper.make_node("Abs", ["X"], ["X_abs"])]
    inits = {}
    for op in ops:
        source = "X_abs" if op == "ReduceLogSum" else "X"
        if opset >= AXES_INPUT_FROM[op]:
            inputs = [source] if axes is None else [source, "axes"]
            if axes is not None:
                inits["axes"] = np.array(axes, dtype=np.int64)
            nodes.append(helper.make_node(op, inputs, [op], **attrs))
        else:
            kwargs = dict(attrs) if axes is None else {**attrs, "axes": axes}
            nodes.append(helper.make_node(op, [source], [op], **kwargs))
    return make_model(nodes, {"X": (dtype, shape)}, {op: dtype for op in ops}, inits, opset=opset)


@pytest.mark.parametrize("keepdims", [0, 1])
@pytest.mark.parametrize(
    "axes",
    [None, [0], [-1], [1, 2], [0, 2], [1, 3], [0, 3], [3, 0, 1], [0, 1, 2, 3]],
    ids=lambda a: "all" if a is None else "_".join(map(str, a)),
)
def test_reduce_axes_as_input(axes, keepdims: int) -> None:
    check_against_onnxruntime(_reduce_model((2, 3, 4, 5), axes, 18, keepdims=keepdims))


@pytest.mark.parametrize(("axes", "keepdims"), [(None, 1), ([1], 0), ([-3, -1], 1), ([0, 2], 0)])
@pytest.mark.parametrize("opset", [11, 13])
def test_reduce_axes_as_attribute(axes, keepdims: int, opset: int) -> None:
    check_against_onnxruntime(_reduce_model((3, 2, 4), axes, opset, keepdims=keepdims))


@pytest.mark.parametrize("noop", [0, 1])
def test_reduce_empty_axes(noop: int) -> None:
    """Empty axes reduce everything, or (noop_with_empty_axes=1) apply only the element transform."""
    model = _reduce_model((2, 3), [], 18, noop_with_empty_axes=noop)
    check_against_onnxruntime(model)


def test_reduce_shapes_with_ones_and_long_rows() -> None:
    check_against_onnxruntime(_reduce_model((1, 3, 1, 257), [1, 3], 18, keepdims=1))
    check_against_onnxruntime(_reduce_model((1, 3, 1, 257), [0, 2], 18, keepdims=0))


def test_reduce_plan_merges_loops() -> None:
    """Adjacent reduced (or kept) axes become one loop; extent-1 axes none; a trailing reduced loop
    alone is the row form (one contiguous row per output, no workspace)."""
    ops = ("ReduceSum", "ReduceMax")
    middle = rmodel.from_onnx(_reduce_model((2, 3, 1, 4, 5), [1, 2, 3], 18, ops=ops)).operators[1].plan
    assert (middle.reduced, middle.count, middle.row_form) == (frozenset({1, 2, 3}), 12, False)
    assert [(g.extent, g.reduced) for g in middle.groups] == [(2, False), (12, True), (5, False)]
    rows = rmodel.from_onnx(_reduce_model((2, 3, 4), [-1, 1], 18, ops=ops)).operators[1].plan
    assert [(g.extent, g.reduced) for g in rows.groups] == [(2, False), (12, True)] and rows.row_form


def test_reduce_log_sum_exp_is_stable() -> None:
    x = _f32(2, 3, 4, low=-500.0, high=500.0)
    x[0, 0, 0] = 3e38
    for axes in ([2], [0, 2]):
        model = _reduce_model((2, 3, 4), axes, 18, ops=("ReduceLogSumExp", "ReduceMax"))
        check_against_onnxruntime(model, {"X": x})


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
@pytest.mark.parametrize("axes", [[1], [0, 2]])
def test_reduce_integers(dtype, axes) -> None:
    ops = ("ReduceSum", "ReduceProd", "ReduceMax", "ReduceMin")
    x = RNG.integers(-5, 6, (3, 4, 2)).astype(dtype)
    check_against_onnxruntime(_reduce_model((3, 4, 2), axes, 18, ops=ops, dtype=dtype), {"X": x})


def test_reduce_errors() -> None:
    with pytest.raises(ShapeError, match="name an axis twice"):
        rmodel.from_onnx(_reduce_model((2, 3), [1, -1], 18, ops=("ReduceMean",)))
    with pytest.raises(ShapeError, match="axis 2 is out of range"):
        rmodel.from_onnx(_reduce_model((2, 3), [2], 11, ops=("ReduceMax",)))
    with pytest.raises(ShapeError, match="input must be float32, got int32"):
        rmodel.from_onnx(_reduce_model((2, 3), [1], 18, ops=("ReduceMean",), dtype=np.int32))
    node = helper.make_node("ReduceSum", ["X", "A"], ["Y"])
    model = make_model([node], {"X": (np.float32, (2, 3)), "A": (np.int64, (1,))}, ["Y"], opset=13)
    with pytest.raises(RModelError, match="must be a constant known at generation time"):
        rmodel.from_onnx(model)
    node = helper.make_node("ReduceMax", ["X", "A"], ["Y"])
    model = make_model([node], {"X": (np.float32, (2, 3))}, ["Y"], {"A": np.array([1])}, opset=13)
    with pytest.raises(RModelError, match="takes axes as an attribute"):
        rmodel.from_onnx(model)


# ---- ArgMax / ArgMin -----------------------------------------------------------------------
@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize(("keepdims", "last"), [(1, 0), (0, 1)])
def test_argmax_argmin(axis: int, keepdims: int, last: int) -> None:
    outputs = {}
    nodes = []
    for op in ("ArgMax", "ArgMin"):
        nodes.append(helper.make_node(op, ["X"], [op], axis=axis, keepdims=keepdims, select_last_index=last))
        outputs[op] = np.int64
    # few distinct values: many ties, so first/last selection matters
    x = RNG.integers(0, 3, (3, 4, 5)).astype(np.float32)
    check_against_onnxruntime(make_model(nodes, {"X": (np.float32, (3, 4, 5))}, outputs, opset=13), {"X": x})


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_argmax_integers_and_defaults(dtype) -> None:
    nodes = [helper.make_node("ArgMax", ["X"], ["A"]), helper.make_node("ArgMin", ["X"], ["B"], axis=1)]
    x = RNG.integers(-100, 100, (4, 6)).astype(dtype)
    model = make_model(nodes, {"X": (dtype, (4, 6))}, {"A": np.int64, "B": np.int64}, opset=11)
    check_against_onnxruntime(model, {"X": x})


def test_argmax_errors() -> None:
    node = helper.make_node("ArgMax", ["X"], ["Y"], axis=-3)
    with pytest.raises(ShapeError, match="axis -3 is out of range"):
        rmodel.from_onnx(make_model([node], {"X": (np.float32, (2, 3))}, {"Y": np.int64}))
    node = helper.make_node("ArgMax", ["X"], ["Y"], select_last_index=1)
    with pytest.raises(RModelError, match="select_last_index"):
        rmodel.from_onnx(make_model([node], {"X": (np.float32, (2, 3))}, {"Y": np.int64}, opset=11))


# ---- Einsum --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("equation", "shapes"),
    [
        ("abc,cd->abd", [(2, 3, 5), (5, 4)]),  # Keras EinsumDense
        ("abc,cde->abde", [(2, 3, 4), (4, 2, 3)]),  # EinsumDense into heads
        ("ij,kj->ik", [(3, 5), (4, 5)]),  # transposed right operand
        ("bij,bjk->bik", [(2, 3, 5), (2, 5, 4)]),  # batched matmul
        ("bhqd,bhkd->bhqk", [(1, 2, 3, 4), (1, 2, 5, 4)]),  # attention scores
        ("ij,jk", [(3, 5), (5, 4)]),  # implicit output "ik"
        ("ij->ji", [(3, 5)]),
        ("ii->i", [(4, 4)]),  # diagonal
        ("i,i->", [(6,), (6,)]),  # dot product -> scalar
        ("abc->b", [(2, 3, 4)]),
    ],
)
def test_einsum(equation: str, shapes: list[tuple[int, ...]]) -> None:
    names = [f"X{i}" for i in range(len(shapes))]
    node = helper.make_node("Einsum", names, ["Y"], equation=equation)
    model = make_model([node], {n: (np.float32, s) for n, s in zip(names, shapes, strict=True)}, ["Y"], opset=13)
    check_against_onnxruntime(model)


def test_einsum_errors() -> None:
    def load(equation: str, *shapes: tuple[int, ...]) -> None:
        names = [f"X{i}" for i in range(len(shapes))]
        node = helper.make_node("Einsum", names, ["Y"], equation=equation)
        rmodel.from_onnx(
            make_model([node], {n: (np.float32, s) for n, s in zip(names, shapes, strict=True)}, ["Y"], opset=13)
        )

    with pytest.raises(RModelError, match="ellipsis"):
        load("...c,cd->...d", (2, 3), (3, 4))
    with pytest.raises(ShapeError, match="label 'c' has size 3 and 4"):
        load("ac,cd->ad", (2, 3), (4, 4))
    with pytest.raises(ShapeError, match="has 2 labels but input 1 has shape"):
        load("ac,cd->ad", (2, 3), (3, 4, 1))
    with pytest.raises(RModelError, match="repeats a label or uses one that no operand has"):
        load("ac,cd->az", (2, 3), (3, 4))
