"""rmodel's HLS target against hls4ml 1.3 on three small Keras 3 models (no FPGA tools needed).

    python benchmarks/hls_vs_hls4ml.py [--samples N] [--quick] [--strategies latency,resource]
                                       [--json results.json]

Models (built here, seeded): the bundled jet tagger MLP 16-64-32-32-5 (examples/jet_tagger.keras),
a small CNN (8x8x1 -> Conv2D 4 3x3 relu -> Conv2D 8 3x3 relu -> MaxPool 2 -> Flatten -> Dense 5
softmax) and a small LSTM (8 steps x 4 features -> LSTM 8 -> Dense 3); the CNN and LSTM get a few
training steps on synthetic data so their weights are not just the initialisation.

Both tools use ap_fixed<16,6> everywhere and reuse factor 1 for the C simulation:

- hls4ml: ``config_from_keras_model(model, granularity='model')`` with Precision ap_fixed<16,6>,
  ReuseFactor 1, Strategy Latency; ``convert_from_keras_model(..., backend='Vitis', io_type=...)``
  for io_parallel and io_stream into a fresh temporary directory. "C-sim build s" is
  ``hls_model.compile()`` (writes the project and runs its build_lib.sh, g++ -O3). hls4ml has no
  estimate before synthesis, so its estimate columns are n/a.
- rmodel: ``rmodel.from_keras(model)`` then ``compile_hls(m, precision=..., reuse_factor=1,
  io_type=..., strategy=...)`` with a fresh RMODEL_CACHE_DIR (generation plus g++, no cache hit),
  in compile_hls's default arithmetic: rmodel's own bit-exact ap_fixed (g++ -O2) where it fits all
  types of the design, else Xilinx's headers (-O1). The estimate columns come from
  ``rmodel.emitters.hls.estimate`` (rmodel's model of its generated loops, not synthesis) for
  io_parallel / io_stream / io_serial (the scalar-stream design) x strategy (--strategies, default
  latency) x R in 1, 4, 16; R=1 of the first strategy is also built and simulated. The JSON adds
  the estimate's BRAM18, LUT multipliers and LUTRAM bits. An older rmodel without ``estimate`` or
  the ``io_type`` option is measured as "rmodel scalar-stream (current)", its estimates parsed
  from ``hls_report``.

Two more rmodel rows per model, in the first io type that builds: rmodel derives accumulator
types wide enough for the sums (e.g. ap_fixed<37,17>) where hls4ml's model-granularity config uses
ap_fixed<16,6> for accum_t too (every product is cast to it), so one row sets accum ap_fixed<16,6>
to compare errors like with like; and one builds with Xilinx's ap_fixed headers, as hls4ml does
(``arithmetic='xilinx'``), to compare simulation speed like with like.

"samples/s" is the best of three ``predict`` calls on all N samples at once (after a warm-up
call); "max|err|" is the largest absolute difference from Keras ``model.predict`` on the same
samples (uniform in [-1, 1)). Conversion (from_keras / convert_from_keras_model) is not timed.
Failures are recorded as "n/a (reason)". Prints the table and writes the numbers as JSON next to
this script (not for --quick unless --json is given).
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import io
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402

import rmodel  # noqa: E402
from rmodel.emitters import hls as rmodel_hls  # noqa: E402
from rmodel.errors import RModelError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PRECISION = "ap_fixed<16,6>"
REUSE_FACTORS = (1, 4, 16)
HLS4ML_IO_TYPES = ("io_parallel", "io_stream")
RMODEL_IO_TYPES = ("io_parallel", "io_stream", "io_serial")  # io_serial: the earlier scalar-stream design
CURRENT = "rmodel scalar-stream (current)"


@dataclass
class Row:
    model: str
    tool: str
    latency: int | str | None = None
    interval: int | str | None = None
    dsp: int | str | None = None
    build_s: float | str | None = None
    samples_per_s: float | str | None = None
    max_err: float | str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def jet_tagger():
    import keras

    return keras.models.load_model(ROOT / "examples" / "jet_tagger.keras")


def _fit_briefly(model, classes: int, seed: int) -> None:
    """A few training steps on seeded synthetic data (labels from a fixed random projection)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (512, *model.input_shape[1:])).astype(np.float32)
    labels = np.argmax(x.reshape(len(x), -1) @ rng.normal(size=(x[0].size, classes)), axis=1)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, labels, epochs=1, batch_size=64, verbose=0)


def small_cnn():
    import keras

    keras.utils.set_random_seed(1)
    inputs = keras.Input((8, 8, 1), name="image")
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv_1")(inputs)
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv_2")(x)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    outputs = keras.layers.Dense(5, activation="softmax", name="output_softmax")(x)
    model = keras.Model(inputs, outputs, name="small_cnn")
    _fit_briefly(model, 5, seed=1)
    return model


def small_lstm():
    import keras

    keras.utils.set_random_seed(2)
    inputs = keras.Input((8, 4), name="sequence")
    x = keras.layers.LSTM(8, name="lstm")(inputs)
    outputs = keras.layers.Dense(3, name="dense")(x)
    model = keras.Model(inputs, outputs, name="small_lstm")
    # trained as logits (the Dense has no softmax, as in the brief's model)
    rng = np.random.default_rng(2)
    x_train = rng.uniform(-1, 1, (512, 8, 4)).astype(np.float32)
    labels = np.argmax(x_train.sum(axis=1) @ rng.normal(size=(4, 3)), axis=1)
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x_train, labels, epochs=1, batch_size=64, verbose=0)
    return model


MODELS: dict[str, Callable[[], Any]] = {
    "jet MLP 16-64-32-32-5": jet_tagger,
    "CNN 8x8x1 conv3x3x2+pool": small_cnn,
    "LSTM 8x4 -> 8 -> 3": small_lstm,
}


def samples_per_second(predict: Callable[[np.ndarray], Any], x: np.ndarray, rounds: int = 3) -> float:
    predict(x[:1])  # warm up
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        predict(x)
        best = min(best, time.perf_counter() - start)
    return len(x) / best


def max_error(got: Any, reference: np.ndarray) -> float:
    return float(np.max(np.abs(np.asarray(got, dtype=np.float64).reshape(reference.shape) - reference)))


def reason(exc: BaseException) -> str:
    """``n/a (message)`` for a table cell; a bare exception names the method that raised it."""
    text = " ".join(str(exc).split())
    if not text:
        tb = exc.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        where = ""
        if tb is not None:
            owner = tb.tb_frame.f_locals.get("self")
            where = f" in {type(owner).__name__ + '.' if owner is not None else ''}{tb.tb_frame.f_code.co_name}"
        text = type(exc).__name__ + where
    return f"n/a ({text[:160]})"


# ---------------------------------------------------------------------------------------------- hls4ml


def hls4ml_rows(label: str, keras_model: Any, x: np.ndarray, reference: np.ndarray) -> list[Row]:
    rows = []
    try:
        import hls4ml
    except ImportError as exc:
        return [Row(label, "hls4ml", build_s=reason(exc))]
    version = getattr(hls4ml, "__version__", "?")
    for io_type in HLS4ML_IO_TYPES:
        row = Row(label, f"hls4ml {version} {io_type} R=1 latency", *(["n/a"] * 3))
        rows.append(row)
        out_dir = tempfile.mkdtemp(prefix="hls4ml_bench_")
        log = io.StringIO()
        try:
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):  # hls4ml prints its progress
                config = hls4ml.utils.config_from_keras_model(keras_model, granularity="model")
                config["Model"].update(Precision=PRECISION, ReuseFactor=1, Strategy="Latency")
                hls_model = hls4ml.converters.convert_from_keras_model(
                    keras_model, hls_config=config, backend="Vitis", io_type=io_type, output_dir=out_dir
                )
                start = time.perf_counter()
                hls_model.compile()
                row.build_s = time.perf_counter() - start
                row.max_err = max_error(hls_model.predict(x), reference)
                row.samples_per_s = samples_per_second(hls_model.predict, x)
        except Exception as exc:  # any failure of the other tool is a result of the table
            failure = reason(exc)
            for column in ("build_s", "samples_per_s", "max_err"):
                if getattr(row, column) is None:
                    setattr(row, column, failure)
        finally:
            shutil.rmtree(out_dir, ignore_errors=True)
    return rows


# ---------------------------------------------------------------------------------------------- rmodel


def has_new_options(model: rmodel.RModel) -> bool:
    """Whether this rmodel has ``estimate`` and the ``io_type`` HLS option."""
    if not hasattr(rmodel_hls, "estimate"):
        return False
    try:
        rmodel_hls.resolve_options(None, {"io_type": "io_parallel"}, model)
    except RModelError as exc:
        if "unknown HLS option" in str(exc):
            return False
    return True


def report_estimate(model: rmodel.RModel, reuse: int) -> tuple[int | str, int | str, int | str]:
    """Latency, interval and multipliers parsed from hls_report's total line (the current design)."""
    try:
        text = rmodel_hls.hls_report(model, precision=PRECISION, reuse_factor=reuse)
    except RModelError as exc:
        failure = reason(exc)
        return failure, failure, failure
    found = [re.search(p, text) for p in (r"latency ~(\d+) cycles", r"interval ~(\d+) cycles", r"(\d+) multipliers")]
    values = [int(m.group(1)) if m else "n/a (not in hls_report)" for m in found]
    return values[0], values[1], values[2]


def rmodel_estimate(row: Row, model: rmodel.RModel, **options: Any) -> None:
    """Fill the estimate columns of ``row`` (and its extra figures) from ``estimate``."""
    try:
        est = rmodel_hls.estimate(model, **{"precision": PRECISION, **options})
    except Exception as exc:  # an unsupported configuration is a result of the table
        row.latency = row.interval = row.dsp = reason(exc)
        return
    row.latency, row.interval, row.dsp = est.latency, est.interval, est.dsp
    row.extra = {name: getattr(est, name, None) for name in ("bram_18k", "lut_multipliers", "lutram_bits")}


def simulate(row: Row, model: rmodel.RModel, x: np.ndarray, reference: np.ndarray, **options: Any) -> None:
    """Fresh C-simulation build (own cache directory), samples/s and error of ``row``."""
    saved = os.environ.get("RMODEL_CACHE_DIR")
    with tempfile.TemporaryDirectory(prefix="rmodel_bench_") as cache:
        os.environ["RMODEL_CACHE_DIR"] = cache
        try:
            start = time.perf_counter()
            sim = rmodel_hls.compile_hls(model, **{"precision": PRECISION, "reuse_factor": 1, **options})
            row.build_s = time.perf_counter() - start
            row.max_err = max_error(sim.predict(x), reference)  # the samples stacked along axis 0
            row.samples_per_s = samples_per_second(sim.predict, x)
        except Exception as exc:  # a failed build or run is a result of the table
            failure = reason(exc)
            row.build_s = row.build_s if row.build_s is not None else failure
            row.samples_per_s = row.max_err = failure
        finally:
            if saved is None:
                os.environ.pop("RMODEL_CACHE_DIR", None)
            else:
                os.environ["RMODEL_CACHE_DIR"] = saved


def rmodel_rows(
    label: str, keras_model: Any, x: np.ndarray, reference: np.ndarray, strategies: tuple[str, ...]
) -> list[Row]:
    try:
        model = rmodel.from_keras(keras_model)
    except RModelError as exc:
        return [Row(label, "rmodel", build_s=reason(exc))]
    rows = []
    if not has_new_options(model):
        for reuse in REUSE_FACTORS:
            row = Row(label, f"{CURRENT} R={reuse}", *report_estimate(model, reuse))
            if reuse == 1:
                simulate(row, model, x, reference)
            rows.append(row)
        return rows
    for io_type in RMODEL_IO_TYPES:
        for strategy in strategies:
            for reuse in REUSE_FACTORS:
                name = f"rmodel {io_type}{' (scalar stream)' if io_type == 'io_serial' else ''} {strategy} R={reuse}"
                row = Row(label, name)
                rmodel_estimate(row, model, io_type=io_type, strategy=strategy, reuse_factor=reuse)
                if reuse == 1 and strategy == strategies[0]:
                    if isinstance(row.latency, str):  # the design cannot be generated: no build either
                        row.build_s = row.samples_per_s = row.max_err = row.latency
                    else:
                        simulate(row, model, x, reference, io_type=io_type, strategy=strategy)
                rows.append(row)
    # the same accumulator type as hls4ml's model-granularity config (rmodel derives wider ones)
    built = [r for r in rows if isinstance(r.build_s, float)]
    if built:
        io_type = built[0].tool.split()[1]
        row = Row(label, f"rmodel {io_type} {strategies[0]} R=1, accum {PRECISION}")
        narrow = {"default": PRECISION, "accum": PRECISION}
        rmodel_estimate(row, model, io_type=io_type, strategy=strategies[0], reuse_factor=1, precision=narrow)
        simulate(row, model, x, reference, io_type=io_type, strategy=strategies[0], precision=narrow)
        rows.append(row)
        if "arithmetic" in inspect.signature(rmodel_hls.compile_hls).parameters:
            # the C simulation with Xilinx's ap_fixed headers, as hls4ml's (the default is rmodel's own)
            first = built[0]
            row = Row(label, f"{first.tool}, Xilinx ap_fixed", first.latency, first.interval, first.dsp)
            simulate(row, model, x, reference, io_type=io_type, strategy=strategies[0], arithmetic="xilinx")
            rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------------- table


def cell(value: Any, digits: str, notes: dict[str, int]) -> str:
    """Table text of ``value``; a failure "n/a (reason)" becomes "n/a [k]" with footnote k."""
    if value is None:
        return "-"
    if isinstance(value, str):
        if value.startswith("n/a ("):
            k = notes.setdefault(value[5:-1], len(notes) + 1)
            return f"n/a [{k}]"
        return value
    if isinstance(value, float):
        return format(value, digits or ".3g")
    return str(value)


COLUMNS = (
    ("model", 26, "model", ""),
    ("tool/config", 52, "tool", ""),
    ("est. latency", 12, "latency", ""),
    ("est. II", 8, "interval", ""),
    ("est. DSP", 8, "dsp", ""),
    ("C-sim build s", 13, "build_s", ".2f"),
    ("samples/s", 10, "samples_per_s", ".0f"),
    ("max|err|", 9, "max_err", ".2e"),
)


def print_table(rows: list[Row]) -> None:
    print("  ".join(f"{title:{'<' if i < 2 else '>'}{width}}" for i, (title, width, _, _) in enumerate(COLUMNS)))
    previous = None
    notes: dict[str, int] = {}
    for row in rows:
        if previous is not None and row.model != previous:
            print()
        previous = row.model
        cells = []
        for i, (_, width, attr, digits) in enumerate(COLUMNS):
            text = cell(getattr(row, attr), digits, notes)
            cells.append(f"{text:{'<' if i < 2 else '>'}{width}}")
        print("  ".join(cells).rstrip())
    for text, k in notes.items():
        print(f"[{k}] {text}")


def _version(package: str) -> str:
    """Installed version of ``package``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=None, help="samples per model (default 5000, --quick 200)")
    parser.add_argument("--quick", action="store_true", help="smoke run: jet model only, few samples, no JSON")
    parser.add_argument("--json", type=Path, default=None, help="where to write the JSON (default: next to this file)")
    parser.add_argument(
        "--strategies", default="latency", help="rmodel strategies to estimate, comma-separated (latency,resource)"
    )
    args = parser.parse_args()
    samples = args.samples or (200 if args.quick else 5000)
    json_path = args.json or (None if args.quick else Path(__file__).with_name("hls_vs_hls4ml.json"))
    models = dict(list(MODELS.items())[:1]) if args.quick else MODELS
    rows: list[Row] = []
    for label, build in models.items():
        keras_model = build()
        x = np.random.default_rng(0).uniform(-1, 1, (samples, *keras_model.input_shape[1:])).astype(np.float32)
        reference = np.asarray(keras_model.predict(x, verbose=0), dtype=np.float64)
        rows += hls4ml_rows(label, keras_model, x, reference)
        rows += rmodel_rows(label, keras_model, x, reference, tuple(args.strategies.split(",")))
    print(
        f"\n{samples:,} samples per model, {PRECISION}; estimates in clock cycles (rmodel's own model; "
        "hls4ml needs synthesis); one g++ build each, no cache"
    )
    print_table(rows)
    if any(r.tool.startswith(CURRENT) for r in rows):
        print(f"({CURRENT}: estimates parsed from hls_report; its DSP column is the multiplier count)")
    if json_path is not None:
        import keras

        versions = {
            "keras": keras.__version__,
            "hls4ml": _version("hls4ml"),
            "rmodel": getattr(rmodel, "__version__", "?"),
        }
        payload = {"samples": samples, "precision": PRECISION, "versions": versions, "rows": [asdict(r) for r in rows]}
        json_path.write_text(json.dumps(payload, indent=1) + "\n")
        print(f"(written to {json_path})")


if __name__ == "__main__":
    main()
