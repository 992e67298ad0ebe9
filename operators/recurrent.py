"""Recurrent layers: LSTM, GRU and RNN (ONNX), as loops over time steps around matrix products.

Per direction, the input projection of every time step is one matrix product
(``xw = X . W^T + bias``, all steps and batch rows at once); then each step computes the recurrent
product of the whole batch, ``rec = H_{t-1} . R^T`` (batch rows x gates*hidden), and applies the
gates row by row in loops over contiguous hidden units (vectorized: the sigmoid/tanh/exp of
``mathfn.py``). Both products use the register-blocked kernel of ``kernels.py``; constant W and R
are transposed and packed into its panel layout at generation time, weights computed at run time
are transposed into the workspace first. GRU with linear_before_reset=0 needs ``(r * h) . Rh^T``:
its step is two products (z/r columns, then the h columns on the reset rows).

Semantics follow onnxruntime where the ONNX text leaves room: ``activation_alpha``/``_beta`` are
consumed in order only by the activations that take them (defaults: LeakyRelu 0.01, HardSigmoid
0.2/0.5, Elu 1.0, otherwise 0); a batch row with sequence length 0 gets zero final states;
steps past a row's sequence length are zero in Y; LSTM ``input_forget`` couples f = 1 - i.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, ClassVar, NamedTuple

import numpy as np
from onnx import NodeProto, helper

from rmodel.cpp_writer import CppWriter
from rmodel.errors import RModelError

from . import mathfn
from .activations import FUNCTIONS, RECURRENT_ONLY, FloatFunction
from .base import CpuContext, Inferred, Operator, Plan, ShapeContext, TensorInfo, float_literal, register
from .kernels import BIAS_COL, gemm_call

#: the activation functions of recurrent layers (one definition with the elementwise operators'),
#: by lower-case name; a function takes from activation_alpha/_beta the attributes it has
_ACTIVATIONS: dict[str, FloatFunction] = {
    f.name.lower(): f
    for f in (
        FUNCTIONS["Sigmoid"],
        FUNCTIONS["Tanh"],
        FUNCTIONS["Relu"],
        RECURRENT_ONLY["Affine"],
        FUNCTIONS["LeakyRelu"],
        FUNCTIONS["ThresholdedRelu"],
        RECURRENT_ONLY["ScaledTanh"],
        FUNCTIONS["HardSigmoid"],
        FUNCTIONS["Elu"],
        FUNCTIONS["Softsign"],
        FUNCTIONS["Softplus"],
    )
}
#: functions whose alpha/beta default to the ONNX operator's when activation_alpha/_beta run out;
#: the others default to 0, as in onnxruntime (ThresholdedRelu: 0, not the operator's 1)
_OPERATOR_DEFAULTS = frozenset({"LeakyRelu", "HardSigmoid", "Elu"})


def _plus(base: str, offset: int) -> str:
    """C++ ``base + offset``, or just ``base`` for offset 0."""
    return f"{base} + {offset}" if offset else base


def _state_offset(row: str, d: int, directions: int, hidden: int) -> str:
    """Offset of (batch row, direction) in a layout-1 state tensor [batch, directions, hidden]."""
    if directions == 1:
        return f"{row} * {hidden}"
    return f"({_plus(f'{row} * {directions}', d)}) * {hidden}"


@dataclass(frozen=True)
class Activation:
    """One activation function with its alpha/beta resolved."""

    function: FloatFunction
    alpha: float
    beta: float

    @property
    def name(self) -> str:
        """The ONNX name (``Sigmoid``, ``HardSigmoid``...)."""
        return self.function.name

    def apply(self, value: str) -> str:
        """C++ expression (parenthesized) of this function of the C++ variable ``value``."""
        return f"({self.function.expression(value, {'alpha': self.alpha, 'beta': self.beta})})"


class Region(NamedTuple):
    """A part of the workspace, in floats."""

    offset: int
    size: int

    def pointer(self) -> str:
        """C++ pointer to the region (``ws`` is the workspace)."""
        return f"ws + {self.offset}" if self.offset else "ws"


@dataclass(frozen=True)
class Scratch:
    """The workspace, region by region (empty regions for what a layer does not need)."""

    #: W^T per direction (W fed at run time)
    wt: Region
    #: R^T per direction (R fed at run time)
    rt: Region
    #: combined biases per direction (B fed at run time)
    bias: Region
    #: input projections of every step
    xw: Region
    #: recurrent product of one step
    rec: Region
    #: hidden state
    h: Region
    #: LSTM cell state
    c: Region
    #: GRU (linear_before_reset=0): reset gate times hidden state
    tmp: Region

    @classmethod
    def of(cls, **sizes: int) -> Scratch:
        """Regions of these sizes, one after the other in field order."""
        regions, offset = {}, 0
        for field in fields(cls):
            regions[field.name] = Region(offset, sizes[field.name])
            offset += sizes[field.name]
        return cls(**regions)

    @property
    def total(self) -> int:
        return sum(getattr(self, field.name).size for field in fields(self))


class RecurrentShape(NamedTuple):
    """The sizes of a recurrent layer."""

    seq_length: int
    batch: int
    input_size: int
    hidden: int


@dataclass(frozen=True, eq=False)
class RecurrentPlan(Plan):
    """Sizes, constant sequence lengths, constant weights and the workspace layout."""

    seq_length: int
    batch: int
    input_size: int
    hidden: int
    #: per batch row (None: every row runs the whole sequence)
    lengths: tuple[int, ...] | None
    #: indices of the inputs computed at run time
    runtime_inputs: frozenset[int]
    #: W, R and B when they are constants (None: fed at run time, or B absent)
    w: np.ndarray | None
    r: np.ndarray | None
    b: np.ndarray | None
    scratch: Scratch

    def weight(self, index: int) -> np.ndarray:
        """The constant W (``index`` 1), R (2) or B (3)."""
        value = {1: self.w, 2: self.r, 3: self.b}[index]
        assert value is not None, f"input {index} is not a constant"
        return value


class Recurrent(Operator[RecurrentPlan]):
    """What LSTM, GRU and RNN share: inputs, shapes, directions, layouts, sequence lengths."""

    #: gates per direction (rows of W per hidden unit)
    gates: ClassVar[int]
    #: activation functions per direction, and their defaults
    default_activations: ClassVar[tuple[str, ...]]
    #: output names in order
    output_names: ClassVar[tuple[str, ...]] = ("Y", "Y_h")
    #: input index -> name, for messages
    input_names: ClassVar[tuple[str, ...]] = ("X", "W", "R", "B", "sequence_lens", "initial_h")

    common_attributes: ClassVar[dict[str, Any]] = {
        "activation_alpha": (),
        "activation_beta": (),
        "activations": None,
        "clip": None,
        "direction": "forward",
        "hidden_size": None,
    }
    extra_attributes: ClassVar[dict[str, Any]] = {}

    direction: str
    num_directions: int
    layout: int
    clip: float | None
    #: hidden_size (None: taken from R)
    hidden_attr: int | None
    #: activation functions per direction
    activations: tuple[tuple[Activation, ...], ...]

    @classmethod
    def attribute_defaults(cls, op_type: str, opset: int) -> dict[str, Any]:
        attrs = {**cls.common_attributes, **cls.extra_attributes}
        if opset >= 14:
            attrs["layout"] = 0
        return attrs

    # ---- attributes ------------------------------------------------------------------------
    def setup(self) -> None:
        direction = self.attr["direction"]
        if direction not in ("forward", "reverse", "bidirectional"):
            raise self._error(f"direction '{direction}' is not one of forward, reverse, bidirectional")
        self.direction = direction
        self.num_directions = 2 if direction == "bidirectional" else 1
        self.layout = int(self.attr.get("layout", 0))
        if self.layout not in (0, 1):
            raise self._error(f"layout must be 0 or 1, got {self.layout}")
        clip = self.attr["clip"]
        if clip is not None and not float(clip) > 0.0:
            raise self._error(f"clip must be a positive threshold, got {clip}")
        self.clip = None if clip is None else float(clip)
        hidden = self.attr["hidden_size"]
        if hidden is not None and int(hidden) < 1:
            raise self._error(f"hidden_size must be positive, got {hidden}")
        self.hidden_attr = None if hidden is None else int(hidden)
        if len(self.inputs) > len(self.input_names):
            raise self._error(
                f"has {len(self.inputs)} inputs but {self.op_type} takes at most {len(self.input_names)} "
                f"({', '.join(self.input_names)})"
            )
        if len(self.outputs) > len(self.output_names):
            raise self._error(
                f"has {len(self.outputs)} outputs but {self.op_type} has at most {len(self.output_names)} "
                f"({', '.join(self.output_names)})"
            )
        self.activations = self._parse_activations()

    def _error(self, message: str) -> RModelError:
        """An attribute error (raised before shapes are known)."""
        return RModelError(f"node '{self.name}' ({self.op_type}): {message}")

    def _parse_activations(self) -> tuple[tuple[Activation, ...], ...]:
        """Activation functions per direction, alpha/beta consumed in onnxruntime's order."""
        per_direction = len(self.default_activations)
        names = self.attr["activations"]
        if names is None:
            names = self.default_activations * self.num_directions
        names = [str(n) for n in names]
        expected = per_direction * self.num_directions
        if len(names) == 2 * per_direction and self.num_directions == 1 and self.op_type == "RNN":
            names = names[:per_direction]  # RNN's schema default lists two even for one direction
        if len(names) != expected:
            raise self._error(
                f"activations lists {len(names)} function(s) ({', '.join(names)}) but a {self.direction} "
                f"{self.op_type} needs {expected}: {', '.join(self.default_activations)} per direction"
            )
        alphas = [float(a) for a in self.attr["activation_alpha"]]
        betas = [float(b) for b in self.attr["activation_beta"]]
        resolved = []
        for name in names:
            function = _ACTIVATIONS.get(name.lower())
            if function is None:
                raise self._error(
                    f"activation '{name}' is not supported; use one of "
                    + ", ".join(f.name for f in _ACTIVATIONS.values())
                )
            defaults = function.defaults if function.name in _OPERATOR_DEFAULTS else {}
            alpha = alphas.pop(0) if "alpha" in function.defaults and alphas else defaults.get("alpha", 0.0)
            beta = betas.pop(0) if "beta" in function.defaults and betas else defaults.get("beta", 0.0)
            resolved.append(Activation(function, alpha, beta))
        return tuple(tuple(resolved[d * per_direction : (d + 1) * per_direction]) for d in range(self.num_directions))

    # ---- shapes ----------------------------------------------------------------------------
    def infer(self, ctx: ShapeContext) -> Inferred[RecurrentPlan]:
        x = self.input_info(0)
        if x.rank != 3:
            raise self.fail(f"X must have rank 3, got shape {x.shape}")
        for index in range(len(self.inputs)):
            if self.has_input(index) and index != 4 and self.input_info(index).dtype != np.float32:
                raise self.fail(
                    f"input {self.input_names[index]} has dtype {self.input_info(index).dtype}; "
                    "only float32 recurrent layers are supported"
                )
        if self.layout == 0:
            seq_length, batch, input_size = x.shape
        else:
            batch, seq_length, input_size = x.shape
        d, g = self.num_directions, self.gates
        r = self.input_info(2)
        h = self.hidden_attr if self.hidden_attr is not None else (r.shape[-1] if r.rank == 3 else 0)
        shape = RecurrentShape(seq_length, batch, input_size, h)
        self._expect_shape(1, (d, g * h, input_size), shape)
        self._expect_shape(2, (d, g * h, h), shape)
        if self.has_input(3):
            self._expect_shape(3, (d, 2 * g * h), shape)
        state_shape = (d, batch, h) if self.layout == 0 else (batch, d, h)
        for index in self._state_inputs():
            if self.has_input(index):
                self._expect_shape(index, state_shape, shape)
        self._check_extra_inputs(shape)
        lengths = self._sequence_lengths(ctx, shape)
        runtime = frozenset(i for i, n in enumerate(self.inputs) if n and ctx.const(n) is None)
        w, r_value, b = (ctx.const(self.inputs[i]) if self.has_input(i) else None for i in (1, 2, 3))
        plan = RecurrentPlan(
            seq_length, batch, input_size, h, lengths, runtime, w, r_value, b, self._scratch(shape, runtime)
        )
        y_shape = (seq_length, d, batch, h) if self.layout == 0 else (batch, seq_length, d, h)
        infos: list[TensorInfo | None] = []
        for index, out in enumerate(self.outputs):
            infos.append(self.out(index, np.float32, y_shape if index == 0 else state_shape) if out else None)
        return self.inferred(infos, plan)

    def _state_inputs(self) -> tuple[int, ...]:
        return (5,)

    def _check_extra_inputs(self, shape: RecurrentShape) -> None:
        """Validate op-specific inputs (peepholes)."""

    def _expect_shape(self, index: int, expected: tuple[int, ...], shape: RecurrentShape) -> None:
        info = self.input_info(index)
        if info.shape != expected:
            raise self.fail(
                f"{self.input_names[index]} has shape {info.shape}, expected {expected} "
                f"(num_directions={self.num_directions}, {self.gates} gate(s), hidden_size={shape.hidden}, "
                f"input_size={shape.input_size}, batch={shape.batch}, layout={self.layout})"
            )

    def _sequence_lengths(self, ctx: ShapeContext, shape: RecurrentShape) -> tuple[int, ...] | None:
        """Constant per-row lengths, or None when every row runs the whole sequence."""
        if not self.has_input(4):
            return None
        name = self.inputs[4]
        value = ctx.const(name)
        if value is None:
            raise self.fail(
                f"sequence_lens ('{name}') is computed at run time; rmodel needs the sequence lengths as "
                "a constant (an initializer), or drop the input to run every row over the whole sequence"
            )
        if not np.issubdtype(value.dtype, np.integer) or value.shape != (shape.batch,):
            raise self.fail(
                f"sequence_lens must be an integer vector of shape ({shape.batch},), got {value.dtype} {value.shape}"
            )
        lengths = tuple(int(v) for v in value)
        if any(v < 0 or v > shape.seq_length for v in lengths):
            raise self.fail(f"sequence_lens {list(lengths)} must lie in [0, {shape.seq_length}] (the sequence length)")
        if all(v == shape.seq_length for v in lengths):
            return None
        return lengths

    def _scratch(self, shape: RecurrentShape, runtime: frozenset[int]) -> Scratch:
        """The workspace regions."""
        d, gh, h, batch = self.num_directions, self.gates * shape.hidden, shape.hidden, shape.batch
        return Scratch.of(
            wt=d * shape.input_size * gh if 1 in runtime else 0,
            rt=d * h * gh if 2 in runtime else 0,
            bias=d * gh if 3 in runtime else 0,
            xw=shape.seq_length * batch * gh,
            rec=batch * gh,
            h=batch * h,
            c=batch * h if self._has_cell() else 0,
            tmp=batch * h if self._resets_before_product() else 0,
        )

    def _has_cell(self) -> bool:
        """Whether the layer keeps a cell state (LSTM)."""
        return False

    def _resets_before_product(self) -> bool:
        """Whether the reset gate multiplies the state before the recurrent product (GRU,
        linear_before_reset=0): the step is then two products."""
        return False

    # ---- cost ------------------------------------------------------------------------------
    def workspace(self) -> dict[np.dtype, int]:
        return {np.dtype(np.float32): self.plan.scratch.total}

    def flops(self) -> int:
        p, g = self.plan, self.gates
        steps = self.num_directions * p.batch * p.seq_length
        return steps * (2 * p.input_size * g * p.hidden + 2 * p.hidden * g * p.hidden + 8 * g * p.hidden)

    # ---- C++ -------------------------------------------------------------------------------
    def emit_cpu(self, ctx: CpuContext, w: CppWriter) -> None:
        p = self.plan
        if p.lengths is not None and max(p.lengths) == 0:
            # every row is empty: all outputs are zeros and no input is read
            for index, name in enumerate(self.inputs):
                if name and index in p.runtime_inputs:
                    w(f"(void){ctx.ptr(name)};")
            for name, info in zip(self.outputs, self.output_infos):
                if name and info is not None:
                    w(f"std::fill({ctx.ptr(name)}, {ctx.ptr(name)} + {info.size}, 0.0f);")
            return
        if any(a.function.uses_mathfn for acts in self.activations for a in acts):
            mathfn.use(ctx)
        d_count, h = self.num_directions, p.hidden
        gh = self.gates * h
        regions = p.scratch
        w("float* ws = " + ctx.scratch(np.float32) + ";")
        # weights fed at run time: W^T and R^T per direction, (input_size x g*h) and (h x g*h);
        # constant ones are packed for the product kernel at generation time
        for index, name, region, k in ((1, "wt", regions.wt, p.input_size), (2, "rt", regions.rt, h)):
            if index in p.runtime_inputs:
                w(f"float* {name} = {region.pointer()};")
                with w.loop("d", d_count):
                    w(f"const float* src = {ctx.ptr(self.inputs[index])} + d * {gh * k};")
                    w(f"float* dst = {name} + d * {gh * k};")
                    with w.loop("n", gh):
                        w(f"for (std::size_t k = 0; k < {k}; ++k) dst[k * {gh} + n] = src[n * {k} + k];")
        self._bias_code(ctx, w, regions.bias)
        w(f"float* xw = {regions.xw.pointer()};")
        w(f"float* rec = {regions.rec.pointer()};")
        w(f"float* hs = {regions.h.pointer()};")
        if self._has_cell():
            w(f"float* cs = {regions.c.pointer()};")
        if regions.tmp.size:
            w(f"float* tmp = {regions.tmp.pointer()};")
        y = ctx.ptr(self.outputs[0]) if self._has_y() else None
        if y is not None:
            w(f"float* y = {y};")
        if p.lengths is not None and max(p.lengths) > 0:
            w(f"static constexpr std::size_t lengths[{p.batch}] = {{{', '.join(map(str, p.lengths))}}};")
        if p.lengths is not None and y is not None:
            w(f"std::fill(y, y + {p.seq_length * d_count * p.batch * h}, 0.0f);  // steps past a row's length")
        for d in range(d_count):
            reverse = self.direction == "reverse" or d == 1
            w.comment(f"direction {d}: {'reverse' if reverse else 'forward'}")
            with w.block():
                self._direction_code(ctx, w, d, reverse)

    def _bias_code(self, ctx: CpuContext, w: CppWriter, scratch: Region) -> None:
        """Defines ``bias`` (if B is given): per direction, the g*h values added to every input projection."""
        p = self.plan
        d_count, gh = self.num_directions, self.gates * p.hidden
        combined = self._combined_bias_mask()
        if not self.has_input(3):
            return
        if 3 not in p.runtime_inputs:
            b = p.weight(3).reshape(d_count, 2, gh)
            value = b[:, 0] + b[:, 1] * combined
            w(f"const float* bias = {ctx.constant(self.name + '_bias', value.astype(np.float32))};")
            return
        w(f"float* bias = {scratch.pointer()};")
        with w.loop("d", d_count):
            w(f"const float* wb = {ctx.ptr(self.inputs[3])} + d * {2 * gh};")
            w(f"const float* rb = wb + {gh};")
            split = int(combined.sum())
            w(f"for (std::size_t n = 0; n < {split}; ++n) bias[d * {gh} + n] = wb[n] + rb[n];")
            if split < gh:
                w(f"for (std::size_t n = {split}; n < {gh}; ++n) bias[d * {gh} + n] = wb[n];")

    def _combined_bias_mask(self) -> np.ndarray:
        """1 where the recurrent bias Rb can be added to the input projection (0: added inside a gate)."""
        return np.ones(self.gates * self.plan.hidden, np.float32)

    def _product(
        self, ctx: CpuContext, index: int, d: int, a: str, y: str, rows: int, columns: tuple[int, int], bias: str = ""
    ) -> str:
        """C++ product ``y (rows x n, rows g*h apart) = [bias +] a (rows x k) . M^T[:, columns]`` for
        direction d, where M is W (``index`` 1, k = input_size) or R (2, k = hidden_size): one call of
        the register-blocked kernel, with a constant M packed into panels at generation time."""
        p = self.plan
        gh = self.gates * p.hidden
        k = p.input_size if index == 1 else p.hidden
        c0, c1 = columns
        options: dict[str, Any] = {"ldy": gh, "bias": bias or None, "bias_kind": BIAS_COL}
        if index in p.runtime_inputs:
            b = _plus("wt" if index == 1 else "rt", d * k * gh + c0)
            return gemm_call(ctx, a, b, y, rows, k, c1 - c0, ldb=gh, **options)
        value = p.weight(index)[d, c0:c1].T  # (k x columns)
        return gemm_call(ctx, a, "", y, rows, k, c1 - c0, b_const=value, **options)

    def _direction_code(self, ctx: CpuContext, w: CppWriter, d: int, reverse: bool) -> None:
        """C++ for one direction: projection, initial state, time loop, final state."""
        p = self.plan
        h, batch = p.hidden, p.batch
        gh = self.gates * h
        bias = _plus("bias", d * gh) if self.has_input(3) else ""
        w.comment("input projection of every step at once: xw = X . W^T + bias")
        w(self._product(ctx, 1, d, ctx.ptr(self.inputs[0]), "xw", p.seq_length * batch, (0, gh), bias))
        states = [("hs", 5)] + ([("cs", 6)] if self._has_cell() else [])
        for buffer, index in states:
            if not self.has_input(index):
                w(f"std::fill({buffer}, {buffer} + {batch * h}, 0.0f);")
                continue
            src = ctx.ptr(self.inputs[index])
            if self.layout == 0:
                w(f"std::copy({_plus(src, d * batch * h)}, {src} + {(d + 1) * batch * h}, {buffer});")
                continue
            with w.loop("b", batch):
                w(f"const float* src = {src} + {_state_offset('b', d, self.num_directions, h)};")
                w(f"std::copy(src, src + {h}, {buffer} + b * {h});")
        self._prologue(ctx, w, d)
        steps = max(p.lengths) if p.lengths is not None else p.seq_length
        if steps > 0:
            with w.loop("s", steps):
                self._step_code(ctx, w, d, reverse)
        for out_index, buffer in ((1, "hs"), (2, "cs")):
            if len(self.outputs) <= out_index or not self.outputs[out_index]:
                continue
            dst = ctx.ptr(self.outputs[out_index])
            empty = [b for b in range(batch) if p.lengths is not None and p.lengths[b] == 0]
            if self.layout == 0:
                w(f"std::copy({buffer}, {buffer} + {batch * h}, {_plus(dst, d * batch * h)});")
                starts = [(d * batch + b) * h for b in empty]
            else:
                with w.loop("b", batch):
                    w(
                        f"std::copy({buffer} + b * {h}, {buffer} + (b + 1) * {h}, "
                        f"{dst} + {_state_offset('b', d, self.num_directions, h)});"
                    )
                starts = [(b * self.num_directions + d) * h for b in empty]
            for start in starts:
                w(f"std::fill({dst} + {start}, {dst} + {start + h}, 0.0f);  // empty sequence")

    def _recurrent_product(
        self, ctx: CpuContext, w: CppWriter, d: int, columns: tuple[int, int], a: str = "hs"
    ) -> None:
        """``rec[:, columns] = a . R^T[:, columns]`` for the whole batch (one product per step)."""
        w(self._product(ctx, 2, d, a, _plus("rec", columns[0]), self.plan.batch, columns))

    def _rows(self, w: CppWriter, d: int, reverse: bool, gate_loop: Callable[[], None], write_y: bool) -> None:
        """A loop over the batch rows still running at step ``s``: defines ``t`` (the time step),
        ``xg`` (its input projection), ``rg`` (its recurrent product), ``h`` (its state row, and
        ``c`` for LSTM), runs ``gate_loop`` (which writes into ``w``) and copies the new state into
        Y if ``write_y``."""
        p = self.plan
        h, gh = p.hidden, self.gates * p.hidden
        s_len, batch = p.seq_length, p.batch
        varying = p.lengths is not None
        t_expr = "s"
        if reverse:
            t_expr = "lengths[b] - 1 - s" if varying else f"{s_len - 1} - s"
        x_row = f"t * {batch} + b" if self.layout == 0 else f"b * {s_len} + t"
        with w.loop("b", batch):
            if varying:
                w("if (s >= lengths[b]) continue;")
            w(f"const std::size_t t = {t_expr};")
            w(f"const float* xg = xw + ({x_row}) * {gh};")
            w(f"const float* rg = rec + b * {gh};")
            w(f"float* h = hs + b * {h};")
            if self._has_cell():
                w(f"float* c = cs + b * {h};")
            gate_loop()
            if write_y:
                dirs = self.num_directions
                y_off = (
                    f"(t * {dirs * batch} + {_plus('b', d * batch)}) * {h}"
                    if self.layout == 0
                    else f"(b * {s_len * dirs} + {_plus(f't * {dirs}', d)}) * {h}"
                )
                w(f"std::copy(h, h + {h}, y + {y_off});")

    def _has_y(self) -> bool:
        return bool(self.outputs and self.outputs[0])

    def _prologue(self, ctx: CpuContext, w: CppWriter, d: int) -> None:
        """Per-direction pointers the step code needs (peepholes, recurrent bias)."""

    def _step_code(self, ctx: CpuContext, w: CppWriter, d: int, reverse: bool) -> None:
        """One time step ``s`` for the whole batch: recurrent product(s), then the gates row by row."""
        raise NotImplementedError

    def _clipped(self, expr: str) -> str:
        if self.clip is None:
            return expr
        c = float_literal(self.clip)
        return f"std::min(std::max({expr}, -{c}), {c})"

    # ---- export ----------------------------------------------------------------------------
    def to_onnx(self) -> list[NodeProto]:
        """The node (with hidden_size spelled out); layout 1 as transposes around a layout-0 node,
        which onnxruntime can run."""
        attrs = {k: v for k, v in self.attrs.items() if k != "layout" or self.layout == 0}
        attrs["hidden_size"] = self.plan.hidden
        if self.layout == 0:
            return [helper.make_node(self.op_type, self.inputs, self.outputs, name=self.name, **attrs)]
        inputs, outputs = list(self.inputs), list(self.outputs)
        nodes = []
        for index in (0,) + self._state_inputs():
            if index < len(inputs) and inputs[index]:
                name = f"{self.name}__{self.input_names[index]}_time_major"
                nodes.append(helper.make_node("Transpose", [inputs[index]], [name], perm=[1, 0, 2]))
                inputs[index] = name
        post = []
        for index, out in enumerate(outputs):
            if not out:
                continue
            name = f"{self.name}__{self.output_names[index]}_time_major"
            perm = [2, 0, 1, 3] if index == 0 else [1, 0, 2]
            post.append(helper.make_node("Transpose", [name], [out], perm=perm))
            outputs[index] = name
        nodes.append(helper.make_node(self.op_type, inputs, outputs, name=self.name, **attrs))
        return nodes + post


@register("LSTM")
class LSTM(Recurrent):
    """ONNX LSTM: gates i, o, f, c; optional peepholes, cell clip, coupled input/forget gate."""

    gates = 4
    default_activations = ("Sigmoid", "Tanh", "Tanh")
    output_names = ("Y", "Y_h", "Y_c")
    input_names = ("X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P")
    extra_attributes = {"input_forget": 0}

    #: couple the forget gate to the input gate: f = 1 - i
    input_forget: bool

    def setup(self) -> None:
        super().setup()
        self.input_forget = bool(self.attr["input_forget"])

    def _state_inputs(self) -> tuple[int, ...]:
        return (5, 6)

    def _has_cell(self) -> bool:
        return True

    def _check_extra_inputs(self, shape: RecurrentShape) -> None:
        if self.has_input(7):
            self._expect_shape(7, (self.num_directions, 3 * shape.hidden), shape)

    def _prologue(self, ctx: CpuContext, w: CppWriter, d: int) -> None:
        if self.has_input(7):
            w(f"const float* p = {_plus(ctx.ptr(self.inputs[7]), d * 3 * self.plan.hidden)};")

    def _step_code(self, ctx: CpuContext, w: CppWriter, d: int, reverse: bool) -> None:
        h = self.plan.hidden
        f, g, hh = self.activations[d]
        peep = self.has_input(7)

        def pre(offset: int, peephole: int | None, cell: str) -> str:
            """Clipped pre-activation of the gate at ``offset`` (with its peephole term on ``cell``)."""
            expr = f"xg[{offset} + j] + rg[{offset} + j]" if offset else "xg[j] + rg[j]"
            if peep and peephole is not None:
                expr += f" + p[{peephole} + j] * {cell}" if peephole else f" + p[j] * {cell}"
            return self._clipped(expr)

        def gates() -> None:
            with w.loop("j", h):
                w("const float c_prev = c[j];")
                w(f"const float ai = {pre(0, 0, 'c_prev')};")
                w(f"const float i = {f.apply('ai')};")
                if self.input_forget:
                    w("const float f = 1.0f - i;")
                else:
                    w(f"const float af = {pre(2 * h, 2 * h, 'c_prev')};")
                    w(f"const float f = {f.apply('af')};")
                w(f"const float ac = {pre(3 * h, None, '')};")
                w(f"const float c_new = f * c_prev + i * {g.apply('ac')};")
                w(f"const float ao = {pre(h, h, 'c_new')};")
                w(f"const float o = {f.apply('ao')};")
                w("c[j] = c_new;")
                w(f"h[j] = o * {hh.apply('c_new')};")

        self._recurrent_product(ctx, w, d, (0, 4 * h))
        self._rows(w, d, reverse, gates, self._has_y())


@register("GRU")
class GRU(Recurrent):
    """ONNX GRU: gates z, r, h; linear_before_reset 0 (default) or 1 (Keras reset_after=True)."""

    gates = 3
    default_activations = ("Sigmoid", "Tanh")
    extra_attributes = {"linear_before_reset": 0}

    #: h~ = g(xw_h + reset * (h . Rh^T + Rbh)) (else g(xw_h + (reset * h) . Rh^T))
    linear_before_reset: bool

    def setup(self) -> None:
        super().setup()
        value = int(self.attr["linear_before_reset"])
        if value not in (0, 1):
            raise self._error(f"linear_before_reset must be 0 or 1, got {value}")
        self.linear_before_reset = bool(value)

    def _resets_before_product(self) -> bool:
        return not self.linear_before_reset

    def _combined_bias_mask(self) -> np.ndarray:
        h = self.plan.hidden
        mask = np.ones(3 * h, np.float32)
        if self.linear_before_reset:
            mask[2 * h :] = 0.0  # Rbh is added before the reset gate multiplies
        return mask

    def _prologue(self, ctx: CpuContext, w: CppWriter, d: int) -> None:
        h = self.plan.hidden
        if not self.linear_before_reset or not self.has_input(3):
            return
        if 3 in self.plan.runtime_inputs:
            w(f"const float* rbh = {ctx.ptr(self.inputs[3])} + {d * 6 * h + 5 * h};")
            return
        value = self.plan.weight(3)[d, 5 * h : 6 * h]
        w(f"const float* rbh = {ctx.constant(self.name + '_rbh', value.astype(np.float32))};")

    def _step_code(self, ctx: CpuContext, w: CppWriter, d: int, reverse: bool) -> None:
        h = self.plan.hidden
        f, g = self.activations[d]
        if self.linear_before_reset:
            # h~ = g(xw_h + reset * (h . Rh^T + Rbh)): one product over all three gates
            rec_h = f"rg[{2 * h} + j] + rbh[j]" if self.has_input(3) else f"rg[{2 * h} + j]"

            def gates_after_product() -> None:
                with w.loop("j", h):
                    w(f"const float az = {self._clipped('xg[j] + rg[j]')};")
                    w(f"const float ar = {self._clipped(f'xg[{h} + j] + rg[{h} + j]')};")
                    w(f"const float z = {f.apply('az')};")
                    w(f"const float reset = {f.apply('ar')};")
                    w(f"const float ah = {self._clipped(f'xg[{2 * h} + j] + reset * ({rec_h})')};")
                    w(f"h[j] = (1.0f - z) * {g.apply('ah')} + z * h[j];")

            self._recurrent_product(ctx, w, d, (0, 3 * h))
            self._rows(w, d, reverse, gates_after_product, self._has_y())
            return

        # h~ = g(xw_h + (reset * h) . Rh^T): the z/r product, the reset rows, then the h~ product
        def reset() -> None:
            w(f"float* hr = tmp + b * {h};")
            with w.loop("j", h):
                w(f"const float ar = {self._clipped(f'xg[{h} + j] + rg[{h} + j]')};")
                w(f"hr[j] = {f.apply('ar')} * h[j];")

        def gates() -> None:
            with w.loop("j", h):
                w(f"const float az = {self._clipped('xg[j] + rg[j]')};")
                w(f"const float z = {f.apply('az')};")
                w(f"const float ah = {self._clipped(f'xg[{2 * h} + j] + rg[{2 * h} + j]')};")
                w(f"h[j] = (1.0f - z) * {g.apply('ah')} + z * h[j];")

        self._recurrent_product(ctx, w, d, (0, 2 * h))
        self._rows(w, d, reverse, reset, False)
        self._recurrent_product(ctx, w, d, (2 * h, 3 * h), a="tmp")
        self._rows(w, d, reverse, gates, self._has_y())


@register("RNN")
class RNN(Recurrent):
    """ONNX RNN: H_t = f(X_t . W^T + H_{t-1} . R^T + Wb + Rb)."""

    gates = 1
    default_activations = ("Tanh",)

    def _step_code(self, ctx: CpuContext, w: CppWriter, d: int, reverse: bool) -> None:
        h = self.plan.hidden
        (f,) = self.activations[d]

        def gates() -> None:
            with w.loop("j", h):
                w(f"const float a = {self._clipped('xg[j] + rg[j]')};")
                w(f"h[j] = {f.apply('a')};")

        self._recurrent_product(ctx, w, d, (0, h))
        self._rows(w, d, reverse, gates, self._has_y())


__all__ = ["GRU", "LSTM", "RNN", "Recurrent", "RecurrentPlan"]
