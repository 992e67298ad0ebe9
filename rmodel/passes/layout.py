"""Layout clean-ups: operators that only move or copy data and can be composed or dropped.

* ``merge_transposes``: Transpose -> Transpose becomes one Transpose with the composed
  permutation, or nothing when the composition is the identity (as is a lone identity Transpose).
* ``remove_identities``: Identity and inference-mode Dropout are dropped.

A dropped operator's readers read its input instead. When its output is a graph output, the
operator computing its input writes the graph output directly; if even that is impossible (the
input is a graph input or constant, or has other readers) the copy is kept, so graph output names
never change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import RModelError
from ..operators.base import Operator
from .rewrite import alias, build, producers, readers, replace, sole_reader

if TYPE_CHECKING:
    from ..model import RModel


def _perm(op: Operator) -> tuple[int, ...]:
    """A Transpose's permutation: its ``perm`` attribute, or the input's axes reversed."""
    perm = op.attr.get("perm")
    if perm is not None:
        return tuple(int(p) for p in perm)
    info = op.input_infos[0]
    if info is None:
        raise RModelError(f"internal error: Transpose '{op.name}' has no inferred input")
    return tuple(range(info.rank))[::-1]


def _merge_one(model: RModel) -> bool:
    """Simplify the first Transpose that can be; True if one was."""
    made_by = producers(model)
    reading = readers(model)
    for second in model.operators:
        if second.op_type != "Transpose":
            continue
        p2 = _perm(second)
        if p2 == tuple(range(len(p2))) and alias(model, second.inputs[0], second.outputs[0], [second]):
            return True
        first = made_by.get(second.inputs[0])
        if first is None or first.op_type != "Transpose":
            continue
        p1 = _perm(first)
        composed = tuple(p1[k] for k in p2)
        first_dies = sole_reader(model, first.outputs[0], reading) is second
        removed = [second, first] if first_dies else [second]
        if composed == tuple(range(len(composed))) and alias(model, first.inputs[0], second.outputs[0], removed):
            return True
        if not first_dies:
            continue  # one Transpose reading the other's input would cost as much as now
        merged = build(
            model, "Transpose", second.name, [first.inputs[0]], second.outputs, {"perm": composed}, second.opset
        )
        replace(model, [first], {id(second): merged})
        return True
    return False


def merge_transposes(model: RModel) -> int:
    """Compose chains of Transposes and drop identity ones. Returns the number of rewrites."""
    count = 0
    while _merge_one(model):
        count += 1
    return count


def _removable(model: RModel, op: Operator, reading: dict[str, list[Operator]]) -> bool:
    if op.op_type == "Identity":
        return True
    if op.op_type != "Dropout":
        return False
    mask = op.outputs[1] if len(op.outputs) > 1 else ""
    return not mask or (not reading.get(mask) and mask not in model.output_names)


def remove_identities(model: RModel) -> int:
    """Drop Identity and Dropout (inference: a copy; its mask output must be unused).
    Returns the number of operators removed."""
    count = 0
    skipped: set[int] = set()
    while True:
        reading = readers(model)
        candidates = [op for op in model.operators if id(op) not in skipped and _removable(model, op, reading)]
        if not candidates:
            return count
        op = candidates[0]
        if alias(model, op.inputs[0], op.outputs[0], [op]):
            count += 1
        else:
            skipped.add(id(op))
