"""Keras 3 regularizers that push whole groups of weights (see ``structures``) towards zero.

The penalty on a kernel is ``alpha * sum_g ||w_g||_p + beta * sum_g var(w_g)`` over its groups:
the p-norm (p = ``norm``, 1 or 2; a sum of 2-norms is the group lasso, which zeroes whole
groups) drives groups to zero, the variance term pulls a group's weights together. Written with
``keras.ops``, so any backend trains with them; registered as ``rmodel>DenseRegularizer`` and
``rmodel>ConvRegularizer`` so ``.keras`` files holding them load again once this module is imported.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from .structures import StructureType, check_structure, group_matrix, structure_type

#: a tiny term under the square root keeps the 2-norm's gradient finite at zero
_EPS = 1e-12


class _GroupRegularizer(keras.regularizers.Regularizer):
    """Penalty over the groups of one structure type."""

    allowed: tuple[StructureType, ...] = ()

    def __init__(
        self,
        alpha: float,
        beta: float = 0.0,
        norm: int = 1,
        structure_type: str = "unstructured",
        block_shape: tuple[int, int] | list[int] = (1, 1),
        pattern_offset: int = 1,
        consecutive_patterns: int = 1,
    ) -> None:
        kind = _structure(structure_type)
        if kind not in self.allowed:
            names = ", ".join(s.value for s in self.allowed)
            raise ValueError(f"{type(self).__name__}: structure type {kind.value!r} is not one of {names}")
        if norm not in (1, 2):
            raise ValueError(f"{type(self).__name__}: norm must be 1 or 2, got {norm}")
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.norm = int(norm)
        self.structure_type = kind
        self.block_shape = (int(block_shape[0]), int(block_shape[1]))
        self.pattern_offset = int(pattern_offset)
        self.consecutive_patterns = int(consecutive_patterns)

    def __call__(self, x: Any) -> Any:
        shape = tuple(int(d) for d in x.shape)
        options: dict[str, Any] = {
            "block_shape": self.block_shape,
            "pattern_offset": self.pattern_offset,
            "consecutive_patterns": self.consecutive_patterns,
        }
        check_structure(shape, self.structure_type, **options)
        groups = group_matrix(x, shape, self.structure_type, ops, **options)
        if self.norm == 1:
            norms = ops.sum(ops.abs(groups), axis=1)
        else:
            norms = ops.sqrt(ops.sum(ops.square(groups), axis=1) + _EPS)
        penalty = self.alpha * ops.sum(norms)
        if self.beta:
            penalty = penalty + self.beta * ops.sum(ops.var(groups, axis=1))
        return penalty

    def get_config(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "beta": self.beta,
            "norm": self.norm,
            "structure_type": self.structure_type.value,
            "block_shape": list(self.block_shape),
            "pattern_offset": self.pattern_offset,
            "consecutive_patterns": self.consecutive_patterns,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> _GroupRegularizer:
        return cls(**config)


def _structure(value: str) -> StructureType:
    try:
        return structure_type(value)
    except Exception as exc:  # keras expects ValueError from constructors
        raise ValueError(str(exc)) from None


@keras.saving.register_keras_serializable(package="rmodel")
class DenseRegularizer(_GroupRegularizer):
    """Regularizer of a Dense kernel: unstructured, neurons (``structured``), reuse patterns or blocks."""

    allowed = (StructureType.UNSTRUCTURED, StructureType.STRUCTURED, StructureType.PATTERN, StructureType.BLOCK)


@keras.saving.register_keras_serializable(package="rmodel")
class ConvRegularizer(_GroupRegularizer):
    """Regularizer of a Conv1D/Conv2D kernel: unstructured, filters (``structured``) or reuse patterns."""

    allowed = (StructureType.UNSTRUCTURED, StructureType.STRUCTURED, StructureType.PATTERN)


#: the custom regularizers, as ``remove_custom_regularizers`` recognises them
CUSTOM_REGULARIZERS = (DenseRegularizer, ConvRegularizer)
