"""Reports about the HLS design: per-layer resources and timing estimates, and value profiling."""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from rmodel.model import RModel
from rmodel.operators.hls import Cost
from rmodel.verify import random_inputs, run_onnxruntime

from .config import Precision, resolve_options
from .firmware import build_firmware, stage_timing

#: DSP48E2 multiplier operand widths (UltraScale+)
DSP_A_BITS, DSP_B_BITS = 27, 18
#: fixed-point products whose operands both have at most this many bits are built from LUTs
LUT_MULTIPLIER_BITS = 10
#: DSPs of one float multiplier and one float adder (Vitis HLS full-DSP cores)
FLOAT_MUL_DSP, FLOAT_ADD_DSP = 3, 2
#: memories shallower than this are LUTRAM, deeper ones 18-kbit block RAMs of 512 x 36 bits
LUTRAM_MAX_DEPTH = 64


@dataclass(frozen=True)
class LayerEstimate:
    """The cost model's figures for one operator's stage."""

    name: str
    op_type: str
    reuse: int
    strategy: str
    cost: Cost
    dsp: int
    lut_multipliers: int
    bram_18k: int
    lutram_bits: int
    types: str
    notes: tuple[str, ...]


@dataclass(frozen=True)
class DesignEstimate:
    """rmodel's estimate of a whole HLS design (a model of its generated loops, not synthesis)."""

    model_name: str
    io_type: str
    clock_period: float
    part: str
    latency: int
    interval: int
    dsp: int
    lut_multipliers: int
    bram_18k: int
    lutram_bits: int
    skipped_multiplications: int
    layers: tuple[LayerEstimate, ...]

    @property
    def latency_ns(self) -> float:
        return self.latency * self.clock_period


def multiplier_dsps(a: Precision, b: Precision) -> tuple[int, int]:
    """(DSPs, LUT multipliers) of one multiplier of an ``a`` by a ``b`` value."""
    if a.is_float or b.is_float:
        return FLOAT_MUL_DSP + FLOAT_ADD_DSP, 0  # the multiplier and its accumulating adder
    wide, narrow = max(a.width, b.width), min(a.width, b.width)
    if wide <= LUT_MULTIPLIER_BITS:
        return 0, 1
    return math.ceil(wide / DSP_A_BITS) * math.ceil(narrow / DSP_B_BITS), 0


def _memory(values: int, bits: int, banks: int) -> tuple[int, int]:
    """(BRAM18, LUTRAM bits) of ``values`` of ``bits`` each split into ``banks`` parallel banks."""
    if values == 0:
        return 0, 0
    banks = min(max(banks, 1), values)  # parallel readers of the same weights share a bank's word
    depth = math.ceil(values / banks)
    width = bits * banks
    if depth < LUTRAM_MAX_DEPTH:
        return 0, depth * width
    return math.ceil(width / 36) * math.ceil(depth / 512), 0


def estimate(model: RModel, **options: Any) -> DesignEstimate:
    """Per-layer and total estimates of the HLS design ``options`` describe (see ``hls_report``)."""
    config = resolve_options(model.options.get("hls"), options, model)
    fw = build_firmware(model, config, model.default_namespace)
    designs = fw.designs
    layers = []
    for stage in fw.stages:
        if stage.layer is None or stage.cost is None:
            continue
        design = designs[stage.layer]
        cfg, cost = design.config, stage.cost
        weight = cfg.precision("weight")
        source = design.impl.mac_input_precision(cfg, design.input_precisions) or config.input_precision()
        per_dsp, per_lut = multiplier_dsps(source, weight)
        dsp, lut = cost.multipliers * per_dsp, cost.multipliers * per_lut
        bits = 32 if weight.is_float else weight.width
        bram = lutram = 0
        if cost.storage == "rom":
            bram, lutram = _memory(cost.stored, bits, max(1, cost.multipliers))
        if cost.buffered:  # line buffers hold input values
            held = design.input_precisions[0] if design.input_precisions else config.input_precision()
            b2, l2 = _memory(cost.buffered, 32 if held.is_float else held.width, 1)
            bram, lutram = bram + b2, lutram + l2
        types = f"result {cfg.precision('result')}"
        if design.impl.accumulated_terms():
            types = f"w {weight}, acc {cfg.precision('accum')}, " + types
        layers.append(
            LayerEstimate(
                design.op.name,
                design.op.op_type,
                cfg.reuse_factor,
                cfg.strategy,
                cost,
                dsp,
                lut,
                bram,
                lutram,
                types,
                design.notes,
            )
        )
    timing = stage_timing(fw.stages, fw.io_type)
    latency, interval = timing.latency, timing.interval
    return DesignEstimate(
        model.name,
        config.io_type,
        config.clock_period,
        config.part,
        latency,
        interval,
        sum(x.dsp for x in layers),
        sum(x.lut_multipliers for x in layers),
        sum(x.bram_18k for x in layers),
        sum(x.lutram_bits for x in layers),
        sum(x.cost.skipped for x in layers),
        tuple(layers),
    )


def hls_report(model: RModel, **options: Any) -> str:
    """Per-layer multipliers (DSP or LUT by operand widths), memories, latency and interval in
    clock cycles, and the numeric types.

    Estimates are rmodel's model of its generated loops (``operators/hls/cost.py``), not a
    synthesis result.
    """
    est = estimate(model, **options)
    config = resolve_options(model.options.get("hls"), options, model)
    header = ("layer", "op", "reuse", "mults", "DSP", "zeros", "latency", "II", "memory", "types")
    rows = []
    for x in est.layers:
        memory = f"{x.bram_18k} BRAM" if x.bram_18k else (f"{x.lutram_bits} b LUTRAM" if x.lutram_bits else "-")
        mults = f"{x.cost.multipliers}" + (f" ({x.lut_multipliers} LUT)" if x.lut_multipliers else "")
        reuse = f"R={x.reuse} {x.strategy}" if x.cost.multipliers else "-"
        rows.append(
            (
                x.name,
                x.op_type,
                reuse,
                mults,
                str(x.dsp),
                str(x.cost.skipped),
                str(x.cost.latency),
                str(x.cost.interval),
                memory,
                x.types,
            )
        )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = [
        f"HLS report for '{model.name}' ({est.io_type}; estimates of rmodel's model of its generated loops, not "
        f"synthesis results; clock {est.clock_period:g} ns, part {est.part})",
        "  " + "  ".join(h.ljust(w) for h, w in zip(header, widths)) + "  types",
    ]
    for r in rows:
        lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1])
    lines.append(
        f"  total: {est.dsp} DSP, {est.lut_multipliers} LUT multipliers, {est.bram_18k} BRAM18, "
        f"{est.lutram_bits} bits of LUTRAM; {est.skipped_multiplications} multiplications by zero weights skipped"
    )
    lines.append(
        f"  latency ~{est.latency} cycles (~{est.latency_ns / 1000:.3f} us); interval ~{est.interval} cycles "
        f"({1e3 / (est.interval * est.clock_period):.1f} M inferences/s)"
    )
    grouped: dict[str, list[str]] = {}
    for x in est.layers:
        for note in x.notes:
            grouped.setdefault(note, []).append(x.name)
    for note, names in grouped.items():
        lines.append(f"  note: {', '.join(names)}: {note}")
    ranges = sorted({p.cpp(): p for p in config.default.values()}.values(), key=lambda p: p.cpp())
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
