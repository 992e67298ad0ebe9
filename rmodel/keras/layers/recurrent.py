"""LSTM, GRU and SimpleRNN as the ONNX LSTM/GRU/RNN operators (no Loop), Bidirectional and
TimeDistributed. Recurrent layers read and write time-major tensors, so stacked layers chain
without Transposes."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..convert import CONVERTERS, KerasLayer, converter
from ..graph import GraphBuilder, KTensor, time_major
from ..reader import LayerWeights, WeightSpec
from .common import activation_name, known

#: Keras class -> (ONNX op, gates)
KINDS = {"LSTM": ("LSTM", 4), "GRU": ("GRU", 3), "SimpleRNN": ("RNN", 1)}
_ONNX_ACTIVATIONS = {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "Relu"}
INT64_MIN = np.iinfo(np.int64).min


def _act(layer: KerasLayer, value: Any) -> str:
    name = activation_name(value)
    if name not in _ONNX_ACTIVATIONS:
        raise layer.unsupported(f"recurrent activation '{name}' (supported: {', '.join(_ONNX_ACTIVATIONS)})")
    return _ONNX_ACTIVATIONS[name]


def _check_options(layer: KerasLayer, cfg: dict[str, Any]) -> None:
    if cfg.get("stateful"):
        raise layer.unsupported("stateful=True")
    if cfg.get("time_major"):
        raise layer.unsupported("time_major=True")


def _specs(kind: str, cfg: dict[str, Any], features: int, prefix: str, tag: str) -> list[WeightSpec]:
    units, gates = int(cfg["units"]), KINDS[kind][1]
    specs = [WeightSpec(f"{tag}kernel", f"{prefix}cell/vars/0", "kernel", (features, gates * units)),
             WeightSpec(f"{tag}recurrent_kernel", f"{prefix}cell/vars/1", "recurrent_kernel", (units, gates * units))]
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


def _node(layer: KerasLayer, g: GraphBuilder, kind: str, cfg: dict[str, Any], x: KTensor,
          arrays: list[tuple[np.ndarray, ...]], direction: str, want_c: bool) -> tuple[str, str, str | None]:
    """The ONNX recurrent node; returns (Y [T, D, N, H], Y_h [D, N, H], Y_c or None)."""
    op, _ = KINDS[kind]
    units = int(cfg["units"])
    w = np.stack([a[0] for a in arrays])
    r = np.stack([a[1] for a in arrays])
    b = np.stack([a[2] for a in arrays])
    dirs = len(arrays)
    if kind == "LSTM":
        acts = [_act(layer, cfg.get("recurrent_activation", "sigmoid")), _act(layer, cfg.get("activation", "tanh")),
                _act(layer, cfg.get("activation", "tanh"))]
    elif kind == "GRU":
        acts = [_act(layer, cfg.get("recurrent_activation", "sigmoid")), _act(layer, cfg.get("activation", "tanh"))]
    else:
        acts = [_act(layer, cfg.get("activation", "tanh"))]
    attrs: dict[str, Any] = {"hidden_size": units, "direction": direction, "activations": acts * dirs}
    if kind == "GRU":
        attrs["linear_before_reset"] = int(bool(cfg.get("reset_after", True)))
    inputs = [g.as_layout(x, time_major(3)), g.const(w, "W"), g.const(r, "R"), g.const(b, "B")]
    n_out = 3 if kind == "LSTM" else 2
    outs = g.op(op, inputs, n_outputs=n_out, name=op.lower(), **attrs)
    if kind == "LSTM" and not want_c:
        g.nodes[-1].output[2] = ""
    return outs[0], outs[1], outs[2] if kind == "LSTM" and want_c else None


def _axes(g: GraphBuilder, *axes: int) -> str:
    return g.const(np.array(axes, np.int64), "axes")


def _reverse_time(g: GraphBuilder, seq: str) -> str:
    return g.op("Slice", [seq, g.const(np.array([-1], np.int64), "starts"), g.const(np.array([INT64_MIN], np.int64), "ends"),
                          _axes(g, 0), g.const(np.array([-1], np.int64), "steps")], name="reverse_time")


def _seq(g: GraphBuilder, name: str, steps: int | None, units: int) -> KTensor:
    return KTensor(name, (None, steps, units), np.dtype(np.float32), time_major(3))


def _vec(name: str, units: int) -> KTensor:
    return KTensor(name, (None, units), np.dtype(np.float32))


def _input(layer: KerasLayer) -> tuple[KTensor, int]:
    x = layer.inputs[0]
    if len(layer.inputs) != 1:
        raise layer.unsupported("initial states given as inputs")
    if x.rank != 3:
        raise layer.fail(f"expects a [batch, time, features] input, got shape {x.shape}")
    return x, known(layer, [x.shape[2]], "the input feature size")[0]


@converter("LSTM", "GRU", "SimpleRNN")
def recurrent(layer: KerasLayer, g: GraphBuilder) -> list[KTensor]:
    """ONNX LSTM / GRU / RNN (return_sequences, return_state, go_backwards, reset_after both ways)."""
    cfg, kind = layer.config, layer.class_name
    _check_options(layer, cfg)
    x, features = _input(layer)
    units = int(cfg["units"])
    w = layer.weights(_specs(kind, cfg, features, "", ""))
    backwards = bool(cfg.get("go_backwards", False))
    want_state = bool(cfg.get("return_state", False))
    y, y_h, y_c = _node(layer, g, kind, cfg, x, [_onnx_arrays(kind, cfg, w, "")],
                        "reverse" if backwards else "forward", want_state)
    last = _vec(g.op("Squeeze", [y_h, _axes(g, 0)], name="last"), units)
    outputs = []
    if cfg.get("return_sequences", False):
        seq = g.op("Squeeze", [y, _axes(g, 1)], name="sequence")
        if backwards:  # Keras returns the outputs in the order it processed them
            seq = _reverse_time(g, seq)
        outputs.append(_seq(g, seq, x.shape[1], units))
    else:
        outputs.append(last)
    if want_state:
        outputs.append(last)
        if y_c is not None:
            outputs.append(_vec(g.op("Squeeze", [y_c, _axes(g, 0)], name="cell_state"), units))
    return outputs


def _merge(layer: KerasLayer, g: GraphBuilder, t: str, dir_axis: int, mode: str | None) -> list[str]:
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
        return [g.op("Squeeze", [g.op("Mul", halves), _axes(g, dir_axis)], name="multiply_directions")]
    if mode is None:
        return [g.op("Squeeze", [h, _axes(g, dir_axis)], name="direction") for h in halves]
    raise layer.unsupported(f"merge_mode='{mode}'")


@converter("Bidirectional")
def bidirectional(layer: KerasLayer, g: GraphBuilder) -> list[KTensor]:
    """one bidirectional LSTM / GRU / RNN node; merge_mode concat, sum, mul, ave or None."""
    inner = layer.get("layer") or {}
    kind = inner.get("class_name")
    if kind not in KINDS:
        raise layer.unsupported(f"wrapping a {kind} layer (LSTM, GRU and SimpleRNN are supported)")
    cfg = inner.get("config", {})
    back = (layer.get("backward_layer") or {}).get("config") or cfg
    if back is not cfg and (back.get("units") != cfg.get("units") or
                            (layer.get("backward_layer") or {}).get("class_name") != kind):
        raise layer.unsupported("a backward layer that differs from the forward layer")
    _check_options(layer, cfg)
    if cfg.get("go_backwards"):
        raise layer.unsupported("a forward layer with go_backwards=True")
    x, features = _input(layer)
    units = int(cfg["units"])
    w = layer.weights(_specs(kind, cfg, features, "forward_layer/", "f_") + _specs(kind, back, features, "backward_layer/", "b_"))
    arrays = [_onnx_arrays(kind, cfg, w, "f_"), _onnx_arrays(kind, back, w, "b_")]
    want_state = bool(cfg.get("return_state", False))
    y, y_h, y_c = _node(layer, g, kind, cfg, x, arrays, "bidirectional", want_state)
    mode = layer.get("merge_mode", "concat")
    width = 2 * units if mode == "concat" else units
    if cfg.get("return_sequences", False):
        outputs = [_seq(g, t, x.shape[1], width) for t in _merge(layer, g, y, 1, mode)]
    else:
        outputs = [_vec(t, width) for t in _merge(layer, g, y_h, 0, mode)]
    if want_state:
        for direction in (0, 1):
            index = g.const(np.array(direction, np.int64), "direction")
            outputs.append(_vec(g.op("Gather", [y_h, index], axis=0, name="state_h"), units))
            if y_c is not None:
                outputs.append(_vec(g.op("Gather", [y_c, index], axis=0, name="state_c"), units))
    return outputs


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
    inner = layer.get("layer") or {}
    cls = inner.get("class_name")
    if cls not in CONVERTERS:
        raise layer.unsupported(f"wrapping a {cls} layer")
    x = layer.input
    wrapped = KerasLayer(inner, [x], _Prefixed(layer._weights, "layer/"), layer.position, layer.keras_major)
    wrapped.name = layer.name
    if cls in _PER_STEP:
        result = CONVERTERS[cls](wrapped, g)
        return list(result) if isinstance(result, (list, tuple)) else [result]  # type: ignore[list-item]
    steps, rest = x.shape[1], known(layer, x.shape[2:], "the per-step shape")
    merged = g.op("Reshape", [g.as_layout(x, None), g.const(np.array([-1, *rest], np.int64), "shape")], name="merge_time")
    wrapped.inputs = [KTensor(merged, (None, *rest), x.dtype)]
    result = CONVERTERS[cls](wrapped, g)
    out = result[0] if isinstance(result, (list, tuple)) else result
    if isinstance(out, str):
        out = KTensor(out, (None, *g.onnx_shape(out)[1:]), g.onnx_dtype(out))
    out_rest = known(layer, out.shape[1:], "the wrapped layer's output shape")
    y = g.op("Reshape", [g.as_layout(out, None), g.const(np.array([-1, known(layer, [steps], "the time steps")[0], *out_rest],
                                                                   np.int64), "shape")], name="split_time")
    return [KTensor(y, (None, steps, *out_rest), out.dtype)]
