"""Reports about the HLS design: per-layer resources and timing estimates, and value profiling."""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from rmodel.model import RModel
from rmodel.verify import random_inputs, run_onnxruntime

from .config import Precision, resolve_options
from .firmware import hls_implementations


def hls_report(model: RModel, **options: Any) -> str:
    """Per-layer multipliers, estimated latency and interval (clock cycles), and the numeric types.

    Estimates are rmodel's own rough model of the generated loops (not a synthesis result).
    """
    config = resolve_options(model.options.get("hls"), options, model)
    impls = hls_implementations(model)
    rows = []
    total_mult = total_latency = 0
    worst_interval = 1
    for op, impl in zip(model.operators, impls):
        cfg = config.for_op(op.name, op.op_type)
        impl.check(model.constants)
        reuse = cfg.reuse_factor
        mult = impl.multipliers(reuse)
        latency = impl.latency(reuse)
        interval = impl.interval(reuse)
        total_mult += mult
        total_latency += latency
        worst_interval = max(worst_interval, interval)
        kind = "(relabel)" if impl.alias else f"R={reuse}"
        types = f"result {cfg.precision('result')}"
        if impl.macs():
            types = f"w {cfg.precision('weight')}, acc {cfg.precision('accum')}, " + types
        rows.append((op.name, op.op_type, kind, str(mult), str(latency), str(interval), types))
    header = ("layer", "op", "reuse", "mults", "latency", "interval", "types")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = [
        f"HLS report for '{model.name}' (estimates of rmodel's loop model, not synthesis results; "
        f"clock {config.clock_period:g} ns, part {config.part})",
        "  " + "  ".join(h.ljust(w) for h, w in zip(header, widths)) + "  types",
    ]
    for r in rows:
        lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1])
    lines.append(
        f"  total: {total_mult} multipliers; latency ~{total_latency} cycles "
        f"(~{total_latency * config.clock_period / 1000:.2f} us); dataflow interval ~{worst_interval} cycles"
    )
    ranges = sorted({p.cpp(): p for p in config.default.values()}.values(), key=lambda p: p.cpp())
    for layer in config.layers.values():
        if "precision" in layer:
            pass
    lines.append(
        "  type ranges: "
        + "; ".join(
            f"{p.cpp()} [{p.low:g}, {p.high:g}] step {p.step:g}" if not p.is_float else "float (IEEE single)"
            for p in ranges
        )
    )
    return "\n".join(lines)


@dataclass
class TensorProfile:
    name: str
    kind: str  # "input", "activation", "weight", "bias"
    precision: Precision
    low: float
    high: float
    overflows: int
    count: int

    @property
    def suggested_integer_bits(self) -> int:
        """Integer bits (sign included for signed types) that hold every observed value."""
        peak = max(abs(self.low), abs(self.high))
        if peak == 0.0:
            return 1
        bits = math.floor(math.log2(peak)) + 1
        return max(1, bits + (1 if self.precision.signed else 0))


@dataclass
class ProfileReport:
    """Observed value range of every tensor against the range of its type."""

    model_name: str
    tensors: list[TensorProfile]
    samples: int

    @property
    def overflowing(self) -> list[TensorProfile]:
        return [t for t in self.tensors if t.overflows]

    def __str__(self) -> str:
        lines = [
            f"value profile of '{self.model_name}' over {self.samples} sample call(s)",
            f"  {'tensor':28} {'kind':10} {'min':>11} {'max':>11}  {'type':28} {'type range':>23} "
            f"{'overflow':>9}  int bits (now -> suggested)",
        ]
        for t in self.tensors:
            rng = "float" if t.precision.is_float else f"[{t.precision.low:g}, {t.precision.high:g}]"
            now = "-" if t.precision.is_float else str(t.precision.integer)
            lines.append(
                f"  {t.name[:28]:28} {t.kind:10} {t.low:11.4g} {t.high:11.4g}  {t.precision.cpp():28} "
                f"{rng:>23} {t.overflows:9d}  {now} -> {t.suggested_integer_bits}"
            )
        bad = self.overflowing
        lines.append(
            f"  {len(bad)} tensor(s) overflow their type" + (": " + ", ".join(t.name for t in bad) if bad else "")
        )
        return "\n".join(lines)


def profile_hls(
    model: RModel, inputs: Mapping[str, np.ndarray] | None = None, *, samples: int = 100, seed: int = 0, **options: Any
) -> ProfileReport:
    """Run sample data through the float model (onnxruntime) and compare, per tensor, the observed
    range with the range of its fixed-point type; count values outside it and suggest integer bits.

    ``inputs``: {input name: array of shape (calls, *input shape)}; default ``samples`` random calls.
    """
    config = resolve_options(model.options.get("hls"), options, model)
    if inputs is None:
        calls = [random_inputs(model, seed + s) for s in range(samples)]
    else:
        count = len(next(iter(inputs.values())))
        calls = [{k: np.asarray(v)[c] for k, v in inputs.items()} for c in range(count)]
    probe = copy.copy(model)
    names = [o for op in model.operators for o in op.outputs if o and o in model.tensors]
    probe.outputs = [model.tensors[n] for n in names]
    values: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for feeds in calls:
        for n, v in zip(names, run_onnxruntime(probe, feeds)):
            values[n].append(np.asarray(v, dtype=np.float64).ravel())
    result_type = {}
    for op in model.operators:
        cfg = config.for_op(op.name, op.op_type)
        for o in op.outputs:
            result_type[o] = cfg.precision("result")
    tensors = []
    for info in model.inputs:
        data = np.concatenate([np.asarray(c[info.name], dtype=np.float64).ravel() for c in calls])
        tensors.append(_profile(info.name, "input", config.input_precision(), data))
    seen = set()
    for op in model.operators:
        cfg = config.for_op(op.name, op.op_type)
        for pos, name in enumerate(op.inputs):
            if name in model.constants and name not in seen and model.constants[name].dtype.kind == "f":
                seen.add(name)
                role = "bias" if pos == 2 and op.op_type in ("Gemm", "Conv") else "weight"
                tensors.append(_profile(name, role, cfg.precision(role), model.constants[name].astype(np.float64)))
        for name in op.outputs:
            if name in values:
                tensors.append(_profile(name, "activation", result_type[name], np.concatenate(values[name])))
    return ProfileReport(model.name, tensors, len(calls))


def _profile(name: str, kind: str, precision: Precision, data: np.ndarray) -> TensorProfile:
    data = np.asarray(data, dtype=np.float64).ravel()
    low = float(data.min()) if data.size else 0.0
    high = float(data.max()) if data.size else 0.0
    over = 0 if precision.is_float else int(np.count_nonzero((data < precision.low) | (data > precision.high)))
    return TensorProfile(name, kind, precision, low, high, over, int(data.size))
