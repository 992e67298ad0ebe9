"""What Conv.infer decides: the convolution's dimensions and the strategy that computes it.

Each strategy (a frozen dataclass in its own module: ``grouped``, ``im2col``, ``padded``,
``depthwise``, ``transposed``) holds the numbers it chose at inference time, says how much workspace it needs
and writes its C++.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from rmodel.cpp_writer import CppWriter

from ..base import CpuContext, Plan
from .window import Window


@dataclass(frozen=True)
class ConvDims:
    """Batch, channels, groups and window of a convolution (input channels ``c``, output ``m``)."""

    n: int
    c: int
    m: int
    group: int
    win: Window

    @property
    def cg(self) -> int:
        """Input channels per group."""
        return self.c // self.group

    @property
    def mg(self) -> int:
        """Output channels per group."""
        return self.m // self.group

    @property
    def kdim(self) -> int:
        """Terms of one output: input channels per group x kernel taps (rows of im2col)."""
        return self.cg * self.win.taps


class ConvTensors(NamedTuple):
    """Tensor names of a convolution (``bias`` empty when there is none)."""

    x: str
    w: str
    y: str
    bias: str


@dataclass(frozen=True)
class Strategy:
    """How a Conv is computed (chosen by ``Conv.infer``)."""

    def workspace(self, dims: ConvDims) -> int:
        """Workspace floats."""
        return 0

    def emit(self, ctx: CpuContext, w: CppWriter, t: ConvTensors, dims: ConvDims) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class ConvPlan(Plan):
    dims: ConvDims
    strategy: Strategy


@dataclass(frozen=True)
class ConvTransposePlan(Plan):
    #: ``win.in_spatial`` is X's spatial shape, ``win.out`` Y's
    dims: ConvDims
    #: W is a constant (transposed at generation time, else at run time into the workspace)
    w_const: bool
