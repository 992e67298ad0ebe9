"""HLS LSTM and GRU (forward direction, default activations): one stage keeping the state on chip.

Every time step (loop ``s``) takes one input vector per batch row, computes the gate
pre-activations with matrix-vector products through the MAC core shared with Dense and Conv
(``products.write_products``: zero weights skipped, ``ceil(products / R)`` multipliers used R
times each) and writes Y for that step; Y_h (and LSTM's Y_c) follow the last step. io_serial reads
and writes the streams in pipelined loops; io_parallel (and the packed io_stream stage, which
buffers whole tensors) reads and writes row-major arrays and unrolls the steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, ClassVar, NamedTuple

import numpy as np

from rmodel.cpp_writer import CppWriter
from rmodel.errors import RModelError

from ..recurrent import GRU, LSTM, Recurrent
from . import HlsContext, HlsImpl, Order, StageWriter, register_hls, transpose_order
from .activation import table_points, write_lut_index
from .cost import Cost, Schedule
from .products import kept_weights, products, write_products


def widest(a: Any, b: Any) -> Any:
    """A type (``Precision``) holding every value of ``a`` and of ``b`` (float if either is)."""
    if a.is_float or b.is_float:
        return a if a.is_float else b
    signed = a.signed or b.signed
    integer = max(p.integer + (1 if signed and not p.signed else 0) for p in (a, b))
    fractional = max(a.fractional, b.fractional)
    return type(a)(integer + fractional, integer, signed)


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

    # ---- numeric types, reuse and cost -----------------------------------------------------
    def accumulated_terms(self) -> int:
        p = self.op.plan
        return p.input_size + p.hidden

    def has_bias(self) -> bool:
        return True  # the bias starts every sum (zeros when B is absent)

    def mac_input_precision(self, config: Any, inputs: tuple[Any, ...]) -> Any:
        """The wider of the input type and the state (result) type: both are multiplied into the
        same accumulators."""
        state = config.precision("result")
        return widest(inputs[0], state) if inputs and inputs[0] is not None else state

    def reuse_work(self) -> int:
        """The greatest common divisor of the products of each matrix-vector product, so that one
        reuse factor divides them all."""
        return math.gcd(*(m.size for m in self.matrices(self.weights()).values()))

    def weights(self) -> Weights:
        """The forward direction's weights as float32 / float64 arrays."""
        op, p, g = self.op, self.op.plan, self.gates
        h = p.hidden
        b = p.weight(3).astype(np.float32)[0] if op.has_input(3) else np.zeros(2 * g * h, np.float32)
        return Weights(
            p.weight(1).astype(np.float32)[0],
            p.weight(2).astype(np.float32)[0],
            b[: g * h].astype(np.float64),
            b[g * h :].astype(np.float64),
        )

    def matrices(self, weights: Weights) -> dict[str, np.ndarray]:
        """The (outputs x terms) weight matrix of each matrix-vector product of a step, by name."""
        return {"w": weights.w, "r": weights.r}

    def multipliers(self, reuse: int) -> int:
        return sum(math.ceil(m.size / max(1, min(reuse, m.size))) for m in self.matrices(self.weights()).values())

    def latency(self, reuse: int) -> int:
        p = self.op.plan
        return p.seq_length * p.batch * (p.input_size + 2 * min(reuse, self.gates * p.hidden**2) + p.hidden)

    def interval(self, reuse: int) -> int:
        return self.latency(reuse)

    def _outputs_used(self) -> list[int]:
        return [k for k, info in enumerate(self.op.output_infos) if info is not None and self.op.outputs[k]]

    def cost(self, s: Schedule) -> Cost:
        p = self.op.plan
        steps, h = p.seq_length * p.batch, p.hidden
        plans = [
            products(m, kept_weights(s.weight_precision, m), s.reuse) for m in self.matrices(self.weights()).values()
        ]
        reuse_steps = sum(q.reuse for q in plans if q.nonzero)
        widest_reuse = max([q.reuse for q in plans if q.nonzero] or [1])
        storage = "rom" if s.strategy == "resource" else "registers"
        stored = sum(q.nonzero for q in plans)
        skipped = steps * sum(q.skipped for q in plans)
        mults = sum(q.multipliers for q in plans)
        used = self._outputs_used()
        states = sum(1 for k in used if k > 0)
        # one step: the recurrent product, the gate lookups and the state update (two products)
        step = s.mac(h) * (2 if len(plans) > 2 else 1) + 2 + 2 * s.multiply()
        if s.io_type == "io_serial":
            # per step: read x, the reuse loops, the cell loop and (if Y is used) its write; then the states
            trips = steps * (p.input_size + reuse_steps + h + (h if 0 in used else 0)) + p.batch * h * states
            return Cost(mults, skipped, trips, trips, trips, stored, storage)
        trips = steps * reuse_steps
        depth = s.mac(p.input_size) + steps * step
        if s.io_type == "io_parallel":
            return Cost(steps * mults, skipped, trips, depth, max(1, widest_reuse), stored, storage)
        # a whole stage is one pipelined function (every step unrolled, like io_parallel)
        reads, writes = sum(s.words_in), sum(s.words_out)
        interval = max(reads, writes, widest_reuse, 1)
        return Cost(steps * mults, skipped, trips + reads + writes, reads + depth + writes, interval, stored, storage)

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
            # inline: called once per gate and cell; g++ then vectorizes the cells of a step
            with w.block(f"static inline {res} {name}({acc} v)"):
                w("#pragma HLS INLINE")
                if ctx.is_float("table"):
                    w(f"return {res}({expr});")
                else:
                    rng, size = ctx.config.table_range, ctx.config.table_size
                    points = numpy_fn(table_points(-rng, rng, size, half_open=True)).astype(np.float32)
                    table = ctx.weight(f"{fn}_table", points, "table")
                    write_lut_index(w, "v", -rng, rng, size, half_open=True)
                    w(f"return {res}({table}[idx]);")
            ctx.helper(name, w.text())
            names.append(name)
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

    def step(self, ctx: HlsContext, weights: Weights, fns: Functions) -> StepCode:
        """The stage's state and the code of one step (see ``StepCode``)."""
        raise NotImplementedError

    @staticmethod
    def product(ctx: HlsContext, w: StageWriter, name: str, weight: np.ndarray, a: str, acc: str) -> None:
        """``acc[o] += sum_u a[u] * weight[o, u]`` through the MAC core shared with Dense and Conv
        (zero weights skipped, ``ceil(products / R)`` multipliers), in a scope of its own so that
        its multiplier allocation covers only this product."""
        outputs, terms = weight.shape
        with w.block():
            write_products(
                ctx,
                w,
                a=a,
                acc=acc,
                weight=weight,
                source=np.tile(np.arange(terms), (outputs, 1)),
                source_expr="u",
                hint=name,
                label=f"reuse_{name}",
            )

    def cells(self, ctx: HlsContext, w: StageWriter) -> AbstractContextManager[None]:
        """The loop over the hidden units of a step: pipelined in io_serial, else unrolled."""
        h = self.op.plan.hidden
        if ctx.io_type == "io_serial":
            return w.pipelined("cells", "j", h, hang=False)
        return w.loop("j", h, label="cells", hang=False, pragma="UNROLL")

    def write(self, ctx: HlsContext, w: StageWriter) -> None:
        p = self.op.plan
        h, i_size = p.hidden, p.input_size
        res = ctx.type("result")
        outs = self._writes(ctx)
        code = self.step(ctx, self.weights(), self._functions(ctx))
        w.extend(code.init)
        with w.loop("s", p.seq_length, label="steps"), w.loop("b", p.batch):
            w(f"{ctx.in_types[0]} x[{i_size}];")
            w("#pragma HLS ARRAY_PARTITION variable=x complete")
            with w.pipelined("read", "k", i_size):
                w("x[k] = in0.read();")
            w.extend(code.body)
            if 0 in outs:
                with w.pipelined("write_y", "j", h, hang=False):
                    w(f"{outs[0]}.write({res}(h[b][j]));")
        if 1 in outs or 2 in outs:
            with w.loop("b", p.batch, label="states"):
                for k, state in ((1, "h"), (2, "c")):
                    if k in outs:
                        with w.pipelined(f"write_{state}", "j", h, hang=False):
                            w(f"{outs[k]}.write({res}({state}[b][j]));")

    def write_parallel(self, ctx: HlsContext, w: StageWriter) -> None:
        p = self.op.plan
        h, i_size, seq, batch = p.hidden, p.input_size, p.seq_length, p.batch
        res = ctx.type("result")
        outs = self._writes(ctx)
        code = self.step(ctx, self.weights(), self._functions(ctx))
        row = f"(s * {batch} + b)" if self.op.layout == 0 else f"(b * {seq} + s)"  # of X and Y
        w.extend(code.init)
        with w.loop("s", seq, label="steps", pragma="UNROLL"), w.loop("b", batch, pragma="UNROLL"):
            w(f"{ctx.in_types[0]} x[{i_size}];")
            w("#pragma HLS ARRAY_PARTITION variable=x complete")
            with w.loop("k", i_size, pragma="UNROLL"):
                w(f"x[k] = in0[{row} * {i_size} + k];")
            w.extend(code.body)
            if 0 in outs:
                with w.loop("j", h, pragma="UNROLL"):
                    w(f"{outs[0]}[{row} * {h} + j] = {res}(h[b][j]);")
        for k, state in ((1, "h"), (2, "c")):
            if k in outs:
                with w.loop("b", batch, pragma="UNROLL"), w.loop("j", h, pragma="UNROLL"):
                    w(f"{outs[k]}[b * {h} + j] = {res}({state}[b][j]);")


@register_hls("LSTM")
class LstmHls(_RecurrentHls):
    op: LSTM
    gates = 4

    def _unsupported(self) -> list[str]:
        return ["peepholes / input_forget"] if self.op.has_input(7) or self.op.input_forget else []

    def step(self, ctx: HlsContext, weights: Weights, fns: Functions) -> StepCode:
        p = self.op.plan
        h, g, batch = p.hidden, self.gates, p.batch
        sig, tanh = fns.sigmoid, fns.tanh
        acc, res = ctx.type("accum"), ctx.type("result")
        bias = ctx.weight("bias", (weights.wb + weights.rb).astype(np.float32), "bias")
        h0 = self._initial(ctx, 5, "initial_h", "result")
        c0 = self._initial(ctx, 6, "initial_c", "accum")
        init = StageWriter()
        init(f"{res} h[{batch}][{h}];", "#pragma HLS ARRAY_PARTITION variable=h complete dim=0")
        init(f"{acc} c[{batch}][{h}];", "#pragma HLS ARRAY_PARTITION variable=c complete dim=0")
        with init.loop("b", batch), init.loop("j", h):
            init(f"h[b][j] = {f'{h0}[b * {h} + j]' if h0 else '0'};")
            init(f"c[b][j] = {f'{c0}[b * {h} + j]' if c0 else '0'};")
        step = StageWriter()
        step(f"{acc} pre[{g * h}];", "#pragma HLS ARRAY_PARTITION variable=pre complete")
        step(f"for (int j = 0; j < {g * h}; ++j) pre[j] = {bias}[j];")
        for name, weight in self.matrices(weights).items():
            self.product(ctx, step, name, weight, "x" if name == "w" else "h[b]", "pre")
        with self.cells(ctx, step):
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

    def matrices(self, weights: Weights) -> dict[str, np.ndarray]:
        if self.op.linear_before_reset:
            return {"w": weights.w, "r": weights.r}
        h = self.op.plan.hidden  # the candidate's product reads the reset state: a product of its own
        return {"w": weights.w, "r_zr": weights.r[: 2 * h], "r_h": weights.r[2 * h :]}

    def step(self, ctx: HlsContext, weights: Weights, fns: Functions) -> StepCode:
        p = self.op.plan
        h, g, batch = p.hidden, self.gates, p.batch
        sig, tanh = fns.sigmoid, fns.tanh
        rb = weights.rb
        acc, res = ctx.type("accum"), ctx.type("result")
        lbr = self.op.linear_before_reset
        matrices = self.matrices(weights)
        bx = weights.wb.copy()
        bx[: 2 * h] += rb[: 2 * h]
        if not lbr:
            bx[2 * h :] += rb[2 * h :]
        bias_x = ctx.weight("bias_x", bx.astype(np.float32), "bias")
        h0 = self._initial(ctx, 5, "initial_h", "result")
        init = StageWriter()
        init(f"{res} h[{batch}][{h}];", "#pragma HLS ARRAY_PARTITION variable=h complete dim=0")
        with init.loop("b", batch):
            init(f"for (int j = 0; j < {h}; ++j) h[b][j] = {f'{h0}[b * {h} + j]' if h0 else '0'};")
        step = StageWriter()
        step(f"{acc} px[{g * h}];", "#pragma HLS ARRAY_PARTITION variable=px complete")
        step(f"for (int j = 0; j < {g * h}; ++j) px[j] = {bias_x}[j];")
        self.product(ctx, step, "w", matrices["w"], "x", "px")
        if lbr:
            bias_h = ctx.weight("bias_h", np.concatenate([np.zeros(2 * h), rb[2 * h :]]).astype(np.float32), "bias")
            step(f"{acc} ph[{g * h}];", "#pragma HLS ARRAY_PARTITION variable=ph complete")
            step(f"for (int j = 0; j < {g * h}; ++j) ph[j] = {bias_h}[j];")
            self.product(ctx, step, "r", matrices["r"], "h[b]", "ph")
            with self.cells(ctx, step):
                step(f"const {res} update = {sig}(px[j] + ph[j]);")
                step(f"const {res} reset = {sig}(px[{h} + j] + ph[{h} + j]);")
                step(f"const {res} candidate = {tanh}(px[{2 * h} + j] + reset * ph[{2 * h} + j]);")
                step(f"h[b][j] = ({res}(1) - update) * candidate + update * h[b][j];")
            return StepCode(init, step)
        step(f"{acc} ph[{2 * h}];", "#pragma HLS ARRAY_PARTITION variable=ph complete")
        step(f"for (int j = 0; j < {2 * h}; ++j) ph[j] = 0;")
        self.product(ctx, step, "r_zr", matrices["r_zr"], "h[b]", "ph")
        step(f"{res} reset_h[{h}];", "#pragma HLS ARRAY_PARTITION variable=reset_h complete")
        step(f"for (int j = 0; j < {h}; ++j) reset_h[j] = {sig}(px[{h} + j] + ph[{h} + j]) * h[b][j];")
        step(f"{acc} pc[{h}];", "#pragma HLS ARRAY_PARTITION variable=pc complete")
        step(f"for (int j = 0; j < {h}; ++j) pc[j] = 0;")
        self.product(ctx, step, "r_h", matrices["r_h"], "reset_h", "pc")
        with self.cells(ctx, step):
            step(f"const {res} update = {sig}(px[j] + ph[j]);")
            step(f"const {res} candidate = {tanh}(px[{2 * h} + j] + pc[j]);")
            step(f"h[b][j] = ({res}(1) - update) * candidate + update * h[b][j];")
        return StepCode(init, step)
