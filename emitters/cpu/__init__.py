"""The CPU target: one self-contained C++17 header (``header``), Python bindings for it
(``bindings``) and building both into a callable model (``compile``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rmodel.errors import RModelError
from rmodel.fileio import write_atomic
from rmodel.inspect import summary
from rmodel.model import RModel
from rmodel.targets import register_target
from rmodel.verify import verify

from .compile import compile_cpu
from .header import HeaderLayout, batchable, generate_header, header_layout, resolve_weights, weight_bytes


class CpuTarget:
    """``generate`` writes the header (and ``<header>.weights`` with ``weights="file"``)."""

    name = "cpu"

    def generate(
        self,
        model: RModel,
        path: str | os.PathLike | None,
        *,
        namespace: str | None = None,
        weights: str = "auto",
        **options: Any,
    ) -> str:
        if options:
            raise RModelError(f"unknown option(s) for target 'cpu': {', '.join(sorted(options))}")
        code, weight_blob = generate_header(model, namespace=namespace, weights=weights)
        if path is None and weight_blob is not None:
            raise RModelError(
                f"model {model.name!r}: its weights go to a side file (weights={weights!r}: "
                f"{weight_bytes(model):,} bytes); give generate() a path to write the header and "
                "<path>.weights, or weights='embedded'"
            )
        if path is not None:
            path = Path(path)
            if weight_blob is not None:
                write_atomic(path.with_name(path.name + ".weights"), weight_blob)
            write_atomic(path, code.encode())
        return code

    def compile(self, model: RModel, **options: Any) -> Any:
        return compile_cpu(model, **options)

    def verify(self, model: RModel, **options: Any) -> Any:
        return verify(model, **options)

    def report(self, model: RModel, **options: Any) -> str:
        return summary(model)


register_target(CpuTarget())

__all__ = [
    "CpuTarget",
    "HeaderLayout",
    "batchable",
    "compile_cpu",
    "generate_header",
    "header_layout",
    "resolve_weights",
    "weight_bytes",
]
