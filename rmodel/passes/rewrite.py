"""Tools the graph passes share: who reads a tensor, building operators, adding constants, aliasing.

Every rewrite builds new operators through the registry (so they are validated and shape-inferred
exactly like loaded ones) and swaps them into ``model.operators``; nothing mutates an existing
operator's fields.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..operators import build_operator
from ..operators.base import Operator
from ..tensor import TensorInfo

if TYPE_CHECKING:
    from ..model import RModel


def readers(model: RModel) -> dict[str, list[Operator]]:
    """Tensor name -> operators reading it (each operator once, in model order)."""
    found: dict[str, list[Operator]] = defaultdict(list)
    for op in model.operators:
        for name in dict.fromkeys(n for n in op.inputs if n):
            found[name].append(op)
    return found


def producers(model: RModel) -> dict[str, Operator]:
    """Tensor name -> the operator computing it."""
    return {out: op for op in model.operators for out in op.outputs if out}


def sole_reader(model: RModel, name: str, reading: dict[str, list[Operator]]) -> Operator | None:
    """The one operator reading ``name`` if it has exactly one reader and is not a graph output."""
    ops = reading.get(name, [])
    if len(ops) != 1 or name in model.output_names:
        return None
    return ops[0]


def build(
    model: RModel,
    op_type: str,
    name: str,
    inputs: Sequence[str],
    outputs: Sequence[str],
    attrs: dict[str, Any],
    opset: int,
    cls: type[Operator] | None = None,
) -> Operator:
    """A new operator from the registry, shape-inferred against ``model`` (its outputs recorded)."""
    op, infos = build_operator(op_type, name, inputs, outputs, attrs, opset, model.tensors, model.constants, cls=cls)
    for out, info in zip(op.outputs, infos):
        if out and info is not None:
            model.tensors[out] = info
    return op


def rebuild(model: RModel, op: Operator, **changes: Any) -> Operator:
    """``op`` rebuilt with some of op_type/name/inputs/outputs/attrs replaced."""
    op_type = changes.get("op_type", op.op_type)
    return build(
        model,
        op_type,
        changes.get("name", op.name),
        changes.get("inputs", op.inputs),
        changes.get("outputs", op.outputs),
        changes.get("attrs", op.attrs),
        op.opset,
        cls=type(op) if op_type == op.op_type else None,
    )


def add_constant(model: RModel, hint: str, value: np.ndarray) -> str:
    """Store a new constant under a fresh name derived from ``hint``; return the name."""
    name, index = hint, 1
    while name in model.tensors or name in model.constants:
        index += 1
        name = f"{hint}_{index}"
    value = np.require(value, requirements="C")
    model.constants[name] = value
    model.tensors[name] = TensorInfo(name, value.dtype, value.shape)
    return name


def replace(model: RModel, removed: Iterable[Operator], added: dict[int, Operator] | None = None) -> None:
    """Drop the ``removed`` operators and put ``added`` ones where operators (by id) were."""
    gone = {id(op) for op in removed}
    added = added or {}
    ops = []
    for op in model.operators:
        if id(op) in added:
            ops.append(added[id(op)])
        elif id(op) not in gone:
            ops.append(op)
    model.operators = ops


def alias(model: RModel, src: str, dst: str, removed: Sequence[Operator]) -> bool:
    """Remove ``removed`` (which turn ``src`` into ``dst`` without changing its data) by making
    ``dst`` a second name of ``src``: readers of ``dst`` read ``src`` instead, or, when ``dst`` is a
    graph output, the producer of ``src`` writes ``dst`` directly. False (model untouched) if
    neither is possible (e.g. a graph input returned as an output)."""
    if model.tensors[src].shape != model.tensors[dst].shape or model.tensors[src].dtype != model.tensors[dst].dtype:
        return False
    reading = readers(model)
    removed_ids = {id(op) for op in removed}
    changed: dict[int, Operator] = {}
    if dst not in model.output_names:
        for op in reading.get(dst, []):
            if id(op) not in removed_ids:
                changed[id(op)] = rebuild(model, op, inputs=[src if n == dst else n for n in op.inputs])
    else:
        producer = producers(model).get(src)
        others = [op for op in reading.get(src, []) if id(op) not in removed_ids]
        if producer is None or others or src in model.output_names:
            return False
        changed[id(producer)] = rebuild(model, producer, outputs=[dst if n == src else n for n in producer.outputs])
    replace(model, removed, changed)
    return True
