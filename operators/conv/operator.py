"""The Conv and ConvTranspose operators: attribute parsing, shape inference and the plan.

``Conv.infer`` picks the strategy (``choose_strategy``): pointwise (1x1, stride 1, no padding),
depthwise (one input channel per group), weight panels (few outputs, constant weights), padded
taps (stride-1 1-D/2-D) or blocked im2col.
"""

from __future__ import annotations

import numpy as np

from rmodel.cpp_writer import CppWriter
from rmodel.tensor import TensorInfo

from ..base import CpuContext, Inferred, Operator, PlanT, ShapeContext
from . import transposed
from .depthwise import Depthwise2d, DepthwiseFlat, DepthwiseNd
from .grouped import Pointwise
from .im2col import Im2col, WeightPanels
from .padded import PaddedTaps
from .plan import ConvDims, ConvPlan, ConvTensors, ConvTransposePlan, Strategy
from .window import Window, conv_padding_and_group, int_tuple, window_geometry


def choose_strategy(dims: ConvDims, w_const: bool) -> Strategy:
    """How a convolution of ``dims`` is computed (``w_const``: its weights are constant)."""
    win = dims.win
    if all(k == 1 for k in win.kernel) and all(s == 1 for s in win.strides) and not any(win.pads_begin + win.pads_end):
        return Pointwise()
    if dims.c == dims.group:
        flat = DepthwiseFlat.plan(dims)
        if flat is not None:
            return flat
        plane = Depthwise2d.plan(dims)
        return plane if plane is not None else DepthwiseNd()
    if WeightPanels.applies(dims, w_const):
        return WeightPanels()
    padded = PaddedTaps.plan(dims)
    return padded if padded is not None else Im2col.plan(dims)


class _ConvBase(Operator[PlanT]):
    """Attribute parsing shared by Conv and ConvTranspose."""

    attributes = {
        "auto_pad": "NOTSET",
        "dilations": None,
        "group": 1,
        "kernel_shape": None,
        "pads": None,
        "strides": None,
    }

    auto_pad: str
    group: int

    def setup(self) -> None:
        self.auto_pad, self.group = conv_padding_and_group(self)

    def common_inputs(self) -> tuple[TensorInfo, TensorInfo, tuple[int, ...]]:
        """X and W infos (validated) and the kernel shape."""
        x, w = self.input_info(0), self.input_info(1)
        if x.dtype != np.float32 or w.dtype != np.float32:
            raise self.fail(f"only float32 is supported, got X {x.dtype} and W {w.dtype}")
        if x.rank < 3:
            raise self.fail(f"X must be (N, C, spatial...) with a spatial axis, got shape {x.shape}")
        if w.rank != x.rank:
            raise self.fail(f"W must have rank {x.rank} like X {x.shape}, got shape {w.shape}")
        kernel = tuple(int(k) for k in w.shape[2:])
        if self.attr["kernel_shape"] is not None:
            given = tuple(int(k) for k in self.attr["kernel_shape"])
            if given != kernel:
                raise self.fail(f"kernel_shape {list(given)} does not match W's spatial shape {list(kernel)}")
        if any(k < 1 for k in kernel):
            raise self.fail(f"kernel shape {list(kernel)} must be positive")
        return x, w, kernel

    def check_bias(self, channels: int) -> None:
        if self.has_input(2):
            b = self.input_info(2)
            if b.dtype != np.float32 or b.shape != (channels,):
                raise self.fail(f"bias B must be float32 of shape ({channels},), got {b.dtype} {b.shape}")

    def tensors(self) -> ConvTensors:
        return ConvTensors(self.inputs[0], self.inputs[1], self.outputs[0], self.inputs[2] if self.has_input(2) else "")


class Conv(_ConvBase[ConvPlan]):
    """ONNX Conv: grouped, strided, dilated, padded N-d convolution with optional bias."""

    def infer(self, ctx: ShapeContext) -> Inferred[ConvPlan]:
        x, w, kernel = self.common_inputs()
        n, c = x.shape[:2]
        m = w.shape[0]
        if c % self.group:
            raise self.fail(f"group {self.group} does not divide the {c} input channels")
        if m % self.group:
            raise self.fail(f"group {self.group} does not divide the {m} output channels (W.shape[0])")
        if w.shape[1] * self.group != c:
            raise self.fail(
                f"W {w.shape} expects {w.shape[1]} channels per group x {self.group} group(s) = "
                f"{w.shape[1] * self.group} input channels, but X {x.shape} has {c}"
            )
        self.check_bias(m)
        win = window_geometry(
            self, x.shape[2:], kernel, self.attr["strides"], self.attr["dilations"], self.attr["pads"], self.auto_pad
        )
        dims = ConvDims(n, c, m, self.group, win)
        strategy = choose_strategy(dims, ctx.const(self.inputs[1]) is not None)
        return self.inferred([self.out(0, np.float32, (n, m, *win.out))], ConvPlan(dims, strategy))

    def workspace(self) -> dict[np.dtype, int]:
        floats = self.plan.strategy.workspace(self.plan.dims)
        return {np.dtype(np.float32): floats} if floats else {}

    def flops(self) -> int:
        dims = self.plan.dims
        out = dims.n * dims.m * dims.win.out_size
        return 2 * out * dims.kdim + (out if self.has_input(2) else 0)

    def emit_cpu(self, ctx: CpuContext, w: CppWriter) -> None:
        self.plan.strategy.emit(ctx, w, self.tensors(), self.plan.dims)


class ConvTranspose(_ConvBase[ConvTransposePlan]):
    """ONNX ConvTranspose (the gradient of Conv): grouped, strided, dilated, with output_padding
    and output_shape, computed as col = W' . X followed by a scatter-add (col2im) into Y."""

    attributes = {**_ConvBase.attributes, "output_padding": None, "output_shape": None}

    def infer(self, ctx: ShapeContext) -> Inferred[ConvTransposePlan]:
        x, w, kernel = self.common_inputs()
        n, c = x.shape[:2]
        if c % self.group:
            raise self.fail(f"group {self.group} does not divide the {c} input channels")
        if w.shape[0] != c:
            raise self.fail(f"W {w.shape} must have X's {c} input channels as its first dimension")
        m = w.shape[1] * self.group
        self.check_bias(m)
        rank = x.rank - 2
        in_spatial = tuple(x.shape[2:])
        strides = int_tuple(self, "strides", self.attr["strides"], rank, 1, 1)
        dilations = int_tuple(self, "dilations", self.attr["dilations"], rank, 1, 1)
        out_pad = int_tuple(self, "output_padding", self.attr["output_padding"], rank, 0, 0)
        for axis in range(rank):
            if out_pad[axis] >= max(strides[axis], dilations[axis]):
                raise self.fail(
                    f"output_padding {list(out_pad)} must be smaller than the stride or dilation on each axis"
                )
        pads = self.attr["pads"]
        pads_ = (0,) * (2 * rank) if pads is None or pads == () else tuple(int(p) for p in pads)
        if len(pads_) != 2 * rank or any(p < 0 for p in pads_):
            raise self.fail(f"attribute 'pads' = {list(pads_)} must hold {2 * rank} non-negative values")
        full = [
            s * (i - 1) + op + (k - 1) * d + 1
            for i, s, op, k, d in zip(in_spatial, strides, out_pad, kernel, dilations, strict=True)
        ]
        given = self.attr["output_shape"]
        target: tuple[int, ...] | None
        if given is not None and given != ():
            target = tuple(int(v) for v in given)
            if len(target) != rank:
                raise self.fail(f"output_shape {list(target)} must give the {rank} spatial output dims")
        elif self.auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            target = tuple(i * s for i, s in zip(in_spatial, strides, strict=True))
        else:
            target = None
        begin, end = [], []
        for axis in range(rank):
            if target is None:
                pb, pe = (0, 0) if self.auto_pad == "VALID" else (pads_[axis], pads_[axis + rank])
            else:
                total = full[axis] - target[axis]
                if total < 0:
                    # beyond the full output (as onnxruntime: by less than the stride, like
                    # output_padding): the extra positions at the end take only the bias
                    if -total >= strides[axis]:
                        raise self.fail(
                            f"output_shape {list(target)} exceeds the full transposed output {full} by "
                            f"the stride {list(strides)} or more on axis {axis}"
                        )
                    pb, pe = 0, total
                else:
                    # ONNX: SAME_UPPER puts the larger half of the padding at the end
                    small, large = total // 2, total - total // 2
                    pb, pe = (small, large) if self.auto_pad == "SAME_UPPER" else (large, small)
            begin.append(pb)
            end.append(pe)
        out = tuple(f - b - e for f, b, e in zip(full, begin, end, strict=True))
        if any(o < 1 for o in out):
            raise self.fail(f"pads {begin + end} leave an empty output {list(out)}")
        win = Window(in_spatial, kernel, strides, dilations, tuple(begin), tuple(end), out)
        plan = ConvTransposePlan(ConvDims(n, c, m, self.group, win), ctx.const(self.inputs[1]) is not None)
        return self.inferred([self.out(0, np.float32, (n, m, *out))], plan)

    def workspace(self) -> dict[np.dtype, int]:
        return {np.dtype(np.float32): transposed.workspace(self.plan.dims, self.plan.w_const)}

    def flops(self) -> int:
        dims = self.plan.dims
        macs = dims.n * dims.c * dims.mg * dims.win.taps * dims.win.in_size
        return 2 * macs + (dims.n * dims.m * dims.win.out_size if self.has_input(2) else 0)

    def emit_cpu(self, ctx: CpuContext, w: CppWriter) -> None:
        transposed.emit(ctx, w, self.tensors(), self.plan.dims)
