"""HLS options: numeric types per layer and tensor role, reuse factors, lookup tables, tcl settings.

Options come from ``model.options["hls"]`` (so a saved model regenerates identically) overridden
by keyword arguments. Recognised keys:

- ``precision``: default type for every role, e.g. ``"ap_fixed<16,6>"``, ``"ap_fixed<16,6,AP_RND,AP_SAT>"``
  or ``"float"``; or a dict ``{"default": ..., "weight": ..., "bias": ..., "accum": ..., "result": ...,
  "table": ..., "input": ...}``.
- ``layers``: ``{op name or op type: {"precision": str | dict, "reuse_factor": int, "strategy": str,
  "table_size": int, "table_range": float}}`` (a name beats an op type).
- ``io_type``: ``"io_parallel"`` (fully partitioned arrays between layers, one pipelined top
  function: the lowest latency), ``"io_stream"`` (default: a ``DATAFLOW`` top of stages joined by
  ``hls::stream``s whose words carry all channels of a pixel or a whole vector) or ``"io_serial"``
  (the same dataflow moving one scalar per word: the fewest wires, the longest latency).
- ``strategy``: ``"latency"`` (default: weights in registers, every product its own multiplier
  unless the reuse factor limits them) or ``"resource"`` (weights in block RAM reshaped so that
  each multiplier works through ``reuse_factor`` of them, one per clock).
- ``reuse_factor``: each multiplier is used this many times (fewer multipliers); default 1. A
  value that does not divide a layer's products is rounded to the nearest divisor (the report and
  the generated code say so).
- The accumulator type of Gemm/MatMul/Conv/LSTM/GRU (role ``accum``) is derived from the input
  and weight types and the number of terms summed, so sums cannot overflow, unless a precision
  dict names ``accum`` explicitly.
- ``rounding`` / ``saturation``: quantization and overflow modes added to ap_fixed types that
  do not name their own (e.g. ``"AP_RND"``, ``"AP_SAT"``).
- ``table_size`` (1024) and ``table_range`` (8.0): lookup tables of sigmoid/tanh cover
  ``[-range, range)``, softmax's exp table ``[-range, 0]``. When ``table_size / (2 * range)`` is a
  power of two (the defaults: 64 points per unit) sigmoid/tanh index their table with a shift of
  the input's bits instead of a multiplication.
- ``stream_depth``: upper bound of every ``#pragma HLS STREAM`` depth (default: the tensor size).
- ``part``, ``clock_period``: used by build_prj.tcl only.
- ``tb_tolerance``: absolute tolerance of the test bench (default: 1e-6*max(1,|ref|) for float,
  else 0.05*max(1,|ref|)).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rmodel.errors import RModelError

ROLES = ("weight", "bias", "accum", "result", "table", "input")
ROUNDING = ("AP_RND", "AP_RND_ZERO", "AP_RND_MIN_INF", "AP_RND_INF", "AP_RND_CONV", "AP_TRN", "AP_TRN_ZERO")
SATURATION = ("AP_SAT", "AP_SAT_ZERO", "AP_SAT_SYM", "AP_WRAP", "AP_WRAP_SM")
IO_TYPES = ("io_serial", "io_stream", "io_parallel")
STRATEGIES = ("latency", "resource")
KNOWN_OPTIONS = {
    "precision",
    "io_type",
    "strategy",
    "layers",
    "reuse_factor",
    "rounding",
    "saturation",
    "table_size",
    "table_range",
    "stream_depth",
    "part",
    "clock_period",
    "tb_tolerance",
}
DEFAULT_PART = "xcvu9p-flga2104-2-e"
DEFAULT_CLOCK_NS = 5.0

_FIXED = re.compile(
    r"^\s*(ap_fixed|ap_ufixed)\s*<\s*(\d+)\s*,\s*(-?\d+)\s*(?:,\s*(\w+)\s*)?(?:,\s*(\w+)\s*)?(?:,\s*(\d+)\s*)?>\s*$",
    re.ASCII,
)
_INT = re.compile(r"^\s*(ap_int|ap_uint)\s*<\s*(\d+)\s*>\s*$", re.ASCII)


@dataclass(frozen=True)
class Precision:
    """A numeric type of the generated firmware: float or ap_(u)fixed<W, I, Q, O>."""

    width: int = 32
    integer: int = 0
    signed: bool = True
    rounding: str | None = None
    saturation: str | None = None
    is_float: bool = False

    @staticmethod
    def parse(text: str, where: str = "precision") -> Precision:
        if not isinstance(text, str):
            raise RModelError(f"{where}: expected a type name string such as 'ap_fixed<16,6>', got {text!r}")
        t = text.strip()
        if t in ("float", "float32"):
            return Precision(is_float=True)
        m = _INT.match(t)
        if m:
            if not 1 <= int(m.group(2)) <= 1024:
                raise RModelError(f"{where}: width {m.group(2)} of '{text}' must be between 1 and 1024")
            return Precision(int(m.group(2)), int(m.group(2)), m.group(1) == "ap_int")
        m = _FIXED.match(t)
        if not m:
            raise RModelError(
                f"{where}: cannot parse type '{text}'; use 'float', 'ap_fixed<W,I>', 'ap_ufixed<W,I>', "
                "'ap_fixed<W,I,AP_RND,AP_SAT>' or 'ap_int<W>'"
            )
        width, integer = int(m.group(2)), int(m.group(3))
        if not 1 <= width <= 1024:
            raise RModelError(f"{where}: width {width} of '{text}' must be between 1 and 1024")
        if not -1024 <= integer <= 1024:
            raise RModelError(f"{where}: integer bits {integer} of '{text}' must be between -1024 and 1024")
        rnd, sat = m.group(4), m.group(5)
        if rnd is not None and rnd not in ROUNDING:
            raise RModelError(
                f"{where}: unknown rounding mode '{rnd}' in '{text}'; choose one of {', '.join(ROUNDING)}"
            )
        if sat is not None and sat not in SATURATION:
            raise RModelError(
                f"{where}: unknown saturation mode '{sat}' in '{text}'; choose one of {', '.join(SATURATION)}"
            )
        return Precision(width, integer, m.group(1) == "ap_fixed", rnd, sat)

    def with_modes(self, rounding: str | None, saturation: str | None) -> Precision:
        if self.is_float:
            return self
        return Precision(
            self.width, self.integer, self.signed, self.rounding or rounding, self.saturation or saturation
        )

    @property
    def fractional(self) -> int:
        return self.width - self.integer

    @property
    def low(self) -> float:
        if self.is_float:
            return -3.4028234663852886e38
        return -(2.0 ** (self.integer - 1)) if self.signed else 0.0

    @property
    def high(self) -> float:
        if self.is_float:
            return 3.4028234663852886e38
        top = self.integer - 1 if self.signed else self.integer
        return 2.0**top - 2.0 ** (-self.fractional)

    @property
    def step(self) -> float:
        return 0.0 if self.is_float else 2.0 ** (-self.fractional)

    def rounds_to_zero(self, values: np.ndarray) -> np.ndarray:
        """Which ``values`` this type stores as exactly 0 (float: only 0 itself). Modes other than
        truncation and AP_RND count only exact zeros (conservative)."""
        v = np.asarray(values, dtype=np.float64)
        if self.is_float:
            return v == 0.0
        step = self.step
        mode = self.rounding or "AP_TRN"
        if mode == "AP_TRN":
            return (v >= 0.0) & (v < step)
        if mode == "AP_TRN_ZERO":
            return np.abs(v) < step
        if mode == "AP_RND":
            return (v >= -step / 2) & (v < step / 2)
        return v == 0.0

    def cpp(self) -> str:
        if self.is_float:
            return "float"
        base = "ap_fixed" if self.signed else "ap_ufixed"
        args = [str(self.width), str(self.integer)]
        if self.rounding or self.saturation:
            args.append(self.rounding or "AP_TRN")
        if self.saturation:
            args.append(self.saturation)
        return f"{base}<{','.join(args)}>"

    def __str__(self) -> str:
        return self.cpp()


@dataclass
class LayerConfig:
    """Settings of one stage after defaults and overrides are applied."""

    types: dict[str, Precision]
    reuse_factor: int = 1
    table_size: int = 1024
    table_range: float = 8.0
    strategy: str = "latency"
    #: roles whose type the user named (the others may be derived, e.g. an overflow-free accumulator)
    explicit: frozenset[str] = frozenset()

    def precision(self, role: str) -> Precision:
        return self.types[role]


@dataclass
class HlsConfig:
    """All HLS options of one generation."""

    default: dict[str, Precision]
    layers: dict[str, dict[str, Any]] = field(default_factory=dict)
    reuse_factor: int = 1
    rounding: str | None = None
    saturation: str | None = None
    table_size: int = 1024
    table_range: float = 8.0
    stream_depth: int | None = None
    io_type: str = "io_stream"
    strategy: str = "latency"
    #: roles named explicitly by the ``precision`` option (not only through ``default``)
    explicit: frozenset[str] = frozenset()
    part: str = DEFAULT_PART
    clock_period: float = DEFAULT_CLOCK_NS
    tb_tolerance: float | None = None
    #: the options as given (stored in model.options["hls"])
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def is_float(self) -> bool:
        return all(p.is_float for p in self.default.values())

    def for_op(self, name: str, op_type: str) -> LayerConfig:
        types = dict(self.default)
        reuse, size, rng = self.reuse_factor, self.table_size, self.table_range
        strategy, explicit = self.strategy, set(self.explicit)
        for key in (op_type, name):  # a name overrides an op type
            over = self.layers.get(key)
            if not over:
                continue
            if "precision" in over:
                types.update(_role_types(over["precision"], f"layers['{key}'].precision", types))
                explicit |= _explicit_roles(over["precision"])
            reuse = _positive_int(over.get("reuse_factor", reuse), f"layers['{key}'].reuse_factor")
            strategy = _choice(over.get("strategy", strategy), f"layers['{key}'].strategy", STRATEGIES)
            size = _positive_int(over.get("table_size", size), f"layers['{key}'].table_size", MAX_TABLE_SIZE)
            rng = _positive_float(over.get("table_range", rng), f"layers['{key}'].table_range")
        types = {k: v.with_modes(self.rounding, self.saturation) for k, v in types.items()}
        return LayerConfig(types, reuse, size, rng, strategy, frozenset(explicit))

    def input_precision(self) -> Precision:
        return self.default["input"].with_modes(self.rounding, self.saturation)


def _explicit_roles(spec: Any) -> set[str]:
    """Roles a precision spec names by themselves (a string or ``default`` names none of them)."""
    return {r for r in ROLES if r in spec} if isinstance(spec, dict) else set()


def _choice(value: Any, where: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value.lower() not in choices:
        raise RModelError(f"{where} must be one of {', '.join(repr(c) for c in choices)}, got {value!r}")
    return value.lower()


def _role_types(spec: Any, where: str, base: dict[str, Precision] | None = None) -> dict[str, Precision]:
    """Role -> Precision from a type string (all roles) or a dict of roles (``default`` first)."""
    if isinstance(spec, str):
        p = Precision.parse(spec, where)
        return dict.fromkeys(ROLES, p)
    if not isinstance(spec, dict):
        raise RModelError(f"{where}: expected a type string or a dict of roles, got {type(spec).__name__}")
    unknown = sorted(set(spec) - set(ROLES) - {"default"})
    if unknown:
        raise RModelError(f"{where}: unknown role(s) {', '.join(unknown)}; roles are default, {', '.join(ROLES)}")
    out = dict(base or {})
    if "default" in spec:
        out.update(dict.fromkeys(ROLES, Precision.parse(spec["default"], f"{where}['default']")))
    for role in ROLES:
        if role in spec:
            out[role] = Precision.parse(spec[role], f"{where}['{role}']")
    return out


#: upper bounds of integer options (a .rmodel file is untrusted: these reach generated code)
MAX_REUSE_FACTOR = 1 << 20
MAX_TABLE_SIZE = 1 << 20
MAX_STREAM_DEPTH = 1 << 24
_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def _positive_int(value: Any, where: str, limit: int = MAX_REUSE_FACTOR) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RModelError(f"{where} must be a positive integer, got {value!r}")
    if value > limit:
        raise RModelError(f"{where} is {value}; rmodel allows at most {limit}")
    return value


def _positive_float(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1e9:
        raise RModelError(f"{where} must be a positive, finite number, got {value!r}")
    return float(value)


def _part_name(value: Any) -> str:
    """An FPGA part name as Vitis spells them (letters, digits, '-', '_', '.'): it reaches Tcl."""
    if not isinstance(value, str) or not _PART.fullmatch(value):
        raise RModelError(
            f"part must be an FPGA part name of letters, digits, '-', '_' and '.' (such as {DEFAULT_PART!r}), "
            f"got {value!r}"
        )
    return value


def resolve_options(model_options: dict[str, Any] | None, options: dict[str, Any], model: Any = None) -> HlsConfig:
    """Merge ``model.options['hls']`` with keyword options (keywords win) and validate them; with
    ``model``, every ``layers`` key must name one of its operators or op types."""
    if model is not None and getattr(model, "dynamic_batch", False):
        raise RModelError(
            "the HLS target has no dynamic batch (the kernel streams one inference at a time); "
            "load the model with a fixed batch_size (--batch-size N) for target 'hls'"
        )
    raw = copy.deepcopy(dict(model_options or {}))
    raw.update({k: v for k, v in options.items() if v is not None})
    unknown = sorted(set(raw) - KNOWN_OPTIONS)
    if unknown:
        raise RModelError(f"unknown HLS option(s) {', '.join(unknown)}; known: {', '.join(sorted(KNOWN_OPTIONS))}")
    base = dict.fromkeys(ROLES, Precision.parse("ap_fixed<16,6>"))
    default = _role_types(raw.get("precision", "ap_fixed<16,6>"), "precision", base)
    layers = raw.get("layers", {}) or {}
    if not isinstance(layers, dict) or not all(isinstance(v, dict) for v in layers.values()):
        raise RModelError("layers must map an operator name or op type to a dict of settings")
    for key, over in layers.items():
        extra = sorted(set(over) - {"precision", "reuse_factor", "strategy", "table_size", "table_range"})
        if extra:
            raise RModelError(
                f"layers['{key}']: unknown setting(s) {', '.join(extra)}; "
                "known: precision, reuse_factor, strategy, table_size, table_range"
            )
    rounding, saturation = raw.get("rounding"), raw.get("saturation")
    if rounding is not None and rounding not in ROUNDING:
        raise RModelError(f"rounding must be one of {', '.join(ROUNDING)}, got {rounding!r}")
    if saturation is not None and saturation not in SATURATION:
        raise RModelError(f"saturation must be one of {', '.join(SATURATION)}, got {saturation!r}")
    depth = raw.get("stream_depth")
    tol = raw.get("tb_tolerance")
    config = HlsConfig(
        default=default,
        layers=layers,
        reuse_factor=_positive_int(raw.get("reuse_factor", 1), "reuse_factor"),
        rounding=rounding,
        saturation=saturation,
        table_size=_positive_int(raw.get("table_size", 1024), "table_size", MAX_TABLE_SIZE),
        table_range=_positive_float(raw.get("table_range", 8.0), "table_range"),
        stream_depth=None if depth is None else _positive_int(depth, "stream_depth", MAX_STREAM_DEPTH),
        io_type=_choice(raw.get("io_type", "io_stream"), "io_type", IO_TYPES),
        strategy=_choice(raw.get("strategy", "latency"), "strategy", STRATEGIES),
        explicit=frozenset(_explicit_roles(raw.get("precision"))),
        part=_part_name(raw.get("part", DEFAULT_PART)),
        clock_period=_positive_float(raw.get("clock_period", DEFAULT_CLOCK_NS), "clock_period"),
        tb_tolerance=None if tol is None else _positive_float(tol, "tb_tolerance"),
        raw=raw,
    )
    for key, over in layers.items():
        config.for_op(key, key)  # validates every override now, with its name in the message
        del over
    if model is not None:
        known = {op.name for op in model.operators} | {op.op_type for op in model.operators}
        missing = sorted(set(layers) - known)
        if missing:
            raise RModelError(
                f"HLS option layers names {', '.join(repr(m) for m in missing)}, which match no operator name or "
                f"op type of the model (operators: {', '.join(op.name for op in model.operators)}). Operators can be "
                "folded into their neighbours when a model is loaded (e.g. BatchNormalization into a Conv): load it "
                "with optimize=False to keep one operator per ONNX node."
            )
    return config
