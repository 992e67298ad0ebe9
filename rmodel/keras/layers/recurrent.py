"""LSTM, GRU and SimpleRNN as the ONNX LSTM/GRU/RNN operators (no Loop), Bidirectional and
TimeDistributed. Recurrent layers read and write time-major tensors, so stacked layers chain
without Transposes. Initial states given to a layer call become the node's initial_h/initial_c."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..graph import GraphBuilder, KTensor, time_major
from ..reader import LayerWeights, WeightSpec
from ..registry import CONVERTERS, KerasLayer, converter
from .common import activation_name, known

#: Keras class -> (ONNX op, gates)
KINDS = {"LSTM": ("LSTM", 4), "GRU": ("GRU", 3), "SimpleRNN": ("RNN", 1)}
#: Keras class -> number of state tensors (h, and c for LSTM)
STATE_COUNT = {"LSTM": 2, "GRU": 1, "SimpleRNN": 1}
#: Keras activations the ONNX recurrent operators compute without parameters
_PLAIN_ACTIVATIONS = {
    "sigmoid": "Sigmoid",
    "tanh": "Tanh",
    "relu": "Relu",
    "softsign": "Softsign",
    "softplus": "Softplus",
}
#: every activation a recurrent layer may use
RECURRENT_ACTIVATIONS = sorted({*_PLAIN_ACTIVATIONS, "hard_sigmoid", "linear", "elu", "leaky_relu"})
INT64_MIN = np.iinfo(np.int64).min


@dataclass(frozen=True)
class OnnxActivation:
    """One entry of an ONNX recurrent node's ``activations`` (alpha/beta only if the function takes them)."""

    name: str
    alpha: float | None = None
    beta: float | None = None


def _act(layer: KerasLayer, value: Any) -> OnnxActivation:
    name = activation_name(value)
    if name in _PLAIN_ACTIVATIONS:
        return OnnxActivation(_PLAIN_ACTIVATIONS[name])
    if name == "hard_sigmoid":  # Keras 3: relu6(x + 3) / 6; Keras 2: clip(0.2 x + 0.5, 0, 1)
        return OnnxActivation("HardSigmoid", 0.2 if layer.keras_major < 3 else 1.0 / 6.0, 0.5)
    if name in ("linear", "none"):
        return OnnxActivation("Affine", 1.0, 0.0)
    if name == "elu":
        return OnnxActivation("Elu", 1.0)
    if name == "leaky_relu":
        return OnnxActivation("LeakyRelu", 0.2)
    raise layer.unsupported(
        f"activation '{name}' inside a recurrent layer (supported: {', '.join(RECURRENT_ACTIVATIONS)})"
    )


def _check_options(layer: KerasLayer, cfg: dict[str, Any]) -> None:
    if cfg.get("stateful"):
        raise layer.unsupported("stateful=True")
    if cfg.get("time_major"):
        raise layer.unsupported("time_major=True")


def _specs(kind: str, cfg: dict[str, Any], features: int, prefix: str, tag: str) -> list[WeightSpec]:
    units, gates = int(cfg["units"]), KINDS[kind][1]
    specs = [
        WeightSpec(f"{tag}kernel", f"{prefix}cell/vars/0", "kernel", (features, gates * units)),
        WeightSpec(f"{tag}recurrent_kernel", f"{prefix}cell/vars/1", "recurrent_kernel", (units, gates * units)),
    ]
    if cfg.get("use_bias", True):
        two_biases = kind == "GRU" and cfg.get("reset_after", True)
        shape = (2, gates * units) if two_biases else (gates * units,)
        specs.append(WeightSpec(f"{tag}bias", f"{prefix}cell/vars/2", "bias", shape))
    return specs


def _onnx_arrays(kind: str, cfg: dict[str, Any], w: dict[str, np.ndarray], tag: str) -> tuple[np.ndarray, ...]:
    """Keras kernels -> ONNX W [G*H, F], R [G*H, H], B [2*G*H] for one direction."""
    units, gates = int(cfg["units"]), KINDS[kind][1]
    kernel, recurrent = w[f"{tag}kernel"], w[f"{tag}recurrent_kernel"]
    bias = w.get(f"{tag}bias")
    if bias is None:
        b_in, b_rec = np.zeros(gates * units, np.float32), np.zeros(gates * units, np.float32)
    elif bias.ndim == 2:
        b_in, b_rec = bias[0], bias[1]
    else:
        b_in, b_rec = bias, np.zeros_like(bias)
    order = [0, 3, 1, 2] if kind == "LSTM" else list(range(gates))  # Keras i,f,c,o -> ONNX i,o,f,c

    def gates_of(a: np.ndarray) -> np.ndarray:
        blocks = np.split(a, gates, axis=-1)
        return np.concatenate([blocks[i] for i in order], axis=-1)

    return gates_of(kernel).T, gates_of(recurrent).T, np.concatenate([gates_of(b_in), gates_of(b_rec)])


@dataclass
class Direction:
    """One Keras recurrent layer as one direction of an ONNX recurrent node."""

    kind: str
    cfg: dict[str, Any]
    #: ONNX W, R, B of this direction
    arrays: tuple[np.ndarray, ...]
    activations: list[OnnxActivation]
    #: initial states given to the call (h, and c for LSTM), or none
    states: list[KTensor] = field(default_factory=list)

    @property
    def units(self) -> int:
        return int(self.cfg["units"])

    @property
    def backwards(self) -> bool:
        return bool(self.cfg.get("go_backwards", False))


def _direction(
    layer: KerasLayer, kind: str, cfg: dict[str, Any], w: dict[str, np.ndarray], tag: str, states: list[KTensor]
) -> Direction:
    """The ONNX view of one Keras recurrent layer (weights ``tag``-prefixed in ``w``)."""
    if kind == "LSTM":  # ONNX f (gates), g (cell input), h (cell output)
        names = [
            cfg.get("recurrent_activation", "sigmoid"),
            cfg.get("activation", "tanh"),
            cfg.get("activation", "tanh"),
        ]
    elif kind == "GRU":  # ONNX f (gates), g (candidate)
        names = [cfg.get("recurrent_activation", "sigmoid"), cfg.get("activation", "tanh")]
    else:
        names = [cfg.get("activation", "tanh")]
    return Direction(kind, cfg, _onnx_arrays(kind, cfg, w, tag), [_act(layer, n) for n in names], list(states))


def _check_states(layer: KerasLayer, kind: str, cfg: dict[str, Any], states: list[KTensor]) -> None:
    """Initial states given to one recurrent layer: none, or h (and c for an LSTM) of shape (batch, units)."""
    units = int(cfg["units"])
    if states and len(states) != STATE_COUNT[kind]:
        raise layer.fail(f"a {kind} takes {STATE_COUNT[kind]} initial state tensor(s), got {len(states)}")
    for s in states:
        if s.rank != 2 or s.shape[1] not in (None, units):
            raise layer.fail(
                f"initial states of a {kind} with {units} units must have shape (batch, {units}), got {s.shape}"
            )


def _stacked_states(g: GraphBuilder, states: list[KTensor]) -> str:
    """[num_directions, batch, hidden] from one [batch, hidden] state per direction."""
    parts = [g.op("Unsqueeze", [g.as_layout(s, None), _axes(g, 0)], name="initial_state") for s in states]
    return parts[0] if len(parts) == 1 else g.op("Concat", parts, axis=0, name="initial_states")


def _node(
    g: GraphBuilder, x: KTensor, dirs: list[Direction], direction: str, want_c: bool
) -> tuple[str, str, str | None]:
    """The ONNX recurrent node; returns (Y [T, D, N, H], Y_h [D, N, H], Y_c or None)."""
    kind = dirs[0].kind
    op, _ = KINDS[kind]
    w = np.stack([d.arrays[0] for d in dirs])
    r = np.stack([d.arrays[1] for d in dirs])
    b = np.stack([d.arrays[2] for d in dirs])
    acts = [a for d in dirs for a in d.activations]
    alphas = [a.alpha for a in acts if a.alpha is not None]
    betas = [a.beta for a in acts if a.beta is not None]
    attrs: dict[str, Any] = {
        "hidden_size": dirs[0].units,
        "direction": direction,
        "activations": [a.name for a in acts],
        "activation_alpha": alphas or None,
        "activation_beta": betas or None,
    }
    if kind == "GRU":
        attrs["linear_before_reset"] = int(bool(dirs[0].cfg.get("reset_after", True)))
    inputs = [g.as_layout(x, time_major(3)), g.const(w, "W"), g.const(r, "R"), g.const(b, "B")]
    if dirs[0].states:
        inputs += ["", _stacked_states(g, [d.states[0] for d in dirs])]
        if kind == "LSTM":
            inputs.append(_stacked_states(g, [d.states[1] for d in dirs]))
    n_out = 3 if kind == "LSTM" else 2
    outs = g.op(op, inputs, n_outputs=n_out, name=op.lower(), **attrs)
    if kind == "LSTM" and not want_c:
        g.nodes[-1].output[2] = ""
    return outs[0], outs[1], outs[2] if kind == "LSTM" and want_c else None


def _axes(g: GraphBuilder, *axes: int) -> str:
    return g.const(np.array(axes, np.int64), "axes")


def _reverse_time(g: GraphBuilder, seq: str) -> str:
    return g.op(
        "Slice",
        [
            seq,
            g.const(np.array([-1], np.int64), "starts"),
            g.const(np.array([INT64_MIN], np.int64), "ends"),
            _axes(g, 0),
            g.const(np.array([-1], np.int64), "steps"),
        ],
        name="reverse_time",
    )


def _seq(g: GraphBuilder, name: str, steps: int | None, units: int) -> KTensor:
    return KTensor(name, (None, steps, units), np.dtype(np.float32), time_major(3))


def _vec(name: str, units: int) -> KTensor:
    return KTensor(name, (None, units), np.dtype(np.float32))


def _input(layer: KerasLayer) -> tuple[KTensor, int, list[KTensor]]:
    """The sequence, its feature size and the initial states given to the call (the other inputs)."""
    x = layer.inputs[0]
    if x.rank != 3:
        raise layer.fail(f"expects a [batch, time, features] input, got shape {x.shape}")
    return x, known(layer, [x.shape[2]], "the input feature size")[0], list(layer.inputs[1:])


def _squeeze(g: GraphBuilder, t: str, axis: int, name: str) -> str:
    return g.op("Squeeze", [t, _axes(g, axis)], name=name)


@converter("LSTM", "GRU", "SimpleRNN")
def recurrent(layer: KerasLayer, g: GraphBuilder) -> list[KTensor]:
    """ONNX LSTM / GRU / RNN (return_sequences, return_state, go_backwards, reset_after both ways, initial states)."""
    cfg, kind = layer.config, layer.class_name
    _check_options(layer, cfg)
    x, features, states = _input(layer)
    units = int(cfg["units"])
    _check_states(layer, kind, cfg, states)
    w = layer.weights(_specs(kind, cfg, features, "", ""))
    d = _direction(layer, kind, cfg, w, "", states)
    want_state = bool(cfg.get("return_state", False))
    y, y_h, y_c = _node(g, x, [d], "reverse" if d.backwards else "forward", want_state)
    last = _vec(_squeeze(g, y_h, 0, "last"), units)
    outputs = []
    if cfg.get("return_sequences", False):
        seq = _squeeze(g, y, 1, "sequence")
        if d.backwards:  # Keras returns the outputs in the order it processed them
            seq = _reverse_time(g, seq)
        outputs.append(_seq(g, seq, x.shape[1], units))
    else:
        outputs.append(last)
    if want_state:
        outputs.append(last)
        if y_c is not None:
            outputs.append(_vec(_squeeze(g, y_c, 0, "cell_state"), units))
    return outputs


recurrent.takes_initial_state = True  # type: ignore[attr-defined]
MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def _merge(g: GraphBuilder, t: str, dir_axis: int, mode: str | None) -> list[str]:
    """Merge the two directions held on ``dir_axis`` of ``t`` (Y: axis 1 of [T,2,N,H]; Y_h: axis 0)."""
    rank = 4 if dir_axis == 1 else 3
    if mode == "concat":
        perm = list(range(rank))
        perm.remove(dir_axis)
        perm.insert(rank - 2, dir_axis)
        moved = g.op("Transpose", [t], perm=perm)
        shape = [0] * (rank - 2) + [-1]
        return [g.op("Reshape", [moved, g.const(np.array(shape, np.int64), "shape")], name="concat_directions")]
    if mode == "sum":
        return [g.op("ReduceSum", [t, _axes(g, dir_axis)], keepdims=0, name="sum_directions")]
    if mode == "ave":
        return [g.op("ReduceMean", [t], axes=[dir_axis], keepdims=0, name="average_directions")]
    halves = g.op("Split", [t], n_outputs=2, axis=dir_axis)
    if mode == "mul":
        return [_squeeze(g, g.op("Mul", halves), dir_axis, "multiply_directions")]
    return [_squeeze(g, h, dir_axis, "direction") for h in halves]


def _merge_pair(g: GraphBuilder, y: str, y_rev: str, mode: str | None) -> list[str]:
    """Merge the outputs of two separate nodes (same rank, features last) as Keras does."""
    if mode == "concat":
        return [g.op("Concat", [y, y_rev], axis=-1, name="concat_directions")]
    if mode == "sum":
        return [g.op("Add", [y, y_rev], name="sum_directions")]
    if mode == "ave":
        return [g.op("Mul", [g.op("Add", [y, y_rev]), g.const(np.float32(0.5), "half")], name="average_directions")]
    if mode == "mul":
        return [g.op("Mul", [y, y_rev], name="multiply_directions")]
    return [y, y_rev]


def _one_node(fwd: Direction, back: Direction) -> bool:
    """Whether both directions fit one ONNX node (activations may differ per direction)."""
    same_gru = fwd.kind != "GRU" or bool(fwd.cfg.get("reset_after", True)) == bool(back.cfg.get("reset_after", True))
    return fwd.kind == back.kind and fwd.units == back.units and same_gru and not fwd.backwards and back.backwards


@converter("Bidirectional")
def bidirectional(layer: KerasLayer, g: GraphBuilder) -> list[KTensor]:
    """one bidirectional LSTM / GRU / RNN node, or a forward and a reverse node when the backward layer differs in class, units or reset_after; merge_mode concat, sum, mul, ave or None; initial states."""  # noqa: E501
    inner: dict[str, Any] = layer.get("layer") or {}
    back_layer: dict[str, Any] = layer.get("backward_layer") or {}
    kind = str(inner.get("class_name"))
    back_kind = back_layer.get("class_name", kind)
    for k in (kind, back_kind):
        if k not in KINDS:
            raise layer.unsupported(f"wrapping a {k} layer (LSTM, GRU and SimpleRNN are supported)")
    cfg = inner.get("config", {})
    back_cfg = back_layer.get("config") or {**cfg, "go_backwards": not cfg.get("go_backwards", False)}
    _check_options(layer, cfg)
    _check_options(layer, back_cfg)
    mode = layer.get("merge_mode", "concat")
    if mode not in MERGE_MODES:
        raise layer.unsupported(f"merge_mode='{mode}'")
    x, features, states = _input(layer)
    half = len(states) // 2  # Keras gives the first half of the states to the forward layer
    if states and len(states) != STATE_COUNT[kind] + STATE_COUNT[back_kind]:
        raise layer.fail(
            f"got {len(states)} initial state tensor(s); the forward {kind} and the backward "
            f"{back_kind} need {STATE_COUNT[kind]} and {STATE_COUNT[back_kind]}"
        )
    _check_states(layer, kind, cfg, states[:half])
    _check_states(layer, back_kind, back_cfg, states[half:])
    w = layer.weights(
        _specs(kind, cfg, features, "forward_layer/", "f_")
        + _specs(back_kind, back_cfg, features, "backward_layer/", "b_")
    )
    fwd = _direction(layer, kind, cfg, w, "f_", states[:half])
    back = _direction(layer, back_kind, back_cfg, w, "b_", states[half:])
    want_state = bool(cfg.get("return_state", False))
    sequences = bool(cfg.get("return_sequences", False))
    steps = x.shape[1]
    outputs: list[KTensor] = []
    if _one_node(fwd, back):
        units = fwd.units
        y, y_h, y_c = _node(g, x, [fwd, back], "bidirectional", want_state)
        width = 2 * units if mode == "concat" else units
        if sequences:
            outputs = [_seq(g, t, steps, width) for t in _merge(g, y, 1, mode)]
        else:
            outputs = [_vec(t, width) for t in _merge(g, y_h, 0, mode)]
        if want_state:
            for direction in (0, 1):
                index = g.const(np.array(direction, np.int64), "direction")
                outputs.append(_vec(g.op("Gather", [y_h, index], axis=0, name="state_h"), units))
                if y_c is not None:
                    outputs.append(_vec(g.op("Gather", [y_c, index], axis=0, name="state_c"), units))
        return outputs
    # two nodes; each Keras layer returns its outputs in processing order and Bidirectional flips
    # the backward layer's, so both sequences run backwards in time exactly when the forward layer does
    parts, state_outputs = [], []
    for d in (fwd, back):
        y, y_h, y_c = _node(g, x, [d], "reverse" if d.backwards else "forward", want_state)
        parts.append(_squeeze(g, y, 1, "sequence") if sequences else _squeeze(g, y_h, 0, "last"))
        if want_state:
            state_outputs.append(_vec(_squeeze(g, y_h, 0, "state_h"), d.units))
            if y_c is not None:
                state_outputs.append(_vec(_squeeze(g, y_c, 0, "state_c"), d.units))
    widths = [fwd.units + back.units] if mode == "concat" else [fwd.units, back.units] if mode is None else [fwd.units]
    merged = _merge_pair(g, parts[0], parts[1], mode)
    for t, width in zip(merged, widths):
        if sequences:
            outputs.append(_seq(g, _reverse_time(g, t) if fwd.backwards else t, steps, width))
        else:
            outputs.append(_vec(t, width))
    return outputs + state_outputs


bidirectional.takes_initial_state = True  # type: ignore[attr-defined]


class _Prefixed(LayerWeights):
    """The weights of a wrapped layer (TimeDistributed's ``layer``)."""

    def __init__(self, inner: LayerWeights, prefix: str):
        super().__init__(inner.where)
        self.inner, self.prefix = inner, prefix

    def fetch(self, specs: Any, layer: str) -> dict[str, np.ndarray]:
        moved = [WeightSpec(s.name, self.prefix + s.path, s.h5_name, s.shape) for s in specs]
        return self.inner.fetch(moved, layer)

    def all(self) -> list[np.ndarray]:
        return self.inner.all()


#: layers that act on the last axis only, so TimeDistributed needs no reshaping
_PER_STEP = {"Dense", "EinsumDense", "Activation", "Dropout", "ReLU", "LeakyReLU", "ELU", "Softmax"}


@converter("TimeDistributed")
def time_distributed(layer: KerasLayer, g: GraphBuilder) -> list[KTensor]:
    """the wrapped layer on [batch*time, ...] (Dense and other last-axis layers directly)."""
    inner: dict[str, Any] = layer.get("layer") or {}
    cls = str(inner.get("class_name"))
    if cls not in CONVERTERS:
        raise layer.unsupported(f"wrapping a {cls} layer")
    x = layer.input
    wrapped = KerasLayer(inner, [x], _Prefixed(layer._weights, "layer/"), layer.position, layer.keras_major)
    wrapped.name = layer.name
    if cls in _PER_STEP:
        result = CONVERTERS[cls](wrapped, g)
        return list(result) if isinstance(result, (list, tuple)) else [result]  # type: ignore[list-item]
    steps, rest = x.shape[1], known(layer, x.shape[2:], "the per-step shape")
    merged = g.op(
        "Reshape", [g.as_layout(x, None), g.const(np.array([-1, *rest], np.int64), "shape")], name="merge_time"
    )
    wrapped.inputs = [KTensor(merged, (None, *rest), x.dtype)]
    result = CONVERTERS[cls](wrapped, g)
    out = result if isinstance(result, (KTensor, str)) else result[0]
    if isinstance(out, str):
        out = KTensor(out, (None, *g.onnx_shape(out)[1:]), g.onnx_dtype(out))
    out_rest = known(layer, out.shape[1:], "the wrapped layer's output shape")
    y = g.op(
        "Reshape",
        [
            g.as_layout(out, None),
            g.const(np.array([-1, known(layer, [steps], "the time steps")[0], *out_rest], np.int64), "shape"),
        ],
        name="split_time",
    )
    return [KTensor(y, (None, steps, *out_rest), out.dtype)]
