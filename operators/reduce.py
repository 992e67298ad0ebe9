"""Reductions (ReduceSum, ReduceMean, ReduceMax, ... over any set of axes) and ArgMax/ArgMin.

A reduction walks the input once in memory order. Adjacent axes that are both reduced or both
kept are merged into one loop, so the innermost loop always runs over contiguous input: either
into one accumulator (trailing axes reduced) or across a contiguous run of accumulators (trailing
axes kept). Float sums accumulate in double.
"""

from __future__ import annotations

import math
import re
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from rmodel.cpp_sources import cpp_source
from rmodel.cpp_writer import CppWriter
from rmodel.errors import RModelError
from rmodel.tensor import cpp_type

from .base import CpuContext, Inferred, Operator, Plan, ShapeContext, normalize_axis, register, strides_of


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


class LoopGroup(NamedTuple):
    """One loop of the walk over the input: adjacent axes that are all reduced or all kept."""

    extent: int
    reduced: bool


def loop_groups(shape: tuple[int, ...], reduced: set[int] | frozenset[int]) -> tuple[LoopGroup, ...]:
    """The merged loops walking ``shape`` in memory order (extent-1 axes dropped)."""
    groups: list[LoopGroup] = []
    for axis, extent in enumerate(shape):
        if extent == 1:
            continue
        is_reduced = axis in reduced
        if groups and groups[-1].reduced == is_reduced:
            groups[-1] = LoopGroup(groups[-1].extent * extent, is_reduced)
        else:
            groups.append(LoopGroup(extent, is_reduced))
    return tuple(groups)


@dataclass(frozen=True)
class ReducePlan(Plan):
    """The reduced axes, how many values each output reduces and the loops walking the input."""

    reduced: frozenset[int]
    count: int
    groups: tuple[LoopGroup, ...]

    @property
    def row_form(self) -> bool:
        """Only the trailing loop is reduced: each output is one contiguous row (no workspace)."""
        return bool(self.groups) and self.groups[-1].reduced and all(not g.reduced for g in self.groups[:-1])


@register(*REDUCTIONS)
class Reduce(Operator[ReducePlan]):
    """y = reduction of x over ``axes`` (all axes when none are given), keeping them as 1s if keepdims."""

    constant_inputs = (1,)
    keepdims: bool
    noop_with_empty_axes: bool
    reduction: Reduction

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

    def infer(self, ctx: ShapeContext) -> Inferred[ReducePlan]:
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
        if self.keepdims:
            out_shape = tuple(1 if a in reduced else d for a, d in enumerate(x.shape))
        else:
            out_shape = tuple(d for a, d in enumerate(x.shape) if a not in reduced)
        plan = ReducePlan(frozenset(reduced), math.prod(x.shape[a] for a in reduced), loop_groups(x.shape, reduced))
        return self.inferred([self.out(0, x.dtype, out_shape)], plan)

    # ---- code generation -------------------------------------------------------------------
    def _acc_dtype(self) -> np.dtype:
        dtype = self.input_info(0).dtype
        if not self.reduction.sums:
            return np.dtype(dtype)
        return np.dtype(np.float64) if dtype == np.float32 else np.dtype(np.int64)

    def workspace(self) -> dict[np.dtype, int]:
        if self.input_info(0).size == 0 or self.plan.row_form:
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
        return self.reduction.final.format(acc=acc, mx=mx, n=f"{t_acc}({self.plan.count})")

    def emit_cpu(self, ctx: CpuContext, w: CppWriter) -> None:
        x_info, y_info = self.input_info(0), self.output_info(0)
        x, y = ctx.ptr(self.inputs[0]), ctx.ptr(self.outputs[0])
        t_in, t_out = cpp_type(x_info.dtype), cpp_type(y_info.dtype)
        acc_dtype = self._acc_dtype()
        t_acc = cpp_type(acc_dtype)
        init = self._init(acc_dtype, self.reduction.init)
        log_sum_exp = self.op_type == "ReduceLogSumExp"
        groups = self.plan.groups
        if y_info.size == 0:
            w("// empty output: nothing to compute")
            return
        if x_info.size == 0:  # reduction over an empty axis: every output is the initial value
            value = self._final(init, "0.0f", t_acc)
            w(f"for (std::size_t i = 0; i < {y_info.size}; ++i) {y}[i] = static_cast<{t_out}>({value});")
            return
        if self.plan.row_form or not groups:
            # each output reduces one contiguous row: a scalar accumulator, no workspace
            rows = math.prod(g.extent for g in groups if not g.reduced)
            n = groups[-1].extent if groups and groups[-1].reduced else 1
            with w.loop("o", rows):
                w(f"const {t_in}* xr = {x} + o * {n};")
                if log_sum_exp:
                    w(
                        "float mx = xr[0];",
                        f"for (std::size_t k = 1; k < {n}; ++k) mx = (xr[k] > mx || xr[k] != xr[k]) ? xr[k] : mx;",
                    )
                w(f"{t_acc} acc = {init};")
                with w.loop("k", n):
                    w(
                        f"const {t_acc} v = xr[k];",
                        f"const {t_acc} t = {self.reduction.term};",
                        f"acc = {self._combine(acc_dtype)};",
                    )
                w(f"{y}[o] = static_cast<{t_out}>({self._final('acc', 'mx', t_acc)});")
            return

        # general case: an array of accumulators, one per output, filled in input memory order
        size = y_info.size
        in_place = acc_dtype == y_info.dtype
        if log_sum_exp:
            w(f"float* mx_buf = {ctx.scratch(np.float32)};")
            lowest = self._init(np.dtype(np.float32), "lowest")
            w(f"for (std::size_t i = 0; i < {size}; ++i) mx_buf[i] = {lowest};")
            self._walk(w, x, "mx_buf", "float", "(t > acc || t != t) ? t : acc", "v")
        w(f"{t_acc}* acc = {y if in_place else ctx.scratch(acc_dtype)};")
        w(f"for (std::size_t i = 0; i < {size}; ++i) acc[i] = {init};")
        self._walk(w, x, "acc", t_acc, self._combine(acc_dtype), self.reduction.term, log_sum_exp)
        if not in_place or self.reduction.final != "{acc}":
            final = self._final("acc[i]", "mx_buf[i]", t_acc)
            w(f"for (std::size_t i = 0; i < {size}; ++i) {y}[i] = static_cast<{t_out}>({final});")

    def _walk(
        self, w: CppWriter, x: str, acc: str, t_acc: str, combine: str, term: str, with_max: bool = False
    ) -> None:
        """Nested loops over the input in memory order, folding every value into acc[output index]."""
        groups = self.plan.groups
        kept_strides = iter(strides_of([g.extent for g in groups if not g.reduced]))
        in_strides = strides_of([g.extent for g in groups])
        out_terms: list[str] = []
        in_terms: list[str] = []
        for d, group in enumerate(groups):
            in_terms.append(f"i{d} * {in_strides[d]}" if in_strides[d] != 1 else f"i{d}")
            if not group.reduced:
                stride = next(kept_strides)
                out_terms.append(f"i{d} * {stride}" if stride != 1 else f"i{d}")
        out_index = " + ".join(out_terms) or "0"
        combine = re.sub(r"\bacc\b", "a", combine)
        if term == "v":
            combine = re.sub(r"\bt\b", "v", combine)
        with ExitStack() as nest:
            for d, group in enumerate(groups):
                nest.enter_context(w.loop(f"i{d}", group.extent))
            w(f"const {t_acc} v = {x}[{' + '.join(in_terms)}];")
            if with_max:
                w(f"const float mx = mx_buf[{out_index}];")
            if term != "v":
                w(f"const {t_acc} t = {term};")
            w(f"{t_acc}& a = {acc}[{out_index}];", f"a = {combine};")


@dataclass(frozen=True)
class ArgReducePlan(Plan):
    """The input as (outer, n, inner) with the searched axis of extent n in the middle."""

    outer: int
    n: int
    inner: int


@register("ArgMax", "ArgMin")
class ArgReduce(Operator[ArgReducePlan]):
    """int64 index of the largest (ArgMax) or smallest (ArgMin) value along ``axis``."""

    axis_attr: int
    keepdims: bool
    #: select_last_index: the last of equal extremes (else the first)
    last: bool

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

    def infer(self, ctx: ShapeContext) -> Inferred[ArgReducePlan]:
        x = self.input_info(0)
        if x.dtype != np.float32 and x.dtype not in _INT_TYPES:
            raise self.fail(f"input must be float32 or integer, got {x.dtype}")
        if x.rank == 0:
            raise self.fail("input must have rank >= 1")
        axis = normalize_axis(self.axis_attr, x.rank, self)
        plan = ArgReducePlan(math.prod(x.shape[:axis]), x.shape[axis], math.prod(x.shape[axis + 1 :]))
        if plan.n == 0:
            raise self.fail(f"axis {axis} has length 0: there is no element to pick")
        out_shape = x.shape[:axis] + ((1,) if self.keepdims else ()) + x.shape[axis + 1 :]
        return self.inferred([self.out(0, np.int64, out_shape)], plan)

    def workspace(self) -> dict[np.dtype, int]:
        return {self.input_info(0).dtype: self.plan.inner} if self.plan.inner > 1 else {}

    def flops(self) -> int:
        return self.plan.outer * self.plan.n * self.plan.inner

    def emit_cpu(self, ctx: CpuContext, w: CppWriter) -> None:
        ctx.helper("arg_reduce", cpp_source("rmodel.operators", "reduce.hpp", "arg_reduce"))
        dtype = self.input_info(0).dtype
        plan = self.plan
        best = ctx.scratch(dtype) if plan.inner > 1 else "nullptr"
        is_max = "true" if self.op_type == "ArgMax" else "false"
        last = "true" if self.last else "false"
        w(
            f"detail::arg_reduce<{plan.outer}, {plan.n}, {plan.inner}, {is_max}, {last}, {cpp_type(dtype)}>"
            f"({ctx.ptr(self.inputs[0])}, {ctx.ptr(self.outputs[0])}, {best});"
        )
