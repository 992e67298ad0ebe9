"""Latency of rmodel's compiled predict() against onnxruntime (1 thread), same Python harness.

    python benchmarks/latency.py [--calls N]

Prints a table: per-call latency (median of several timing rounds) at batch 1 and 256 on the
MLP 16-64-32-32-5 (Gemm + ReLU + Softmax).
"""

from __future__ import annotations

import argparse

import numpy as np
from timing import onnxruntime_session, per_call_seconds

import rmodel
from rmodel.examples import mlp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000, help="calls per timing round at batch 1")
    args = parser.parse_args()
    proto = mlp()
    session = onnxruntime_session(proto)
    rows = []
    for batch in (1, 256):
        model = rmodel.from_onnx(proto, batch_size=batch)
        net = model.compile()
        x = np.random.default_rng(0).uniform(-1, 1, (batch, 16)).astype(np.float32)
        ref = session.run(None, {"x": x})[0]
        assert np.max(np.abs(net.predict(x) - ref)) <= 1e-6 * max(1.0, float(np.max(np.abs(ref))))
        calls = max(20, args.calls // batch * 4) if batch > 1 else args.calls
        t_ort = per_call_seconds(lambda v: session.run(None, {"x": v}), x, calls)
        t_rm = per_call_seconds(net.predict, x, calls)
        rows.append((batch, t_ort * 1e6, t_rm * 1e6, t_ort / t_rm))
    print("MLP 16-64-32-32-5 (Gemm+ReLU, Softmax), float32, 1 thread, median per call")
    print(f"{'batch':>6} {'onnxruntime [us]':>17} {'rmodel [us]':>12} {'speed-up':>9}")
    for batch, t_ort, t_rm, speedup in rows:
        print(f"{batch:>6} {t_ort:>17.2f} {t_rm:>12.2f} {speedup:>8.1f}x")


if __name__ == "__main__":
    main()
