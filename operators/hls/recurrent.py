"""HLS LSTM and GRU (forward direction, default activations): one stage keeping the state on chip.

Every time step reads one input vector per batch row, computes the gate pre-activations with two
matrix-vector products (input and recurrent weights, each over ``ceil(rows*k / R)`` multipliers)
and writes Y for that step; Y_h (and LSTM's Y_c) follow the last step.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar, NamedTuple

import numpy as np

from rmodel.cpp_sources import cpp_source
from rmodel.cpp_writer import CppWriter
from rmodel.errors import RModelError

from ..recurrent import GRU, LSTM, Recurrent
from . import HlsContext, HlsImpl, Order, StageWriter, register_hls, transpose_order
from .activation import table_points, write_lut_index

_DEFAULTS = {"LSTM": ["sigmoid", "tanh", "tanh"], "GRU": ["sigmoid", "tanh"]}


class Functions(NamedTuple):
    """C++ names of a stage's gate functions."""

    sigmoid: str
    tanh: str


class Weights(NamedTuple):
    """The forward direction's weights: W (g*h x input_size), R (g*h x h) and the two biases
    (g*h each, float64)."""

    w: np.ndarray
    r: np.ndarray
    wb: np.ndarray
    rb: np.ndarray


class StepCode(NamedTuple):
    """C++ of a stage: the state declarations before the time loop, and the body that computes
    one batch row's step from ``x`` (inside the loops over steps and rows)."""

    init: StageWriter
    body: StageWriter


class _RecurrentHls(HlsImpl):
    op: Recurrent
    gates: ClassVar[int] = 4

    def check(self, constants: dict[str, np.ndarray]) -> None:
        op, plan = self.op, self.op.plan
        problems = []
        if op.direction != "forward":
            problems.append(f"direction '{op.direction}' (only 'forward')")
        if op.clip is not None:
            problems.append("clip")
        if [a.name.lower() for a in op.activations[0]] != _DEFAULTS[op.op_type]:
            problems.append("non-default activations")
        if plan.lengths is not None and any(n != plan.seq_length for n in plan.lengths):
            problems.append("sequence_lens shorter than the sequence")
        for index in (1, 2, 3, 5, 6, 7):
            if op.has_input(index) and op.inputs[index] not in constants:
                problems.append(f"a run-time input {index} ('{op.inputs[index]}'; weights and states must be constant)")
        problems += self._unsupported()
        if problems:
            raise RModelError(
                f"node '{op.name}' ({op.op_type}): the HLS target does not support "
                f"{', '.join(problems)}; use target='cpu' for this layer"
            )

    def _unsupported(self) -> list[str]:
        """What this layer type uses that the stage does not support."""
        return []

    def streamed_inputs(self, constants: dict[str, np.ndarray]) -> list[int]:
        return [0]

    def required_orders(self, orders: list[Order]) -> list[Order]:
        x = self.op.input_info(0)
        return [transpose_order(x.shape, (1, 0, 2)) if self.op.layout == 1 else None]

    def output_orders(self, orders: list[Order]) -> list[Order]:
        op = self.op
        out: list[Order] = []
        for k, info in enumerate(op.output_infos):
            if k == 0 and info is not None and op.layout == 1:
                out.append(transpose_order(info.shape, (1, 0, 2, 3)))  # written time-major
            else:
                out.append(None)
        return out

    def macs(self) -> int:
        p = self.op.plan
        return p.seq_length * p.batch * self.gates * p.hidden * (p.input_size + p.hidden)

    def multipliers(self, reuse: int) -> int:
        p = self.op.plan
        rows = self.gates * p.hidden
        return sum(math.ceil(rows * k / max(1, min(reuse, rows * k))) for k in (p.input_size, p.hidden))

    def latency(self, reuse: int) -> int:
        p = self.op.plan
        return p.seq_length * p.batch * (p.input_size + 2 * min(reuse, self.gates * p.hidden**2) + p.hidden)

    def interval(self, reuse: int) -> int:
        return self.latency(reuse)

    # ---- pieces --------------------------------------------------------------------------
    def _functions(self, ctx: HlsContext) -> Functions:
        """Names of this stage's sigmoid and tanh (cmath in float mode, lookup tables otherwise)."""
        acc, res = ctx.type("accum"), ctx.type("result")
        names = []
        functions: tuple[tuple[str, Callable[[np.ndarray], np.ndarray], str], ...] = (
            ("sigmoid", lambda x: 1.0 / (1.0 + np.exp(-x)), "1.0f / (1.0f + std::exp(-float(v)))"),
            ("tanh", np.tanh, "std::tanh(float(v))"),
        )
        for fn, numpy_fn, expr in functions:
            name = f"{ctx.stage}_{fn}"
            w = CppWriter()
            with w.block(f"static {res} {name}({acc} v)"):
                if ctx.is_float("table"):
                    w(f"return {res}({expr});")
                else:
                    rng, size = ctx.config.table_range, ctx.config.table_size
                    points = numpy_fn(table_points(-rng, rng, size)).astype(np.float32)
                    table = ctx.weight(f"{fn}_table", points, "table")
                    write_lut_index(w, "v", -rng, rng, size)
                    w(f"return {res}({table}[idx]);")
            ctx.helper(name, w.text())
            names.append(name)
        ctx.helper("matvec", cpp_source("rmodel.operators.hls", "recurrent.h", "matvec"))
        return Functions(names[0], names[1])

    def _initial(self, ctx: HlsContext, index: int, hint: str, role: str) -> str | None:
        op = self.op
        if not op.has_input(index):
            return None
        value = ctx.const(op.inputs[index])
        if value is None:
            raise RModelError(f"node '{op.name}' ({op.op_type}): the HLS target needs input {index} to be a constant")
        return ctx.weight(hint, value.astype(np.float32).reshape(op.plan.batch, op.plan.hidden), role)

    def _writes(self, ctx: HlsContext) -> dict[int, str]:
        """Output index -> stream variable, for the outputs that are used."""
        present = [k for k, info in enumerate(self.op.output_infos) if info is not None and self.op.outputs[k]]
        return {k: f"out{j}" for j, k in enumerate(present)}

    def step(self, ctx: HlsContext, weights: Weights, fns: Functions, reuse_x: int, reuse_h: int) -> StepCode:
        """The stage's state and step code; ``reuse_x``/``reuse_h``: reuse factors of the input and
        recurrent products."""
        raise NotImplementedError

    def write(self, ctx: HlsContext, w: StageWriter) -> None:
        op, p = self.op, self.op.plan
        g, h, i_size, batch = self.gates, p.hidden, p.input_size, p.batch
        rf = ctx.reuse
        fns = self._functions(ctx)
        in_t, res = ctx.in_types[0], ctx.type("result")
        wx = p.weight(1).astype(np.float32)[0]
        r = p.weight(2).astype(np.float32)[0]
        b = p.weight(3).astype(np.float32)[0] if op.has_input(3) else np.zeros(2 * g * h, np.float32)
        weights = Weights(wx, r, b[: g * h].astype(np.float64), b[g * h :].astype(np.float64))
        outs = self._writes(ctx)
        code = self.step(ctx, weights, fns, min(rf, g * h * i_size), min(rf, g * h * h))
        w.extend(code.init)
        with w.loop("t", p.seq_length, label="steps"), w.loop("b", batch):
            w(f"{in_t} x[{i_size}];")
            w("#pragma HLS ARRAY_PARTITION variable=x complete")
            with w.pipelined("read", "k", i_size):
                w("x[k] = in0.read();")
            w.extend(code.body)
            if 0 in outs:
                w(f"for (int j = 0; j < {h}; ++j) {outs[0]}.write({res}(h[b][j]));")
        if 1 in outs or 2 in outs:
            with w.loop("b", batch, label="states"):
                if 1 in outs:
                    w(f"for (int j = 0; j < {h}; ++j) {outs[1]}.write({res}(h[b][j]));")
                if 2 in outs:
                    w(f"for (int j = 0; j < {h}; ++j) {outs[2]}.write({res}(c[b][j]));")


@register_hls("LSTM")
class LstmHls(_RecurrentHls):
    op: LSTM
    gates = 4

    def _unsupported(self) -> list[str]:
        return ["peepholes / input_forget"] if self.op.has_input(7) or self.op.input_forget else []

    def step(self, ctx: HlsContext, weights: Weights, fns: Functions, reuse_x: int, reuse_h: int) -> StepCode:
        p = self.op.plan
        h, g, batch = p.hidden, self.gates, p.batch
        sig, tanh, rx, rh = fns.sigmoid, fns.tanh, reuse_x, reuse_h
        acc, res = ctx.type("accum"), ctx.type("result")
        wx = ctx.weight("w", weights.w)
        wr = ctx.weight("r", weights.r)
        bias = ctx.weight("bias", (weights.wb + weights.rb).astype(np.float32), "bias")
        h0 = self._initial(ctx, 5, "initial_h", "result")
        c0 = self._initial(ctx, 6, "initial_c", "accum")
        init = StageWriter()
        init(f"{res} h[{batch}][{h}];", f"{acc} c[{batch}][{h}];")
        with init.loop("b", batch), init.loop("j", h):
            init(f"h[b][j] = {f'{h0}[b * {h} + j]' if h0 else '0'};")
            init(f"c[b][j] = {f'{c0}[b * {h} + j]' if c0 else '0'};")
        step = StageWriter()
        step(f"{acc} pre[{g * h}];", "#pragma HLS ARRAY_PARTITION variable=pre complete")
        step(f"for (int j = 0; j < {g * h}; ++j) pre[j] = {bias}[j];")
        step(f"matvec<{g * h}, {p.input_size}, {rx}>(x, {wx}, pre);")
        step(f"matvec<{g * h}, {h}, {rh}>(h[b], {wr}, pre);")
        with step.pipelined("cells", "j", h, hang=False):
            step(f"const {res} in_gate = {sig}(pre[j]);")
            step(f"const {res} out_gate = {sig}(pre[{h} + j]);")
            step(f"const {res} forget_gate = {sig}(pre[{2 * h} + j]);")
            step(f"const {res} cell_in = {tanh}(pre[{3 * h} + j]);")
            step("c[b][j] = forget_gate * c[b][j] + in_gate * cell_in;")
            step(f"h[b][j] = out_gate * {tanh}(c[b][j]);")
        return StepCode(init, step)


@register_hls("GRU")
class GruHls(_RecurrentHls):
    op: GRU
    gates = 3

    def step(self, ctx: HlsContext, weights: Weights, fns: Functions, reuse_x: int, reuse_h: int) -> StepCode:
        p = self.op.plan
        h, g, batch = p.hidden, self.gates, p.batch
        sig, tanh, rx, rh = fns.sigmoid, fns.tanh, reuse_x, reuse_h
        r, rb = weights.r, weights.rb
        acc, res = ctx.type("accum"), ctx.type("result")
        lbr = self.op.linear_before_reset
        wx = ctx.weight("w", weights.w)
        bx = weights.wb.copy()
        bx[: 2 * h] += rb[: 2 * h]
        if not lbr:
            bx[2 * h :] += rb[2 * h :]
        bias_x = ctx.weight("bias_x", bx.astype(np.float32), "bias")
        h0 = self._initial(ctx, 5, "initial_h", "result")
        init = StageWriter()
        init(f"{res} h[{batch}][{h}];")
        with init.loop("b", batch):
            init(f"for (int j = 0; j < {h}; ++j) h[b][j] = {f'{h0}[b * {h} + j]' if h0 else '0'};")
        step = StageWriter()
        step(f"{acc} px[{g * h}];", "#pragma HLS ARRAY_PARTITION variable=px complete")
        step(f"for (int j = 0; j < {g * h}; ++j) px[j] = {bias_x}[j];")
        step(f"matvec<{g * h}, {p.input_size}, {rx}>(x, {wx}, px);")
        if lbr:
            wr = ctx.weight("r", r)
            bias_h = ctx.weight("bias_h", np.concatenate([np.zeros(2 * h), rb[2 * h :]]).astype(np.float32), "bias")
            step(f"{acc} ph[{g * h}];", "#pragma HLS ARRAY_PARTITION variable=ph complete")
            step(f"for (int j = 0; j < {g * h}; ++j) ph[j] = {bias_h}[j];")
            step(f"matvec<{g * h}, {h}, {rh}>(h[b], {wr}, ph);")
            with step.pipelined("cells", "j", h, hang=False):
                step(f"const {res} update = {sig}(px[j] + ph[j]);")
                step(f"const {res} reset = {sig}(px[{h} + j] + ph[{h} + j]);")
                step(f"const {res} candidate = {tanh}(px[{2 * h} + j] + reset * ph[{2 * h} + j]);")
                step(f"h[b][j] = ({res}(1) - update) * candidate + update * h[b][j];")
            return StepCode(init, step)
        w_zr = ctx.weight("r_zr", r[: 2 * h])
        w_h = ctx.weight("r_h", r[2 * h :])
        step(f"{acc} ph[{2 * h}];", "#pragma HLS ARRAY_PARTITION variable=ph complete")
        step(f"for (int j = 0; j < {2 * h}; ++j) ph[j] = 0;")
        step(f"matvec<{2 * h}, {h}, {min(rh, 2 * h * h)}>(h[b], {w_zr}, ph);")
        step(f"{res} reset_h[{h}];")
        step(f"for (int j = 0; j < {h}; ++j) reset_h[j] = {sig}(px[{h} + j] + ph[{h} + j]) * h[b][j];")
        step(f"{acc} pc[{h}];", f"for (int j = 0; j < {h}; ++j) pc[j] = 0;")
        step(f"matvec<{h}, {h}, {min(rh, h * h)}>(reset_h, {w_h}, pc);")
        with step.pipelined("cells", "j", h, hang=False):
            step(f"const {res} update = {sig}(px[j] + ph[j]);")
            step(f"const {res} candidate = {tanh}(px[{2 * h} + j] + pc[j]);")
            step(f"h[b][j] = ({res}(1) - update) * candidate + update * h[b][j];")
        return StepCode(init, step)
