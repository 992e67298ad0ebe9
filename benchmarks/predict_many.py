"""100,000 jet samples through predict: rmodel (any number of samples per call, run in C++ in
chunks of the compiled batch) against onnxruntime (1 thread) at its best batch size.

    python benchmarks/predict_many.py [--samples N] [--json results.json]

The model is the bundled Keras jet tagger (examples/jet_tagger.keras). onnxruntime runs the
samples in slices of each batch size it is tried with and the best is reported; rmodel's predict is
called once with all samples, for headers compiled at batch 1, 16, 64 and 256, and with a dynamic
batch (kernels up to 16 and 64).

A second table is the trigger-style case a dynamic batch is for: 10,000 events of 1 to 20 jets each,
one call per event (onnxruntime with the event's batch; rmodel at batch 1, at a fixed batch 16 with
the last partial batch zero-padded, and with a dynamic batch up to 16).
Prints the tables and writes the numbers as JSON next to them.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from timing import onnxruntime_session

import rmodel

ROOT = Path(__file__).resolve().parents[1]


def best_of(fn, rounds: int = 5) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--json", type=Path, default=Path(__file__).with_name("predict_many.json"))
    args = parser.parse_args()
    keras_file = ROOT / "examples" / "jet_tagger.keras"
    proto = rmodel.keras_to_onnx(keras_file)
    name = proto.graph.input[0].name
    x = np.random.default_rng(0).uniform(-1, 1, (args.samples, 16)).astype(np.float32)
    session = onnxruntime_session(proto)
    reference = session.run(None, {name: x})[0]
    rows = []
    for batch in (1, 16, 64, 256, 1024, args.samples):

        def run_ort(batch: int = batch) -> None:
            for start in range(0, args.samples, batch):
                session.run(None, {name: x[start : start + batch]})

        rows.append(("onnxruntime", batch, best_of(run_ort, 3 if batch < 64 else 5)))
    nets = {}
    for batch in (1, 16, 64, 256, "dyn16", "dyn64"):
        if isinstance(batch, str):
            model = rmodel.from_keras(keras_file, batch_size=None, max_batch=int(batch[3:]))
        else:
            model = rmodel.from_keras(keras_file, batch_size=batch)
        net = nets[batch] = model.compile()
        got = net.predict(x)
        assert np.max(np.abs(got - reference)) <= 1e-6 * max(1.0, float(np.max(np.abs(reference))))
        rows.append(("rmodel predict", batch, best_of(lambda net=net: net.predict(x))))
    best_ort = min(t for engine, _, t in rows if engine == "onnxruntime")
    print(f"{args.samples:,} jet samples (16 features -> 5 classes), float32, 1 thread, best of several runs")
    print(f"{'engine':16} {'batch':>7} {'total [ms]':>11} {'ns/sample':>10} {'vs best onnxruntime':>20}")
    results = []
    for engine, batch, seconds in rows:
        per = seconds / args.samples * 1e9
        print(f"{engine:16} {batch:>7} {seconds * 1e3:>11.1f} {per:>10.0f} {best_ort / seconds:>19.2f}x")
        results.append({"engine": engine, "batch": batch, "seconds": seconds, "ns_per_sample": per})
    events = _events(x, nets, session, name)
    args.json.write_text(json.dumps({"samples": args.samples, "results": results, "events": events}, indent=1) + "\n")
    print(f"(written to {args.json})")


def _events(x: np.ndarray, nets: dict, session, name: str, count: int = 10_000) -> list[dict]:
    """One predict call per event of 1..20 jets: what a trigger or reconstruction loop does."""
    sizes = np.random.default_rng(1).integers(1, 21, count)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]) % (len(x) - 20)
    slices = [x[s : s + n] for s, n in zip(starts, sizes)]
    runners = {
        "onnxruntime (event batch)": lambda: [session.run(None, {name: e}) for e in slices],
        "rmodel batch 1": lambda: [nets[1].predict(e) for e in slices],
        "rmodel batch 16 (padded)": lambda: [nets[16].predict(e) for e in slices],
        "rmodel dynamic up to 16": lambda: [nets["dyn16"].predict(e) for e in slices],
    }
    jets = int(sizes.sum())
    print(f"\n{count:,} events of 1-20 jets ({jets:,} jets), one call per event")
    print(f"{'engine':28} {'total [ms]':>11} {'us/event':>9} {'ns/jet':>7}")
    out = []
    for label, run in runners.items():
        seconds = best_of(run, 3)
        print(f"{label:28} {seconds * 1e3:>11.1f} {seconds / count * 1e6:>9.2f} {seconds / jets * 1e9:>7.0f}")
        out.append({"engine": label, "events": count, "jets": jets, "seconds": seconds})
    return out


if __name__ == "__main__":
    main()
