"""Latency of single LSTM/GRU/RNN layers, rmodel's compiled predict() against onnxruntime (1 thread).

    python benchmarks/recurrent.py [--rounds N] [--only TEXT] [--batches 1,64]

Each layer is one ONNX node (time-major X, constant W/R/B, outputs Y and Y_h), checked against
onnxruntime first; the table shows the median per-call latency of several timing rounds.
"""

from __future__ import annotations

import argparse
import functools

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from timing import onnxruntime_session, per_call_seconds

import rmodel

# name, op type, steps, input features, hidden size, extra attributes
LAYERS: list[tuple[str, str, int, int, int, dict]] = [
    ("lstm T8 F6 H16", "LSTM", 8, 6, 16, {}),
    ("lstm T50 F16 H64", "LSTM", 50, 16, 64, {}),
    ("lstm T20 F64 H128", "LSTM", 20, 64, 128, {}),
    ("bi-lstm T50 F16 H64", "LSTM", 50, 16, 64, {"direction": "bidirectional"}),
    ("gru T8 F6 H16", "GRU", 8, 6, 16, {"linear_before_reset": 1}),
    ("gru T50 F16 H64", "GRU", 50, 16, 64, {"linear_before_reset": 1}),
    ("gru lbr0 T50 F16 H64", "GRU", 50, 16, 64, {}),
    ("rnn T50 F16 H64", "RNN", 50, 16, 64, {}),
]
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def recurrent_layer(op: str, steps: int, batch: int, features: int, hidden: int, attrs: dict) -> onnx.ModelProto:
    """One recurrent node with constant W, R, B (scaled like trained weights)."""
    rng = np.random.default_rng(0)
    dirs = 2 if attrs.get("direction") == "bidirectional" else 1
    g = GATES[op]
    w = (rng.uniform(-1, 1, (dirs, g * hidden, features)) / np.sqrt(features)).astype(np.float32)
    r = (rng.uniform(-1, 1, (dirs, g * hidden, hidden)) / np.sqrt(hidden)).astype(np.float32)
    b = rng.uniform(-0.1, 0.1, (dirs, 2 * g * hidden)).astype(np.float32)
    node = helper.make_node(op, ["x", "w", "r", "b"], ["y", "y_h"], hidden_size=hidden, **attrs)
    graph = helper.make_graph(
        [node],
        op.lower(),
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [steps, batch, features])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("y", "y_h")],
        [numpy_helper.from_array(v, n) for n, v in (("w", w), ("r", r), ("b", b))],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7, help="timing rounds per layer (median is shown)")
    parser.add_argument("--only", default=None, help="run only layers whose name contains this text")
    parser.add_argument("--batches", default="1,64", help="comma-separated batch sizes")
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    print("Recurrent layers, float32, outputs Y and Y_h, 1 thread, median per call")
    print(f"{'layer':<22} {'batch':>5} {'onnxruntime [us]':>17} {'rmodel [us]':>12} {'speed-up':>9}")
    for name, op, steps, features, hidden, attrs in LAYERS:
        if args.only and args.only not in name:
            continue
        for batch in batches:
            proto = recurrent_layer(op, steps, batch, features, hidden, attrs)
            session = onnxruntime_session(proto)
            net = rmodel.from_onnx(proto).compile(binding="ctypes")
            x = np.random.default_rng(1).uniform(-1, 1, (steps, batch, features)).astype(np.float32)
            for got, ref in zip(net.predict(x), session.run(None, {"x": x})):
                assert np.max(np.abs(got - ref)) <= 1e-6 * max(1.0, float(np.max(np.abs(ref)))), name
            run_ort = functools.partial(lambda s, v: s.run(None, {"x": v}), session)
            calls = max(3, int(0.03 / max(per_call_seconds(run_ort, x, 1, 1), 1e-6)))  # about 30 ms per round
            t_ort = per_call_seconds(run_ort, x, calls, args.rounds)
            t_rm = per_call_seconds(net.predict, x, calls, args.rounds)
            print(f"{name:<22} {batch:>5} {t_ort * 1e6:>17.1f} {t_rm * 1e6:>12.1f} {t_ort / t_rm:>8.2f}x", flush=True)


if __name__ == "__main__":
    main()
