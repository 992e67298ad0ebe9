"""Operators: one module per operator family, each registering its ONNX op types.

Every module in this package is imported here, so adding an operator is adding a module.
"""

from __future__ import annotations

import importlib
import pkgutil

from .base import REGISTRY, CpuContext, Operator, ShapeContext, register

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _module != "base":
        importlib.import_module(f"{__name__}.{_module}")


def supported_operators() -> list[str]:
    """Sorted ONNX op types rmodel can generate code for."""
    return sorted(REGISTRY)


__all__ = ["REGISTRY", "CpuContext", "Operator", "ShapeContext", "register", "supported_operators"]
