"""Merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot."""

from __future__ import annotations

from collections import Counter

import numpy as np

from ..graph import GraphBuilder, KTensor
from ..registry import KerasLayer, converter


def _widest(sizes: list[int | None]) -> int | None:
    """The largest known size (None if none is known)."""
    known = [s for s in sizes if s is not None]
    return max(known) if known else None


def _common(layer: KerasLayer, g: GraphBuilder) -> tuple[list[str], KTensor]:
    """The inputs in one shared layout (the most common one among them) and a template tensor."""
    xs = layer.inputs
    if len(xs) < 2:
        raise layer.fail(f"needs at least two inputs, got {len(xs)}")
    if len({x.rank for x in xs}) != 1:
        return [g.as_layout(x, None) for x in xs], KTensor("", xs[0].shape, xs[0].dtype)
    perm = Counter(x.perm for x in xs).most_common(1)[0][0]
    template = next(x for x in xs if x.perm == perm)
    shape = tuple(_widest([x.shape[i] for x in xs]) for i in range(template.rank))
    return [g.as_layout(x, perm) for x in xs], KTensor("", shape, template.dtype, perm)


def _out(template: KTensor, name: str) -> KTensor:
    return KTensor(name, template.shape, template.dtype, template.perm)


@converter("Add", "Multiply", "Maximum", "Minimum", "Average")
def variadic(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Add / Mul / Max / Min / Mean."""
    names, template = _common(layer, g)
    if layer.class_name in ("Maximum", "Minimum", "Average"):
        op = {"Maximum": "Max", "Minimum": "Min", "Average": "Mean"}[layer.class_name]
        return _out(template, g.op(op, names))
    op = "Add" if layer.class_name == "Add" else "Mul"
    y = names[0]
    for other in names[1:]:
        y = g.op(op, [y, other])
    return _out(template, y)


@converter("Subtract")
def subtract(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Sub."""
    names, template = _common(layer, g)
    if len(names) != 2:
        raise layer.fail(f"needs exactly two inputs, got {len(names)}")
    return _out(template, g.op("Sub", names))


@converter("Concatenate")
def concatenate(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Concat."""
    names, template = _common(layer, g)
    axis = int(layer.get("axis", -1)) % template.rank
    shape = list(template.shape)
    sizes = [x.shape[axis] for x in layer.inputs]
    shape[axis] = None if None in sizes else sum(sizes)  # type: ignore[arg-type]
    y = g.op("Concat", names, axis=template.onnx_axis(axis) if template.perm else axis)
    return KTensor(y, tuple(shape), template.dtype, template.perm)


def _l2_normalize(g: GraphBuilder, x: str, axis: int) -> str:
    squares = g.op("ReduceSum", [g.op("Mul", [x, x]), g.const(np.array([axis], np.int64), "axes")], keepdims=1)
    norm = g.op("Sqrt", [g.op("Max", [squares, g.const(np.float32(1e-12), "eps")])])
    return g.op("Div", [x, norm], name="l2_normalize")


def _batch_dot_equation(rank_a: int, rank_b: int, ax: int, bx: int) -> str:
    """Einsum equation of Keras' batch_dot: a's axes but ``ax``, then b's but the batch and ``bx``."""
    letters = iter("bcdefghijklmnopqrstuvwxyz")
    a_labels = ["a"] + [next(letters) for _ in range(rank_a - 1)]
    b_labels = ["a"] + [a_labels[ax] if i == bx else next(letters) for i in range(1, rank_b)]
    out = [c for i, c in enumerate(a_labels) if i != ax] + [c for i, c in enumerate(b_labels) if i not in (0, bx)]
    return f"{''.join(a_labels)},{''.join(b_labels)}->{''.join(out)}"


@converter("Dot")
def dot(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Mul + ReduceSum (rank 2), MatMul (rank 3) or Einsum (other and mixed ranks); normalize=True supported."""
    if len(layer.inputs) != 2:
        raise layer.fail(f"needs exactly two inputs, got {len(layer.inputs)}")
    a, b = layer.inputs
    axes = layer.get("axes", -1)
    ax, bx = (axes, axes) if isinstance(axes, int) else (int(axes[0]), int(axes[1]))
    ax, bx = ax % a.rank, bx % b.rank
    if a.rank < 2 or b.rank < 2:
        raise layer.fail(f"needs inputs of rank 2 or more, got ranks {a.rank} and {b.rank}")
    if ax == 0 or bx == 0:
        raise layer.fail(f"cannot contract the batch axis (axes={axes})")
    if None not in (a.shape[ax], b.shape[bx]) and a.shape[ax] != b.shape[bx]:
        raise layer.fail(
            f"contracted axes differ in size: {a.shape[ax]} (axis {ax} of {a.shape}) and "
            f"{b.shape[bx]} (axis {bx} of {b.shape})"
        )
    xa, xb = g.as_layout(a, None), g.as_layout(b, None)
    if layer.get("normalize", False):
        xa, xb = _l2_normalize(g, xa, ax), _l2_normalize(g, xb, bx)
    if a.rank == b.rank == 2:
        y = g.op("ReduceSum", [g.op("Mul", [xa, xb]), g.const(np.array([1], np.int64), "axes")], keepdims=1, name="dot")
        return KTensor(y, (None, 1), a.dtype)
    if a.rank == b.rank == 3:
        if ax == 1:  # contracted axis of a last
            xa = g.op("Transpose", [xa], perm=[0, 2, 1])
        if bx == 2:  # contracted axis of b first
            xb = g.op("Transpose", [xb], perm=[0, 2, 1])
        y = g.op("MatMul", [xa, xb], name="dot")
        return KTensor(y, (None, a.shape[3 - ax], b.shape[3 - bx]), a.dtype)
    y = g.op("Einsum", [xa, xb], name="dot", equation=_batch_dot_equation(a.rank, b.rank, ax, bx))
    shape = [d for i, d in enumerate(a.shape) if i != ax] + [d for i, d in enumerate(b.shape) if i not in (0, bx)]
    return KTensor(y, (None, *shape[1:]), a.dtype)
