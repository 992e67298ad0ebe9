"""Build a test model and its reference data for the C++ test suite (run by CMake at build time).

    python make_models.py BUILDER --batch-size N --model OUT.onnx|OUT.keras --reference OUT.ref

writes the model (symbolic batch axis) and a reference file: seeded random inputs for batch N and
the outputs onnxruntime (Keras itself, for .keras models) computes from them. Reference format,
little-endian: b"RMREF001", uint32 number of inputs, uint32 number of outputs, then for every
input and then every output: uint64 element count followed by that many float32 values.

A new model is one builder function below registered in BUILDERS, plus one
``rmodel_test_model(...)`` line in CMakeLists.txt. Builders whose name starts with ``keras_``
return a keras.Model (written as .keras); the others return an onnx.ModelProto.
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
MAGIC = b"RMREF001"


def _weights(rng: np.random.Generator, *shape: int, fan_in: int | None = None) -> np.ndarray:
    """Weights scaled like a trained layer (uniform, 1/sqrt(fan_in))."""
    fan = fan_in or shape[-1]
    return (rng.uniform(-1, 1, shape) / np.sqrt(fan)).astype(np.float32)


class _Graph:
    """A few lines per model: nodes, initializers, inputs and outputs of an ONNX graph."""

    def __init__(self, name: str, seed: int = 0):
        self.name = name
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self.count = 0

    def input(self, name: str, shape: list[Any]) -> str:
        self.inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))
        return name

    def const(self, value: np.ndarray, hint: str = "w") -> str:
        name = f"{hint}{len(self.inits)}"
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], n_outputs: int = 1, **attrs: Any) -> list[str]:
        self.count += 1
        outs = [f"{op.lower()}{self.count}_{k}" for k in range(n_outputs)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=f"{op.lower()}{self.count}", **attrs))
        return outs

    def op(self, op: str, *inputs: str, **attrs: Any) -> str:
        return self.node(op, list(inputs), **attrs)[0]

    def dense(self, x: str, n_in: int, n_out: int, activation: str | None = "Relu") -> str:
        y = self.op(
            "Gemm",
            x,
            self.const(_weights(self.rng, n_in, n_out, fan_in=n_in)),
            self.const(_weights(self.rng, n_out, fan_in=n_in), "b"),
        )
        return self.op(activation, y) if activation else y

    def output(self, name: str, new_name: str) -> None:
        self.nodes.append(helper.make_node("Identity", [name], [new_name]))
        self.outputs.append(helper.make_tensor_value_info(new_name, TensorProto.FLOAT, None))

    def model(self) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, self.name, self.inputs, self.outputs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = 8
        onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
        return model


def mlp() -> onnx.ModelProto:
    """Dense 16-64-32-32-5 with ReLU between layers."""
    g = _Graph("mlp")
    h = g.input("x", ["N", 16])
    for n_in, n_out in ((16, 64), (64, 32), (32, 32)):
        h = g.dense(h, n_in, n_out)
    g.output(g.dense(h, 32, 5, activation=None), "y")
    return g.model()


def skip_two_outputs() -> onnx.ModelProto:
    """A residual block (x + relu(dense(x))) feeding two heads: a regression and a sigmoid head."""
    g = _Graph("skip_two_outputs", seed=1)
    x = g.input("x", ["N", 16])
    h = g.dense(g.dense(x, 16, 24), 24, 16, activation=None)
    s = g.op("Relu", g.op("Add", h, x))
    g.output(g.dense(s, 16, 4, activation=None), "regression")
    g.output(g.dense(g.dense(s, 16, 8), 8, 3, activation="Sigmoid"), "scores")
    return g.model()


def cnn_batchnorm() -> onnx.ModelProto:
    """Conv 3x3 + BatchNorm + ReLU twice (second with stride 2), flatten, dense 5."""
    g = _Graph("cnn_batchnorm", seed=2)
    h = g.input("image", ["N", 3, 12, 12])
    channels, size = 3, 12
    for out_channels, stride in ((8, 1), (6, 2)):
        w = g.const(_weights(g.rng, out_channels, channels, 3, 3, fan_in=channels * 9))
        h = g.op(
            "Conv",
            h,
            w,
            g.const(_weights(g.rng, out_channels, fan_in=9), "b"),
            kernel_shape=[3, 3],
            pads=[1, 1, 1, 1],
            strides=[stride, stride],
        )
        bn = [
            g.rng.uniform(0.5, 1.5, out_channels),
            g.rng.uniform(-0.5, 0.5, out_channels),
            g.rng.uniform(-0.2, 0.2, out_channels),
            g.rng.uniform(0.5, 2.0, out_channels),
        ]
        h = g.op("BatchNormalization", h, *(g.const(v.astype(np.float32), "bn") for v in bn), epsilon=1e-3)
        h = g.op("Relu", h)
        channels, size = out_channels, (size - 1) // stride + 1
    h = g.op("Flatten", h, axis=1)
    g.output(g.dense(h, channels * size * size, 5, activation=None), "logits")
    return g.model()


def _recurrent(op: str, gates: int, hidden: int, seed: int, **attrs: Any) -> onnx.ModelProto:
    """One forward ``op`` layer over X [T=7, N, 6] (the batch axis is named N: generate with DIMS N=<batch>)."""
    g = _Graph(op.lower(), seed=seed)
    x = g.input("sequence", [7, "N", 6])
    w = g.const(_weights(g.rng, 1, gates * hidden, 6, fan_in=hidden))
    r = g.const(_weights(g.rng, 1, gates * hidden, hidden, fan_in=hidden))
    b = g.const(_weights(g.rng, 1, 2 * gates * hidden, fan_in=hidden), "b")
    y, y_h = g.node(op, [x, w, r, b], n_outputs=2, hidden_size=hidden, **attrs)
    g.output(y, "all_states")
    g.output(y_h, "last_state")
    return g.model()


def lstm() -> onnx.ModelProto:
    return _recurrent("LSTM", gates=4, hidden=12, seed=3)


def gru() -> onnx.ModelProto:
    return _recurrent("GRU", gates=3, hidden=10, seed=4, linear_before_reset=1)


def keras_mlp() -> Any:
    """A Keras functional model: Dense 16-32 (relu) - 8 (tanh) - 4."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # no TensorFlow start-up chatter in the build log
    import keras

    keras.utils.set_random_seed(5)
    inputs = keras.Input((16,), name="features")
    h = keras.layers.Dense(32, activation="relu")(inputs)
    h = keras.layers.Dense(8, activation="tanh")(h)
    outputs = keras.layers.Dense(4)(h)
    return keras.Model(inputs, outputs, name="keras_mlp")


BUILDERS: dict[str, Callable[[], Any]] = {
    f.__name__: f for f in (mlp, skip_two_outputs, cnn_batchnorm, lstm, gru, keras_mlp)
}


def _input_shape(vi: onnx.ValueInfoProto, batch_size: int) -> list[int]:
    return [d.dim_value if d.HasField("dim_value") else batch_size for d in vi.type.tensor_type.shape.dim]


def reference_onnx(model: onnx.ModelProto, batch_size: int, rng: np.random.Generator):
    from rmodel.verify import onnxruntime_session

    feeds = {vi.name: rng.uniform(-1, 1, _input_shape(vi, batch_size)).astype(np.float32) for vi in model.graph.input}
    outputs = onnxruntime_session(model).run([o.name for o in model.graph.output], feeds)
    return list(feeds.values()), outputs


def reference_keras(model: Any, batch_size: int, rng: np.random.Generator):
    inputs = [rng.uniform(-1, 1, (batch_size, *t.shape[1:])).astype(np.float32) for t in model.inputs]
    outputs = model(inputs if len(inputs) > 1 else inputs[0], training=False)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return inputs, [np.asarray(o, dtype=np.float32) for o in outputs]


def write_reference(path: Path, inputs: list[np.ndarray], outputs: list[np.ndarray]) -> None:
    chunks = [MAGIC, struct.pack("<II", len(inputs), len(outputs))]
    for array in [*inputs, *outputs]:
        flat = np.ascontiguousarray(array, dtype="<f4").ravel()
        chunks += [struct.pack("<Q", flat.size), flat.tobytes()]
    path.write_bytes(b"".join(chunks))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("builder", choices=sorted(BUILDERS))
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--model", type=Path, required=True, help="model file to write (.onnx or .keras)")
    parser.add_argument("--reference", type=Path, required=True, help="reference data file to write")
    args = parser.parse_args(argv)
    keras_model = args.builder.startswith("keras_")
    if args.model.suffix != (".keras" if keras_model else ".onnx"):
        parser.error(f"builder '{args.builder}' writes a {'.keras' if keras_model else '.onnx'} file")
    rng = np.random.default_rng(zlib.crc32(f"{args.builder}/{args.batch_size}".encode()))
    model = BUILDERS[args.builder]()
    args.model.parent.mkdir(parents=True, exist_ok=True)
    if keras_model:
        model.save(args.model)
        inputs, outputs = reference_keras(model, args.batch_size, rng)
    else:
        onnx.save(model, args.model)
        inputs, outputs = reference_onnx(model, args.batch_size, rng)
    write_reference(args.reference, inputs, outputs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
