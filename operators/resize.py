"""Resize and Upsample with nearest or (multi)linear interpolation and constant scales or sizes.

Everything that depends only on shapes - which input coordinate(s) and weights every output
coordinate uses - is computed at generation time (in float32, like onnxruntime) and emitted as
small per-axis tables; the generated loops only read, weight and store.
"""

from __future__ import annotations

import math
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import numpy as np

from rmodel.cpp_writer import CppWriter
from rmodel.tensor import cpp_type

from .base import (
    CpuContext,
    Inferred,
    Operator,
    Plan,
    ShapeContext,
    float_literal,
    normalize_axis,
    register,
    strides_of,
)
from .strided_copy import as_int_list, index_expr

COORDINATE_MODES = (
    "half_pixel",
    "half_pixel_symmetric",
    "pytorch_half_pixel",
    "align_corners",
    "asymmetric",
    "tf_half_pixel_for_nn",
)
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil", "simple")
f32 = np.float32


def original_coordinate(o: int, scale: float, in_len: int, out_len: int, mode: str) -> np.float32:
    """Input-space coordinate of output coordinate ``o`` (ONNX coordinate_transformation_mode)."""
    s = f32(scale)
    if mode == "asymmetric":
        return f32(o) / s
    if mode == "tf_half_pixel_for_nn":
        return (f32(o) + f32(0.5)) / s
    if mode == "align_corners":
        return f32(0) if out_len == 1 else f32(o) * f32(in_len - 1) / f32(out_len - 1)
    if mode == "pytorch_half_pixel":
        return (f32(o) + f32(0.5)) / s - f32(0.5) if out_len > 1 else f32(0)
    if mode == "half_pixel_symmetric":
        adjustment = f32(out_len) / (s * f32(in_len))
        center = f32(in_len) / f32(2)
        offset = center * (f32(1) - adjustment)
        return offset + (f32(o) + f32(0.5)) / s - f32(0.5)
    return (f32(o) + f32(0.5)) / s - f32(0.5)  # half_pixel


def nearest_index(x: np.float32, mode: str, downsampling: bool, in_len: int) -> int:
    """Input index picked for coordinate ``x`` (ONNX nearest_mode; 'simple' is opset-10 Resize/Upsample)."""
    value = float(x)
    if mode == "round_prefer_floor":
        index = math.ceil(value - 0.5) if value - math.floor(value) == 0.5 else round(value)
    elif mode == "round_prefer_ceil":
        index = math.floor(value + 0.5)
    elif mode == "floor":
        index = math.floor(value)
    elif mode == "ceil":
        index = math.ceil(value)
    else:  # simple
        index = math.ceil(value) if downsampling else int(value)
    return min(max(index, 0), in_len - 1)


def linear_taps(x: np.float32, in_len: int) -> tuple[int, int, np.float32, np.float32]:
    """(low index, high index, low weight, high weight) for linear interpolation at ``x``."""
    x = min(max(x, f32(0)), f32(in_len - 1))
    low = min(int(x), in_len - 1)
    high = min(low + 1, in_len - 1)
    frac = f32(x - f32(low))
    return low, high, f32(1) - frac, frac


@dataclass(frozen=True)
class ResizePlan(Plan):
    """The scale of every axis (float32 values) and the axes that change (resized)."""

    scales: tuple[float, ...]
    resized: tuple[int, ...]


@dataclass(frozen=True)
class _Loop:
    """One loop of the generated nest: a resized ``axis`` (indexing its tables) or, for None, a run
    of untouched axes merged into one loop with the given element strides."""

    axis: int | None
    extent: int
    in_stride: int
    out_stride: int


@register("Resize", "Upsample")
class Resize(Operator[ResizePlan]):
    """Scale the spatial (or any) axes of a tensor by nearest-neighbour or linear interpolation."""

    #: 'nearest' or 'linear'
    mode: str
    #: the coordinate_transformation_mode ('asymmetric' for Upsample and Resize before opset 11)
    coordinates: str
    #: the nearest_mode ('simple' for Upsample and Resize before opset 11)
    nearest_mode: str

    @classmethod
    def attribute_defaults(cls, op_type: str, opset: int) -> dict[str, Any]:
        if op_type == "Upsample":
            return {"mode": "nearest", "scales": None} if opset < 9 else {"mode": "nearest"}
        if opset < 11:
            return {"mode": "nearest"}
        attrs: dict[str, Any] = {
            "mode": "nearest",
            "coordinate_transformation_mode": "half_pixel",
            "cubic_coeff_a": -0.75,
            "exclude_outside": 0,
            "extrapolation_value": 0.0,
            "nearest_mode": "round_prefer_floor",
        }
        if opset >= 18:
            attrs.update({"antialias": 0, "axes": None, "keep_aspect_ratio_policy": "stretch"})
        return attrs

    def setup(self) -> None:
        mode = str(self.attr["mode"]).lower()
        self.mode = "linear" if mode == "bilinear" else mode  # bilinear: Upsample-7 spelling
        if self.mode not in ("nearest", "linear"):
            raise self.fail(f"mode '{self.mode}' is not supported; use 'nearest' or 'linear'")
        legacy = self.op_type == "Upsample" or self.opset < 11
        self.coordinates = "asymmetric" if legacy else str(self.attr["coordinate_transformation_mode"])
        self.nearest_mode = "simple" if legacy else str(self.attr["nearest_mode"])
        if self.coordinates not in COORDINATE_MODES:
            raise self.fail(
                f"coordinate_transformation_mode '{self.coordinates}' is not supported; "
                f"use one of {', '.join(COORDINATE_MODES)}"
            )
        if self.nearest_mode not in NEAREST_MODES:
            raise self.fail(f"nearest_mode '{self.nearest_mode}' is not supported")
        if self.attr.get("antialias", 0):
            raise self.fail("antialias=1 is not supported")
        if self.attr.get("keep_aspect_ratio_policy", "stretch") != "stretch":
            raise self.fail("only keep_aspect_ratio_policy='stretch' is supported")

    def _constant(self, ctx: ShapeContext, index: int, what: str) -> np.ndarray | None:
        if not self.has_input(index):
            return None
        value = ctx.const(self.inputs[index])
        if value is None:
            raise self.fail(f"the {what} (input {index}) must be a constant known at generation time")
        return value if value.size else None

    def infer(self, ctx: ShapeContext) -> Inferred[ResizePlan]:
        x = self.input_info(0)
        if self.op_type == "Upsample":
            scales = self.attr.get("scales") if self.opset < 9 else self._constant(ctx, 1, "scales")
            sizes = None
        elif self.opset < 11:
            scales, sizes = self._constant(ctx, 1, "scales"), None
        else:
            scales, sizes = self._constant(ctx, 2, "scales"), self._constant(ctx, 3, "sizes")
        axes_attr = self.attr.get("axes")
        axes = list(range(x.rank)) if axes_attr is None else [normalize_axis(int(a), x.rank, self) for a in axes_attr]
        if (scales is None) == (sizes is None):
            raise self.fail("give exactly one of scales and sizes")
        axis_scales = [1.0] * x.rank
        shape = list(x.shape)
        if sizes is not None:
            sizes_list = as_int_list(sizes) or []
            if len(sizes_list) != len(axes) or any(v < 0 for v in sizes_list):
                raise self.fail(f"sizes {sizes_list} must hold {len(axes)} non-negative numbers")
            for axis, size in zip(axes, sizes_list, strict=True):
                shape[axis] = size
                axis_scales[axis] = float(f32(size) / f32(x.shape[axis]))
        else:
            values = [float(v) for v in np.asarray(scales).reshape(-1)]
            if len(values) != len(axes) or any(v <= 0 for v in values):
                raise self.fail(f"scales {values} must hold {len(axes)} positive numbers")
            for axis, scale in zip(axes, values, strict=True):
                axis_scales[axis] = float(f32(scale))
                shape[axis] = int(math.floor(float(f32(x.shape[axis]) * f32(scale))))
        if self.op_type == "Upsample" and any(s < 1 for s in axis_scales):
            raise self.fail(f"Upsample scales {axis_scales} must be >= 1")
        if self.mode == "linear" and x.dtype != np.float32:
            raise self.fail(f"linear mode needs a float32 input, got {x.dtype}")
        if any(d == 0 for d in x.shape) and any(d for d in shape):
            raise self.fail(f"cannot resize the empty input {x.shape} to {tuple(shape)}")
        resized = tuple(k for k in range(x.rank) if shape[k] != x.shape[k] or axis_scales[k] != 1.0)
        if self.mode == "linear" and len(resized) > 3:
            raise self.fail(f"linear resize of {len(resized)} axes is not supported (at most 3)")
        return self.inferred([self.out(0, x.dtype, shape)], ResizePlan(tuple(axis_scales), resized))

    def flops(self) -> int:
        return 0 if self.mode == "nearest" else self.output_info(0).size * 3 * (2 ** len(self.plan.resized))

    def emit_cpu(self, ctx: CpuContext, w: CppWriter) -> None:
        x, out = self.input_info(0), self.output_info(0)
        if out.size == 0:
            w("// (nothing to resize: empty output)")
            return
        scales, resized = self.plan.scales, self.plan.resized
        t = cpp_type(x.dtype)
        in_strides, out_strides = strides_of(x.shape), strides_of(out.shape)
        w(f"const {t}* src_ = {ctx.ptr(self.inputs[0])};", f"{t}* dst_ = {ctx.ptr(self.outputs[0])};")
        # per resized axis: list of (offset table name, weight table name or None)
        taps: dict[int, list[tuple[str, str | None]]] = {}
        for k in resized:
            in_len, out_len = x.shape[k], out.shape[k]
            coords = [original_coordinate(o, scales[k], in_len, out_len, self.coordinates) for o in range(out_len)]
            if self.mode == "nearest":
                table = [nearest_index(c, self.nearest_mode, scales[k] < 1, in_len) * in_strides[k] for c in coords]
                _table(w, f"axis{k}_", "std::size_t", table)
                taps[k] = [(f"axis{k}_", None)]
            else:
                found = [linear_taps(c, in_len) for c in coords]
                _table(w, f"low{k}_", "std::size_t", [f[0] * in_strides[k] for f in found])
                _table(w, f"high{k}_", "std::size_t", [f[1] * in_strides[k] for f in found])
                _table(w, f"wlow{k}_", "float", [float_literal(float(f[2])) for f in found])
                _table(w, f"whigh{k}_", "float", [float_literal(float(f[3])) for f in found])
                taps[k] = [(f"low{k}_", f"wlow{k}_"), (f"high{k}_", f"whigh{k}_")]
        # loops: resized axes index their tables; runs of untouched axes merge into one loop
        loops: list[_Loop] = []
        for k in range(out.rank):
            if k in resized:
                loops.append(_Loop(k, out.shape[k], 0, out_strides[k]))
            elif out.shape[k] == 1:
                continue
            elif loops and loops[-1].axis is None and loops[-1].in_stride == in_strides[k] * out.shape[k]:
                loops[-1] = _Loop(None, loops[-1].extent * out.shape[k], in_strides[k], out_strides[k])
            else:
                loops.append(_Loop(None, out.shape[k], in_strides[k], out_strides[k]))
        names = [f"i{d}" for d in range(len(loops))]
        var = {loop.axis: name for loop, name in zip(loops, names, strict=True) if loop.axis is not None}

        def value(axes: tuple[int, ...], index: list[str]) -> str:
            """Interpolate over ``axes`` (nested: w_low * (...) + w_high * (...))."""
            if not axes:
                return f"base_[{' + '.join(index) or '0'}]"
            k, rest = axes[0], axes[1:]
            parts = []
            for table, weight in taps[k]:
                inner = value(rest, [*index, f"{table}[{var[k]}]"])
                parts.append(
                    inner if weight is None else f"{weight}[{var[k]}] * {'(' + inner + ')' if rest else inner}"
                )
            return " + ".join(parts)

        with ExitStack() as nest:
            for name, loop in zip(names, loops, strict=True):
                nest.enter_context(w.loop(name, loop.extent))
            fixed = index_expr(0, [loop.in_stride for loop in loops], names)
            w(f"const {t}* base_ = src_ + {fixed};" if fixed != "0" else f"const {t}* base_ = src_;")
            target = f"dst_[{index_expr(0, [loop.out_stride for loop in loops], names)}]"
            if self.mode == "nearest" or not resized:
                w(f"{target} = {value(resized, [])};")
            else:
                k, rest = resized[0], resized[1:]
                terms = []
                for offsets, weight in taps[k]:
                    inner = value(rest, [f"{offsets}[{var[k]}]"])
                    terms.append(f"    {weight}[{var[k]}] * {'(' + inner + ')' if rest else inner}")
                w(f"{target} =", " +\n".join(terms) + ";")


def _table(w: CppWriter, name: str, ctype: str, values: list[Any]) -> None:
    """A ``static constexpr`` array of ``values``."""
    w(f"static constexpr {ctype} {name}[{len(values)}] = {{{', '.join(map(str, values))}}};")
