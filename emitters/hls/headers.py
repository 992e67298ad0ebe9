"""Where the C-simulation build finds ap_fixed.h/ap_int.h and hls_stream.h.

``ap_fixed``/``ap_int`` come from the user's Vitis HLS installation (``$XILINX_HLS/include``) when
present, otherwise from an installed Python package shipping Xilinx's Apache-2.0 ap_types headers
(the hls4ml wheel: ``hls4ml/templates/vivado/ap_types``). Nothing is copied into this repository.
Without Vitis, ``hls::stream`` is rmodel's own small C-simulation class (``RMODEL_STREAM_H``).
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import os
import re
from collections.abc import Iterable
from pathlib import Path

from rmodel.cpp_sources import cpp_source
from rmodel.errors import BuildError


def xilinx_include() -> Path | None:
    root = os.environ.get("XILINX_HLS")
    if root and (Path(root) / "include" / "ap_fixed.h").is_file():
        return Path(root) / "include"
    return None


def ap_types_include() -> Path:
    """Directory holding ap_fixed.h and ap_int.h."""
    found = xilinx_include()
    if found is not None:
        return found
    spec = importlib.util.find_spec("hls4ml")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "templates" / "vivado" / "ap_types"
        if (candidate / "ap_fixed.h").is_file():
            return candidate
    raise BuildError(
        "C simulation needs Xilinx's ap_fixed.h/ap_int.h: set XILINX_HLS to a Vitis HLS installation, or "
        "install a package that ships them: pip install hls4ml"
    )


#: ap_fixed / ap_ufixed / ap_int / ap_uint named in generated C++: (kind, width, rest of the arguments)
_AP_TYPE = re.compile(r"\b(ap_u?fixed|ap_u?int)\s*<\s*(\d+)([^>]*)>")


def fast_arithmetic_fits(sources: Iterable[str]) -> bool:
    """True when rmodel's fast C-simulation ap_fixed (``fast_arithmetic_headers``) handles every type
    the C++ ``sources`` name: ap_fixed / ap_ufixed at most 64 bits wide (unsigned: 62), no
    AP_WRAP_SM, no ap_int / ap_uint."""
    for text in sources:
        for kind, width, rest in _AP_TYPE.findall(text):
            if kind.endswith("int") or "AP_WRAP_SM" in rest:
                return False
            if int(width) > (64 if kind == "ap_fixed" else 62):
                return False
    return True


def fast_arithmetic_headers() -> dict[str, str]:
    """rmodel's C-simulation ap_fixed.h and ap_int.h (``emitters/hls/cpp/fast_ap``): exact int64
    arithmetic, bit-exact with Xilinx's types for the API rmodel's firmware uses."""
    folder = importlib.resources.files("rmodel.emitters.hls") / "cpp" / "fast_ap"
    return {name: (folder / name).read_text() for name in ("ap_fixed.h", "ap_int.h")}


def use_own_stream() -> bool:
    """True when Xilinx's hls_stream.h is not available and rmodel's stand-in is used."""
    return xilinx_include() is None


def stream_header() -> str:
    """rmodel's C-simulation ``hls::stream`` (unbounded FIFO; reading an empty one aborts): the text of
    firmware/rmodel_stream.h, from ``emitters/hls/cpp/rmodel_stream.h``."""
    return cpp_source("rmodel.emitters.hls", "rmodel_stream.h", "rmodel_stream") + "\n"
