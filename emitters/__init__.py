"""Emitters: assemble generated files (CPU header, Python binding, HLS project) from an RModel.

Emitters know the model's tensors, memory plan and operator order; the C++ of each operator comes
from the operator itself.

Each target package registers itself with ``rmodel.targets`` when imported (``rmodel`` imports this
package, so every target is available once ``import rmodel`` has run).
"""

from __future__ import annotations

from . import cpu, hls

__all__ = ["cpu", "hls"]
