"""HLS LSTM and GRU (forward direction, default activations): one stage keeping the state on chip.

Every time step reads one input vector per batch row, computes the gate pre-activations with two
matrix-vector products (input and recurrent weights, each over ``ceil(rows*k / R)`` multipliers)
and writes Y for that step; Y_h (and LSTM's Y_c) follow the last step.
"""

from __future__ import annotations

import math

import numpy as np

from rmodel.cpp_sources import cpp_source
from rmodel.errors import RModelError

from . import HlsContext, HlsImpl, register_hls, transpose_order
from .activation import lut_index, table_points

_DEFAULTS = {"LSTM": ["sigmoid", "tanh", "tanh"], "GRU": ["sigmoid", "tanh"]}


class _RecurrentHls(HlsImpl):
    gates = 4

    def check(self, constants: dict) -> None:
        op = self.op
        problems = []
        if op.direction != "forward":
            problems.append(f"direction '{op.direction}' (only 'forward')")
        if op.clip is not None:
            problems.append("clip")
        if [a.name.lower() for a in op.activations[0]] != _DEFAULTS[op.op_type]:
            problems.append("non-default activations")
        if op.lengths is not None and any(n != op.seq_length for n in op.lengths):
            problems.append("sequence_lens shorter than the sequence")
        for index in (1, 2, 3, 5, 6, 7):
            if op.has_input(index) and op.inputs[index] not in constants:
                problems.append(f"a run-time input {index} ('{op.inputs[index]}'; weights and states must be constant)")
        if op.op_type == "LSTM" and (op.has_input(7) or op.input_forget):
            problems.append("peepholes / input_forget")
        if problems:
            raise RModelError(
                f"node '{op.name}' ({op.op_type}): the HLS target does not support "
                f"{', '.join(problems)}; use target='cpu' for this layer"
            )

    def streamed_inputs(self, constants: dict) -> list[int]:
        return [0]

    def required_orders(self, orders: list) -> list:
        x = self.op.input_info(0)
        return [transpose_order(x.shape, (1, 0, 2)) if self.op.layout == 1 else None]

    def output_orders(self, orders: list) -> list:
        op = self.op
        out = []
        for k, info in enumerate(op.output_infos):
            if k == 0 and info is not None and op.layout == 1:
                out.append(transpose_order(info.shape, (1, 0, 2, 3)))  # written time-major
            else:
                out.append(None)
        return out

    def macs(self) -> int:
        op = self.op
        return op.seq_length * op.batch * self.gates * op.hidden * (op.input_size + op.hidden)

    def multipliers(self, reuse: int) -> int:
        op = self.op
        rows = self.gates * op.hidden
        return sum(math.ceil(rows * k / max(1, min(reuse, rows * k))) for k in (op.input_size, op.hidden))

    def latency(self, reuse: int) -> int:
        op = self.op
        return op.seq_length * op.batch * (op.input_size + 2 * min(reuse, self.gates * op.hidden**2) + op.hidden)

    def interval(self, reuse: int) -> int:
        return self.latency(reuse)

    # ---- pieces --------------------------------------------------------------------------
    def _functions(self, ctx: HlsContext) -> tuple[str, str]:
        """Names of this stage's sigmoid and tanh (cmath in float mode, lookup tables otherwise)."""
        acc, res = ctx.type("accum"), ctx.type("result")
        names = []
        for fn, numpy_fn, expr in (
            ("sigmoid", lambda x: 1.0 / (1.0 + np.exp(-x)), "1.0f / (1.0f + std::exp(-float(v)))"),
            ("tanh", np.tanh, "std::tanh(float(v))"),
        ):
            name = f"{ctx.stage}_{fn}"
            if ctx.is_float("table"):
                body = f"  return {res}({expr});"
            else:
                rng, size = ctx.config.table_range, ctx.config.table_size
                table = ctx.weight(f"{fn}_table", numpy_fn(table_points(-rng, rng, size)).astype(np.float32), "table")
                body = "  " + lut_index("v", -rng, rng, size).replace("\n", "\n  ") + f"\n  return {res}({table}[idx]);"
            ctx.helper(name, f"static {res} {name}({acc} v) {{\n{body}\n}}")
            names.append(name)
        ctx.helper("matvec", cpp_source("rmodel.operators.hls", "recurrent.h", "matvec"))
        return names[0], names[1]

    def _initial(self, ctx: HlsContext, index: int, hint: str, role: str) -> str | None:
        op = self.op
        if not op.has_input(index):
            return None
        value = ctx.const(op.inputs[index]).astype(np.float32).reshape(op.batch, op.hidden)
        return ctx.weight(hint, value, role)

    def _writes(self, ctx: HlsContext) -> dict[int, str]:
        """Output index -> stream variable, for the outputs that are used."""
        present = [k for k, info in enumerate(self.op.output_infos) if info is not None and self.op.outputs[k]]
        return {k: f"out{j}" for j, k in enumerate(present)}

    def emit(self, ctx: HlsContext) -> str:
        op = self.op
        g, h, i_size, batch = self.gates, op.hidden, op.input_size, op.batch
        rf = ctx.reuse
        sig, tanh = self._functions(ctx)
        in_t, res = ctx.in_types[0], ctx.type("result")
        w = ctx.const(op.inputs[1]).astype(np.float32)[0]
        r = ctx.const(op.inputs[2]).astype(np.float32)[0]
        b = ctx.const(op.inputs[3]).astype(np.float32)[0] if op.has_input(3) else np.zeros(2 * g * h, np.float32)
        wb, rb = b[: g * h].astype(np.float64), b[g * h :].astype(np.float64)
        outs = self._writes(ctx)
        step, init, final = self.step(ctx, w, r, wb, rb, sig, tanh, min(rf, g * h * i_size), min(rf, g * h * h))
        write_y = f"\n    for (int j = 0; j < {h}; ++j) {outs[0]}.write({res}(h[b][j]));" if 0 in outs else ""
        write_states = []
        if 1 in outs:
            write_states.append(f"  for (int j = 0; j < {h}; ++j) {outs[1]}.write({res}(h[b][j]));")
        if 2 in outs:
            write_states.append(f"  for (int j = 0; j < {h}; ++j) {outs[2]}.write({res}(c[b][j]));")
        final_block = ""
        if write_states:
            final_block = f"states:\nfor (int b = 0; b < {batch}; ++b) {{\n" + "\n".join(write_states) + "\n}"
        step = "\n".join(
            "    " + line if line and not line.startswith("#pragma") else line for line in step.splitlines()
        )
        return f"""{init}
steps:
for (int t = 0; t < {op.seq_length}; ++t) {{
  for (int b = 0; b < {batch}; ++b) {{
    {in_t} x[{i_size}];
#pragma HLS ARRAY_PARTITION variable=x complete
  read:
    for (int k = 0; k < {i_size}; ++k) {{
#pragma HLS PIPELINE II=1
      x[k] = in0.read();
    }}
{step}{write_y}
  }}
}}
{final_block}{final}"""


@register_hls("LSTM")
class LstmHls(_RecurrentHls):
    gates = 4

    def step(self, ctx, w, r, wb, rb, sig, tanh, rx, rh):
        op = self.op
        h, g, batch = op.hidden, self.gates, op.batch
        acc, res = ctx.type("accum"), ctx.type("result")
        wx = ctx.weight("w", w)
        wr = ctx.weight("r", r)
        bias = ctx.weight("bias", (wb + rb).astype(np.float32), "bias")
        h0 = self._initial(ctx, 5, "initial_h", "result")
        c0 = self._initial(ctx, 6, "initial_c", "accum")
        init = f"""{res} h[{batch}][{h}];
{acc} c[{batch}][{h}];
for (int b = 0; b < {batch}; ++b) {{
  for (int j = 0; j < {h}; ++j) {{
    h[b][j] = {f"{h0}[b * {h} + j]" if h0 else "0"};
    c[b][j] = {f"{c0}[b * {h} + j]" if c0 else "0"};
  }}
}}"""
        step = f"""{acc} pre[{g * h}];
#pragma HLS ARRAY_PARTITION variable=pre complete
for (int j = 0; j < {g * h}; ++j) pre[j] = {bias}[j];
matvec<{g * h}, {op.input_size}, {rx}>(x, {wx}, pre);
matvec<{g * h}, {h}, {rh}>(h[b], {wr}, pre);
cells:
for (int j = 0; j < {h}; ++j) {{
#pragma HLS PIPELINE II=1
  const {res} in_gate = {sig}(pre[j]);
  const {res} out_gate = {sig}(pre[{h} + j]);
  const {res} forget_gate = {sig}(pre[{2 * h} + j]);
  const {res} cell_in = {tanh}(pre[{3 * h} + j]);
  c[b][j] = forget_gate * c[b][j] + in_gate * cell_in;
  h[b][j] = out_gate * {tanh}(c[b][j]);
}}"""
        return step, init, ""


@register_hls("GRU")
class GruHls(_RecurrentHls):
    gates = 3

    def step(self, ctx, w, r, wb, rb, sig, tanh, rx, rh):
        op = self.op
        h, g, batch = op.hidden, self.gates, op.batch
        acc, res = ctx.type("accum"), ctx.type("result")
        lbr = op.linear_before_reset
        wx = ctx.weight("w", w)
        bx = wb.copy()
        bx[: 2 * h] += rb[: 2 * h]
        if not lbr:
            bx[2 * h :] += rb[2 * h :]
        bias_x = ctx.weight("bias_x", bx.astype(np.float32), "bias")
        h0 = self._initial(ctx, 5, "initial_h", "result")
        init = f"""{res} h[{batch}][{h}];
for (int b = 0; b < {batch}; ++b) {{
  for (int j = 0; j < {h}; ++j) h[b][j] = {f"{h0}[b * {h} + j]" if h0 else "0"};
}}"""
        head = f"""{acc} px[{g * h}];
#pragma HLS ARRAY_PARTITION variable=px complete
for (int j = 0; j < {g * h}; ++j) px[j] = {bias_x}[j];
matvec<{g * h}, {op.input_size}, {rx}>(x, {wx}, px);
"""
        if lbr:
            wr = ctx.weight("r", r)
            bias_h = ctx.weight("bias_h", np.concatenate([np.zeros(2 * h), rb[2 * h :]]).astype(np.float32), "bias")
            step = (
                head
                + f"""{acc} ph[{g * h}];
#pragma HLS ARRAY_PARTITION variable=ph complete
for (int j = 0; j < {g * h}; ++j) ph[j] = {bias_h}[j];
matvec<{g * h}, {h}, {rh}>(h[b], {wr}, ph);
cells:
for (int j = 0; j < {h}; ++j) {{
#pragma HLS PIPELINE II=1
  const {res} update = {sig}(px[j] + ph[j]);
  const {res} reset = {sig}(px[{h} + j] + ph[{h} + j]);
  const {res} candidate = {tanh}(px[{2 * h} + j] + reset * ph[{2 * h} + j]);
  h[b][j] = ({res}(1) - update) * candidate + update * h[b][j];
}}"""
            )
            return step, init, ""
        w_zr = ctx.weight("r_zr", r[: 2 * h])
        w_h = ctx.weight("r_h", r[2 * h :])
        rh_h = min(rh, h * h)
        step = (
            head
            + f"""{acc} ph[{2 * h}];
#pragma HLS ARRAY_PARTITION variable=ph complete
for (int j = 0; j < {2 * h}; ++j) ph[j] = 0;
matvec<{2 * h}, {h}, {min(rh, 2 * h * h)}>(h[b], {w_zr}, ph);
{res} reset_h[{h}];
for (int j = 0; j < {h}; ++j) reset_h[j] = {sig}(px[{h} + j] + ph[{h} + j]) * h[b][j];
{acc} pc[{h}];
for (int j = 0; j < {h}; ++j) pc[j] = 0;
matvec<{h}, {h}, {rh_h}>(reset_h, {w_h}, pc);
cells:
for (int j = 0; j < {h}; ++j) {{
#pragma HLS PIPELINE II=1
  const {res} update = {sig}(px[j] + ph[j]);
  const {res} candidate = {tanh}(px[{2 * h} + j] + pc[j]);
  h[b][j] = ({res}(1) - update) * candidate + update * h[b][j];
}}"""
        )
        return step, init, ""
