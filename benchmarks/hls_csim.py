"""C-simulation build time and per-sample time of the HLS target (no FPGA tools needed).

    python benchmarks/hls_csim.py [--samples N] [--precision TYPE ...]

For the MLP 16-64-32-32-5 and the small CNN of ``rmodel.examples`` and each precision: the g++
build time of the firmware + binding (a fresh build, not the cache), the per-sample time of the
simulated dataflow, and the largest error against onnxruntime over the samples.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

import rmodel
from rmodel import examples
from rmodel.emitters.hls import compile_hls
from rmodel.verify import run_onnxruntime

MODELS = {"mlp 16-64-32-32-5": examples.mlp, "cnn 1x12x12 (conv-bn-relu-pool x2, gap, dense)": examples.cnn}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000, help="samples simulated per model")
    parser.add_argument("--precision", nargs="*", default=["ap_fixed<16,6>", "float"])
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(
        f"{'model':48} {'precision, arithmetic':23} {'build s':>8} {'us/sample':>10} {'samples/s':>10} {'max|err|':>10}"
    )
    with tempfile.TemporaryDirectory() as cache:
        os.environ["RMODEL_CACHE_DIR"] = cache  # time real builds
        for label, build in MODELS.items():
            m = rmodel.from_onnx(build())
            info = m.inputs[0]
            x = rng.uniform(-1, 1, (args.samples * info.shape[0], *info.shape[1:])).astype(np.float32)
            ref = np.concatenate(
                [run_onnxruntime(m, {info.name: x[i : i + 1]})[0] for i in range(min(200, args.samples))]
            )
            for precision, arithmetic in [(p, a) for p in args.precision for a in ("rmodel", "xilinx")]:
                start = time.perf_counter()
                sim = compile_hls(m, precision=precision, arithmetic=arithmetic)
                built = time.perf_counter() - start
                sim.predict(x[:1])  # warm up
                start = time.perf_counter()
                y = sim.predict(x)
                per_sample = (time.perf_counter() - start) / args.samples
                err = float(np.max(np.abs(y[: len(ref)] - ref)))
                print(
                    f"{label:48} {precision + ' ' + arithmetic:23} {built:8.2f} {per_sample * 1e6:10.1f} {1 / per_sample:10.0f} "
                    f"{err:10.2e}"
                )


if __name__ == "__main__":
    main()
