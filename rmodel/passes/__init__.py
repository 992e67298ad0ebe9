"""Passes: small functions over an RModel (graph clean-ups and fusions, memory planning).

A graph pass is ``(model: RModel) -> int``: it rewrites the model in place without changing its
results (beyond float rounding within the project's criterion) and returns how many rewrites it did.
``optimize`` runs them; ``rmodel.from_onnx`` (and so every front end) calls it unless
``optimize=False``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ..errors import RModelError
from .fuse import fold_channel_affine, matmul_add_to_gemm
from .layout import merge_transposes, remove_identities
from .memory import MemoryPlan, plan_memory

if TYPE_CHECKING:
    from ..model import RModel

Pass = Callable[["RModel"], int]

#: the passes ``optimize`` runs by default, in this order (repeated until none changes anything):
#: drop Identity/Dropout, compose or drop Transpose pairs, MatMul+Add -> Gemm, fold
#: BatchNormalization / per-channel Mul, Add, Sub into the Conv, Gemm or MatMul before it
DEFAULT_PASSES: tuple[Pass, ...] = (remove_identities, merge_transposes, matmul_add_to_gemm, fold_channel_affine)

#: passes by name, for ``optimize(model, passes=["merge_transposes", ...])``
PASSES: dict[str, Pass] = {p.__name__: p for p in DEFAULT_PASSES}

#: safety bound on rounds (each round that changes something removes operators, so few are needed)
_MAX_ROUNDS = 20


def optimize(model: RModel, passes: Sequence[str | Pass] | None = None) -> dict[str, int]:
    """Run graph passes over ``model`` in place until none applies; return {pass name: rewrites}.

    ``passes``: names from ``PASSES`` or pass functions (default: ``DEFAULT_PASSES``).
    Operators and constants nothing needs any more are dropped afterwards.
    """
    chosen: list[Pass] = []
    for item in DEFAULT_PASSES if passes is None else passes:
        if isinstance(item, str):
            if item not in PASSES:
                raise RModelError(f"unknown pass '{item}'; known passes: {', '.join(PASSES)}")
            chosen.append(PASSES[item])
        elif callable(item):
            chosen.append(item)
        else:
            raise RModelError(f"a pass must be a name or a function (RModel) -> int, got {item!r}")
    counts = {getattr(p, "__name__", repr(p)): 0 for p in chosen}
    for _ in range(_MAX_ROUNDS):
        changed = 0
        for graph_pass in chosen:
            done = int(graph_pass(model))
            counts[getattr(graph_pass, "__name__", repr(graph_pass))] += done
            changed += done
        if not changed:
            break
    if any(counts.values()):
        model.remove_dead_operators()
    return counts


__all__ = [
    "DEFAULT_PASSES",
    "PASSES",
    "MemoryPlan",
    "fold_channel_affine",
    "matmul_add_to_gemm",
    "merge_transposes",
    "optimize",
    "plan_memory",
    "remove_identities",
]
