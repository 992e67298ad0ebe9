"""Plan scratch memory: tensors whose lifetimes do not overlap share arena space."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from ..model import RModel


#: offsets are multiples of this many elements (64 bytes for float32)
ALIGN_ELEMENTS = 16


@dataclass
class MemoryPlan:
    """Where every intermediate tensor and every operator's workspace lives."""

    #: tensor name -> (dtype of its arena, element offset)
    offsets: dict[str, tuple[np.dtype, int]] = field(default_factory=dict)
    #: operator index -> dtype -> element offset of its workspace
    scratch: dict[int, dict[np.dtype, int]] = field(default_factory=dict)
    #: dtype -> arena size in elements
    arena_sizes: dict[np.dtype, int] = field(default_factory=dict)


class _Interval(NamedTuple):
    """Memory one tensor (or one operator's workspace) needs from operator ``first`` to ``last``."""

    tensor: str | None  # None: the workspace of operator ``op``
    op: int
    dtype: np.dtype
    size: int
    first: int
    last: int


def _align(n: int) -> int:
    return (n + ALIGN_ELEMENTS - 1) // ALIGN_ELEMENTS * ALIGN_ELEMENTS


def plan_memory(model: RModel) -> MemoryPlan:
    """Assign arena offsets from liveness intervals (greedy, largest first, lowest fitting gap)."""
    graph_outputs = set(model.output_names)
    last_use: dict[str, int] = {}
    for index, op in enumerate(model.operators):
        for name in op.inputs:
            if name:
                last_use[name] = index
    items: list[_Interval] = []
    for index, op in enumerate(model.operators):
        for name, info in zip(op.outputs, op.output_infos):
            if not name or info is None or name in graph_outputs:
                continue
            items.append(
                _Interval(name, index, np.dtype(info.dtype), info.size, index, max(index, last_use.get(name, index)))
            )
        for dtype, size in sorted(op.workspace().items(), key=lambda kv: np.dtype(kv[0]).str):
            if size > 0:
                items.append(_Interval(None, index, np.dtype(dtype), size, index, index))

    plan = MemoryPlan()
    placed: dict[np.dtype, list[tuple[int, int, int, int]]] = {}  # offset, size, first, last
    order = sorted(range(len(items)), key=lambda k: (-items[k].size, items[k].first, k))
    for k in order:
        item = items[k]
        dtype, size, first, last = item.dtype, item.size, item.first, item.last
        blocks = sorted((off, sz) for off, sz, f, l in placed.setdefault(dtype, []) if not (l < first or f > last))
        offset = 0
        for off, sz in blocks:
            if offset + size <= off:
                break
            offset = max(offset, _align(off + sz))
        placed[dtype].append((offset, size, first, last))
        plan.arena_sizes[dtype] = max(plan.arena_sizes.get(dtype, 0), _align(offset + size))
        if item.tensor is not None:
            plan.offsets[item.tensor] = (dtype, offset)
        else:
            plan.scratch.setdefault(item.op, {})[dtype] = offset
    return plan
