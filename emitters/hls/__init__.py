"""The HLS target: a Vitis HLS dataflow project with fixed-point types, checked by C simulation.

    m.generate("prj/", target="hls", precision="ap_fixed<16,6>", reuse_factor=1)
    sim = m.compile(target="hls", precision="ap_fixed<16,6>")   # C simulation built with g++
    print(hls_report(m)); print(profile_hls(m))

Options are described in ``rmodel.emitters.hls.config``.
"""

from __future__ import annotations

from .config import HlsConfig, LayerConfig, Precision, resolve_options
from .csim import HlsCompiledModel, HlsVerifyReport, compile_hls, verify_hls
from .firmware import Firmware, build_firmware, hls_implementations
from .project import generate_hls_project
from .report import ProfileReport, TensorProfile, hls_report, profile_hls

__all__ = [
    "Firmware",
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
