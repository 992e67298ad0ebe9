"""Small example models built with onnx.helper: the models rmodel's tests, benchmarks and C++
suite use (no training framework needed). Weights are seeded and scaled like trained layers."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


class _Builder:
    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []

    def weight(self, name: str, shape: tuple[int, ...], fan_in: int) -> str:
        value = (self.rng.uniform(-1, 1, shape) / np.sqrt(fan_in)).astype(np.float32)
        self.inits.append(numpy_helper.from_array(value, name))
        return name

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], name: str, **attrs: Any) -> str:
        """A node of one output, named ``name``; returns the output's name."""
        self.nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def multi_node(self, op: str, inputs: list[str], name: str, n_out: int, **attrs: Any) -> list[str]:
        """A node of ``n_out`` outputs ``<name>_0``...; returns their names."""
        outputs = [f"{name}_{i}" for i in range(n_out)]
        self.nodes.append(helper.make_node(op, inputs, outputs, name=name, **attrs))
        return outputs

    def model(self, name: str, inputs: dict[str, list], outputs: list[str]) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes,
            name,
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs.items()],
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in outputs],
            self.inits,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = 8
        # declare the outputs' shapes (symbolic batch) as exporters do
        inferred = onnx.shape_inference.infer_shapes(model)
        types = {vi.name: vi.type for vi in list(inferred.graph.value_info) + list(inferred.graph.output)}
        for output in model.graph.output:
            if output.name in types and types[output.name].tensor_type.HasField("shape"):
                output.type.CopyFrom(types[output.name])
        return model


def mlp(sizes: tuple[int, ...] = (16, 64, 32, 32, 5), seed: int = 0, softmax: bool = True) -> onnx.ModelProto:
    """Dense ReLU network (a jet tagger: 16 features -> 5 classes), symbolic batch."""
    b = _Builder(seed)
    prev = "x"
    for i, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:])):
        w = b.weight(f"dense_{i}/kernel", (fan_in, fan_out), fan_in)
        bias = b.weight(f"dense_{i}/bias", (fan_out,), 10 * fan_in)
        prev = b.node("Gemm", [prev, w, bias], f"dense_{i}")
        if i < len(sizes) - 2:
            prev = b.node("Relu", [prev], f"relu_{i}")
    if softmax:
        prev = b.node("Softmax", [prev], "probabilities", axis=-1)
    return b.model("mlp", {"x": ["batch", sizes[0]]}, [prev])


def cnn(seed: int = 1) -> onnx.ModelProto:
    """Conv-BatchNorm-ReLU-MaxPool, Conv-BatchNorm-ReLU, global average pool, dense, softmax."""
    b = _Builder(seed)
    prev, channels = "image", 1
    for i, (out, pads) in enumerate(((8, [1, 1, 1, 1]), (16, [0, 0, 0, 0]))):
        w = b.weight(f"conv_{i}/kernel", (out, channels, 3, 3), channels * 9)
        bias = b.weight(f"conv_{i}/bias", (out,), 10 * channels * 9)
        prev = b.node("Conv", [prev, w, bias], f"conv_{i}", kernel_shape=[3, 3], pads=pads)
        scale = b.const(f"bn_{i}/gamma", b.rng.uniform(0.5, 1.5, out).astype(np.float32))
        shift = b.const(f"bn_{i}/beta", b.rng.uniform(-0.2, 0.2, out).astype(np.float32))
        mean = b.const(f"bn_{i}/moving_mean", b.rng.uniform(-0.2, 0.2, out).astype(np.float32))
        var = b.const(f"bn_{i}/moving_variance", b.rng.uniform(0.5, 1.5, out).astype(np.float32))
        prev = b.node("BatchNormalization", [prev, scale, shift, mean, var], f"bn_{i}", epsilon=1e-3)
        prev = b.node("Relu", [prev], f"relu_{i}")
        if i == 0:
            prev = b.node("MaxPool", [prev], "pool_0", kernel_shape=[2, 2], strides=[2, 2])
        channels = out
    prev = b.node("GlobalAveragePool", [prev], "gap")
    prev = b.node("Flatten", [prev], "flatten")
    w = b.weight("dense/kernel", (channels, 10), channels)
    bias = b.weight("dense/bias", (10,), 10 * channels)
    prev = b.node("Gemm", [prev, w, bias], "dense")
    prev = b.node("Softmax", [prev], "probabilities", axis=-1)
    return b.model("cnn", {"image": ["batch", 1, 12, 12]}, [prev])


def _recurrent(kind: str, seed: int, steps: int, features: int, hidden: int) -> onnx.ModelProto:
    b = _Builder(seed)
    gates = {"LSTM": 4, "GRU": 3}[kind]
    seq = b.node("Transpose", ["sequence"], "time_major", perm=[1, 0, 2])
    w = b.weight(f"{kind.lower()}/W", (1, gates * hidden, features), features)
    r = b.weight(f"{kind.lower()}/R", (1, gates * hidden, hidden), hidden)
    bias = b.weight(f"{kind.lower()}/B", (1, 2 * gates * hidden), 10 * hidden)
    attrs = {"hidden_size": hidden}
    if kind == "GRU":
        attrs["linear_before_reset"] = 1
    outs = b.multi_node(kind, [seq, w, r, bias], kind.lower(), n_out=2, **attrs)
    last = b.node("Squeeze", [outs[1], b.const("axis0", np.array([0], np.int64))], "last_state")
    dw = b.weight("dense/kernel", (hidden, 1), hidden)
    db = b.weight("dense/bias", (1,), 10 * hidden)
    logit = b.node("Gemm", [last, dw, db], "dense")
    out = b.node("Sigmoid", [logit], "score")
    return b.model(kind.lower() + "_model", {"sequence": ["batch", steps, features]}, [out])


def lstm_model(seed: int = 2, steps: int = 8, features: int = 6, hidden: int = 16) -> onnx.ModelProto:
    """Batch-first sequence -> LSTM (last state) -> dense -> sigmoid, as Keras exports it."""
    return _recurrent("LSTM", seed, steps, features, hidden)


def gru_model(seed: int = 3, steps: int = 8, features: int = 6, hidden: int = 16) -> onnx.ModelProto:
    """Batch-first sequence -> GRU (linear_before_reset=1, Keras' default) -> dense -> sigmoid."""
    return _recurrent("GRU", seed, steps, features, hidden)


def skip_model(seed: int = 4) -> onnx.ModelProto:
    """Two inputs, a residual connection and two outputs (a score and an auxiliary regression)."""
    b = _Builder(seed)
    h = b.node("Gemm", ["x", b.weight("dense_1/kernel", (6, 8), 6), b.weight("dense_1/bias", (8,), 60)], "dense_1")
    r = b.node("Relu", [h], "relu")
    h2 = b.node("Gemm", [r, b.weight("dense_2/kernel", (8, 8), 8), b.weight("dense_2/bias", (8,), 80)], "dense_2")
    s = b.node("Add", [h2, r], "skip")
    s = b.node("Mul", [s, "gate"], "gated")
    score = b.node("Sigmoid", [b.node("Gemm", [s, b.weight("head/kernel", (8, 3), 8)], "head")], "score")
    aux = b.node("Tanh", [h], "aux")
    return b.model("skip_model", {"x": ["batch", 6], "gate": ["batch", 8]}, [score, aux])


ALL = {"mlp": mlp, "cnn": cnn, "lstm": lstm_model, "gru": gru_model, "skip": skip_model}
