"""Merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot."""

from __future__ import annotations

from collections import Counter

import numpy as np

from ..convert import KerasLayer, converter
from ..graph import GraphBuilder, KTensor


def _common(layer: KerasLayer, g: GraphBuilder) -> tuple[list[str], KTensor]:
    """The inputs in one shared layout (the most common one among them) and a template tensor."""
    xs = layer.inputs
    if len(xs) < 2:
        raise layer.fail(f"needs at least two inputs, got {len(xs)}")
    if len({x.rank for x in xs}) != 1:
        return [g.as_layout(x, None) for x in xs], KTensor("", xs[0].shape, xs[0].dtype)
    perm = Counter(x.perm for x in xs).most_common(1)[0][0]
    template = next(x for x in xs if x.perm == perm)
    shape = tuple(max((x.shape[i] for x in xs if x.shape[i] is not None), default=None) for i in range(template.rank))
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


@converter("Dot")
def dot(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Mul + ReduceSum (rank 2) or MatMul (rank 3); normalize=True supported."""
    if len(layer.inputs) != 2:
        raise layer.fail(f"needs exactly two inputs, got {len(layer.inputs)}")
    a, b = layer.inputs
    axes = layer.get("axes", -1)
    ax, bx = (axes, axes) if isinstance(axes, int) else (int(axes[0]), int(axes[1]))
    ax, bx = ax % a.rank, bx % b.rank
    if a.rank != b.rank or a.rank not in (2, 3):
        raise layer.unsupported(f"inputs of ranks {a.rank} and {b.rank} (two rank-2 or two rank-3 inputs are supported)")
    xa, xb = g.as_layout(a, None), g.as_layout(b, None)
    if layer.get("normalize", False):
        xa, xb = _l2_normalize(g, xa, ax), _l2_normalize(g, xb, bx)
    if a.rank == 2:
        y = g.op("ReduceSum", [g.op("Mul", [xa, xb]), g.const(np.array([1], np.int64), "axes")], keepdims=1, name="dot")
        return KTensor(y, (None, 1), a.dtype)
    if ax == 1:  # contracted axis of a last
        xa = g.op("Transpose", [xa], perm=[0, 2, 1])
    if bx == 2:  # contracted axis of b first
        xb = g.op("Transpose", [xb], perm=[0, 2, 1])
    y = g.op("MatMul", [xa, xb], name="dot")
    return KTensor(y, (None, a.shape[3 - ax], b.shape[3 - bx]), a.dtype)
