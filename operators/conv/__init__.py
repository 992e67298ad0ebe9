"""Convolutions: Conv and ConvTranspose over any number of spatial axes (1-D, 2-D, 3-D...).

Modules: ``window`` (the window geometry, shared with the pools and the HLS stages), ``loops``
(the window loops of the CPU code, shared with the pools), ``plan`` (what ``Conv.infer``
decides), one module per strategy (``grouped``: the per-group product frame and pointwise
convolutions; ``im2col``; ``padded``; ``depthwise``; ``transposed``: ConvTranspose) and
``operator`` (the operators and the choice of strategy). The fixed C++ kernels (depthwise,
``valid_range``) are in ``operators/cpp/conv.hpp``.
"""

from __future__ import annotations

from ..base import register
from .depthwise import DEPTHWISE_FLAT_TILE
from .operator import Conv, ConvTranspose
from .window import Plane, Window, check_auto_pad, int_tuple, valid_range_code, window_geometry

register("Conv")(Conv)
register("ConvTranspose")(ConvTranspose)

__all__ = [
    "DEPTHWISE_FLAT_TILE",
    "Conv",
    "ConvTranspose",
    "Plane",
    "Window",
    "check_auto_pad",
    "int_tuple",
    "valid_range_code",
    "window_geometry",
]
