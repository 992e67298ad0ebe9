"""Latency of single Conv layers, rmodel's compiled predict() against onnxruntime (1 thread).

    python benchmarks/conv.py [--rounds N] [--only NAME]

Prints a table: per-call latency (median of several timing rounds) of typical CNN layers at
batch 1, each checked against onnxruntime first.
"""

from __future__ import annotations

import argparse
import functools

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from timing import onnxruntime_session, per_call_seconds

import rmodel

# name, input shape (N, C, H, W), weight shape (M, C/group, kh, kw), Conv attributes
LAYERS: list[tuple[str, tuple[int, ...], tuple[int, ...], dict]] = [
    ("3x3 64->64 56x56", (1, 64, 56, 56), (64, 64, 3, 3), {"pads": [1, 1, 1, 1]}),
    ("3x3 256->256 14x14", (1, 256, 14, 14), (256, 256, 3, 3), {"pads": [1, 1, 1, 1]}),
    ("3x3 512->512 7x7", (1, 512, 7, 7), (512, 512, 3, 3), {"pads": [1, 1, 1, 1]}),
    ("3x3 s2 64->128 56x56", (1, 64, 56, 56), (128, 64, 3, 3), {"pads": [1, 1, 1, 1], "strides": [2, 2]}),
    ("1x1 128->128 28x28", (1, 128, 28, 28), (128, 128, 1, 1), {}),
    ("1x1 64->256 56x56", (1, 64, 56, 56), (256, 64, 1, 1), {}),
    ("3x3 3->32 s2 224x224", (1, 3, 224, 224), (32, 3, 3, 3), {"pads": [1, 1, 1, 1], "strides": [2, 2]}),
    ("dw 3x3 32ch 112x112", (1, 32, 112, 112), (32, 1, 3, 3), {"pads": [1, 1, 1, 1], "group": 32}),
    ("dw 3x3 128ch 56x56", (1, 128, 56, 56), (128, 1, 3, 3), {"pads": [1, 1, 1, 1], "group": 128}),
    ("dw 3x3 256ch 28x28", (1, 256, 28, 28), (256, 1, 3, 3), {"pads": [1, 1, 1, 1], "group": 256}),
    ("dw 3x3 512ch 14x14", (1, 512, 14, 14), (512, 1, 3, 3), {"pads": [1, 1, 1, 1], "group": 512}),
    (
        "dw 3x3 s2 128ch 56x56",
        (1, 128, 56, 56),
        (128, 1, 3, 3),
        {"pads": [1, 1, 1, 1], "group": 128, "strides": [2, 2]},
    ),
]


def conv_layer(x_shape: tuple[int, ...], w_shape: tuple[int, ...], attrs: dict) -> onnx.ModelProto:
    """One Conv node with bias, weights as initializers."""
    rng = np.random.default_rng(0)
    fan_in = int(np.prod(w_shape[1:]))
    w = (rng.uniform(-1, 1, w_shape) / np.sqrt(fan_in)).astype(np.float32)
    b = rng.uniform(-0.1, 0.1, w_shape[0]).astype(np.float32)
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], **attrs)
    graph = helper.make_graph(
        [node],
        "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=9, help="timing rounds per layer (median is shown)")
    parser.add_argument("--only", default=None, help="run only layers whose name contains this text")
    args = parser.parse_args()
    print("Conv layers, float32, batch 1, 1 thread, median per call")
    print(f"{'layer':<24} {'onnxruntime [ms]':>17} {'rmodel [ms]':>12} {'speed-up':>9}")
    for name, x_shape, w_shape, attrs in LAYERS:
        if args.only and args.only not in name:
            continue
        proto = conv_layer(x_shape, w_shape, attrs)
        session = onnxruntime_session(proto)
        net = rmodel.from_onnx(proto).compile(binding="ctypes")
        x = np.random.default_rng(1).uniform(-1, 1, x_shape).astype(np.float32)
        ref = session.run(None, {"x": x})[0]
        got = net.predict(x)
        assert np.max(np.abs(got - ref)) <= 1e-6 * max(1.0, float(np.max(np.abs(ref)))), name
        run_ort = functools.partial(lambda s, v: s.run(None, {"x": v}), session)
        calls = max(3, int(0.05 / max(per_call_seconds(run_ort, x, 1, 1), 1e-6)))  # about 50 ms per round
        t_ort = per_call_seconds(run_ort, x, calls, args.rounds)
        t_rm = per_call_seconds(net.predict, x, calls, args.rounds)
        print(f"{name:<24} {t_ort * 1e3:>17.3f} {t_rm * 1e3:>12.3f} {t_ort / t_rm:>8.2f}x", flush=True)


if __name__ == "__main__":
    main()
