"""Reductions (ReduceSum, ReduceMean, ReduceMax, ... over any set of axes) and ArgMax/ArgMin.

A reduction walks the input once in memory order. Adjacent axes that are both reduced or both
kept are merged into one loop, so the innermost loop always runs over contiguous input: either
into one accumulator (trailing axes reduced) or across a contiguous run of accumulators (trailing
axes kept). Float sums accumulate in double.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from rmodel.cpp_sources import cpp_source
from rmodel.errors import RModelError
from rmodel.tensor import cpp_type

from .base import CpuContext, Operator, ShapeContext, normalize_axis, register, strides_of


@dataclass(frozen=True)
class Reduction:
    """How one reduce op is computed: acc = init; acc = combine(acc, t) with t = term(v) for every
    value v; y = final(acc) (``final`` may use {acc}, the count {n} and, for LogSumExp, the max {mx})."""

    init: str  # "zero", "one", "lowest" or "highest"
    term: str
    combine: str
    final: str = "{acc}"
    sums: bool = True  # a sum or product: accumulated in double (float input) or int64 (integers)
    ints: bool = False  # also defined for integer inputs


REDUCTIONS: dict[str, Reduction] = {
    "ReduceSum": Reduction("zero", "v", "acc + t", ints=True),
    "ReduceMean": Reduction("zero", "v", "acc + t", "{acc} / {n}"),
    "ReduceProd": Reduction("one", "v", "acc * t", ints=True),
    "ReduceSumSquare": Reduction("zero", "v * v", "acc + t"),
    "ReduceL1": Reduction("zero", "std::fabs(v)", "acc + t"),
    "ReduceL2": Reduction("zero", "v * v", "acc + t", "std::sqrt({acc})"),
    "ReduceLogSum": Reduction("zero", "v", "acc + t", "std::log({acc})"),
    # the max is found first (a separate pass) and subtracted, so exp cannot overflow
    # (an infinite maximum is the result: inf - inf would make it NaN)
    "ReduceLogSumExp": Reduction(
        "zero", "std::exp(v - mx)", "acc + t", "(std::isinf({mx}) ? {mx} : std::log({acc}) + {mx})"
    ),
    # NaN propagates (t != t): a NaN input never turns into a plausible maximum
    "ReduceMax": Reduction("lowest", "v", "(t > acc || t != t) ? t : acc", sums=False, ints=True),
    "ReduceMin": Reduction("highest", "v", "(t < acc || t != t) ? t : acc", sums=False, ints=True),
}
_INT_TYPES = {np.dtype(t) for t in (np.int8, np.uint8, np.int16, np.int32, np.int64)}


def _axes_as_input(op_type: str, opset: int) -> bool:
    return opset >= 18 or (op_type == "ReduceSum" and opset >= 13)


def loop_groups(shape: tuple[int, ...], reduced: set[int]) -> list[tuple[int, bool]]:
    """(extent, is_reduced) of the merged loops walking ``shape`` in memory order (extent-1 axes dropped)."""
    groups: list[tuple[int, bool]] = []
    for axis, extent in enumerate(shape):
        if extent == 1:
            continue
        is_reduced = axis in reduced
        if groups and groups[-1][1] == is_reduced:
            groups[-1] = (groups[-1][0] * extent, is_reduced)
        else:
            groups.append((extent, is_reduced))
    return groups


@register(*REDUCTIONS)
class Reduce(Operator):
    """y = reduction of x over ``axes`` (all axes when none are given), keeping them as 1s if keepdims."""

    constant_inputs = (1,)

    @classmethod
    def attribute_defaults(cls, op_type: str, opset: int) -> dict[str, Any]:
        if _axes_as_input(op_type, opset):
            return {"keepdims": 1, "noop_with_empty_axes": 0}
        return {"axes": None, "keepdims": 1}

    def setup(self) -> None:
        self.keepdims = bool(self.attr["keepdims"])
        self.noop_with_empty_axes = bool(self.attr.get("noop_with_empty_axes", 0))
        self.reduction = REDUCTIONS[self.op_type]
        if not _axes_as_input(self.op_type, self.opset) and self.has_input(1):
            raise RModelError(
                f"node '{self.name}' ({self.op_type}): opset {self.opset} takes axes as an attribute, "
                "but the node has a second input"
            )

    def infer(self, ctx: ShapeContext) -> list:
        x = self.input_info(0)
        if x.dtype != np.float32 and not (self.reduction.ints and x.dtype in _INT_TYPES):
            allowed = "float32 or integer" if self.reduction.ints else "float32"
            raise self.fail(f"input must be {allowed}, got {x.dtype}")
        if self.has_input(1):
            axes_value = ctx.const(self.inputs[1])
            assert axes_value is not None  # constant_inputs guarantees it
            if axes_value.ndim > 1 or not np.issubdtype(axes_value.dtype, np.integer):
                raise self.fail(f"axes must be a 1-D integer tensor, got {axes_value.dtype}{list(axes_value.shape)}")
            axes = [int(a) for a in axes_value.ravel()]
        else:
            axes = list(self.attr.get("axes") or [])
        if axes:
            normalized = [normalize_axis(a, x.rank, self) for a in axes]
            if len(set(normalized)) != len(normalized):
                raise self.fail(f"axes {axes} name an axis twice")
            reduced = set(normalized)
        elif self.noop_with_empty_axes:
            reduced = set()
        else:
            reduced = set(range(x.rank))
        self.count = math.prod(x.shape[a] for a in reduced)
        self.groups = loop_groups(x.shape, reduced)
        if self.keepdims:
            out_shape = tuple(1 if a in reduced else d for a, d in enumerate(x.shape))
        else:
            out_shape = tuple(d for a, d in enumerate(x.shape) if a not in reduced)
        return [self.out(0, x.dtype, out_shape)]

    # ---- code generation -------------------------------------------------------------------
    def _acc_dtype(self) -> np.dtype:
        dtype = self.input_info(0).dtype
        if not self.reduction.sums:
            return np.dtype(dtype)
        return np.dtype(np.float64) if dtype == np.float32 else np.dtype(np.int64)

    def _row_form(self) -> bool:
        """Only the trailing loop is reduced: each output is one contiguous row (no workspace)."""
        return bool(self.groups) and self.groups[-1][1] and all(not r for _, r in self.groups[:-1])

    def workspace(self) -> dict[np.dtype, int]:
        if self.input_info(0).size == 0 or self._row_form():
            return {}
        out_size = self.output_info(0).size
        need: dict[np.dtype, int] = {}
        acc = self._acc_dtype()
        if acc != self.output_info(0).dtype:
            need[acc] = out_size
        if self.op_type == "ReduceLogSumExp":
            need[np.dtype(np.float32)] = need.get(np.dtype(np.float32), 0) + out_size
        return need

    def flops(self) -> int:
        return 2 * self.input_info(0).size

    @staticmethod
    def _init(dtype: np.dtype, kind: str) -> str:
        """Initial accumulator value of C++ type ``dtype`` (kind: zero, one, lowest, highest)."""
        t = cpp_type(dtype)
        limits = f"std::numeric_limits<{t}>"
        floating = np.issubdtype(dtype, np.floating)
        return {
            "zero": f"{t}(0)",
            "one": f"{t}(1)",
            "lowest": f"-{limits}::infinity()" if floating else f"{limits}::lowest()",
            "highest": f"{limits}::infinity()" if floating else f"{limits}::max()",
        }[kind]

    def _combine(self, acc_dtype: np.dtype) -> str:
        """The combine step; integers cannot be NaN, so the NaN test (and g++'s warning about a
        self-comparison) is left out for them."""
        combine = self.reduction.combine
        return combine if np.issubdtype(acc_dtype, np.floating) else combine.replace(" || t != t", "")

    def _final(self, acc: str, mx: str, t_acc: str) -> str:
        return self.reduction.final.format(acc=acc, mx=mx, n=f"{t_acc}({self.count})")

    def emit_cpu(self, ctx: CpuContext) -> str:
        x_info, y_info = self.input_info(0), self.output_info(0)
        x, y = ctx.ptr(self.inputs[0]), ctx.ptr(self.outputs[0])
        t_in, t_out = cpp_type(x_info.dtype), cpp_type(y_info.dtype)
        acc_dtype = self._acc_dtype()
        t_acc = cpp_type(acc_dtype)
        init = self._init(acc_dtype, self.reduction.init)
        log_sum_exp = self.op_type == "ReduceLogSumExp"
        if y_info.size == 0:
            return "// empty output: nothing to compute"
        if x_info.size == 0:  # reduction over an empty axis: every output is the initial value
            value = self._final(init, "0.0f", t_acc)
            return f"for (std::size_t i = 0; i < {y_info.size}; ++i) {y}[i] = static_cast<{t_out}>({value});"
        if self._row_form() or not self.groups:
            # each output reduces one contiguous row: a scalar accumulator, no workspace
            rows = math.prod(e for e, r in self.groups if not r)
            n = self.groups[-1][0] if self.groups and self.groups[-1][1] else 1
            lines = [
                f"for (std::size_t o = 0; o < {rows}; ++o) {{",
                f"  const {t_in}* xr = {x} + o * {n};",
            ]
            if log_sum_exp:
                lines += [
                    "  float mx = xr[0];",
                    f"  for (std::size_t k = 1; k < {n}; ++k) mx = (xr[k] > mx || xr[k] != xr[k]) ? xr[k] : mx;",
                ]
            lines += [
                f"  {t_acc} acc = {init};",
                f"  for (std::size_t k = 0; k < {n}; ++k) {{",
                f"    const {t_acc} v = xr[k];",
                f"    const {t_acc} t = {self.reduction.term};",
                f"    acc = {self._combine(acc_dtype)};",
                "  }",
                f"  {y}[o] = static_cast<{t_out}>({self._final('acc', 'mx', t_acc)});",
                "}",
            ]
            return "\n".join(lines)

        # general case: an array of accumulators, one per output, filled in input memory order
        size = y_info.size
        in_place = acc_dtype == y_info.dtype
        lines = []
        if log_sum_exp:
            lines.append(f"float* mx_buf = {ctx.scratch(np.float32)};")
            lowest = self._init(np.dtype(np.float32), "lowest")
            lines.append(f"for (std::size_t i = 0; i < {size}; ++i) mx_buf[i] = {lowest};")
            lines += self._walk(x, "mx_buf", "float", "(t > acc || t != t) ? t : acc", "v")
        lines.append(f"{t_acc}* acc = {y if in_place else ctx.scratch(acc_dtype)};")
        lines.append(f"for (std::size_t i = 0; i < {size}; ++i) acc[i] = {init};")
        lines += self._walk(x, "acc", t_acc, self._combine(acc_dtype), self.reduction.term, log_sum_exp)
        if not in_place or self.reduction.final != "{acc}":
            final = self._final("acc[i]", "mx_buf[i]", t_acc)
            lines.append(f"for (std::size_t i = 0; i < {size}; ++i) {y}[i] = static_cast<{t_out}>({final});")
        return "\n".join(lines)

    def _walk(self, x: str, acc: str, t_acc: str, combine: str, term: str, with_max: bool = False) -> list[str]:
        """Nested loops over the input in memory order, folding every value into acc[output index]."""
        kept_strides = iter(strides_of([e for e, r in self.groups if not r]))
        in_strides = strides_of([e for e, _ in self.groups])
        lines: list[str] = []
        out_terms: list[str] = []
        in_terms: list[str] = []
        indent = ""
        for d, (extent, is_reduced) in enumerate(self.groups):
            lines.append(f"{indent}for (std::size_t i{d} = 0; i{d} < {extent}; ++i{d}) {{")
            indent += "  "
            in_terms.append(f"i{d} * {in_strides[d]}" if in_strides[d] != 1 else f"i{d}")
            if not is_reduced:
                stride = next(kept_strides)
                out_terms.append(f"i{d} * {stride}" if stride != 1 else f"i{d}")
        out_index = " + ".join(out_terms) or "0"
        lines.append(f"{indent}const {t_acc} v = {x}[{' + '.join(in_terms)}];")
        if with_max:
            lines.append(f"{indent}const float mx = mx_buf[{out_index}];")
        if term != "v":
            lines.append(f"{indent}const {t_acc} t = {term};")
        combine = re.sub(r"\bacc\b", "a", combine)
        if term == "v":
            combine = re.sub(r"\bt\b", "v", combine)
        lines.append(f"{indent}{t_acc}& a = {acc}[{out_index}];")
        lines.append(f"{indent}a = {combine};")
        for _ in self.groups:
            indent = indent[:-2]
            lines.append(f"{indent}}}")
        return lines


@register("ArgMax", "ArgMin")
class ArgReduce(Operator):
    """int64 index of the largest (ArgMax) or smallest (ArgMin) value along ``axis``."""

    @classmethod
    def attribute_defaults(cls, op_type: str, opset: int) -> dict[str, Any]:
        defaults: dict[str, Any] = {"axis": 0, "keepdims": 1}
        if opset >= 12:
            defaults["select_last_index"] = 0
        return defaults

    def setup(self) -> None:
        self.axis_attr = int(self.attr["axis"])
        self.keepdims = bool(self.attr["keepdims"])
        self.last = bool(self.attr.get("select_last_index", 0))

    def infer(self, ctx: ShapeContext) -> list:
        x = self.input_info(0)
        if x.dtype != np.float32 and x.dtype not in _INT_TYPES:
            raise self.fail(f"input must be float32 or integer, got {x.dtype}")
        if x.rank == 0:
            raise self.fail("input must have rank >= 1")
        axis = normalize_axis(self.axis_attr, x.rank, self)
        self.outer, self.n = math.prod(x.shape[:axis]), x.shape[axis]
        self.inner = math.prod(x.shape[axis + 1 :])
        if self.n == 0:
            raise self.fail(f"axis {axis} has length 0: there is no element to pick")
        out_shape = x.shape[:axis] + ((1,) if self.keepdims else ()) + x.shape[axis + 1 :]
        return [self.out(0, np.int64, out_shape)]

    def workspace(self) -> dict[np.dtype, int]:
        return {self.input_info(0).dtype: self.inner} if self.inner > 1 else {}

    def flops(self) -> int:
        return self.outer * self.n * self.inner

    def emit_cpu(self, ctx: CpuContext) -> str:
        ctx.helper("arg_reduce", cpp_source("rmodel.operators", "reduce.hpp", "arg_reduce"))
        dtype = self.input_info(0).dtype
        best = ctx.scratch(dtype) if self.inner > 1 else "nullptr"
        is_max = "true" if self.op_type == "ArgMax" else "false"
        last = "true" if self.last else "false"
        return (
            f"detail::arg_reduce<{self.outer}, {self.n}, {self.inner}, {is_max}, {last}, {cpp_type(dtype)}>"
            f"({ctx.ptr(self.inputs[0])}, {ctx.ptr(self.outputs[0])}, {best});"
        )
