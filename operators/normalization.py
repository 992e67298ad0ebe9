"""Normalization operators: BatchNormalization (inference), LayerNormalization,
InstanceNormalization and LpNormalization.

Statistics are accumulated in double, so long rows lose no precision; per-channel affine
coefficients of a BatchNormalization with constant parameters are folded at generation time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rmodel.cpp_sources import cpp_source
from rmodel.cpp_writer import CppWriter
from rmodel.errors import RModelError

from .base import (
    CpuContext,
    Inferred,
    Operator,
    Plan,
    ShapeContext,
    TensorInfo,
    float_literal,
    normalize_axis,
    register,
)


def _code(region: str) -> str:
    """A helper of ``operators/cpp/normalization.hpp``."""
    return cpp_source("rmodel.operators", "normalization.hpp", region)


#: helpers are emitted sorted by key: the keys of row_statistics' users extend its key, so they follow it
_STATS_KEY = "row_statistics"


def _require_float(op: Operator, index: int, what: str) -> None:
    info = op.input_info(index)
    if info.dtype != np.float32:
        raise op.fail(f"{what} must be float32, got {info.dtype}")


@dataclass(frozen=True)
class ImagesPlan(Plan):
    """The input as n images of c channels of s contiguous values."""

    n: int
    c: int
    s: int


@dataclass(frozen=True, eq=False)
class BatchNormPlan(ImagesPlan):
    """Images, and y = x * scale + shift per channel folded at generation time (None: parameters
    computed at run time, folded by the generated code)."""

    folded_scale: np.ndarray | None
    folded_shift: np.ndarray | None


@register("BatchNormalization")
class BatchNormalization(Operator[BatchNormPlan]):
    """Inference-mode batch normalization: y = (x - mean) / sqrt(var + eps) * scale + bias per channel."""

    epsilon: float
    #: False: one coefficient per element of X[0] (BatchNormalization before opset 9, spatial=0)
    spatial: bool

    constant_inputs = ()

    #: over all opsets (consumed_inputs < 6, is_test < 7, spatial < 9, training_mode 14+: onnx.defs)
    attributes = {
        "epsilon": 1e-5,
        "momentum": 0.9,
        "consumed_inputs": (),
        "is_test": 0,
        "spatial": 1,
        "training_mode": 0,
    }

    def setup(self) -> None:
        self.epsilon = float(self.attr["epsilon"])
        self.spatial = bool(self.attr.get("spatial", 1))
        if self.attr.get("training_mode", 0):
            raise RModelError(
                f"node '{self.name}' (BatchNormalization): training_mode=1 is not supported; rmodel "
                "generates inference code only - export the model in eval/inference mode"
            )
        if any(self.outputs[1:]):
            raise RModelError(
                f"node '{self.name}' (BatchNormalization): outputs {[o for o in self.outputs[1:] if o]} are "
                "training-mode statistics, which rmodel does not compute; export the model in inference mode"
            )
        if len(self.inputs) != 5:
            raise RModelError(
                f"node '{self.name}' (BatchNormalization) needs 5 inputs (X, scale, B, mean, var), "
                f"got {len(self.inputs)}"
            )

    def infer(self, ctx: ShapeContext) -> Inferred[BatchNormPlan]:
        x = self.input_info(0)
        for index, what in enumerate(("X", "scale", "B", "mean", "var")):
            _require_float(self, index, what)
        if x.rank < 2:
            raise self.fail(f"X must have shape (N, C, ...), got {x.shape}")
        n = x.shape[0]
        if self.spatial:
            c, s = x.shape[1], math.prod(x.shape[2:])
            expected: tuple[int, ...] = (c,)
        else:
            c, s = math.prod(x.shape[1:]), 1
            expected = x.shape[1:]
        for index, what in enumerate(("scale", "B", "mean", "var"), start=1):
            shape = self.input_info(index).shape
            if shape != expected and not (self.spatial is False and math.prod(shape) == c):
                raise self.fail(f"{what} has shape {shape}, expected {expected} for X of shape {x.shape}")
        params = [ctx.const(self.inputs[i]) for i in range(1, 5)]
        folded_scale = folded_shift = None
        if all(p is not None for p in params):
            scale, bias, mean, var = (np.asarray(p, dtype=np.float64).ravel() for p in params)
            a = scale / np.sqrt(var + np.float64(np.float32(self.epsilon)))
            folded_scale, folded_shift = a.astype(np.float32), (bias - mean * a).astype(np.float32)
        plan = BatchNormPlan(n, c, s, folded_scale, folded_shift)
        return self.inferred([self.out(0, np.float32, x.shape)], plan)

    def workspace(self) -> dict[np.dtype, int]:
        return {} if self.plan.folded_scale is not None else {np.dtype(np.float32): 2 * self.plan.c}

    def flops(self) -> int:
        return 2 * self.plan.n * self.plan.c * self.plan.s

    def emit_cpu(self, ctx: CpuContext, w: CppWriter) -> None:
        p = self.plan
        ctx.helper("batchnorm", _code("batchnorm"))
        x, y = ctx.ptr(self.inputs[0]), ctx.ptr(self.outputs[0])
        call = f"detail::batchnorm<{p.n}, {p.c}, {p.s}>"
        if p.folded_scale is not None and p.folded_shift is not None:
            a = ctx.constant("bn_scale", p.folded_scale)
            b = ctx.constant("bn_shift", p.folded_shift)
            w(f"{call}({x}, {a}, {b}, {y});")
            return
        ctx.helper("batchnorm_coefficients", _code("batchnorm_coefficients"))
        work = ctx.scratch(np.float32)
        scale, bias, mean, var = (ctx.ptr(self.inputs[i]) for i in range(1, 5))
        w(
            f"detail::batchnorm_coefficients<{p.c}>({scale}, {bias}, {mean}, {var}, "
            f"{float_literal(self.epsilon)}, {work}, {work} + {p.c});"
        )
        w(f"{call}({x}, {work}, {work} + {p.c}, {y});")


@dataclass(frozen=True, eq=False)
class LayerNormPlan(Plan):
    """``rows`` rows of ``n`` normalized values; constant Scale and B broadcast to a row (None: fed
    at run time with the full normalized shape, or B absent)."""

    rows: int
    n: int
    scale: np.ndarray | None
    bias: np.ndarray | None


@register("LayerNormalization")
class LayerNormalization(Operator[LayerNormPlan]):
    """y = (x - mean) / sqrt(var + eps) * scale + bias over the trailing axes from ``axis`` on."""

    axis_attr: int
    epsilon: float

    attributes = {"axis": -1, "epsilon": 1e-5, "stash_type": 1}

    def setup(self) -> None:
        self.axis_attr = int(self.attr["axis"])
        self.epsilon = float(self.attr["epsilon"])
        if int(self.attr["stash_type"]) != 1:
            raise RModelError(
                f"node '{self.name}' (LayerNormalization): stash_type={self.attr['stash_type']} is not "
                "supported; only 1 (float32 statistics) is"
            )

    def infer(self, ctx: ShapeContext) -> Inferred[LayerNormPlan]:
        x = self.input_info(0)
        _require_float(self, 0, "X")
        if x.rank == 0:
            raise self.fail("X must have rank >= 1")
        axis = normalize_axis(self.axis_attr, x.rank, self)
        rows, n = math.prod(x.shape[:axis]), math.prod(x.shape[axis:])
        norm_shape = x.shape[axis:]
        params: list[np.ndarray | None] = []
        for index, what in ((1, "Scale"), (2, "B")):
            if not self.has_input(index):
                if index == 1:
                    raise self.fail("input Scale is required")
                params.append(None)
                continue
            _require_float(self, index, what)
            info = self.input_info(index)
            try:
                broadcast = np.broadcast_shapes(info.shape, norm_shape)
            except ValueError:
                broadcast = None
            if broadcast != norm_shape:
                raise self.fail(f"{what} of shape {info.shape} does not broadcast to the normalized shape {norm_shape}")
            value = ctx.const(self.inputs[index])
            if value is None and info.size != n:
                raise self.fail(
                    f"{what} of shape {info.shape} is computed at run time and must then have the full "
                    f"normalized shape {norm_shape}"
                )
            if value is not None:
                value = np.broadcast_to(value.astype(np.float32), norm_shape).ravel()
            params.append(value)
        stats_shape = x.shape[:axis] + (1,) * (x.rank - axis)
        outs: list[TensorInfo | None] = [self.out(0, np.float32, x.shape)]
        for index in (1, 2):
            wanted = index < len(self.outputs) and bool(self.outputs[index])
            outs.append(self.out(index, np.float32, stats_shape) if wanted else None)
        return self.inferred(outs, LayerNormPlan(rows, n, params[0], params[1]))

    def flops(self) -> int:
        return 7 * self.plan.rows * self.plan.n

    def emit_cpu(self, ctx: CpuContext, w: CppWriter) -> None:
        p = self.plan
        ctx.helper(_STATS_KEY, _code("row_statistics"))
        ctx.helper(_STATS_KEY + "_layernorm", _code("layernorm"))
        args = [ctx.ptr(self.inputs[0])]
        for index, value in ((1, p.scale), (2, p.bias)):
            if value is not None:
                args.append(ctx.constant("layernorm_param", value))
            elif self.has_input(index):
                args.append(ctx.ptr(self.inputs[index]))
            else:
                args.append("nullptr")
        args += [float_literal(self.epsilon), ctx.ptr(self.outputs[0])]
        args += [ctx.ptr(self.outputs[i]) if self.output_infos[i] is not None else "nullptr" for i in (1, 2)]
        w(f"detail::layernorm<{p.rows}, {p.n}>({', '.join(args)});")


@register("InstanceNormalization")
class InstanceNormalization(Operator[ImagesPlan]):
    """Each (sample, channel) slice normalized over its spatial values, then scale[c] * . + B[c]."""

    attributes = {"epsilon": 1e-5}
    epsilon: float

    def setup(self) -> None:
        self.epsilon = float(self.attr["epsilon"])

    def infer(self, ctx: ShapeContext) -> Inferred[ImagesPlan]:
        x = self.input_info(0)
        for index, what in enumerate(("input", "scale", "B")):
            _require_float(self, index, what)
        if x.rank < 3:
            raise self.fail(f"input must have shape (N, C, D1, ...) with rank >= 3, got {x.shape}")
        plan = ImagesPlan(x.shape[0], x.shape[1], math.prod(x.shape[2:]))
        for index, what in ((1, "scale"), (2, "B")):
            if self.input_info(index).shape != (plan.c,):
                raise self.fail(f"{what} has shape {self.input_info(index).shape}, expected ({plan.c},)")
        return self.inferred([self.out(0, np.float32, x.shape)], plan)

    def flops(self) -> int:
        return 6 * self.plan.n * self.plan.c * self.plan.s

    def emit_cpu(self, ctx: CpuContext, w: CppWriter) -> None:
        p = self.plan
        ctx.helper(_STATS_KEY, _code("row_statistics"))
        ctx.helper(_STATS_KEY + "_instancenorm", _code("instancenorm"))
        x, scale, bias = (ctx.ptr(self.inputs[i]) for i in range(3))
        w(
            f"detail::instancenorm<{p.n}, {p.c}, {p.s}>"
            f"({x}, {scale}, {bias}, {float_literal(self.epsilon)}, {ctx.ptr(self.outputs[0])});"
        )


@dataclass(frozen=True)
class AxisPlan(Plan):
    """The input as (outer, n, inner), normalized over n."""

    outer: int
    n: int
    inner: int


@register("LpNormalization")
class LpNormalization(Operator[AxisPlan]):
    """y = x / ||x||_p along ``axis`` (p = 1 or 2)."""

    attributes = {"axis": -1, "p": 2}
    axis_attr: int
    p: int

    def setup(self) -> None:
        self.axis_attr = int(self.attr["axis"])
        self.p = int(self.attr["p"])
        if self.p not in (1, 2):
            raise RModelError(f"node '{self.name}' (LpNormalization): p must be 1 or 2, got {self.p}")

    def infer(self, ctx: ShapeContext) -> Inferred[AxisPlan]:
        x = self.input_info(0)
        _require_float(self, 0, "input")
        if x.rank == 0:
            raise self.fail("input must have rank >= 1")
        axis = normalize_axis(self.axis_attr, x.rank, self)
        plan = AxisPlan(math.prod(x.shape[:axis]), x.shape[axis], math.prod(x.shape[axis + 1 :]))
        return self.inferred([self.out(0, np.float32, x.shape)], plan)

    def workspace(self) -> dict[np.dtype, int]:
        return {np.dtype(np.float64): self.plan.inner}

    def flops(self) -> int:
        return 3 * self.plan.outer * self.plan.n * self.plan.inner

    def emit_cpu(self, ctx: CpuContext, w: CppWriter) -> None:
        p = self.plan
        ctx.helper("lpnorm", _code("lpnorm"))
        w(
            f"detail::lpnorm<{p.outer}, {p.n}, {p.inner}, {self.p}>"
            f"({ctx.ptr(self.inputs[0])}, {ctx.ptr(self.outputs[0])}, {ctx.scratch(np.float64)});"
        )
