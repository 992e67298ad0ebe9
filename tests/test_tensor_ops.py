"""Tensor and shape operators against onnxruntime: Reshape, Flatten, Squeeze, Unsqueeze, Dropout,
Expand, Tile, Transpose, Concat, Split, Slice, Gather, GatherElements, GatherND, Pad, Cast, CastLike, Resize,
Upsample.

To keep compile time low, one model often holds many variants of an operator (one output each);
a mismatch names the output, and so the variant.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest
from helpers import check_against_onnxruntime, make_model
from onnx import TensorProto, helper

import rmodel
from rmodel.errors import DTypeError, RModelError, ShapeError
from rmodel.operators.strided_copy import merge_dims

F32 = np.float32
I64 = np.int64


def node(op: str, inputs: Sequence[str], outputs: Sequence[str], **attrs: Any):
    return helper.make_node(op, list(inputs), list(outputs), **attrs)


def check(
    nodes: Sequence[Any],
    inputs: Mapping[str, tuple[Any, Sequence[int]]],
    outputs: Sequence[str] | Mapping[str, Any],
    inits: Mapping[str, np.ndarray] | None = None,
    opset: int = 17,
    feeds: Mapping[str, np.ndarray] | None = None,
) -> rmodel.RModel:
    """Compile and compare with onnxruntime; every node must run at run time (nothing folded)."""
    model = make_model(nodes, inputs, outputs, initializers=inits, opset=opset)
    m = check_against_onnxruntime(model, feeds)
    assert [op.op_type for op in m.operators] == [n.op_type for n in nodes]
    return m


def load(nodes, inputs, outputs, inits=None, opset: int = 17) -> rmodel.RModel:
    return rmodel.from_onnx(make_model(nodes, inputs, outputs, initializers=inits, opset=opset))


# ---- Transpose ------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(3, 5), (2, 3, 4), (2, 3, 4, 5)])
def test_transpose_every_perm(shape):
    perms = list(itertools.permutations(range(len(shape))))
    nodes = [node("Transpose", ["x"], [f"y{k}"], perm=list(p)) for k, p in enumerate(perms)]
    nodes.append(node("Transpose", ["x"], ["y_default"]))  # reverses the axes
    check(nodes, {"x": (F32, shape)}, [f"y{k}" for k in range(len(perms))] + ["y_default"])


def test_transpose_integer_and_unit_dims():
    nodes = [
        node("Transpose", ["x"], ["a"], perm=[2, 0, 3, 1]),
        node("Transpose", ["x"], ["b"], perm=[1, 0, 2, 3]),
    ]
    check(nodes, {"x": (I64, (1, 3, 1, 4))}, {"a": I64, "b": I64})


def test_adjacent_dims_are_collapsed():
    # perm (1, 2, 0) of (2, 3, 4): dims 1 and 2 stay adjacent -> a 2-deep loop nest
    extents, (src, dst) = merge_dims((3, 4, 2), (4, 1, 12), (8, 2, 1))
    assert extents == [12, 2] and src == [1, 12] and dst == [2, 1]
    m = load([node("Transpose", ["x"], ["y"], perm=[1, 2, 0])], {"x": (F32, (2, 3, 4))}, ["y"])
    code = m.generate()
    assert code.count("for (std::size_t") == 2
    assert "dst_[i0 * 2 + i1] = src_[i0 + i1 * 12];" in code


def test_transpose_bad_perm():
    with pytest.raises(ShapeError, match=r"perm \[0, 0, 1\] is not a permutation"):
        load([node("Transpose", ["x"], ["y"], perm=[0, 0, 1])], {"x": (F32, (2, 3, 4))}, ["y"])


# ---- Reshape, Flatten, Squeeze, Unsqueeze, Dropout ---------------------------------------------


RESHAPES = [[0, -1], [-1], [2, 0, -1], [6, 4], [-1, 1, 3], [0, 0, 2, 2], [1, 24, 1]]


def test_reshape_zero_and_minus_one():
    nodes = [node("Reshape", ["x", f"s{k}"], [f"y{k}"]) for k in range(len(RESHAPES))]
    inits = {f"s{k}": np.array(s, dtype=I64) for k, s in enumerate(RESHAPES)}
    m = check(nodes, {"x": (F32, (2, 3, 4))}, [f"y{k}" for k in range(len(RESHAPES))], inits)
    assert [o.shape for o in m.outputs] == [(2, 12), (24,), (2, 3, 4), (6, 4), (8, 1, 3), (2, 3, 2, 2), (1, 24, 1)]


def test_reshape_allowzero_and_old_opset():
    m = check([node("Reshape", ["x", "s"], ["y"], allowzero=1)], {"x": (F32, (2, 3))}, ["y"], {"s": np.array([3, 2])})
    assert m.outputs[0].shape == (3, 2)
    check([node("Reshape", ["x", "s"], ["y"])], {"x": (I64, (2, 3))}, {"y": I64}, {"s": np.array([-1])}, opset=7)


@pytest.mark.parametrize(
    "shape, message",
    [
        ([-1, -1], "more than one -1"),
        ([5, -1], "cannot reshape"),
        ([7], "cannot reshape"),
        ([2, 3, 0, 0], "0 at axis 3"),
        ([-2, 12], "invalid dim -2"),
    ],
)
def test_reshape_errors(shape, message):
    with pytest.raises(ShapeError, match=message):
        load([node("Reshape", ["x", "s"], ["y"])], {"x": (F32, (2, 3, 4))}, ["y"], {"s": np.array(shape, dtype=I64)})


def test_reshape_to_runtime_shape_is_rejected():
    with pytest.raises(ShapeError, match="computed at run time"):
        load([node("Reshape", ["x", "s"], ["y"])], {"x": (F32, (2, 3)), "s": (I64, (2,))}, ["y"])


def test_flatten_every_axis():
    axes = [-3, -2, -1, 0, 1, 2, 3]
    nodes = [node("Flatten", ["x"], [f"y{k}"], axis=a) for k, a in enumerate(axes)]
    m = check(nodes, {"x": (F32, (2, 3, 4))}, [f"y{k}" for k in range(len(axes))])
    assert [o.shape for o in m.outputs] == [(1, 24), (2, 12), (6, 4), (1, 24), (2, 12), (6, 4), (24, 1)]
    with pytest.raises(ShapeError, match="axis 4 is out of range"):
        load([node("Flatten", ["x"], ["y"], axis=4)], {"x": (F32, (2, 3, 4))}, ["y"])


@pytest.mark.parametrize("opset", [11, 13])
def test_squeeze_unsqueeze(opset):
    squeeze = [[1], [-3], [1, 3], [-1, 1], None]
    unsqueeze = [[0], [-1], [1, 3], [-1, 0], [2, -3]]

    def axes_node(op: str, name: str, axes: list[int] | None, inits: dict) -> Any:
        if axes is None:
            return node(op, ["x"], [name])
        if opset < 13:
            return node(op, ["x"], [name], axes=axes)
        inits[f"{name}_axes"] = np.array(axes, dtype=I64)
        return node(op, ["x", f"{name}_axes"], [name])

    inits: dict[str, np.ndarray] = {}
    nodes = [axes_node("Squeeze", f"s{k}", a, inits) for k, a in enumerate(squeeze)]
    nodes += [axes_node("Unsqueeze", f"u{k}", a, inits) for k, a in enumerate(unsqueeze)]
    names = [n.output[0] for n in nodes]
    m = check(nodes, {"x": (F32, (2, 1, 3, 1))}, names, inits, opset=opset)
    shapes = dict(zip(names, (o.shape for o in m.outputs), strict=True))
    assert shapes["s4"] == (2, 3) and shapes["s1"] == (2, 3, 1) and shapes["u3"] == (1, 2, 1, 3, 1, 1)


def test_squeeze_unsqueeze_errors():
    with pytest.raises(ShapeError, match=r"cannot squeeze axes \[0\]"):
        load([node("Squeeze", ["x", "a"], ["y"])], {"x": (F32, (2, 1))}, ["y"], {"a": np.array([0])}, opset=13)
    with pytest.raises(ShapeError, match="name the same output axis twice"):
        load([node("Unsqueeze", ["x", "a"], ["y"])], {"x": (F32, (2,))}, ["y"], {"a": np.array([0, -3])}, opset=13)
    with pytest.raises(ShapeError, match="axis 5 is out of range"):
        load([node("Unsqueeze", ["x", "a"], ["y"])], {"x": (F32, (2,))}, ["y"], {"a": np.array([5])}, opset=13)


def test_dropout_is_identity_with_all_true_mask():
    nodes = [node("Dropout", ["x", "r"], ["y", "mask"]), node("Dropout", ["x"], ["z"])]
    check(nodes, {"x": (F32, (3, 5))}, {"y": F32, "mask": np.bool_, "z": F32}, {"r": np.array(0.3, F32)}, opset=13)
    check([node("Dropout", ["x"], ["y"], ratio=0.2)], {"x": (F32, (4,))}, ["y"], opset=10)
    with pytest.raises(ShapeError, match="training_mode is true"):
        load(
            [node("Dropout", ["x", "r", "t"], ["y"])],
            {"x": (F32, (4,))},
            ["y"],
            {"r": np.array(0.5, F32), "t": np.array(True)},
            opset=13,
        )


# ---- Expand, Tile ----------------------------------------------------------------------------


def test_expand_shapes():
    targets = [[2, 3, 4], [3, 1], [4, 3, 4], [1], [2, 1, 1, 1]]
    nodes = [node("Expand", ["x", f"s{k}"], [f"y{k}"]) for k in range(len(targets))]
    inits = {f"s{k}": np.array(t, dtype=I64) for k, t in enumerate(targets)}
    m = check(nodes, {"x": (F32, (3, 1))}, [f"y{k}" for k in range(len(targets))], inits)
    assert [o.shape for o in m.outputs] == [(2, 3, 4), (3, 1), (4, 3, 4), (3, 1), (2, 1, 3, 1)]
    with pytest.raises(ShapeError, match="do not broadcast"):
        load([node("Expand", ["x", "s"], ["y"])], {"x": (F32, (3, 2))}, ["y"], {"s": np.array([3, 4])})


def test_tile_repeats():
    repeats = [[1, 1, 1], [2, 1, 1], [1, 3, 2], [2, 2, 2], [1, 1, 4]]
    nodes = [node("Tile", ["x", f"r{k}"], [f"y{k}"]) for k in range(len(repeats))]
    inits = {f"r{k}": np.array(r, dtype=I64) for k, r in enumerate(repeats)}
    check(nodes, {"x": (F32, (2, 1, 3))}, [f"y{k}" for k in range(len(repeats))], inits)
    check([node("Tile", ["x", "r"], ["y"])], {"x": (I64, (2, 3))}, {"y": I64}, {"r": np.array([3, 2])})
    with pytest.raises(ShapeError, match="repeats"):
        load([node("Tile", ["x", "r"], ["y"])], {"x": (F32, (2, 3))}, ["y"], {"r": np.array([2])})


# ---- Concat, Split ---------------------------------------------------------------------------


def test_concat_any_axis():
    # for each axis: a, b (run time) and c (constant) differ only along that axis
    nodes, inputs, inits = [], {}, {}
    for axis in (0, 1, 2, -1, -3):
        shapes = [[2, 3, 4], [2, 3, 4], [2, 3, 4]]
        for k in range(3):
            shapes[k][axis] = k + 1
        tag = f"{axis}".replace("-", "m")
        inputs[f"a{tag}"], inputs[f"b{tag}"] = (F32, shapes[0]), (F32, shapes[1])
        inits[f"c{tag}"] = np.arange(np.prod(shapes[2]), dtype=F32).reshape(shapes[2])
        nodes.append(node("Concat", [f"a{tag}", f"b{tag}", f"c{tag}"], [f"y{tag}"], axis=axis))
    check(nodes, inputs, [n.output[0] for n in nodes], inits)


def test_empty_slice_into_concat():
    # an empty intermediate tensor (start past end) is legal and costs nothing
    nodes = [node("Slice", ["x", "s", "e"], ["t"]), node("Concat", ["x", "t"], ["y"], axis=0)]
    m = check(nodes, {"x": (F32, (3, 4))}, ["y"], {"s": np.array([2]), "e": np.array([1])})
    assert m.tensors["t"].shape == (0, 4)


def test_concat_integers_and_errors():
    check([node("Concat", ["a", "b"], ["y"], axis=0)], {"a": (I64, (2,)), "b": (I64, (3,))}, {"y": I64})
    with pytest.raises(ShapeError, match="does not fit"):
        load([node("Concat", ["a", "b"], ["y"], axis=0)], {"a": (F32, (2, 3)), "b": (F32, (2, 4))}, ["y"])
    with pytest.raises(ShapeError, match="different dtypes"):
        load([node("Concat", ["a", "b"], ["y"], axis=0)], {"a": (F32, (2,)), "b": (I64, (2,))}, ["y"])


@pytest.mark.parametrize(
    "opset, axis, split, count",
    [
        (11, 1, [2, 1, 4], 3),  # sizes as attribute
        (13, -1, [1, 5], 2),  # sizes as input
        (13, 0, None, 2),  # equal parts
        (18, 1, None, 3),  # num_outputs, uneven: 3, 3, 1
        (18, 2, None, 2),  # num_outputs, even
    ],
)
def test_split(opset, axis, split, count):
    inits = {}
    inputs = ["x"]
    attrs: dict[str, Any] = {"axis": axis}
    if split is not None and opset < 13:
        attrs["split"] = split
    elif split is not None:
        inits["s"] = np.array(split, dtype=I64)
        inputs.append("s")
    elif opset >= 18:
        attrs["num_outputs"] = count
    outs = [f"y{k}" for k in range(count)]
    check([node("Split", inputs, outs, **attrs)], {"x": (F32, (4, 7, 6))}, outs, inits, opset=opset)


def test_split_errors():
    with pytest.raises(ShapeError, match="summing to 7"):
        load([node("Split", ["x", "s"], ["a", "b"], axis=1)], {"x": (F32, (4, 7))}, ["a", "b"], {"s": np.array([3, 3])})
    with pytest.raises(ShapeError, match="does not split into 2 equal parts"):
        load([node("Split", ["x"], ["a", "b"], axis=1)], {"x": (F32, (4, 7))}, ["a", "b"])


# ---- Slice -----------------------------------------------------------------------------------

BIG = 2**62
# (starts, ends, axes or None, steps or None)
SLICES = [
    ([1, 0], [3, 10], None, None),
    ([0], [-1], [2], None),
    ([-2], [BIG], [-1], None),
    ([4], [-BIG], [2], [-1]),  # full reverse
    ([-1, 3], [-BIG, 0], [0, 1], [-2, -1]),
    ([1], [6], [2], [2]),
    ([5], [0], [2], [-3]),
    ([0, 0, 0], [BIG, BIG, BIG], [0, 1, 2], [1, 2, 3]),
    ([-100], [100], [1], [1]),  # starts/ends far out of range are clamped
]


def test_slice_variants():
    nodes, inits = [], {}
    for k, (starts, ends, axes, steps) in enumerate(SLICES):
        names = ["x", f"st{k}", f"en{k}"]
        inits[f"st{k}"], inits[f"en{k}"] = np.array(starts, dtype=I64), np.array(ends, dtype=I64)
        if axes is not None or steps is not None:
            names.append(f"ax{k}" if axes is not None else "")
            if axes is not None:
                inits[f"ax{k}"] = np.array(axes, dtype=I64)
        if steps is not None:
            names.append(f"sp{k}")
            inits[f"sp{k}"] = np.array(steps, dtype=I64)
        nodes.append(node("Slice", names, [f"y{k}"]))
    check(nodes, {"x": (F32, (3, 4, 6))}, [f"y{k}" for k in range(len(SLICES))], inits)


def test_slice_int32_parameters_and_attributes():
    inits = {"s": np.array([1], np.int32), "e": np.array([-1], np.int32)}
    check([node("Slice", ["x", "s", "e"], ["y"])], {"x": (I64, (5, 2))}, {"y": I64}, inits)
    check(
        [node("Slice", ["x"], ["y"], starts=[1, -3], ends=[3, 100], axes=[0, -1])], {"x": (F32, (4, 5))}, ["y"], opset=9
    )


def test_slice_errors():
    with pytest.raises(ShapeError, match="step 0"):
        load(
            [node("Slice", ["x", "s", "e", "a", "p"], ["y"])],
            {"x": (F32, (4,))},
            ["y"],
            {"s": np.array([0]), "e": np.array([2]), "a": np.array([0]), "p": np.array([0])},
        )
    with pytest.raises(ShapeError, match="ends .input 2. must be a constant"):
        load([node("Slice", ["x", "s", "e"], ["y"])], {"x": (F32, (4,)), "e": (I64, (1,))}, ["y"], {"s": np.array([0])})
    with pytest.raises(ShapeError, match="sliced twice"):
        load(
            [node("Slice", ["x", "s", "e", "a"], ["y"])],
            {"x": (F32, (4, 4))},
            ["y"],
            {"s": np.array([0, 1]), "e": np.array([2, 3]), "a": np.array([1, -1])},
        )


# ---- Gather, GatherElements --------------------------------------------------------------------

# constant indices: scalar, evenly spaced (one strided copy), arbitrary (table), negative
CONST_INDICES = [np.array(1), np.array(-1), np.array([0, 2]), np.array([[3, -4], [1, 1]]), np.array([2, 1, 0])]


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_gather_constant_indices(axis):
    shape = (4, 5, 6)
    nodes, inits = [], {}
    for k, idx in enumerate(CONST_INDICES):
        inits[f"i{k}"] = idx.astype(I64 if k % 2 else np.int32)
        nodes.append(node("Gather", ["x", f"i{k}"], [f"y{k}"], axis=axis))
    check(nodes, {"x": (F32, shape)}, [f"y{k}" for k in range(len(nodes))], inits)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_gather_runtime_indices(axis):
    shape = (3, 4, 5)
    extent = shape[axis]
    rng = np.random.default_rng(3)
    feeds = {
        "x": rng.uniform(-1, 1, shape).astype(F32),
        "i64": rng.integers(-extent, extent, (2, 3)).astype(I64),
        "i32": rng.integers(-extent, extent, (4,)).astype(np.int32),
    }
    nodes = [node("Gather", ["x", "i64"], ["y"], axis=axis), node("Gather", ["x", "i32"], ["z"], axis=axis)]
    inputs = {"x": (F32, shape), "i64": (I64, (2, 3)), "i32": (np.int32, (4,))}
    check(nodes, inputs, ["y", "z"], feeds=feeds)


def test_gather_integer_data_scalar_index_and_embedding():
    # integer data with a 0-d run-time index; an embedding lookup (constant table, run-time ids)
    rng = np.random.default_rng(6)
    feeds = {"x": np.arange(12, dtype=I64).reshape(3, 4), "i": np.array(-2, dtype=I64), "ids": np.array([[7, 0, -1]])}
    nodes = [node("Gather", ["x", "i"], ["y"], axis=1), node("Gather", ["table", "ids"], ["emb"])]
    inputs = {"x": (I64, (3, 4)), "i": (I64, ()), "ids": (I64, (1, 3))}
    table = {"table": rng.uniform(-1, 1, (10, 6)).astype(F32)}
    check(nodes, inputs, {"y": I64, "emb": F32}, table, feeds=feeds)


def test_gather_errors():
    with pytest.raises(ShapeError, match="index 5 is out of range"):
        load([node("Gather", ["x", "i"], ["y"], axis=1)], {"x": (F32, (2, 5))}, ["y"], {"i": np.array([0, 5])})
    with pytest.raises(ShapeError, match="axis 2 is out of range"):
        load([node("Gather", ["x", "i"], ["y"], axis=2)], {"x": (F32, (2, 5))}, ["y"], {"i": np.array([0])})
    with pytest.raises(ShapeError, match="indices must be int32 or int64"):
        load([node("Gather", ["x", "i"], ["y"])], {"x": (F32, (2, 5)), "i": (F32, (1,))}, ["y"])


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_gather_elements(axis):
    shape, idx_shape = (3, 4, 5), [3, 4, 5]
    idx_shape[axis] = 2
    idx_shape[(axis + 1) % 3] -= 1  # indices may be smaller than data on other axes too
    extent = shape[axis]
    rng = np.random.default_rng(4)
    feeds = {"x": rng.uniform(-1, 1, shape).astype(F32), "i": rng.integers(-extent, extent, idx_shape).astype(I64)}
    inputs = {"x": (F32, shape), "i": (I64, idx_shape)}
    const = {"c": rng.integers(-extent, extent, idx_shape).astype(I64)}
    nodes = [node("GatherElements", ["x", "i"], ["y"], axis=axis), node("GatherElements", ["x", "c"], ["z"], axis=axis)]
    check(nodes, inputs, ["y", "z"], const, feeds=feeds)


@pytest.mark.parametrize(
    "data_shape, index_shape, batch_dims",
    [
        ((4, 5), (3, 2), 0),  # whole elements
        ((4, 5, 3), (2, 2, 1), 0),  # rows of 5 x 3
        ((4, 5, 3), (6, 2), 0),  # rows of 3
        ((1, 1, 1, 8), (3, 1, 3, 1, 2), 0),  # the adaptive pooling pattern of a torch.export AlexNet
        ((2, 4, 3), (2, 5, 1), 1),  # per batch element
        ((2, 3, 4, 5), (2, 3, 2, 1), 2),
    ],
)
def test_gather_nd(data_shape, index_shape, batch_dims):
    """Constant and run-time indices, negative ones included, over depth and batch_dims."""
    rng = np.random.default_rng(5)
    extents = data_shape[batch_dims : batch_dims + index_shape[-1]]

    def indices() -> np.ndarray:
        per_axis = [rng.integers(-e, e, index_shape[:-1]) for e in extents]
        return np.stack(per_axis, axis=-1).astype(I64)

    feeds = {"x": rng.uniform(-1, 1, data_shape).astype(F32), "i": indices()}
    inputs = {"x": (F32, data_shape), "i": (I64, index_shape)}
    nodes = [
        node("GatherND", ["x", "i"], ["y"], batch_dims=batch_dims),
        node("GatherND", ["x", "c"], ["z"], batch_dims=batch_dims),
    ]
    check(nodes, inputs, ["y", "z"], {"c": indices()}, feeds=feeds)


@pytest.mark.parametrize(
    "data_shape, index_shape, batch_dims, message",
    [
        ((4, 5), (3, 3), 0, r"last dim of indices \(3, 3\) must be in \[1, 2\]"),
        ((4, 5), (3, 1), 1, r"first 1 \(batch\) dims of data \(4, 5\) and indices \(3, 1\) differ"),
        ((4, 5), (4, 1), 2, r"batch_dims 2 must be in \[0, 2\)"),
    ],
)
def test_gather_nd_errors(data_shape, index_shape, batch_dims, message):
    with pytest.raises(ShapeError, match=message):
        load(
            [node("GatherND", ["x", "i"], ["y"], batch_dims=batch_dims)],
            {"x": (F32, data_shape), "i": (I64, index_shape)},
            ["y"],
        )
    with pytest.raises(ShapeError, match="index 4 is out of range"):
        load([node("GatherND", ["x", "i"], ["y"])], {"x": (F32, (4, 5))}, ["y"], {"i": np.array([[4, 0]])})


# ---- Pad -------------------------------------------------------------------------------------

CONSTANT_PADS = [[0, 0, 0, 0], [1, 2, 3, 0], [0, 1, 0, 2], [-1, 1, 1, -2], [2, -3, -1, 1], [-1, -1, -1, -1]]


def test_pad_constant_mode():
    nodes, inits = [], {"v": np.array(1.5, F32)}
    for k, pads in enumerate(CONSTANT_PADS):
        inits[f"p{k}"] = np.array(pads, dtype=I64)
        nodes.append(node("Pad", ["x", f"p{k}", "v" if k % 2 else ""], [f"y{k}"]))
    check(nodes, {"x": (F32, (3, 4))}, [f"y{k}" for k in range(len(nodes))], inits)


def test_pad_runtime_value_axes_and_attributes():
    pads = {"p": np.array([1, 2, 0, 1, 0, 3], dtype=I64)}
    check([node("Pad", ["x", "p", "v"], ["y"])], {"x": (F32, (2, 3, 4)), "v": (F32, ())}, ["y"], pads)
    inits = {"p": np.array([2, -1, 1, 3], dtype=I64), "a": np.array([-1, 0], dtype=I64), "v": np.array(7, I64)}
    check([node("Pad", ["x", "p", "v", "a"], ["y"])], {"x": (I64, (2, 3, 4))}, {"y": I64}, inits, opset=18)
    check([node("Pad", ["x"], ["y"], pads=[0, 1, 2, 1], value=-2.0)], {"x": (F32, (3, 2))}, ["y"], opset=10)
    # nothing to pad: the run-time value is not read (it compiled with an unused variable before)
    no_pads = {"p": np.zeros(4, dtype=I64)}
    check([node("Pad", ["x", "p", "v"], ["y"])], {"x": (F32, (2, 3)), "v": (F32, ())}, ["y"], no_pads)


@pytest.mark.parametrize("mode", ["reflect", "edge", "wrap"])
def test_pad_border_modes(mode):
    pad_sets = [[1, 2, 0, 2, 1, 0], [0, 0, 3, 2, 2, 2], [2, 1, 1, 1, 0, 3]]
    nodes, inits = [], {}
    for k, pads in enumerate(pad_sets):
        inits[f"p{k}"] = np.array(pads, dtype=I64)
        nodes.append(node("Pad", ["x", f"p{k}"], [f"y{k}"], mode=mode))
    check(nodes, {"x": (F32, (3, 4, 4))}, [f"y{k}" for k in range(len(nodes))], inits, opset=19)


@pytest.mark.parametrize(
    "mode, pads, message",
    [
        ("reflect", [0, 3, 0, 0], "must be below its extent 3"),
        ("edge", [0, -1, 0, 1], "only supported in constant mode"),
        ("constant", [0, -3, 0, -2], "crop more than"),
        ("constant", [1, 1], r"must hold 2 x 2 numbers"),
        ("mirror", [0, 0, 0, 0], "mode 'mirror' is not supported"),
    ],
)
def test_pad_errors(mode, pads, message):
    with pytest.raises(RModelError, match=message):
        load([node("Pad", ["x", "p"], ["y"], mode=mode)], {"x": (F32, (2, 3))}, ["y"], {"p": np.array(pads, dtype=I64)})


# ---- Cast ------------------------------------------------------------------------------------

CAST_TYPES = [np.float32, np.float64, np.int64, np.int32, np.int8, np.uint8, np.bool_]


def _cast_feed(src: Any, dst: Any, rng: np.random.Generator) -> np.ndarray:
    """Values every target type holds (no undefined float->int overflow), incl. zeros and negatives."""
    src, dst = np.dtype(src), np.dtype(dst)
    if src == np.bool_:
        return rng.integers(0, 2, (3, 7)).astype(bool)
    low = 0 if dst == np.uint8 and not np.issubdtype(src, np.integer) else -120
    if src == np.uint8:
        values = rng.integers(0, 256, (3, 7))
    elif np.issubdtype(src, np.integer):
        values = rng.integers(-300, 300, (3, 7))  # narrowing integer casts wrap around
    else:
        values = rng.uniform(low, 120, (3, 7))
        values[0, :3] = [0.0, -0.0 if low < 0 else 0.5, 2.5]
    return values.astype(src)


@pytest.mark.parametrize("src", CAST_TYPES, ids=lambda t: np.dtype(t).name)
def test_cast_every_pair(src):
    rng = np.random.default_rng(5)
    nodes, inputs, outputs, feeds = [], {}, {}, {}
    for k, dst in enumerate(CAST_TYPES):
        name = f"x{k}"
        inputs[name] = (src, (3, 7))
        feeds[name] = _cast_feed(src, dst, rng)
        nodes.append(node("Cast", [name], [f"y{k}"], to=int(helper.np_dtype_to_tensor_dtype(np.dtype(dst)))))
        outputs[f"y{k}"] = dst
    check(nodes, inputs, outputs, feeds=feeds)


def test_castlike_and_errors():
    inits = {"like": np.zeros(1, np.int32)}
    check([node("CastLike", ["x", "like"], ["y"])], {"x": (F32, (4, 3))}, {"y": np.int32}, inits, opset=15)
    # the runtime 'like' tensor is only read for its type
    check([node("CastLike", ["x", "l"], ["y"])], {"x": (I64, (4,)), "l": (F32, (2,))}, ["y"], opset=15)
    with pytest.raises(DTypeError, match="target type"):
        load([node("Cast", ["x"], ["y"], to=TensorProto.STRING)], {"x": (F32, (2,))}, ["y"])


# ---- Resize, Upsample ------------------------------------------------------------------------

NEAREST_SCALES = [[1, 1, 2, 2], [1, 1, 3, 1.5], [1, 1, 0.5, 0.75], [1, 2, 1.7, 0.4]]
COORDINATE_MODES = [
    "half_pixel",
    "asymmetric",
    "align_corners",
    "pytorch_half_pixel",
    "tf_half_pixel_for_nn",
    "half_pixel_symmetric",
]


@pytest.mark.parametrize("coordinates", COORDINATE_MODES)
def test_resize_nearest_scales(coordinates):
    opset = 19 if coordinates == "half_pixel_symmetric" else 11 if coordinates == "tf_half_pixel_for_nn" else 13
    nodes, inits = [], {}
    for k, scales in enumerate(NEAREST_SCALES):
        inits[f"s{k}"] = np.array(scales, F32)
        for mode in ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil"):
            nodes.append(
                node(
                    "Resize",
                    ["x", "roi" if opset < 13 else "", f"s{k}"],
                    [f"y{k}_{mode}"],
                    mode="nearest",
                    coordinate_transformation_mode=coordinates,
                    nearest_mode=mode,
                )
            )
    if opset < 13:
        inits["roi"] = np.array([], F32)
    check(nodes, {"x": (F32, (1, 2, 5, 4))}, [n.output[0] for n in nodes], inits, opset=opset)


@pytest.mark.parametrize("coordinates", ["half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel"])
def test_resize_linear(coordinates):
    scales = [[1, 1, 2, 2], [1, 1, 0.5, 1.5], [1, 1, 2.5, 1], [1, 1, 0.6, 0.8]]
    nodes = [
        node("Resize", ["x", "", f"s{k}"], [f"y{k}"], mode="linear", coordinate_transformation_mode=coordinates)
        for k in range(len(scales))
    ]
    nodes.append(
        node("Resize", ["x", "", "", "size"], ["z"], mode="linear", coordinate_transformation_mode=coordinates)
    )
    inits = {f"s{k}": np.array(s, F32) for k, s in enumerate(scales)} | {"size": np.array([1, 2, 7, 3], I64)}
    check(nodes, {"x": (F32, (1, 2, 5, 4))}, [n.output[0] for n in nodes], inits, opset=13)


def test_resize_sizes_axes_and_3d():
    # sizes instead of scales, axes (opset 18), trilinear and a 3-D (UpSampling1D-like) input
    inits = {"sz": np.array([7, 3], I64), "s3": np.array([1, 1, 2, 2, 2], F32), "s1": np.array([1, 2, 1], F32)}
    nodes = [
        node("Resize", ["x", "", "", "sz"], ["a"], mode="nearest", axes=[3, 2]),
        node("Resize", ["v", "", "s3"], ["b"], mode="linear"),
        node(
            "Resize",
            ["w", "", "s1"],
            ["c"],
            mode="nearest",
            coordinate_transformation_mode="asymmetric",
            nearest_mode="floor",
        ),
    ]
    inputs = {"x": (F32, (1, 2, 5, 4)), "v": (F32, (1, 1, 2, 3, 2)), "w": (F32, (2, 5, 3))}
    check(nodes, inputs, ["a", "b", "c"], inits, opset=18)


def test_keras_upsampling2d_pattern_and_integers():
    # tf2onnx exports UpSampling2D (channels last) as Resize nearest/asymmetric/floor on NHWC
    inits = {"s": np.array([1, 2, 3, 1], F32)}
    resize = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
    check([node("Resize", ["x", "", "s"], ["y"], **resize)], {"x": (F32, (2, 3, 4, 5))}, ["y"], inits, opset=13)
    check([node("Resize", ["x", "", "s"], ["y"], **resize)], {"x": (np.uint8, (1, 3, 2, 2))}, {"y": np.uint8}, inits)


def test_tf2onnx_upsampling1d_pattern():
    """tf2onnx writes Keras UpSampling1D/2D (nearest) as Unsqueeze -> Tile -> Reshape, the target shape
    computed from Shape; the shape arithmetic folds and the three copies run."""
    nodes = [
        node("Unsqueeze", ["x", "axes"], ["x4"]),
        node("Tile", ["x4", "reps"], ["tiled"]),
        node("Shape", ["x"], ["shape"]),
        node("Cast", ["shape"], ["shape_f"], to=TensorProto.FLOAT),
        node("Mul", ["shape_f", "factor"], ["scaled"]),
        node("Cast", ["scaled"], ["target"], to=TensorProto.INT64),
        node("Reshape", ["tiled", "target"], ["y"]),
    ]
    inits = {"axes": np.array([2], I64), "reps": np.array([1, 1, 2, 1], I64), "factor": np.array([1, 2, 1], F32)}
    model = make_model(nodes, {"x": (F32, ["N", 6, 3])}, ["y"], initializers=inits, opset=13)
    m = check_against_onnxruntime(model, batch_size=2)
    assert [op.op_type for op in m.operators] == ["Unsqueeze", "Tile", "Reshape"]


@pytest.mark.parametrize("op, opset", [("Upsample", 9), ("Resize", 10)])
@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_legacy_upsample_and_resize10(op, opset, mode):
    scales = [[1, 1, 2, 3], [1, 1, 1.5, 2.5]] + ([[1, 1, 0.5, 0.8]] if op == "Resize" else [])
    nodes = [node(op, ["x", f"s{k}"], [f"y{k}"], mode=mode) for k in range(len(scales))]
    inits = {f"s{k}": np.array(s, F32) for k, s in enumerate(scales)}
    check(nodes, {"x": (F32, (1, 2, 4, 5))}, [n.output[0] for n in nodes], inits, opset=opset)


def test_upsample7_scales_attribute():
    check(
        [node("Upsample", ["x"], ["y"], mode="nearest", scales=[1.0, 1.0, 2.0, 2.0])],
        {"x": (F32, (1, 2, 3, 3))},
        ["y"],
        opset=7,
    )


@pytest.mark.parametrize(
    "attrs, inits, message",
    [
        ({"mode": "cubic"}, {"s": [1, 1, 2, 2]}, "mode 'cubic' is not supported"),
        ({"coordinate_transformation_mode": "tf_crop_and_resize"}, {"s": [1, 1, 2, 2]}, "tf_crop_and_resize"),
        ({}, {"s": [1, 2]}, "must hold 4 positive numbers"),
        ({}, {"s": [1, 1, 0, 2]}, "must hold 4 positive numbers"),
        ({"antialias": 1}, {"s": [1, 1, 2, 2]}, "antialias"),
    ],
)
def test_resize_errors(attrs, inits, message):
    with pytest.raises(ShapeError, match=message):
        load(
            [node("Resize", ["x", "", "s"], ["y"], **attrs)],
            {"x": (F32, (1, 1, 2, 2))},
            ["y"],
            {k: np.array(v, F32) for k, v in inits.items()},
            opset=18,
        )


def test_resize_runtime_scales_rejected():
    with pytest.raises(ShapeError, match="scales .input 2. must be a constant"):
        load([node("Resize", ["x", "", "s"], ["y"])], {"x": (F32, (1, 1, 2, 2)), "s": (F32, (4,))}, ["y"], opset=13)


# ---- constant chains fold away ------------------------------------------------------------------


def test_shape_gather_concat_reshape_chain_folds():
    nodes = [
        node("Shape", ["x"], ["shape"]),
        node("Gather", ["shape", "zero"], ["batch"], axis=0),
        node("Unsqueeze", ["batch", "axes"], ["batch1"]),
        node("Concat", ["batch1", "minus_one"], ["target"], axis=0),
        node("Reshape", ["x", "target"], ["y"]),
    ]
    inits = {"zero": np.array(0, I64), "axes": np.array([0], I64), "minus_one": np.array([-1], I64)}
    model = make_model(nodes, {"x": (F32, ["N", 3, 4])}, ["y"], initializers=inits, opset=13)
    m = check_against_onnxruntime(model, batch_size=2)
    assert [op.op_type for op in m.operators] == ["Reshape"]
    assert m.outputs[0].shape == (2, 12)


def test_cast_to_int32_shape_chain_folds():
    nodes = [
        node("Shape", ["x"], ["shape"]),
        node("Cast", ["shape"], ["shape32"], to=TensorProto.INT32),
        node("Slice", ["shape32", "one", "three"], ["tail"]),
        node("ReduceProd", ["tail"], ["features"], keepdims=1),
        node("Cast", ["features"], ["features64"], to=TensorProto.INT64),
        node("Concat", ["minus_one", "features64"], ["target"], axis=0),
        node("Reshape", ["x", "target"], ["y"]),
    ]
    inits = {"one": np.array([1], np.int32), "three": np.array([3], np.int32), "minus_one": np.array([-1], I64)}
    model = make_model(nodes, {"x": (F32, [2, 3, 4])}, ["y"], initializers=inits, opset=13)
    m = check_against_onnxruntime(model)
    assert [op.op_type for op in m.operators] == ["Reshape"]


FOLDED = {
    "Reshape": ([node("Reshape", ["c", "shape"], ["t"])], {"shape": np.array([3, 2], I64)}),
    "Flatten": ([node("Flatten", ["c"], ["t"], axis=0)], {}),
    "Squeeze": ([node("Squeeze", ["c1"], ["t"])], {}),
    "Unsqueeze": ([node("Unsqueeze", ["c", "axes"], ["t"])], {"axes": np.array([0], I64)}),
    "Dropout": ([node("Dropout", ["c"], ["t"])], {}),
    "Expand": ([node("Expand", ["c", "shape"], ["t"])], {"shape": np.array([2, 2, 3], I64)}),
    "Tile": ([node("Tile", ["c", "reps"], ["t"])], {"reps": np.array([1, 2], I64)}),
    "Transpose": ([node("Transpose", ["c"], ["t"])], {}),
    "Concat": ([node("Concat", ["c", "c"], ["t"], axis=1)], {}),
    "Split": ([node("Split", ["c"], ["t", "u"], axis=0)], {}),
    "Slice": ([node("Slice", ["c", "starts", "ends"], ["t"])], {"starts": np.array([1]), "ends": np.array([2])}),
    "Gather": ([node("Gather", ["c", "idx"], ["t"], axis=1)], {"idx": np.array([2, 0], I64)}),
    "GatherElements": ([node("GatherElements", ["c", "idx2"], ["t"])], {"idx2": np.array([[1, 0, 1]], I64)}),
    "Pad": ([node("Pad", ["c", "pads"], ["t"])], {"pads": np.array([0, 1, 0, 0], I64)}),
    "Cast": (
        [node("Cast", ["c"], ["t"], to=TensorProto.DOUBLE), node("Cast", ["t"], ["t2"], to=TensorProto.FLOAT)],
        {},
    ),
    "Resize": ([node("Resize", ["c4", "", "sc"], ["t"], mode="nearest")], {"sc": np.array([1, 1, 2, 1], F32)}),
}


@pytest.mark.parametrize("op", sorted(FOLDED))
def test_constant_operator_is_folded(op):
    """An operator whose inputs are all constant is evaluated at load time: only the Add remains."""
    chain, extra = FOLDED[op]
    last = chain[-1].output[0]
    inits = {
        "c": np.arange(6, dtype=F32).reshape(2, 3),
        "c1": np.arange(3, dtype=F32).reshape(1, 3),
        "c4": np.arange(6, dtype=F32).reshape(1, 1, 2, 3),
        **extra,
    }
    folded = rmodel.from_onnx(make_model([*chain, node("Identity", [last], ["v"])], {}, ["v"], inits, opset=13))
    shape = folded.constants["v"].shape
    model = make_model([*chain, node("Add", ["x", last], ["y"])], {"x": (F32, shape)}, ["y"], inits, opset=13)
    m = check_against_onnxruntime(model)
    assert [o.op_type for o in m.operators] == ["Add"]


# ---- plans -----------------------------------------------------------------------------------


def test_plans_record_what_infer_decided():
    """infer() puts what it decided into a frozen plan; the operator itself is not changed."""
    inits = {
        "st": np.array([-1], I64),
        "en": np.array([-BIG], I64),
        "ax": np.array([-1], I64),
        "sp": np.array([-2], I64),
        "idx": np.array([-1, 0, 1], I64),
        "pads": np.array([2, 1], I64),
        "paxes": np.array([-2], I64),
        "reps": np.array([2, 1, 3], I64),
    }
    nodes = [
        node("Slice", ["x", "st", "en", "ax", "sp"], ["slice"]),
        node("Gather", ["x", "idx"], ["gather"], axis=-2),
        node("Split", ["x"], ["s0", "s1", "s2"], axis=2, num_outputs=3),
        node("Pad", ["x", "pads", "", "paxes"], ["pad"]),
        node("Tile", ["x", "reps"], ["tile"]),
    ]
    outputs = ["slice", "gather", "s0", "s1", "s2", "pad", "tile"]
    m = load(nodes, {"x": (F32, (2, 3, 5))}, outputs, inits, opset=18)
    slice_, gather, split, pad, tile = m.operators
    assert (slice_.plan.begin, slice_.plan.step) == ((0, 0, 4), (1, 1, -2))
    assert (gather.plan.axis, gather.plan.const_indices) == (1, (2, 0, 1))
    assert (split.plan.axis, split.plan.sizes) == (2, (2, 2, 1))
    assert (pad.plan.begin, pad.plan.end, pad.plan.value, pad.plan.value_input) == ((0, 2, 0), (0, 1, 0), 0.0, None)
    assert tile.plan.repeats == (2, 1, 3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        split.plan.axis = 0
