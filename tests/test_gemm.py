"""Gemm and MatMul against onnxruntime: every attribute, C broadcast and operand layout."""

from __future__ import annotations

import helpers
import numpy as np
import pytest
from helpers import check_against_onnxruntime, make_model, weights
from onnx import helper

import rmodel
from rmodel.errors import RModelError, ShapeError

# (C shape or None, alpha, beta) per Gemm node; every model holds all of them, each with its own
# output, so a failure names the exact case. (N,) and (1, N) with alpha = beta = 1 are the fused
# Dense-layer path; beta = 0 must ignore C.
GEMM_VARIANTS = [
    (None, 1.0, 1.0),
    (None, 0.5, 1.0),
    ("N", 1.0, 1.0),
    ("1N", 1.0, 1.0),
    ("N", -1.5, 2.0),
    ("scalar", 1.0, 1.0),
    ("scalar", 2.0, 0.5),
    ("11", 0.25, -1.0),
    ("M1", 1.0, 1.0),
    ("M1", 0.5, 3.0),
    ("MN", 1.0, 1.0),
    ("MN", 1.5, 0.75),
    ("MN", 1.0, 0.0),
]


def _c_shape(kind: str, m: int, n: int) -> tuple[int, ...]:
    return {"scalar": (), "N": (n,), "1N": (1, n), "11": (1, 1), "M1": (m, 1), "MN": (m, n)}[kind]


def _gemm_model(m: int, k: int, n: int, trans_a: int, trans_b: int, b_const: bool, c_const: bool = True):
    rng = np.random.default_rng(m * 100 + k * 10 + n)
    a_shape = (k, m) if trans_a else (m, k)
    b_shape = (n, k) if trans_b else (k, n)
    inputs = {"A": (np.float32, a_shape)}
    inits: dict[str, np.ndarray] = {}
    if b_const:
        inits["B"] = weights(rng, *b_shape, fan_in=k)
    else:
        inputs["B"] = (np.float32, b_shape)
    nodes, outputs = [], []
    for index, (c_kind, alpha, beta) in enumerate(GEMM_VARIANTS):
        out = f"Y{index}_C{c_kind}_alpha{alpha}_beta{beta}"
        node_inputs = ["A", "B"]
        if c_kind is not None:
            c_name = f"C{index}"
            shape = _c_shape(c_kind, m, n)
            if c_const:
                inits[c_name] = rng.uniform(-1, 1, shape).astype(np.float32)
            else:
                inputs[c_name] = (np.float32, shape)
            node_inputs.append(c_name)
        attrs = {"alpha": alpha, "beta": beta, "transA": trans_a, "transB": trans_b}
        nodes.append(helper.make_node("Gemm", node_inputs, [out], **attrs))
        outputs.append(out)
    return make_model(nodes, inputs, outputs, inits, opset=13)


@pytest.mark.parametrize("b_const", [True, False], ids=["B_const", "B_runtime"])
@pytest.mark.parametrize(("trans_a", "trans_b"), [(0, 0), (0, 1), (1, 0), (1, 1)])
@pytest.mark.parametrize(("m", "k", "n"), [(3, 5, 7), (1, 16, 9)])
def test_gemm(m: int, k: int, n: int, trans_a: int, trans_b: int, b_const: bool) -> None:
    check_against_onnxruntime(_gemm_model(m, k, n, trans_a, trans_b, b_const))


@pytest.mark.parametrize(("trans_a", "trans_b"), [(0, 0), (1, 1)])
def test_gemm_runtime_c(trans_a: int, trans_b: int) -> None:
    check_against_onnxruntime(_gemm_model(4, 3, 6, trans_a, trans_b, b_const=False, c_const=False))


def test_gemm_default_attributes_and_chained_layers() -> None:
    """A two-layer MLP as PyTorch exports it (transB=1 weights), with the batch axis fixed at load."""
    rng = np.random.default_rng(5)
    nodes = [
        helper.make_node("Gemm", ["X", "W1", "B1"], ["H"], transB=1),
        helper.make_node("Relu", ["H"], ["H_relu"]),
        helper.make_node("Gemm", ["H_relu", "W2", "B2"], ["Y"], transB=1),
    ]
    inits = {"W1": weights(rng, 8, 6), "B1": weights(rng, 8), "W2": weights(rng, 4, 8), "B2": weights(rng, 4)}
    model = make_model(nodes, {"X": (np.float32, ("batch", 6))}, ["Y"], inits)
    check_against_onnxruntime(model, batch_size=3)


def test_gemm_errors() -> None:
    node = helper.make_node("Gemm", ["A", "B"], ["Y"])
    with pytest.raises(ShapeError, match="inner dimensions differ"):
        rmodel.from_onnx(make_model([node], {"A": (np.float32, (2, 3)), "B": (np.float32, (4, 5))}, ["Y"]))
    with pytest.raises(ShapeError, match="must be matrices"):
        rmodel.from_onnx(make_model([node], {"A": (np.float32, (2, 3, 4)), "B": (np.float32, (4, 5))}, ["Y"]))
    node = helper.make_node("Gemm", ["A", "B", "C"], ["Y"])
    inputs = {"A": (np.float32, (2, 3)), "B": (np.float32, (3, 5)), "C": (np.float32, (3, 5))}
    with pytest.raises(ShapeError, match=r"\(3, 5\) and \(2, 5\) do not broadcast"):
        rmodel.from_onnx(make_model([node], inputs, ["Y"]))
    node = helper.make_node("Gemm", ["A", "B"], ["Y"], transC=1)
    with pytest.raises(RModelError, match="transC"):
        rmodel.from_onnx(make_model([node], {"A": (np.float32, (2, 3)), "B": (np.float32, (3, 5))}, ["Y"]))


# ---- MatMul --------------------------------------------------------------------------------
MATMUL_SHAPES = [
    ((5,), (5, 4)),  # vector . matrix
    ((3, 5), (5,)),  # matrix . vector
    ((5,), (5,)),  # dot product -> scalar
    ((3, 5), (5, 4)),
    ((2, 3, 5), (5, 4)),  # batched left, shared right operand
    ((3, 5), (2, 5, 4)),  # shared left operand, batched right
    ((2, 3, 5), (2, 5, 4)),
    ((2, 1, 3, 5), (4, 5, 2)),  # broadcast batch dims on both sides -> (2, 4, 3, 2)
    ((1, 3, 3, 5), (2, 1, 5, 4)),
    ((2, 3, 4, 5), (5,)),  # batched matrix . vector
    ((5,), (2, 3, 5, 4)),  # vector . batched matrix
    ((1, 1, 17), (17, 33)),  # sizes off the vector width
]


@pytest.mark.parametrize(("a_shape", "b_shape"), MATMUL_SHAPES, ids=lambda s: "x".join(map(str, s)) or "scalar")
def test_matmul(a_shape: tuple[int, ...], b_shape: tuple[int, ...]) -> None:
    """The same product with B as a constant and with B computed at run time (both sides inputs)."""
    rng = np.random.default_rng(len(a_shape) * 10 + len(b_shape))
    nodes = [
        helper.make_node("MatMul", ["A", "B_const"], ["Y_const_b"]),
        helper.make_node("MatMul", ["A", "B"], ["Y_runtime_b"]),
    ]
    model = make_model(
        nodes,
        {"A": (np.float32, a_shape), "B": (np.float32, b_shape)},
        ["Y_const_b", "Y_runtime_b"],
        {"B_const": weights(rng, *b_shape, fan_in=a_shape[-1])},
    )
    check_against_onnxruntime(model)


def test_matmul_errors() -> None:
    node = helper.make_node("MatMul", ["A", "B"], ["Y"])
    with pytest.raises(ShapeError, match="inner dimensions differ"):
        rmodel.from_onnx(make_model([node], {"A": (np.float32, (2, 3)), "B": (np.float32, (4, 5))}, ["Y"]))
    with pytest.raises(ShapeError, match="do not broadcast"):
        rmodel.from_onnx(make_model([node], {"A": (np.float32, (2, 2, 3)), "B": (np.float32, (3, 3, 5))}, ["Y"]))
    with pytest.raises(ShapeError, match="only float32"):
        rmodel.from_onnx(make_model([node], {"A": (np.int32, (2, 3)), "B": (np.int32, (3, 5))}, {"Y": np.int32}))


# ---- register-blocked kernel: every row and column remainder of its tiles --------------------
TILE_SIZES = [(m, n) for m in range(1, 14) for n in (5, 16, 53)]  # rows 1..13: all remainders of 6 and 8


@pytest.mark.parametrize(
    ("trans_a", "trans_b", "b_const", "tile_rows"),
    [(0, 0, True, None), (1, 1, True, None), (0, 0, False, None), (1, 0, False, None), (0, 0, True, 6)],
    ids=["packed_B", "packed_transposed_B_transA", "runtime_B", "runtime_B_transA", "packed_B_6_row_tiles"],
)
def test_gemm_tile_remainders(
    trans_a: int, trans_b: int, b_const: bool, tile_rows: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One Dense-style Gemm (bias fused into the accumulators) per (M, N): M = 1..13 covers every
    remainder of the 8-row tile (AVX-512) and of the 6-row one (forced with -DRMODEL_GEMM_MR=6 as
    on other targets), N = 5 / 16 / 53 a lone narrow panel, one full 16-column panel, and three
    full panels plus a remainder (the last rows take several panels at a time, with a leftover
    panel for some row counts); K varies (1 included)."""
    if tile_rows is not None:
        monkeypatch.setattr(helpers, "TEST_FLAGS", (*helpers.TEST_FLAGS, f"-DRMODEL_GEMM_MR={tile_rows}"))
    rng = np.random.default_rng(11)
    nodes, inputs, inits, outputs = [], {}, {}, []
    for index, (m, n) in enumerate(TILE_SIZES):
        k = (1, 3, 8, 19)[index % 4]
        a, b, c, y = f"A{index}", f"B{index}", f"C{index}", f"Y{index}_m{m}_n{n}_k{k}"
        inputs[a] = (np.float32, (k, m) if trans_a else (m, k))
        b_value = weights(rng, *((n, k) if trans_b else (k, n)), fan_in=k)
        if b_const:
            inits[b] = b_value
        else:
            inputs[b] = (np.float32, b_value.shape)
        inits[c] = weights(rng, n)
        nodes.append(helper.make_node("Gemm", [a, b, c], [y], transA=trans_a, transB=trans_b))
        outputs.append(y)
    check_against_onnxruntime(make_model(nodes, inputs, outputs, inits, opset=13))


def test_matmul_constant_b_is_packed_not_copied() -> None:
    """A constant right operand is emitted once, in the kernel's panel layout."""
    rng = np.random.default_rng(3)
    node = helper.make_node("MatMul", ["A", "W"], ["Y"])
    model = make_model([node], {"A": (np.float32, (2, 4, 8))}, ["Y"], {"W": weights(rng, 8, 21)})
    code = rmodel.from_onnx(model).generate()
    assert code.count("[168] = {") == 1, "exactly one 8x21 weight array (the packed one)"
    check_against_onnxruntime(model)
