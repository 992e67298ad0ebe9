"""The HLS target: a Vitis HLS dataflow project with fixed-point types, checked by C simulation.

    m.generate("prj/", target="hls", precision="ap_fixed<16,6>", reuse_factor=1)
    sim = m.compile(target="hls", precision="ap_fixed<16,6>")   # C simulation built with g++
    print(hls_report(m)); print(profile_hls(m))

Options are described in ``rmodel.emitters.hls.config``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rmodel.errors import RModelError
from rmodel.model import RModel
from rmodel.targets import register_target

from .config import HlsConfig, LayerConfig, Precision, resolve_options
from .csim import HlsCompiledModel, HlsVerifyReport, compile_hls, verify_hls
from .firmware import Firmware, build_firmware, hls_implementations
from .project import generate_hls_project
from .report import DesignEstimate, LayerEstimate, ProfileReport, TensorProfile, estimate, hls_report, profile_hls

__all__ = [
    "DesignEstimate",
    "Firmware",
    "LayerEstimate",
    "estimate",
    "HlsTarget",
    "HlsCompiledModel",
    "HlsConfig",
    "HlsVerifyReport",
    "LayerConfig",
    "Precision",
    "ProfileReport",
    "TensorProfile",
    "build_firmware",
    "compile_hls",
    "generate_hls_project",
    "hls_implementations",
    "hls_report",
    "profile_hls",
    "resolve_options",
    "verify_hls",
]


class HlsTarget:
    """``generate`` writes a Vitis HLS project directory; ``compile`` builds its C simulation."""

    name = "hls"

    def generate(
        self, model: RModel, path: str | os.PathLike | None, *, namespace: str | None = None, **options: Any
    ) -> str:
        if path is None:
            raise RModelError("generate(target='hls') needs a directory path to write the project to")
        return generate_hls_project(model, Path(path), namespace=namespace, **options)

    def compile(self, model: RModel, **options: Any) -> HlsCompiledModel:
        return compile_hls(model, **options)

    def verify(self, model: RModel, **options: Any) -> HlsVerifyReport:
        return verify_hls(model, **options)

    def report(self, model: RModel, **options: Any) -> str:
        return hls_report(model, **options)


register_target(HlsTarget())
