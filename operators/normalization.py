"""Normalization operators: BatchNormalization (inference), LayerNormalization,
InstanceNormalization and LpNormalization.

Statistics are accumulated in double, so long rows lose no precision; per-channel affine
coefficients of a BatchNormalization with constant parameters are folded at generation time.
"""

from __future__ import annotations

import math

import numpy as np

from rmodel.cpp_sources import cpp_source
from rmodel.errors import RModelError

from .base import CpuContext, Operator, ShapeContext, float_literal, normalize_axis, register


def _code(region: str) -> str:
    """A helper of ``operators/cpp/normalization.hpp``."""
    return cpp_source("rmodel.operators", "normalization.hpp", region)


#: helpers are emitted sorted by key: the keys of row_statistics' users extend its key, so they follow it
_STATS_KEY = "row_statistics"


def _require_float(op: Operator, index: int, what: str) -> None:
    info = op.input_info(index)
    if info.dtype != np.float32:
        raise op.fail(f"{what} must be float32, got {info.dtype}")


@register("BatchNormalization")
class BatchNormalization(Operator):
    """Inference-mode batch normalization: y = (x - mean) / sqrt(var + eps) * scale + bias per channel."""

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

    def infer(self, ctx: ShapeContext) -> list:
        x = self.input_info(0)
        for index, what in enumerate(("X", "scale", "B", "mean", "var")):
            _require_float(self, index, what)
        if x.rank < 2:
            raise self.fail(f"X must have shape (N, C, ...), got {x.shape}")
        self.n = x.shape[0]
        if self.spatial:
            self.c, self.s = x.shape[1], math.prod(x.shape[2:])
            expected: tuple[int, ...] = (self.c,)
        else:
            self.c, self.s = math.prod(x.shape[1:]), 1
            expected = x.shape[1:]
        for index, what in enumerate(("scale", "B", "mean", "var"), start=1):
            shape = self.input_info(index).shape
            if shape != expected and not (self.spatial is False and math.prod(shape) == self.c):
                raise self.fail(f"{what} has shape {shape}, expected {expected} for X of shape {x.shape}")
        params = [ctx.const(self.inputs[i]) for i in range(1, 5)]
        self.folded = None
        if all(p is not None for p in params):
            scale, bias, mean, var = (np.asarray(p, dtype=np.float64).ravel() for p in params)
            a = scale / np.sqrt(var + np.float64(np.float32(self.epsilon)))
            self.folded = (a.astype(np.float32), (bias - mean * a).astype(np.float32))
        return [self.out(0, np.float32, x.shape)]

    def workspace(self) -> dict[np.dtype, int]:
        return {} if self.folded is not None else {np.dtype(np.float32): 2 * self.c}

    def flops(self) -> int:
        return 2 * self.n * self.c * self.s

    def emit_cpu(self, ctx: CpuContext) -> str:
        ctx.helper("batchnorm", _code("batchnorm"))
        x, y = ctx.ptr(self.inputs[0]), ctx.ptr(self.outputs[0])
        call = f"detail::batchnorm<{self.n}, {self.c}, {self.s}>"
        if self.folded is not None:
            a = ctx.constant("bn_scale", self.folded[0])
            b = ctx.constant("bn_shift", self.folded[1])
            return f"{call}({x}, {a}, {b}, {y});"
        ctx.helper("batchnorm_coefficients", _code("batchnorm_coefficients"))
        work = ctx.scratch(np.float32)
        scale, bias, mean, var = (ctx.ptr(self.inputs[i]) for i in range(1, 5))
        return "\n".join(
            [
                f"detail::batchnorm_coefficients<{self.c}>({scale}, {bias}, {mean}, {var}, "
                f"{float_literal(self.epsilon)}, {work}, {work} + {self.c});",
                f"{call}({x}, {work}, {work} + {self.c}, {y});",
            ]
        )


@register("LayerNormalization")
class LayerNormalization(Operator):
    """y = (x - mean) / sqrt(var + eps) * scale + bias over the trailing axes from ``axis`` on."""

    attributes = {"axis": -1, "epsilon": 1e-5, "stash_type": 1}

    def setup(self) -> None:
        self.axis_attr = int(self.attr["axis"])
        self.epsilon = float(self.attr["epsilon"])
        if int(self.attr["stash_type"]) != 1:
            raise RModelError(
                f"node '{self.name}' (LayerNormalization): stash_type={self.attr['stash_type']} is not "
                "supported; only 1 (float32 statistics) is"
            )

    def infer(self, ctx: ShapeContext) -> list:
        x = self.input_info(0)
        _require_float(self, 0, "X")
        if x.rank == 0:
            raise self.fail("X must have rank >= 1")
        axis = normalize_axis(self.axis_attr, x.rank, self)
        self.rows, self.n = math.prod(x.shape[:axis]), math.prod(x.shape[axis:])
        norm_shape = x.shape[axis:]
        self.params: list[np.ndarray | None] = []
        for index, what in ((1, "Scale"), (2, "B")):
            if not self.has_input(index):
                if index == 1:
                    raise self.fail("input Scale is required")
                self.params.append(None)
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
            if value is None and info.size != self.n:
                raise self.fail(
                    f"{what} of shape {info.shape} is computed at run time and must then have the full "
                    f"normalized shape {norm_shape}"
                )
            if value is not None:
                value = np.broadcast_to(value.astype(np.float32), norm_shape).ravel()
            self.params.append(value)
        stats_shape = x.shape[:axis] + (1,) * (x.rank - axis)
        outs = [self.out(0, np.float32, x.shape)]
        for index in (1, 2):
            wanted = index < len(self.outputs) and bool(self.outputs[index])
            outs.append(self.out(index, np.float32, stats_shape) if wanted else None)
        return outs

    def flops(self) -> int:
        return 7 * self.rows * self.n

    def emit_cpu(self, ctx: CpuContext) -> str:
        ctx.helper(_STATS_KEY, _code("row_statistics"))
        ctx.helper(_STATS_KEY + "_layernorm", _code("layernorm"))
        args = [ctx.ptr(self.inputs[0])]
        for index, value in zip((1, 2), self.params, strict=True):
            if value is not None:
                args.append(ctx.constant("layernorm_param", value))
            elif self.has_input(index):
                args.append(ctx.ptr(self.inputs[index]))
            else:
                args.append("nullptr")
        args += [float_literal(self.epsilon), ctx.ptr(self.outputs[0])]
        args += [ctx.ptr(self.outputs[i]) if self.output_infos[i] is not None else "nullptr" for i in (1, 2)]
        return f"detail::layernorm<{self.rows}, {self.n}>({', '.join(args)});"


@register("InstanceNormalization")
class InstanceNormalization(Operator):
    """Each (sample, channel) slice normalized over its spatial values, then scale[c] * . + B[c]."""

    attributes = {"epsilon": 1e-5}

    def setup(self) -> None:
        self.epsilon = float(self.attr["epsilon"])

    def infer(self, ctx: ShapeContext) -> list:
        x = self.input_info(0)
        for index, what in enumerate(("input", "scale", "B")):
            _require_float(self, index, what)
        if x.rank < 3:
            raise self.fail(f"input must have shape (N, C, D1, ...) with rank >= 3, got {x.shape}")
        self.n, self.c, self.s = x.shape[0], x.shape[1], math.prod(x.shape[2:])
        for index, what in ((1, "scale"), (2, "B")):
            if self.input_info(index).shape != (self.c,):
                raise self.fail(f"{what} has shape {self.input_info(index).shape}, expected ({self.c},)")
        return [self.out(0, np.float32, x.shape)]

    def flops(self) -> int:
        return 6 * self.n * self.c * self.s

    def emit_cpu(self, ctx: CpuContext) -> str:
        ctx.helper(_STATS_KEY, _code("row_statistics"))
        ctx.helper(_STATS_KEY + "_instancenorm", _code("instancenorm"))
        x, scale, bias = (ctx.ptr(self.inputs[i]) for i in range(3))
        return (
            f"detail::instancenorm<{self.n}, {self.c}, {self.s}>"
            f"({x}, {scale}, {bias}, {float_literal(self.epsilon)}, {ctx.ptr(self.outputs[0])});"
        )


@register("LpNormalization")
class LpNormalization(Operator):
    """y = x / ||x||_p along ``axis`` (p = 1 or 2)."""

    attributes = {"axis": -1, "p": 2}

    def setup(self) -> None:
        self.axis_attr = int(self.attr["axis"])
        self.p = int(self.attr["p"])
        if self.p not in (1, 2):
            raise RModelError(f"node '{self.name}' (LpNormalization): p must be 1 or 2, got {self.p}")

    def infer(self, ctx: ShapeContext) -> list:
        x = self.input_info(0)
        _require_float(self, 0, "input")
        if x.rank == 0:
            raise self.fail("input must have rank >= 1")
        axis = normalize_axis(self.axis_attr, x.rank, self)
        self.outer, self.n = math.prod(x.shape[:axis]), x.shape[axis]
        self.inner = math.prod(x.shape[axis + 1 :])
        return [self.out(0, np.float32, x.shape)]

    def workspace(self) -> dict[np.dtype, int]:
        return {np.dtype(np.float64): self.inner}

    def flops(self) -> int:
        return 3 * self.outer * self.n * self.inner

    def emit_cpu(self, ctx: CpuContext) -> str:
        ctx.helper("lpnorm", _code("lpnorm"))
        return (
            f"detail::lpnorm<{self.outer}, {self.n}, {self.inner}, {self.p}>"
            f"({ctx.ptr(self.inputs[0])}, {ctx.ptr(self.outputs[0])}, {ctx.scratch(np.float64)});"
        )
