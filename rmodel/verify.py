"""Check generated code against onnxruntime on random (or given) inputs."""

from __future__ import annotations

import contextlib
import copy
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx
from onnx import numpy_helper

from .batching import batch_chunks
from .errors import RModelError

if TYPE_CHECKING:
    from .model import RModel

#: float32 criterion: max|got - ref| <= RTOL * max(1, max|ref|)
RTOL = 1e-6
#: against Keras' own predict (another engine, other kernels): scale-relative
KERAS_RTOL = 1e-5


@dataclass
class OutputCheck:
    name: str
    max_abs_diff: float
    max_abs_ref: float
    tolerance: float
    worst_index: tuple[int, ...]
    got: float
    ref: float
    #: max|rmodel - float64 reference| and max|onnxruntime - float64 reference| (float outputs, when
    #: a float64 evaluation of the same ONNX could be run)
    f64_rmodel: float | None = None
    f64_onnxruntime: float | None = None
    #: the same for onnxruntime with only its basic graph optimizations (no layout transformation:
    #: its convolutions then sum in another order); None where it was not needed (the output is
    #: within tolerance) or could not be run
    f64_onnxruntime_basic: float | None = None

    @property
    def within_tolerance(self) -> bool:
        return bool(self.max_abs_diff <= self.tolerance)

    @property
    def f64_onnxruntime_bound(self) -> float | None:
        """onnxruntime's error against float64 at the less accurate of its two optimization levels."""
        if self.f64_onnxruntime is None:
            return None
        return max(self.f64_onnxruntime, self.f64_onnxruntime_basic or 0.0)

    @property
    def as_accurate_as_onnxruntime(self) -> bool:
        """No less accurate than onnxruntime against the float64 evaluation (deep networks, where two
        float32 engines cannot agree to 1e-6 because both round differently at every layer).
        onnxruntime's own error changes with the order its kernels sum in (up to 4.5x between its
        default and its basic optimization level on EfficientNet-B0), so rmodel is compared with the
        less accurate of the two: a model whose rounding is as good as onnxruntime's would otherwise
        fail on about half of all inputs."""
        bound = self.f64_onnxruntime_bound
        return self.f64_rmodel is not None and bound is not None and self.f64_rmodel <= bound

    @property
    def passed(self) -> bool:
        return self.within_tolerance or self.as_accurate_as_onnxruntime

    def result(self) -> str:
        if self.within_tolerance:
            return "ok"
        if self.as_accurate_as_onnxruntime:
            return "ok (as accurate as onnxruntime against float64)"
        return f"FAIL at {self.worst_index}: got {self.got:.9g}, ref {self.ref:.9g}"


@dataclass
class VerifyReport:
    """Per-output comparison of the compiled model with onnxruntime."""

    model_name: str
    checks: list[OutputCheck]
    divergence: str | None = None
    inputs: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    #: comparisons with Keras' own predict (Keras models, when Keras can load the file)
    keras_checks: list[OutputCheck] = field(default_factory=list)
    #: why Keras' predict was not used as a reference for a Keras model (None if it was, or not Keras)
    keras_note: str | None = None
    #: why no float64 evaluation was compared with (None if it was)
    f64_note: str | None = None

    @property
    def ok(self) -> bool:
        return all(c.passed for c in self.checks) and all(c.passed for c in self.keras_checks)

    def raise_if_failed(self) -> VerifyReport:
        if not self.ok:
            raise RModelError(f"verification failed:\n{self}")
        return self

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        lines = [
            f"verify '{self.model_name}' against onnxruntime (criterion max|d| <= {RTOL:g}*max(1, max|ref|), or no "
            "less accurate against a float64 evaluation than onnxruntime at the less accurate of its default and "
            "basic optimization levels)"
        ]
        lines.append(
            f"  {'output':24} {'max|d|':>12} {'tolerance':>12} {'max|ref|':>12} {'f64: rmodel':>12} "
            f"{'onnxruntime':>12} {'(basic opt)':>12}  result"
        )
        for c in self.checks:
            f64 = (
                f"{c.f64_rmodel:12.3e} {c.f64_onnxruntime:12.3e} "
                + (f"{c.f64_onnxruntime_basic:12.3e}" if c.f64_onnxruntime_basic is not None else f"{'-':>12}")
                if c.f64_rmodel is not None and c.f64_onnxruntime is not None
                else f"{'-':>12} {'-':>12} {'-':>12}"
            )
            lines.append(
                f"  {c.name:24} {c.max_abs_diff:12.3e} {c.tolerance:12.3e} {c.max_abs_ref:12.3e} {f64}  {c.result()}"
            )
        if self.f64_note:
            lines.append(f"  (float64 reference not used: {self.f64_note})")
        if self.divergence:
            lines.append(f"  first diverging operator: {self.divergence}")
        if self.keras_checks:
            lines.append(f"and against Keras' own predict (criterion max|d| <= {KERAS_RTOL:g}*max(1, max|ref|))")
            for c in self.keras_checks:
                status = "ok" if c.passed else f"FAIL at {c.worst_index}: got {c.got:.9g}, Keras {c.ref:.9g}"
                lines.append(
                    f"  {c.name:24} {c.max_abs_diff:12.3e} {c.tolerance:12.3e} {c.max_abs_ref:12.3e}  {status}"
                )
        if self.keras_note:
            lines.append(f"Keras reference not used: {self.keras_note}")
        return "\n".join(lines)


def random_inputs(
    model: RModel,
    seed: int = 0,
    *,
    rng: np.random.Generator | None = None,
    int_high: int = 2,
    samples: int | None = None,
) -> dict[str, np.ndarray]:
    """Seeded inputs: floats uniform in [-1, 1), integers in [0, int_high), booleans at random.

    ``samples`` replaces the first (batch) axis of every input (for any-count and dynamic-batch runs).
    """
    rng = rng if rng is not None else np.random.default_rng(seed)
    feeds = {}
    for info in model.inputs:
        shape = info.shape if samples is None else (samples, *info.shape[1:])
        if np.issubdtype(info.dtype, np.floating):
            feeds[info.name] = rng.uniform(-1, 1, shape).astype(info.dtype)
        elif info.dtype == np.bool_:
            feeds[info.name] = rng.integers(0, 2, shape).astype(bool)
        else:
            feeds[info.name] = rng.integers(0, int_high, shape).astype(info.dtype)
    return feeds


def dynamic_reference(
    model: RModel,
    feeds: Mapping[str, np.ndarray],
    run: Callable[[onnx.ModelProto, Mapping[str, np.ndarray]], list[np.ndarray]] | None = None,
) -> list[np.ndarray]:
    """onnxruntime's outputs for ``feeds`` (any number of samples) on a dynamic-batch model: every
    chunk of ``batch_chunks`` run through the ONNX form of the kernel that computes it (by ``run``,
    default ``onnxruntime_run``)."""
    run = run or onnxruntime_run
    count = int(next(iter(feeds.values())).shape[0])
    parts: list[list[np.ndarray]] = []
    onnx_forms: dict[int, onnx.ModelProto] = {}
    for kernel, start in batch_chunks(model, count):
        size = kernel.batch_size
        proto = onnx_forms.setdefault(size, kernel.to_onnx())
        chunk = {name: value[start : start + size] for name, value in feeds.items()}
        parts.append(run(proto, chunk))
    if not parts:
        return [np.empty((0, *o.shape[1:]), dtype=o.dtype) for o in model.outputs]
    return [np.concatenate([p[k] for p in parts]) for k in range(len(model.outputs))]


def dynamic_counts(model: RModel) -> list[int]:
    """Sample counts that run every kernel of a dynamic-batch model alone, and all in one call."""
    return sorted(set(model.batch_sizes)) + [sum(model.batch_sizes)]


def onnxruntime_session(model: onnx.ModelProto | str | os.PathLike, basic: bool = False) -> Any:
    """An onnxruntime session on the CPU with one thread and quiet logs: the reference engine of
    every comparison (the generated code is single-threaded too). ``model``: a ModelProto or a path.
    ``basic``: only onnxruntime's basic graph optimizations (its default is all of them)."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise RModelError("verification needs onnxruntime: pip install onnxruntime") from exc
    options = ort.SessionOptions()
    if basic:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    source = model.SerializeToString() if isinstance(model, onnx.ModelProto) else os.fspath(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def onnxruntime_run(
    proto: onnx.ModelProto, feeds: Mapping[str, np.ndarray], outputs: Sequence[str] | None = None
) -> list[np.ndarray]:
    """Run an ONNX model in onnxruntime (``onnxruntime_session``)."""
    return onnxruntime_session(proto).run(list(outputs) if outputs else None, dict(feeds))


def run_onnxruntime(
    model: RModel, feeds: Mapping[str, np.ndarray], outputs: Sequence[str] | None = None
) -> list[np.ndarray]:
    """Run an RModel's ONNX form (``model.to_onnx()``) in onnxruntime."""
    return onnxruntime_run(model.to_onnx(), feeds, outputs)


def compare(name: str, got: np.ndarray, ref: np.ndarray, rtol: float = RTOL) -> OutputCheck:
    got = np.asarray(got)
    ref = np.asarray(ref)
    if got.shape != ref.shape:
        raise RModelError(f"output '{name}': shape {got.shape} differs from onnxruntime's {ref.shape}")
    if ref.size == 0:
        return OutputCheck(name, 0.0, 0.0, 0.0, (), 0.0, 0.0)
    g = got.astype(np.float64)
    r = ref.astype(np.float64)
    with np.errstate(invalid="ignore"):  # inf - inf: handled below
        diff = np.abs(g - r)
    # NaN in the same place counts as equal; NaN against a number as infinitely wrong
    both_nan = np.isnan(g) & np.isnan(r)
    diff = np.where(both_nan, 0.0, np.where(np.isnan(diff), np.inf, diff))
    same_inf = np.isinf(g) & np.isinf(r) & (np.sign(g) == np.sign(r))
    diff = np.where(same_inf, 0.0, diff)
    worst = np.unravel_index(int(np.argmax(diff)), diff.shape)
    finite_ref = np.abs(r[np.isfinite(r)])
    max_ref = float(finite_ref.max()) if finite_ref.size else 0.0
    exact = not np.issubdtype(ref.dtype, np.floating)
    tolerance = 0.0 if exact else rtol * max(1.0, max_ref)
    return OutputCheck(
        name, float(diff[worst]), max_ref, tolerance, tuple(int(i) for i in worst), float(g[worst]), float(r[worst])
    )


def verify(
    model: RModel,
    inputs: Mapping[str, np.ndarray] | None = None,
    *,
    seed: int = 0,
    binding: str = "pybind11",
    compiled: Any = None,
    diagnose: bool = True,
    **compile_options: Any,
) -> VerifyReport:
    """Run ``model`` compiled and through onnxruntime on the same inputs and compare every output.

    On a mismatch (and with ``diagnose``) the report names the first operator whose output
    differs, found by building a variant of the model that returns every intermediate tensor.
    """
    if model.dynamic_batch:
        return _verify_dynamic(model, inputs, seed, binding, compiled, diagnose, compile_options)
    feeds = dict(inputs) if inputs is not None else random_inputs(model, seed)
    missing = [i.name for i in model.inputs if i.name not in feeds]
    if missing:
        raise RModelError(f"verify: no value given for input(s) {missing}")
    net = compiled if compiled is not None else model.compile(binding=binding, **compile_options)
    got = net.predict(*[feeds[n] for n in model.input_names])
    got = [got] if len(model.outputs) == 1 else list(got)
    proto = model.to_onnx()
    ref = onnxruntime_run(proto, feeds)
    checks = [compare(o.name, g, r) for o, g, r in zip(model.outputs, got, ref)]
    report = VerifyReport(model.name, checks, inputs=feeds)
    add_float64_reference(report, proto, feeds, got, ref)
    if not report.ok and diagnose:
        report.divergence = first_divergence(model, feeds, binding, **compile_options)
    return report


def to_float64(proto: onnx.ModelProto) -> onnx.ModelProto:
    """The same model computing in float64: float32 weights, inputs, outputs, Cast targets and
    constant attributes become float64 (inputs are given as float64 copies of the float32 ones)."""
    out = onnx.ModelProto()
    out.CopyFrom(proto)
    float32, float64 = onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE

    def tensor(t: onnx.TensorProto) -> None:
        if t.data_type == float32:
            t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float64), t.name))

    def graph(g: onnx.GraphProto) -> None:
        for t in g.initializer:
            tensor(t)
        for vi in [*g.input, *g.output, *g.value_info]:
            if vi.type.tensor_type.elem_type == float32:
                vi.type.tensor_type.elem_type = float64
        for node in g.node:
            for attr in node.attribute:
                if node.op_type in ("Cast", "EyeLike", "RandomNormal", "RandomUniform") and attr.name in (
                    "to",
                    "dtype",
                ):
                    if attr.i == float32:
                        attr.i = float64
                elif attr.type == onnx.AttributeProto.TENSOR:
                    tensor(attr.t)
                elif attr.type == onnx.AttributeProto.GRAPH:
                    graph(attr.g)
                elif attr.type == onnx.AttributeProto.GRAPHS:
                    for sub in attr.graphs:
                        graph(sub)

    graph(out.graph)
    return out


def float64_reference(proto: onnx.ModelProto, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """The outputs of ``proto`` evaluated in float64: onnxruntime on a float64 copy, or onnx's
    reference evaluator for ops onnxruntime has no float64 kernel for. Raises RModelError if neither runs."""
    wide = to_float64(proto)
    feeds64 = {k: v.astype(np.float64) if v.dtype == np.float32 else v for k, v in feeds.items()}
    try:
        return onnxruntime_session(wide).run(None, feeds64)
    except Exception as ort_error:  # NOT_IMPLEMENTED kernels for double, type constraints, ...
        try:
            from onnx.reference import ReferenceEvaluator

            from .reference_ops import REFERENCE_OVERRIDES

            evaluator = ReferenceEvaluator(wide, new_ops=REFERENCE_OVERRIDES)
            return [np.asarray(r) for r in evaluator.run(None, feeds64)]
        except Exception as ref_error:
            raise RModelError(
                f"neither onnxruntime ({str(ort_error).splitlines()[0][:120]}) nor onnx's reference evaluator "
                f"({type(ref_error).__name__}: {str(ref_error)[:120]}) evaluates the model in float64"
            ) from ref_error


def add_float64_reference(
    report: VerifyReport,
    proto: onnx.ModelProto,
    feeds: Mapping[str, np.ndarray],
    got: Sequence[np.ndarray],
    ref: Sequence[np.ndarray],
) -> None:
    """Record both engines' max error against the float64 evaluation of ``proto`` in the checks of
    float outputs (a check then also passes when rmodel is no less accurate than onnxruntime):
    onnxruntime's at its default optimization level (``ref``) and at its basic one."""
    if not any(np.issubdtype(np.asarray(r).dtype, np.floating) for r in ref):
        return
    try:
        exact = float64_reference(proto, feeds)
    except RModelError as exc:
        report.f64_note = str(exc)
        return
    basic: Sequence[np.ndarray | None] = [None] * len(ref)
    if not all(c.within_tolerance for c in report.checks):  # only then can the bound decide
        # if it cannot run, the default level (ref) is compared with alone
        with contextlib.suppress(Exception):
            basic = onnxruntime_basic_run(proto, feeds)
    record_float64_errors(report.checks, got, ref, basic, exact)


def onnxruntime_basic_run(proto: onnx.ModelProto, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """``proto`` run by onnxruntime with only its basic graph optimizations."""
    return onnxruntime_session(proto, basic=True).run(None, dict(feeds))


def record_float64_errors(
    checks: Sequence[OutputCheck],
    got: Sequence[np.ndarray],
    ref: Sequence[np.ndarray],
    basic: Sequence[np.ndarray | None],
    exact: Sequence[np.ndarray],
) -> None:
    """Fill the float64 error fields of the checks of float outputs."""
    for check, g, r, b, e in zip(checks, got, ref, basic, exact):
        if not np.issubdtype(np.asarray(r).dtype, np.floating) or np.asarray(e).shape != np.asarray(r).shape:
            continue
        check.f64_rmodel = _max_error(np.asarray(g), np.asarray(e))
        check.f64_onnxruntime = _max_error(np.asarray(r), np.asarray(e))
        if b is not None:
            check.f64_onnxruntime_basic = _max_error(np.asarray(b), np.asarray(e))


def _max_error(values: np.ndarray, exact: np.ndarray) -> float:
    """max|values - exact| over the finite reference values (NaN/inf positions must agree exactly)."""
    values, exact = values.astype(np.float64), exact.astype(np.float64)
    finite = np.isfinite(exact)
    mismatch = ~finite & ~((values == exact) | (np.isnan(values) & np.isnan(exact)))
    if mismatch.any():
        return float("inf")
    diff = np.abs(values[finite] - exact[finite])
    return float(np.max(np.where(np.isnan(diff), np.inf, diff), initial=0.0))


def _verify_dynamic(
    model: RModel,
    inputs: Mapping[str, np.ndarray] | None,
    seed: int,
    binding: str,
    compiled: Any,
    diagnose: bool,
    compile_options: dict[str, Any],
) -> VerifyReport:
    """``verify`` for a dynamic batch: every kernel alone and all kernels in one call (or the given
    inputs, any number of samples), each against onnxruntime on the same split of the samples."""
    net = compiled if compiled is not None else model.compile(binding=binding, **compile_options)
    if inputs is not None:
        missing = [i.name for i in model.inputs if i.name not in inputs]
        if missing:
            raise RModelError(f"verify: no value given for input(s) {missing}")
        runs = [{n: np.asarray(inputs[n]) for n in model.input_names}]
    else:
        rng = np.random.default_rng(seed)
        runs = [random_inputs(model, rng=rng, samples=count) for count in dynamic_counts(model)]
    checks = []
    f64_note = None
    for feeds in runs:
        count = int(feeds[model.input_names[0]].shape[0])
        got = net.predict(*[feeds[n] for n in model.input_names])
        got = [got] if len(model.outputs) == 1 else list(got)
        ref = dynamic_reference(model, feeds)
        run_checks = [compare(f"{o.name} (n={count})", g, r) for o, g, r in zip(model.outputs, got, ref)]
        checks += run_checks
        if count and any(np.issubdtype(np.asarray(r).dtype, np.floating) for r in ref):
            try:
                exact = dynamic_reference(model, feeds, float64_reference)
            except RModelError as exc:
                f64_note = str(exc)
            else:
                basic: Sequence[np.ndarray | None] = [None] * len(ref)
                if not all(c.within_tolerance for c in run_checks):
                    with contextlib.suppress(Exception):  # as in add_float64_reference
                        basic = dynamic_reference(model, feeds, onnxruntime_basic_run)
                record_float64_errors(run_checks, got, ref, basic, exact)
    report = VerifyReport(model.name, checks, inputs=runs[-1], f64_note=f64_note)
    if not report.ok and diagnose:
        for kernel in [model, *model.batch_variants]:
            static = copy.copy(kernel)
            static.dynamic_batch, static.batch_variants = False, []
            report.divergence = first_divergence(static, random_inputs(static, seed), binding)
            if report.divergence:
                report.divergence = f"(batch kernel {kernel.batch_size}) {report.divergence}"
                break
    return report


def first_divergence(
    model: RModel, feeds: Mapping[str, np.ndarray], binding: str = "ctypes", **compile_options: Any
) -> str | None:
    """Name the first operator whose output differs from onnxruntime's, or None (the probe is built
    with the same ``compile_options``, e.g. ``weights="file"``, as the model being verified)."""
    probe = copy.copy(model)
    names = [o for op in model.operators for o in op.outputs if o and o in model.tensors]
    probe.outputs = [model.tensors[n] for n in names]
    probe.options = dict(model.options)
    try:
        got = probe.compile(binding=binding, **compile_options).predict(*[feeds[n] for n in model.input_names])
        ref = run_onnxruntime(probe, feeds)
    except Exception as exc:  # diagnosis must never hide the original report
        return f"(diagnosis failed: {exc})"
    got = [got] if len(names) == 1 else list(got)
    by_name = dict(zip(names, zip(got, ref)))
    for op in model.operators:
        for out in op.outputs:
            if out in by_name and not compare(out, *by_name[out]).passed:
                check = compare(out, *by_name[out])
                return (
                    f"{op.name} ({op.op_type}) output '{out}': max|d| {check.max_abs_diff:.3e} > {check.tolerance:.3e}"
                )
    return None


def _load_keras(path: str) -> Any:
    """The Keras model in ``path`` loaded by Keras itself (Keras 3, else tf-keras for old .h5)."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's start-up chatter
    errors = []
    for module in ("keras", "tf_keras"):
        try:
            keras = __import__(module)
        except ImportError:
            errors.append(f"{module} is not installed")
            continue
        try:
            return keras.models.load_model(path, compile=False)
        except Exception as exc:  # unknown layers, version mismatches, ...
            errors.append(f"{module} cannot load it ({type(exc).__name__}: {str(exc)[:200]})")
    raise RModelError("; ".join(errors))


def add_keras_reference(report: VerifyReport, model: RModel, path: str) -> VerifyReport:
    """Compare the compiled model with Keras' own ``predict`` on the report's inputs (when Keras is
    installed and loads the file), so a wrong Keras-to-ONNX translation cannot pass unnoticed."""
    try:
        keras_model = _load_keras(path)
    except RModelError as exc:
        report.keras_note = str(exc)
        return report
    feeds = [report.inputs[n] for n in model.input_names]
    try:
        ref = keras_model.predict(feeds if len(feeds) > 1 else feeds[0], verbose=0)
    except Exception as exc:
        report.keras_note = f"Keras' predict failed ({type(exc).__name__}: {str(exc)[:200]})"
        return report
    refs = list(ref) if isinstance(ref, (list, tuple)) else [ref]
    net = model.compile(binding="ctypes")
    got = net.predict(*feeds)
    got = [got] if len(model.outputs) == 1 else list(got)
    if len(refs) != len(got):
        report.keras_note = f"Keras gives {len(refs)} outputs, the converted model {len(got)}"
        return report
    try:
        refs = [np.asarray(r, dtype=g.dtype).reshape(g.shape) for g, r in zip(got, refs)]
    except ValueError as exc:
        report.keras_note = f"Keras' outputs do not have the converted model's shapes ({exc})"
        return report
    report.keras_checks = [compare(o.name, g, r, KERAS_RTOL) for o, g, r in zip(model.outputs, got, refs)]
    return report
