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

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from onnx import NodeProto, helper

from rmodel.errors import RModelError

from . import mathfn
from .base import CpuContext, Operator, ShapeContext, float_literal, register
from .kernels import BIAS_COL, gemm_call

# lower-case name -> (ONNX name, takes alpha, takes beta, default alpha, default beta, C++ template of {v})
_ACTIVATIONS: dict[str, tuple[str, bool, bool, float, float, str]] = {
    "sigmoid": ("Sigmoid", False, False, 0.0, 0.0, f"{mathfn.SIGMOID}({{v}})"),
    "tanh": ("Tanh", False, False, 0.0, 0.0, f"{mathfn.TANH}({{v}})"),
    "relu": ("Relu", False, False, 0.0, 0.0, "std::max({v}, 0.0f)"),
    "affine": ("Affine", True, True, 0.0, 0.0, "{alpha} * {v} + {beta}"),
    "leakyrelu": ("LeakyRelu", True, False, 0.01, 0.0, "{v} >= 0.0f ? {v} : {alpha} * {v}"),
    "thresholdedrelu": ("ThresholdedRelu", True, False, 0.0, 0.0, "{v} > {alpha} ? {v} : 0.0f"),
    "scaledtanh": ("ScaledTanh", True, True, 0.0, 0.0, f"{{alpha}} * {mathfn.TANH}({{beta}} * {{v}})"),
    "hardsigmoid": ("HardSigmoid", True, True, 0.2, 0.5, "std::min(std::max({alpha} * {v} + {beta}, 0.0f), 1.0f)"),
    "elu": ("Elu", True, False, 1.0, 0.0, f"{{v}} >= 0.0f ? {{v}} : {{alpha}} * ({mathfn.EXP}({{v}}) - 1.0f)"),
    "softsign": ("Softsign", False, False, 0.0, 0.0, "{v} / (1.0f + std::fabs({v}))"),
    "softplus": ("Softplus", False, False, 0.0, 0.0, "{v} > 20.0f ? {v} : std::log1p(std::exp({v}))"),
}
#: canonical names of the activations that call operators/mathfn.py's functions
_MATHFN_ACTIVATIONS = {"Sigmoid", "Tanh", "ScaledTanh", "Elu"}


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

    name: str
    alpha: float
    beta: float

    def apply(self, value: str) -> str:
        """C++ expression (parenthesized) of this function of the C++ variable ``value``."""
        template = _ACTIVATIONS[self.name.lower()][5]
        expr = template.format(v=value, alpha=float_literal(self.alpha), beta=float_literal(self.beta))
        return f"({expr})"


class _Recurrent(Operator):
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

    def _parse_activations(self) -> list[list[Activation]]:
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
            entry = _ACTIVATIONS.get(name.lower())
            if entry is None:
                raise self._error(
                    f"activation '{name}' is not supported; use one of "
                    + ", ".join(e[0] for e in _ACTIVATIONS.values())
                )
            canonical, takes_alpha, takes_beta, default_alpha, default_beta, _ = entry
            alpha = alphas.pop(0) if takes_alpha and alphas else default_alpha
            beta = betas.pop(0) if takes_beta and betas else default_beta
            resolved.append(Activation(canonical, alpha, beta))
        return [resolved[d * per_direction : (d + 1) * per_direction] for d in range(self.num_directions)]

    # ---- shapes ----------------------------------------------------------------------------
    def infer(self, ctx: ShapeContext) -> list:
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
            self.seq_length, self.batch, self.input_size = x.shape
        else:
            self.batch, self.seq_length, self.input_size = x.shape
        d, g = self.num_directions, self.gates
        r = self.input_info(2)
        hidden = self.hidden_attr if self.hidden_attr is not None else (r.shape[-1] if r.rank == 3 else 0)
        self.hidden = h = hidden
        self._expect_shape(1, (d, g * h, self.input_size))
        self._expect_shape(2, (d, g * h, h))
        if self.has_input(3):
            self._expect_shape(3, (d, 2 * g * h))
        state_shape = (d, self.batch, h) if self.layout == 0 else (self.batch, d, h)
        for index in self._state_inputs():
            if self.has_input(index):
                self._expect_shape(index, state_shape)
        self.lengths = self._sequence_lengths(ctx)
        self._infer_extra()
        y_shape = (self.seq_length, d, self.batch, h) if self.layout == 0 else (self.batch, self.seq_length, d, h)
        infos: list = []
        for index, out in enumerate(self.outputs):
            infos.append(self.out(index, np.float32, y_shape if index == 0 else state_shape) if out else None)
        return infos

    def _state_inputs(self) -> tuple[int, ...]:
        return (5,)

    def _infer_extra(self) -> None:
        """Validate op-specific inputs (peepholes)."""

    def _expect_shape(self, index: int, shape: tuple[int, ...]) -> None:
        info = self.input_info(index)
        if info.shape != shape:
            raise self.fail(
                f"{self.input_names[index]} has shape {info.shape}, expected {shape} "
                f"(num_directions={self.num_directions}, {self.gates} gate(s), hidden_size={self.hidden}, "
                f"input_size={self.input_size}, batch={self.batch}, layout={self.layout})"
            )

    def _sequence_lengths(self, ctx: ShapeContext) -> list[int] | None:
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
        if not np.issubdtype(value.dtype, np.integer) or value.shape != (self.batch,):
            raise self.fail(
                f"sequence_lens must be an integer vector of shape ({self.batch},), got {value.dtype} {value.shape}"
            )
        lengths = [int(v) for v in value]
        if any(v < 0 or v > self.seq_length for v in lengths):
            raise self.fail(f"sequence_lens {lengths} must lie in [0, {self.seq_length}] (the sequence length)")
        if all(v == self.seq_length for v in lengths):
            return None
        return lengths

    # ---- cost ------------------------------------------------------------------------------
    def _scratch_layout(self) -> dict[str, tuple[int, int]]:
        """Workspace regions: name -> (offset, size) in floats."""
        d, g, h = self.num_directions, self.gates, self.hidden
        sizes = {
            "wt": d * self.input_size * g * h if self._runtime(1) else 0,
            "rt": d * h * g * h if self._runtime(2) else 0,
            "bias": d * g * h if self._runtime(3) else 0,
            "xw": self.seq_length * self.batch * g * h,
            "rec": self.batch * g * h,
            "h": self.batch * h,
            "c": self.batch * h if self.op_type == "LSTM" else 0,
            "tmp": self.batch * h if self.op_type == "GRU" and not self.linear_before_reset else 0,
        }
        layout, offset = {}, 0
        for key, size in sizes.items():
            layout[key] = (offset, size)
            offset += size
        return layout

    def _runtime(self, index: int) -> bool:
        """Whether weight input ``index`` is present and computed at run time."""
        return self.has_input(index) and self._const_inputs.get(index) is None

    def run_inference(self, ctx: ShapeContext) -> list:
        self._const_inputs = {i: ctx.const(n) for i, n in enumerate(self.inputs) if n}
        return super().run_inference(ctx)

    def workspace(self) -> dict[np.dtype, int]:
        total = sum(size for _, size in self._scratch_layout().values())
        return {np.dtype(np.float32): total}

    def flops(self) -> int:
        g, h = self.gates, self.hidden
        steps = self.num_directions * self.batch * self.seq_length
        return steps * (2 * self.input_size * g * h + 2 * h * g * h + 8 * g * h)

    # ---- C++ -------------------------------------------------------------------------------
    def emit_cpu(self, ctx: CpuContext) -> str:
        if self.lengths is not None and max(self.lengths) == 0:
            # every row is empty: all outputs are zeros and no input is read
            lines = [
                f"(void){ctx.ptr(name)};"
                for index, name in enumerate(self.inputs)
                if name and self._const_inputs.get(index) is None
            ]
            lines += [
                f"std::fill({ctx.ptr(name)}, {ctx.ptr(name)} + {info.size}, 0.0f);"
                for name, info in zip(self.outputs, self.output_infos)
                if name and info is not None
            ]
            return "\n".join(lines)
        if any(a.name in _MATHFN_ACTIVATIONS for acts in self.activations for a in acts):
            mathfn.use(ctx)
        d_count, g, h = self.num_directions, self.gates, self.hidden
        gh = g * h
        s_len, batch, isize = self.seq_length, self.batch, self.input_size
        regions = self._scratch_layout()
        lines = ["float* ws = " + ctx.scratch(np.float32) + ";"]

        def region(key: str) -> str:
            return f"ws + {regions[key][0]}" if regions[key][0] else "ws"

        # weights fed at run time: W^T and R^T per direction, (input_size x g*h) and (h x g*h);
        # constant ones are packed for the product kernel at generation time
        for index, key, k in ((1, "wt", isize), (2, "rt", h)):
            if self._runtime(index):
                lines += [
                    f"float* {key} = {region(key)};",
                    f"for (std::size_t d = 0; d < {d_count}; ++d) {{",
                    f"  const float* src = {ctx.ptr(self.inputs[index])} + d * {gh * k};",
                    f"  float* dst = {key} + d * {gh * k};",
                    f"  for (std::size_t n = 0; n < {gh}; ++n) {{",
                    f"    for (std::size_t k = 0; k < {k}; ++k) dst[k * {gh} + n] = src[n * {k} + k];",
                    "  }",
                    "}",
                ]
        lines += self._bias_code(ctx, region("bias"))
        lines += [
            f"float* xw = {region('xw')};",
            f"float* rec = {region('rec')};",
            f"float* hs = {region('h')};",
        ]
        if self.op_type == "LSTM":
            lines.append(f"float* cs = {region('c')};")
        if regions["tmp"][1]:
            lines.append(f"float* tmp = {region('tmp')};")
        y = ctx.ptr(self.outputs[0]) if self.outputs and self.outputs[0] else None
        if y is not None:
            lines.append(f"float* y = {y};")
        if self.lengths is not None and max(self.lengths) > 0:
            lines.append(f"static constexpr std::size_t lengths[{batch}] = {{{', '.join(map(str, self.lengths))}}};")
        if self.lengths is not None and y is not None:
            lines.append(f"std::fill(y, y + {s_len * d_count * batch * h}, 0.0f);  // steps past a row's length")
        for d in range(d_count):
            reverse = self.direction == "reverse" or d == 1
            lines.append(f"// direction {d}: {'reverse' if reverse else 'forward'}")
            lines.append("{")
            lines += ["  " + line for line in self._direction_code(ctx, d, reverse)]
            lines.append("}")
        return "\n".join(lines)

    def _bias_code(self, ctx: CpuContext, scratch: str) -> list[str]:
        """Defines ``bias`` (if B is given): per direction, the g*h values added to every input projection."""
        d_count, gh = self.num_directions, self.gates * self.hidden
        combined = self._combined_bias_mask()
        if not self.has_input(3):
            return []
        if not self._runtime(3):
            b = self._const_inputs[3].reshape(d_count, 2, gh)
            value = b[:, 0] + b[:, 1] * combined
            return [f"const float* bias = {ctx.constant(self.name + '_bias', value.astype(np.float32))};"]
        lines = [
            f"float* bias = {scratch};",
            f"for (std::size_t d = 0; d < {d_count}; ++d) {{",
            f"  const float* wb = {ctx.ptr(self.inputs[3])} + d * {2 * gh};",
            f"  const float* rb = wb + {gh};",
        ]
        if combined.all():
            lines.append(f"  for (std::size_t n = 0; n < {gh}; ++n) bias[d * {gh} + n] = wb[n] + rb[n];")
        else:
            split = int(combined.sum())
            lines += [
                f"  for (std::size_t n = 0; n < {split}; ++n) bias[d * {gh} + n] = wb[n] + rb[n];",
                f"  for (std::size_t n = {split}; n < {gh}; ++n) bias[d * {gh} + n] = wb[n];",
            ]
        lines.append("}")
        return lines

    def _combined_bias_mask(self) -> np.ndarray:
        """1 where the recurrent bias Rb can be added to the input projection (0: added inside a gate)."""
        return np.ones(self.gates * self.hidden, np.float32)

    def _product(
        self, ctx: CpuContext, index: int, d: int, a: str, y: str, rows: int, columns: tuple[int, int], bias: str = ""
    ) -> str:
        """C++ product ``y (rows x n, rows g*h apart) = [bias +] a (rows x k) . M^T[:, columns]`` for
        direction d, where M is W (``index`` 1, k = input_size) or R (2, k = hidden_size): one call of
        the register-blocked kernel, with a constant M packed into panels at generation time."""
        gh = self.gates * self.hidden
        k = self.input_size if index == 1 else self.hidden
        c0, c1 = columns
        options: dict[str, Any] = {"ldy": gh, "bias": bias or None, "bias_kind": BIAS_COL}
        if self._runtime(index):
            b = _plus("wt" if index == 1 else "rt", d * k * gh + c0)
            return gemm_call(ctx, a, b, y, rows, k, c1 - c0, ldb=gh, **options)
        value = self._const_inputs[index][d, c0:c1].T  # (k x columns)
        return gemm_call(ctx, a, "", y, rows, k, c1 - c0, b_const=value, **options)

    def _direction_code(self, ctx: CpuContext, d: int, reverse: bool) -> list[str]:
        """C++ for one direction: projection, initial state, time loop, final state."""
        h = self.hidden
        gh = self.gates * h
        s_len, batch = self.seq_length, self.batch
        bias = _plus("bias", d * gh) if self.has_input(3) else ""
        lines = [
            "// input projection of every step at once: xw = X . W^T + bias",
            self._product(ctx, 1, d, ctx.ptr(self.inputs[0]), "xw", s_len * batch, (0, gh), bias),
        ]
        states = [("hs", 5)] + ([("cs", 6)] if self.op_type == "LSTM" else [])
        for buffer, index in states:
            if self.has_input(index):
                src = ctx.ptr(self.inputs[index])
                if self.layout == 0:
                    lines.append(f"std::copy({_plus(src, d * batch * h)}, {src} + {(d + 1) * batch * h}, {buffer});")
                else:
                    lines += [
                        f"for (std::size_t b = 0; b < {batch}; ++b) {{",
                        f"  const float* src = {src} + {_state_offset('b', d, self.num_directions, h)};",
                        f"  std::copy(src, src + {h}, {buffer} + b * {h});",
                        "}",
                    ]
            else:
                lines.append(f"std::fill({buffer}, {buffer} + {batch * h}, 0.0f);")
        lines += self._prologue(ctx, d)
        steps = max(self.lengths) if self.lengths is not None else s_len
        if steps > 0:
            lines.append(f"for (std::size_t s = 0; s < {steps}; ++s) {{")
            lines += ["  " + line for line in self._step_code(ctx, d, reverse)]
            lines.append("}")
        for out_index, buffer in ((1, "hs"), (2, "cs")):
            if len(self.outputs) <= out_index or not self.outputs[out_index]:
                continue
            dst = ctx.ptr(self.outputs[out_index])
            zero = [b for b in range(batch) if self.lengths is not None and self.lengths[b] == 0]
            if self.layout == 0:
                lines.append(f"std::copy({buffer}, {buffer} + {batch * h}, {_plus(dst, d * batch * h)});")
                for b in zero:
                    start = (d * batch + b) * h
                    lines.append(f"std::fill({dst} + {start}, {dst} + {start + h}, 0.0f);  // empty sequence")
            else:
                lines += [
                    f"for (std::size_t b = 0; b < {batch}; ++b) {{",
                    f"  std::copy({buffer} + b * {h}, {buffer} + (b + 1) * {h}, "
                    f"{dst} + {_state_offset('b', d, self.num_directions, h)});",
                    "}",
                ]
                for b in zero:
                    start = (b * self.num_directions + d) * h
                    lines.append(f"std::fill({dst} + {start}, {dst} + {start + h}, 0.0f);  // empty sequence")
        return lines

    def _recurrent_product(self, ctx: CpuContext, d: int, columns: tuple[int, int], a: str = "hs") -> str:
        """``rec[:, columns] = a . R^T[:, columns]`` for the whole batch (one product per step)."""
        y = _plus("rec", columns[0])
        return self._product(ctx, 2, d, a, y, self.batch, columns)

    def _rows(self, d: int, reverse: bool, gate_loop: list[str], write_y: bool) -> list[str]:
        """A loop over the batch rows still running at step ``s``: defines ``t`` (the time step),
        ``xg`` (its input projection), ``rg`` (its recurrent product), ``h`` (its state row, and
        ``c`` for LSTM), runs ``gate_loop`` and copies the new state into Y if ``write_y``."""
        h, gh = self.hidden, self.gates * self.hidden
        s_len, batch = self.seq_length, self.batch
        varying = self.lengths is not None
        t_expr = "s"
        if reverse:
            t_expr = "lengths[b] - 1 - s" if varying else f"{s_len - 1} - s"
        x_row = f"t * {batch} + b" if self.layout == 0 else f"b * {s_len} + t"
        body = ["if (s >= lengths[b]) continue;"] if varying else []
        body += [
            f"const std::size_t t = {t_expr};",
            f"const float* xg = xw + ({x_row}) * {gh};",
            f"const float* rg = rec + b * {gh};",
            f"float* h = hs + b * {h};",
        ]
        if self.op_type == "LSTM":
            body.append(f"float* c = cs + b * {h};")
        body += gate_loop
        if write_y:
            dirs = self.num_directions
            y_off = (
                f"(t * {dirs * batch} + {_plus('b', d * batch)}) * {h}"
                if self.layout == 0
                else f"(b * {s_len * dirs} + {_plus(f't * {dirs}', d)}) * {h}"
            )
            body.append(f"std::copy(h, h + {h}, y + {y_off});")
        return [f"for (std::size_t b = 0; b < {batch}; ++b) {{", *["  " + line for line in body], "}"]

    def _has_y(self) -> bool:
        return bool(self.outputs and self.outputs[0])

    def _prologue(self, ctx: CpuContext, d: int) -> list[str]:
        """Per-direction pointers the step code needs (peepholes, recurrent bias)."""
        return []

    def _step_code(self, ctx: CpuContext, d: int, reverse: bool) -> list[str]:
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
        attrs["hidden_size"] = self.hidden
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
class LSTM(_Recurrent):
    """ONNX LSTM: gates i, o, f, c; optional peepholes, cell clip, coupled input/forget gate."""

    gates = 4
    default_activations = ("Sigmoid", "Tanh", "Tanh")
    output_names = ("Y", "Y_h", "Y_c")
    input_names = ("X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P")
    extra_attributes = {"input_forget": 0}

    def setup(self) -> None:
        super().setup()
        self.input_forget = bool(self.attr["input_forget"])

    def _state_inputs(self) -> tuple[int, ...]:
        return (5, 6)

    def _infer_extra(self) -> None:
        if self.has_input(7):
            self._expect_shape(7, (self.num_directions, 3 * self.hidden))

    def _prologue(self, ctx: CpuContext, d: int) -> list[str]:
        if not self.has_input(7):
            return []
        return [f"const float* p = {_plus(ctx.ptr(self.inputs[7]), d * 3 * self.hidden)};"]

    def _step_code(self, ctx: CpuContext, d: int, reverse: bool) -> list[str]:
        h = self.hidden
        f, g, hh = self.activations[d]
        peep = self.has_input(7)

        def pre(offset: int, peephole: int | None, cell: str) -> str:
            """Clipped pre-activation of the gate at ``offset`` (with its peephole term on ``cell``)."""
            expr = f"xg[{offset} + j] + rg[{offset} + j]" if offset else "xg[j] + rg[j]"
            if peep and peephole is not None:
                expr += f" + p[{peephole} + j] * {cell}" if peephole else f" + p[j] * {cell}"
            return self._clipped(expr)

        gates = [
            f"for (std::size_t j = 0; j < {h}; ++j) {{",
            "  const float c_prev = c[j];",
            f"  const float ai = {pre(0, 0, 'c_prev')};",
            f"  const float i = {f.apply('ai')};",
        ]
        if self.input_forget:
            gates.append("  const float f = 1.0f - i;")
        else:
            gates += [
                f"  const float af = {pre(2 * h, 2 * h, 'c_prev')};",
                f"  const float f = {f.apply('af')};",
            ]
        gates += [
            f"  const float ac = {pre(3 * h, None, '')};",
            f"  const float c_new = f * c_prev + i * {g.apply('ac')};",
            f"  const float ao = {pre(h, h, 'c_new')};",
            f"  const float o = {f.apply('ao')};",
            "  c[j] = c_new;",
            f"  h[j] = o * {hh.apply('c_new')};",
            "}",
        ]
        return [self._recurrent_product(ctx, d, (0, 4 * h)), *self._rows(d, reverse, gates, self._has_y())]


@register("GRU")
class GRU(_Recurrent):
    """ONNX GRU: gates z, r, h; linear_before_reset 0 (default) or 1 (Keras reset_after=True)."""

    gates = 3
    default_activations = ("Sigmoid", "Tanh")
    extra_attributes = {"linear_before_reset": 0}

    def setup(self) -> None:
        super().setup()
        value = int(self.attr["linear_before_reset"])
        if value not in (0, 1):
            raise self._error(f"linear_before_reset must be 0 or 1, got {value}")
        self.linear_before_reset = bool(value)

    def _combined_bias_mask(self) -> np.ndarray:
        mask = np.ones(3 * self.hidden, np.float32)
        if self.linear_before_reset:
            mask[2 * self.hidden :] = 0.0  # Rbh is added before the reset gate multiplies
        return mask

    def _prologue(self, ctx: CpuContext, d: int) -> list[str]:
        if not self.linear_before_reset:
            return []
        h = self.hidden
        if not self.has_input(3):
            return []
        if self._runtime(3):
            return [f"const float* rbh = {ctx.ptr(self.inputs[3])} + {d * 6 * h + 5 * h};"]
        value = self._const_inputs[3][d, 5 * h : 6 * h]
        return [f"const float* rbh = {ctx.constant(self.name + '_rbh', value.astype(np.float32))};"]

    def _step_code(self, ctx: CpuContext, d: int, reverse: bool) -> list[str]:
        h = self.hidden
        f, g = self.activations[d]
        if self.linear_before_reset:
            # h~ = g(xw_h + reset * (h . Rh^T + Rbh)): one product over all three gates
            rec_h = f"rg[{2 * h} + j] + rbh[j]" if self.has_input(3) else f"rg[{2 * h} + j]"
            gates = [
                f"for (std::size_t j = 0; j < {h}; ++j) {{",
                f"  const float az = {self._clipped('xg[j] + rg[j]')};",
                f"  const float ar = {self._clipped(f'xg[{h} + j] + rg[{h} + j]')};",
                f"  const float z = {f.apply('az')};",
                f"  const float reset = {f.apply('ar')};",
                f"  const float ah = {self._clipped(f'xg[{2 * h} + j] + reset * ({rec_h})')};",
                f"  h[j] = (1.0f - z) * {g.apply('ah')} + z * h[j];",
                "}",
            ]
            return [self._recurrent_product(ctx, d, (0, 3 * h)), *self._rows(d, reverse, gates, self._has_y())]
        # h~ = g(xw_h + (reset * h) . Rh^T): the z/r product, the reset rows, then the h~ product
        reset = [
            f"float* hr = tmp + b * {h};",
            f"for (std::size_t j = 0; j < {h}; ++j) {{",
            f"  const float ar = {self._clipped(f'xg[{h} + j] + rg[{h} + j]')};",
            f"  hr[j] = {f.apply('ar')} * h[j];",
            "}",
        ]
        gates = [
            f"for (std::size_t j = 0; j < {h}; ++j) {{",
            f"  const float az = {self._clipped('xg[j] + rg[j]')};",
            f"  const float z = {f.apply('az')};",
            f"  const float ah = {self._clipped(f'xg[{2 * h} + j] + rg[{2 * h} + j]')};",
            f"  h[j] = (1.0f - z) * {g.apply('ah')} + z * h[j];",
            "}",
        ]
        return [
            self._recurrent_product(ctx, d, (0, 2 * h)),
            *self._rows(d, reverse, reset, False),
            self._recurrent_product(ctx, d, (2 * h, 3 * h), a="tmp"),
            *self._rows(d, reverse, gates, self._has_y()),
        ]


@register("RNN")
class RNN(_Recurrent):
    """ONNX RNN: H_t = f(X_t . W^T + H_{t-1} . R^T + Wb + Rb)."""

    gates = 1
    default_activations = ("Tanh",)

    def _step_code(self, ctx: CpuContext, d: int, reverse: bool) -> list[str]:
        h = self.hidden
        (f,) = self.activations[d]
        gates = [
            f"for (std::size_t j = 0; j < {h}; ++j) {{",
            f"  const float a = {self._clipped('xg[j] + rg[j]')};",
            f"  h[j] = {f.apply('a')};",
            "}",
        ]
        return [self._recurrent_product(ctx, d, (0, h)), *self._rows(d, reverse, gates, self._has_y())]


__all__ = ["GRU", "LSTM", "RNN"]
