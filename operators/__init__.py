"""Operators: one module per operator family, each registering its ONNX op types.

Every module in this package is imported here, so adding an operator is adding a module.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from rmodel.tensor import TensorInfo

from .base import REGISTRY, CpuContext, Operator, ShapeContext, register

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _module != "base":
        importlib.import_module(f"{__name__}.{_module}")


def build_operator(
    op_type: str,
    name: str,
    inputs: Sequence[str],
    outputs: Sequence[str],
    attrs: Mapping[str, Any],
    opset: int,
    tensors: Mapping[str, TensorInfo],
    constants: Mapping[str, np.ndarray],
    *,
    registry_key: str | None = None,
    cls: type[Operator] | None = None,
) -> tuple[Operator, list[TensorInfo | None]]:
    """The operator registered for ``op_type`` (or ``registry_key``, e.g. ``domain::op_type``, or the
    class ``cls``), with its output shapes inferred from ``tensors`` and ``constants``.

    The one place operators are made: the ONNX loader, the .rmodel reader and the graph passes."""
    op_class = cls or REGISTRY[registry_key or op_type]
    op = op_class(op_type, name, list(inputs), list(outputs), dict(attrs), opset)
    infos = op.run_inference(ShapeContext(tensors, constants))
    return op, infos


def supported_operators() -> list[str]:
    """Sorted ONNX op types rmodel can generate code for."""
    return sorted(REGISTRY)


__all__ = [
    "REGISTRY",
    "CpuContext",
    "Operator",
    "ShapeContext",
    "build_operator",
    "register",
    "supported_operators",
]
