"""Generation and compile cost of large models: weights embedded as byte strings (what rmodel does
for float32 arrays of at least BYTES_MIN_ELEMENTS elements) against float literals (the old way).

    python benchmarks/compile_scale.py [--model resnet50|vgg19|mlp] [--embeddings bytes,literals,file] [--json out.json]

resnet50: keras.applications.ResNet50(weights=None), 224x224x3, 25.6 M parameters (needs keras);
vgg19: keras.applications.VGG19(weights=None), 224x224x3, 143.7 M parameters (by default only with
weights="file": g++ gave up on its byte strings after 84 s and 10.7 GB, and needs more than 20 GB
for float literals); mlp: a synthetic 4096-wide MLP with about 25 M parameters (no keras). For
each embedding the
table gives the header size, the generation time, and g++'s wall time and peak memory compiling a
translation unit that includes the header (DEFAULT_FLAGS, -c), measured by /usr/bin/time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import rmodel
from rmodel.build import DEFAULT_FLAGS
from rmodel.emitters import literals


def load(name: str, folder: Path) -> rmodel.RModel:
    if name in ("resnet50", "vgg19"):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import keras

        path = folder / f"{name}.keras"
        build = keras.applications.ResNet50 if name == "resnet50" else keras.applications.VGG19
        build(weights=None, input_shape=(224, 224, 3)).save(path)
        return rmodel.from_keras(path)
    from onnx import helper

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from helpers import make_model, weights

    rng = np.random.default_rng(0)
    sizes = [1024, 4096, 4096, 1024, 10]
    nodes, inits, prev = [], {}, "x"
    for k, (a, b) in enumerate(zip(sizes, sizes[1:])):
        inits[f"w{k}"] = weights(rng, a, b)
        nodes.append(helper.make_node("MatMul", [prev, f"w{k}"], [f"h{k}"]))
        prev = f"h{k}"
    return rmodel.from_onnx(make_model(nodes, {"x": (np.float32, [1, sizes[0]])}, [prev], inits))


#: how the weights reach the compiled code: embedded as byte strings, as float literals, or read
#: from the side file (weights="file")
EMBEDDINGS = ("bytes", "literals", "file")


def measure(model: rmodel.RModel, folder: Path, embedding: str) -> dict:
    saved = literals.BYTES_MIN_ELEMENTS
    from rmodel.emitters.cpu import header

    header.BYTES_MIN_ELEMENTS = 1 << 62 if embedding == "literals" else saved
    try:
        start = time.perf_counter()
        code = model.generate(folder / "model.hxx", weights="file" if embedding == "file" else "embedded")
        generate = time.perf_counter() - start
    finally:
        header.BYTES_MIN_ELEMENTS = saved
    namespace = model.default_namespace
    session = f'{namespace}::Session("model.hxx.weights")' if embedding == "file" else f"{namespace}::Session()"
    (folder / "main.cpp").write_text(f'#include "model.hxx"\nint main() {{ delete new {session}; }}\n')
    run = subprocess.run(
        [
            "/usr/bin/time",
            "-f",
            "%e %M",
            "g++",
            *DEFAULT_FLAGS,
            "-c",
            str(folder / "main.cpp"),
            "-o",
            str(folder / "m.o"),
        ],
        capture_output=True,
        text=True,
    )
    if run.returncode != 0:
        raise SystemExit(run.stderr[-2000:])
    seconds, kilobytes = run.stderr.strip().splitlines()[-1].split()
    return {
        "embedding": {"file": "weights file", "literals": "float literals"}.get(embedding, embedding),
        "header_mb": len(code) / 1e6,
        "generate_s": generate,
        "compile_s": float(seconds),
        "compile_peak_gb": int(kilobytes) / 1024**2,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=["resnet50", "vgg19", "mlp"], default="resnet50")
    parser.add_argument(
        "--embeddings",
        help=f"comma-separated, of {','.join(EMBEDDINGS)} (default: all; for vgg19 file only)",
    )
    parser.add_argument("--json", type=Path, default=Path(__file__).with_name("compile_scale.json"))
    args = parser.parse_args()
    # the embedded forms of the largest models exceed the default header limit (1 GiB); a model
    # keeps the limits it was loaded with
    with tempfile.TemporaryDirectory() as tmp, rmodel.limits.using(max_header_bytes=1 << 36):
        model = load(args.model, Path(tmp))
        default = ("file",) if args.model == "vgg19" else EMBEDDINGS
        chosen = args.embeddings.split(",") if args.embeddings else default
        unknown = sorted(set(chosen) - set(EMBEDDINGS))
        if unknown:
            parser.error(f"unknown embedding(s) {unknown}")
        rows = [measure(model, Path(tmp), e) for e in chosen]
    print(f"{args.model}: {model.parameter_count():,} parameters, g++ {' '.join(DEFAULT_FLAGS)} -c")
    print(f"{'weights embedded as':22} {'header [MB]':>12} {'generate [s]':>13} {'g++ [s]':>8} {'g++ peak [GB]':>14}")
    for r in rows:
        print(
            f"{r['embedding']:22} {r['header_mb']:12.0f} {r['generate_s']:13.1f} {r['compile_s']:8.1f} "
            f"{r['compile_peak_gb']:14.2f}"
        )
    saved = json.loads(args.json.read_text()) if args.json.exists() else {}
    runs = saved.get("runs", {saved["model"]: saved["results"]} if "model" in saved else {})
    runs[args.model] = rows
    args.json.write_text(json.dumps({"runs": runs}, indent=1, sort_keys=True) + "\n")
    print(f"(written to {args.json})")


if __name__ == "__main__":
    main()
