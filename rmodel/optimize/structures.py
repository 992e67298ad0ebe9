"""Groups of kernel weights that are pruned together, shared by the regularizers and the masks.

A structure turns a kernel (Dense ``(inputs, outputs)``, Conv1D ``(k, channels, filters)``,
Conv2D ``(kh, kw, channels, filters)``) into a ``(groups, group size)`` matrix with reshapes and
transposes only, so the same function works on numpy arrays and on backend tensors (``keras.ops``):

- ``unstructured``: every weight alone.
- ``structured``: a Dense neuron (a column of the kernel) or a Conv filter (its last axis).
- ``pattern``: the flattened kernel read as ``(R, offset)``; column ``g`` (weights ``g``,
  ``g + offset``, ``g + 2 offset``...) is one pattern: with reuse factor R and ``offset`` =
  weights / R, the R weights one multiplier works through in turn. ``consecutive`` neighbouring
  patterns form one group.
- ``block``: Dense only, ``(rows, columns)`` tiles of the kernel.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

import numpy as np

from rmodel.errors import RModelError


class StructureType(str, Enum):
    """How weights are grouped for pruning."""

    UNSTRUCTURED = "unstructured"
    STRUCTURED = "structured"
    PATTERN = "pattern"
    BLOCK = "block"


def structure_type(value: str | StructureType) -> StructureType:
    """``value`` as a StructureType (a clear error for unknown names)."""
    try:
        return StructureType(value)
    except ValueError:
        known = ", ".join(s.value for s in StructureType)
        raise RModelError(f"unknown structure type {value!r}; choose one of {known}") from None


def check_structure(
    shape: tuple[int, ...],
    structure: str | StructureType,
    *,
    block_shape: tuple[int, int] = (1, 1),
    pattern_offset: int = 1,
    consecutive_patterns: int = 1,
) -> tuple[int, int]:
    """``(groups, group size)`` of a kernel of ``shape``; an error when the structure does not fit it."""
    kind = structure_type(structure)
    size = int(np.prod(shape))
    if len(shape) < 2:
        raise RModelError(f"kernel of shape {shape}: expected at least two axes")
    if kind is StructureType.UNSTRUCTURED:
        return size, 1
    if kind is StructureType.STRUCTURED:
        return shape[-1], size // shape[-1]
    if kind is StructureType.PATTERN:
        if pattern_offset < 1 or size % pattern_offset:
            raise RModelError(f"pattern offset {pattern_offset} does not divide the {size} weights of shape {shape}")
        if consecutive_patterns < 1 or pattern_offset % consecutive_patterns:
            raise RModelError(
                f"{consecutive_patterns} consecutive patterns do not divide the pattern offset {pattern_offset}"
            )
        return pattern_offset // consecutive_patterns, (size // pattern_offset) * consecutive_patterns
    if len(shape) != 2:
        raise RModelError(f"block structure is for Dense kernels (two axes), not shape {shape}")
    rows, cols = block_shape
    if rows < 1 or cols < 1 or shape[0] % rows or shape[1] % cols:
        raise RModelError(f"block shape {tuple(block_shape)} does not tile the kernel of shape {shape}")
    return (shape[0] // rows) * (shape[1] // cols), rows * cols


def group_matrix(
    kernel: Any,
    shape: tuple[int, ...],
    structure: str | StructureType,
    ops: Any = np,
    *,
    block_shape: tuple[int, int] = (1, 1),
    pattern_offset: int = 1,
    consecutive_patterns: int = 1,
) -> Any:
    """``kernel`` (of ``shape``) regrouped as a ``(groups, group size)`` matrix; ``ops`` is numpy or keras.ops."""
    kind = structure_type(structure)
    groups, group_size = check_structure(
        shape,
        kind,
        block_shape=block_shape,
        pattern_offset=pattern_offset,
        consecutive_patterns=consecutive_patterns,
    )
    if kind is StructureType.UNSTRUCTURED:
        return ops.reshape(kernel, (groups, 1))
    if kind is StructureType.STRUCTURED:
        return ops.transpose(ops.reshape(kernel, (group_size, groups)), (1, 0))
    if kind is StructureType.PATTERN:
        reuse = group_size // consecutive_patterns
        m = ops.reshape(kernel, (reuse, groups, consecutive_patterns))
        return ops.reshape(ops.transpose(m, (1, 0, 2)), (groups, group_size))
    rows, cols = block_shape
    m = ops.reshape(kernel, (shape[0] // rows, rows, shape[1] // cols, cols))
    return ops.reshape(ops.transpose(m, (0, 2, 1, 3)), (groups, group_size))


def group_indices(shape: tuple[int, ...], structure: str | StructureType, **options: Any) -> np.ndarray:
    """``(groups, group size)`` flat indices into the kernel: which weights each group holds."""
    size = int(np.prod(shape))
    return np.asarray(group_matrix(np.arange(size).reshape(shape), shape, structure, np, **options))
