"""The ONNX backend node test cases as a second oracle (after onnxruntime): load, compile and run a
case, compare with the outputs the case expects, and say why when it cannot be run.

The onnx wheel does not ship ``onnx/backend/test/data/node``; ``collect_testcases`` builds the same
cases in memory from onnx's own numpy definitions (one node per model, or the node expanded into its
ONNX function body: ``*_expanded``). Used by ``tests/test_onnx_backend_nodes.py`` and
``benchmarks/onnx_backend_nodes.py``.

What is run, and how it is judged:

- A case is **in scope** when the loader accepts its operators: every node is an operator rmodel
  generates code for or is folded at load time (``Constant``, ``Shape`` of a fixed shape...). The
  others (``unsupported``) are counted but not run.
- Inputs whose dims the model leaves symbolic get the shapes of the case's data (``input_shapes``).
- A **run-time argument** rmodel needs at generation time (axes, shapes, pads, scales, Clip bounds,
  ...) is refused by design; the case is then tried again with that input turned into an
  initializer holding the case's value (``frozen``), as a model exported with fixed shapes has it.
  So is an empty argument (empty axes, the ``like`` of CastLike): rmodel refuses empty inputs, not
  empty initializers. A data input is never frozen.
- A case rmodel cannot support by design is **refused**: an RModelError at load time whose message
  matches one of ``REFUSALS``. Any other exception, or a refusal no pattern knows, is a failure.
- The compiled code runs on the case's inputs; every output must have the expected dtype and shape,
  floats within ``max|d| <= 1e-6 * max(1, max|ref|)`` (NaN where NaN is expected), integers and
  booleans exactly. The case's own rtol/atol (1e-3/1e-7) are not used: onnx computes most
  references in float64 and rounds them once, which the criterion allows for. The exceptions are
  listed in the test (``ONNXRUNTIME_REFERENCE``, with the reason: expected outputs written with 4
  decimals, a reference that differs from onnxruntime) and compared with onnxruntime instead.
- Cases run in chunks of up to ``CHUNK`` compiled into one library (see ``run_chunk``).
"""

from __future__ import annotations

import functools
import re
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import onnx
from helpers import TEST_FLAGS
from onnx import numpy_helper

import rmodel
from rmodel.errors import RModelError, UnsupportedOperatorError
from rmodel.operators import REGISTRY
from rmodel.verify import compare, onnxruntime_run

#: refusal category -> patterns of the RModelError messages that mean it. Every category is a
#: documented limit of rmodel (README.md, "Supported operators"); a message matching none of them is
#: a failure, so a new kind of refusal is looked at before it is accepted.
REFUSALS: dict[str, tuple[str, ...]] = {
    "data type rmodel does not support (float16, bfloat16, float8, int4, uint16-64, string, ...)": (
        r"has data type \w+, which rmodel does not support",
    ),
    "operator given a type it does not implement (float64, integers, bool)": (
        r"must be float32, got",
        r"only float32 (is|\w+ is) supported",
        r"integer \w+ is not supported",
        r"must be float32 or integer, got",
    ),
    "sequence, map or optional values": (r"is not a tensor \(sequences and maps are not supported\)",),
    "training mode": (r"training_mode", r"training-mode statistics"),
    "run-time argument rmodel needs at generation time": (
        r"must be a constant known at generation time",
        r"is computed at run time",
    ),
    "empty tensor": (r"does not support empty tensors", r"input_shapes\[.*\] = .* must be all positive"),
    "attribute or mode rmodel does not implement": (
        r"has attribute\(s\) .* that rmodel does not support",
        r"mode '\w+' is not supported",
        r"coordinate_transformation_mode '\w+' is not supported",
        r"antialias=1 is not supported",
        r"only keep_aspect_ratio_policy='stretch' is supported",
        r"uses an ellipsis",
        r"the optional Indices output .* is not supported",
        r"attribute block_size=\d+ is not supported",
    ),
}

_RUNTIME_ARGUMENT = re.compile("|".join(REFUSALS["run-time argument rmodel needs at generation time"]))
_NODE = re.compile(r"node '(?P<node>[^']*)' \((?P<op>[\w:.]+)\)")
_INPUT_INDEX = re.compile(r"input (?P<index>\d+)")
_QUOTED = re.compile(r"'([^']+)'")
#: an empty input (an argument such as empty axes is frozen: initializers may be empty)
_EMPTY = re.compile(r"input '(?P<input>[^']+)' has size 0|input_shapes\['(?P<input2>[^']+)'\] = \(.*\) must be all")
#: the suffix of a case that runs its node expanded into the ONNX function that defines it
EXPANDED = re.compile(r"_expanded(_ver\d+)?$")


def refusal_category(message: str) -> str | None:
    for category, patterns in REFUSALS.items():
        if any(re.search(p, message) for p in patterns):
            return category
    return None


@functools.cache
def cases() -> dict[str, Any]:
    """Every node test case of the installed onnx, by name."""
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return {case.name: case for case in collect_testcases(None)}


@functools.cache
def operators() -> dict[str, str]:
    """Case name -> the ONNX operator it tests (an ``*_expanded`` case: its base case's)."""
    single = {}
    for name, case in cases().items():
        nodes = case.model.graph.node
        if len(nodes) == 1:
            node = nodes[0]
            single[name] = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}::{node.op_type}"
    return {name: single.get(EXPANDED.sub("", name), "?") for name in cases()}


def _array(value: Any) -> Any:
    return numpy_helper.to_array(value) if isinstance(value, onnx.TensorProto) else value


@dataclass
class Outcome:
    """What happened to one case."""

    name: str
    operator: str
    #: passed | failed | refused | unsupported
    status: str
    #: refusal category, or what failed
    reason: str = ""
    #: the rmodel message (refused, unsupported) or the mismatch (failed)
    detail: str = ""
    #: inputs turned into initializers (run-time arguments rmodel needs at generation time)
    frozen: list[str] = field(default_factory=list)


def _ancestors(graph: onnx.GraphProto, tensor: str) -> set[str]:
    """Tensors ``tensor`` is computed from (itself included)."""
    producers = {out: node for node in graph.node for out in node.output if out}
    seen, todo = set(), [tensor]
    while todo:
        name = todo.pop()
        if name in seen or not name:
            continue
        seen.add(name)
        if name in producers:
            todo.extend(producers[name].input)
    return seen


def _inputs_to_freeze(model: onnx.ModelProto, message: str, feeds: dict[str, np.ndarray]) -> list[str]:
    """The graph inputs a "must be known at generation time" refusal asks for, found from the node
    and input index (or the quoted input name) the message gives; never the node's data input."""
    graph = model.graph
    found = _NODE.search(message)
    if not found:
        return []
    used: set[str] = set()
    node = None
    for index, candidate in enumerate(graph.node):  # the loader's node names
        name = candidate.name or f"{candidate.op_type.lower()}_{index}"
        if name in used:
            name = f"{name}_{index}"
        used.add(name)
        if name == found["node"]:
            node = candidate
            break
    if node is None:
        return []
    wanted = set()
    index = _INPUT_INDEX.search(message[found.end() :])
    if index and int(index["index"]) < len(node.input):
        wanted.add(node.input[int(index["index"])])
    wanted.update(q for q in _QUOTED.findall(message[found.end() :]) if q in node.input)
    data = _ancestors(graph, node.input[0]) if node.input else set()
    freeze = set()
    for tensor in wanted:
        sources = {t for t in _ancestors(graph, tensor) if t in feeds}
        if sources and not sources & data:
            freeze |= sources
    return sorted(freeze)


def _arguments(graph: onnx.GraphProto, names: list[str]) -> list[str]:
    """Those of ``names`` that no node reads as (or computes from into) its first, data, input."""
    data = set().union(*(_ancestors(graph, node.input[0]) for node in graph.node if node.input))
    return [n for n in names if n not in data]


def _freeze(model: onnx.ModelProto, names: list[str], feeds: dict[str, np.ndarray]) -> onnx.ModelProto:
    frozen = onnx.ModelProto()
    frozen.CopyFrom(model)
    keep = [vi for vi in frozen.graph.input if vi.name not in names]
    del frozen.graph.input[:]
    frozen.graph.input.extend(keep)
    frozen.graph.initializer.extend(numpy_helper.from_array(np.asarray(feeds[n]), n) for n in names)
    return frozen


@dataclass
class Prepared:
    """A case loaded by rmodel (``model`` is None when it is not run: refused, unsupported, failed)."""

    outcome: Outcome
    #: the case's model with its frozen inputs turned into initializers
    proto: onnx.ModelProto | None = None
    #: shapes of the inputs the model leaves symbolic
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    #: every input of the case (frozen ones included)
    feeds: dict[str, Any] = field(default_factory=dict)
    model: rmodel.RModel | None = None


@functools.cache
def prepare(name: str) -> Prepared:
    """Load case ``name``: freeze the run-time arguments rmodel asks for, classify refusals."""
    case = cases()[name]
    op = operators()[name]
    model = case.model
    outcome = Outcome(name, op, "passed")
    if op not in REGISTRY and not EXPANDED.search(name):
        return Prepared(_set(outcome, "unsupported", op, f"rmodel does not implement {op}", []))
    inputs, _ = case.data_sets[0]
    feeds = {vi.name: _array(v) for vi, v in zip(model.graph.input, inputs)}
    shapes = {  # inputs with symbolic or empty axes: the case's shapes (the loader refuses empty ones)
        vi.name: feeds[vi.name].shape
        for vi in model.graph.input
        if isinstance(feeds.get(vi.name), np.ndarray)
        and vi.type.HasField("tensor_type")
        and (
            not vi.type.tensor_type.HasField("shape")
            or any(not d.HasField("dim_value") or d.dim_value == 0 for d in vi.type.tensor_type.shape.dim)
        )
    }
    frozen: list[str] = []
    for _attempt in range(8):
        try:
            m = rmodel.from_onnx(model, input_shapes={n: s for n, s in shapes.items() if n not in frozen})
        except UnsupportedOperatorError as exc:
            return Prepared(_set(outcome, "unsupported", ", ".join(sorted(exc.unsupported)), str(exc), frozen))
        except RModelError as exc:
            message = f"{type(exc).__name__}: {exc}"
            more = []
            if _RUNTIME_ARGUMENT.search(str(exc)):
                more = _inputs_to_freeze(model, str(exc), feeds)
            elif empty := _EMPTY.search(str(exc)):
                more = _arguments(model.graph, [empty["input"] or empty["input2"]])
            if more:
                frozen += more
                model = _freeze(model, more, feeds)
                continue
            category = refusal_category(str(exc))
            if category is None or "is malformed" in str(exc):
                return Prepared(_set(outcome, "failed", "refusal no REFUSALS pattern knows", message, frozen))
            return Prepared(_set(outcome, "refused", category, message, frozen))
        except Exception as exc:  # a crash while loading: a bug
            return Prepared(_set(outcome, "failed", "load crashed", f"{type(exc).__name__}: {exc}", frozen))
        outcome.frozen = frozen
        shapes = {n: s for n, s in shapes.items() if n not in frozen}
        return Prepared(outcome, model, shapes, feeds, m)
    return Prepared(_set(outcome, "failed", "freezing did not converge", "", frozen))


def _set(outcome: Outcome, status: str, reason: str, detail: str, frozen: list[str]) -> Outcome:
    outcome.status, outcome.reason, outcome.detail, outcome.frozen = status, reason, detail[:2000], frozen
    return outcome


def compare_outputs(got: list[np.ndarray], expected: list[Any], names: list[str]) -> str | None:
    """None if every output matches (dtype, shape, values), else what differs."""
    problems = []
    for name, g, e in zip(names, got, expected):
        e = np.asarray(_array(e))
        if g.dtype != e.dtype:
            problems.append(f"'{name}': dtype {g.dtype}, expected {e.dtype}")
        elif g.shape != e.shape:
            problems.append(f"'{name}': shape {g.shape}, expected {e.shape}")
        else:
            check = compare(name, g, e)
            if not check.passed:
                problems.append(
                    f"'{name}': max|d| {check.max_abs_diff:.3e} > {check.tolerance:.3e} at {check.worst_index} "
                    f"(got {check.got:.9g}, expected {check.ref:.9g})"
                )
    return "; ".join(problems) or None


def _expected(name: str, output_names: list[str], onnxruntime_reference: bool) -> list[Any]:
    case = cases()[name]
    if onnxruntime_reference:
        return onnxruntime_run(case.model, prepare(name).feeds, output_names)
    return list(case.data_sets[0][1])


def _judge(name: str, got: list[np.ndarray], output_names: list[str], onnxruntime_reference: bool) -> str | None:
    """What is wrong with the outputs ``got`` of case ``name``, or None. A case compared with
    onnxruntime that matches its own expected outputs as well is wrong too: it needs no exception."""
    problem = compare_outputs(got, _expected(name, output_names, onnxruntime_reference), output_names)
    if (
        problem is None
        and onnxruntime_reference
        and not compare_outputs(got, _expected(name, output_names, False), output_names)
    ):
        return "it matches its expected outputs too: compare it with them (no onnxruntime reference needed)"
    return problem


def run_case(name: str, onnxruntime_reference: bool = False) -> Outcome:
    """Load, compile, run and compare one case with its expected outputs (or with onnxruntime's on
    the same inputs)."""
    prepared = prepare(name)
    outcome = Outcome(**asdict(prepared.outcome))
    m = prepared.model
    if m is None:
        return outcome
    try:
        net = m.compile(binding="ctypes", flags=TEST_FLAGS)
        got = net.predict(*[prepared.feeds[n] for n in m.input_names])
    except Exception as exc:
        return _set(outcome, "failed", "compile or run failed", f"{type(exc).__name__}: {exc}", outcome.frozen)
    got = list(got) if isinstance(got, tuple) else [got]
    problem = _judge(name, got, m.output_names, onnxruntime_reference)
    if problem:
        return _set(outcome, "failed", "outputs differ", problem, outcome.frozen)
    return outcome


# ---- many cases in one compiled library ---------------------------------------------------------
# Compiling a case takes ~0.4 s, most of it g++ reading the standard headers; one library for a
# chunk of cases (their graphs side by side, names prefixed) pays that once. Cases share a library
# only when they have the same opsets. A chunk that does not load, compile or run as a whole falls
# back to one library per case, and a case that differs in a chunk is run alone to say whether it
# also differs there.

#: cases compiled into one library
CHUNK = 16


def _merge(parts: list[tuple[str, onnx.ModelProto]]) -> onnx.ModelProto:
    """One model running the graphs of ``parts`` (same opsets) side by side, names prefixed."""
    graph = onnx.GraphProto(name="onnx_backend_chunk")
    for prefix, model in parts:
        g = model.graph
        for field_name in ("input", "output", "value_info", "initializer"):
            for item in getattr(g, field_name):
                copy = getattr(graph, field_name).add()
                copy.CopyFrom(item)
                copy.name = prefix + item.name
        for node in g.node:
            copy = graph.node.add()
            copy.CopyFrom(node)
            copy.name = prefix + node.name if node.name else ""
            for names in (copy.input, copy.output):
                renamed = [prefix + n if n else n for n in names]
                del names[:]
                names.extend(renamed)
    first = parts[0][1]
    return onnx.helper.make_model(
        graph, opset_imports=list(first.opset_import), ir_version=max(m.ir_version for _, m in parts)
    )


def _mergeable(proto: onnx.ModelProto) -> bool:
    return not proto.functions and not any(
        a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for n in proto.graph.node for a in n.attribute
    )


@functools.cache
def chunks() -> list[tuple[str, ...]]:
    """The cases rmodel runs, in chunks of up to CHUNK cases with the same opsets."""
    groups: dict[tuple, list[str]] = {}
    alone = []
    for name in cases():
        prepared = prepare(name)
        if prepared.model is None:
            continue
        assert prepared.proto is not None
        if not _mergeable(prepared.proto):
            alone.append((name,))
            continue
        key = tuple(sorted((i.domain, i.version) for i in prepared.proto.opset_import))
        groups.setdefault(key, []).append(name)
    out = [tuple(names[k : k + CHUNK]) for names in groups.values() for k in range(0, len(names), CHUNK)]
    return out + alone


@functools.cache
def run_chunk(names: tuple[str, ...], onnxruntime_reference: frozenset[str] = frozenset()) -> dict[str, Outcome]:
    """Outcomes of the cases ``names`` compiled into one library (``onnxruntime_reference``: the
    cases compared with onnxruntime rather than with their expected outputs)."""
    prefixes = {name: f"c{k}_" for k, name in enumerate(names)}
    parts = [(prefixes[n], prepare(n).proto) for n in names]
    try:
        if len(names) == 1:
            raise ValueError("one case: no merging")
        shapes = {prefixes[n] + i: s for n in names for i, s in prepare(n).shapes.items()}
        feeds = {prefixes[n] + i: v for n in names for i, v in prepare(n).feeds.items()}
        m = rmodel.from_onnx(_merge(parts), input_shapes=shapes, name="onnx_backend_chunk")  # type: ignore[arg-type]
        net = m.compile(binding="ctypes", flags=TEST_FLAGS)
        got = net.predict(*[feeds[n] for n in m.input_names])
    except Exception:
        return {n: run_case(n, n in onnxruntime_reference) for n in names}
    got_by_name = dict(zip(m.output_names, list(got) if isinstance(got, tuple) else [got]))
    outcomes = {}
    for name in names:
        outcome = Outcome(**asdict(prepare(name).outcome))
        outputs = [o.name for o in cases()[name].model.graph.output]
        problem = _judge(
            name, [got_by_name[prefixes[name] + o] for o in outputs], outputs, name in onnxruntime_reference
        )
        if problem:
            alone = run_case(name, name in onnxruntime_reference)
            if alone.status == "passed":
                _set(outcome, "failed", "outputs differ only when compiled with other cases", problem, outcome.frozen)
            else:
                outcome = alone
        outcomes[name] = outcome
    return outcomes


def outcome(name: str, onnxruntime_reference: frozenset[str] = frozenset()) -> Outcome:
    """The outcome of case ``name`` (run with its chunk, once per process)."""
    for chunk in chunks():
        if name in chunk:
            return run_chunk(chunk, onnxruntime_reference)[name]
    return prepare(name).outcome


@functools.cache
def in_scope() -> list[str]:
    """The cases whose operators the loader accepts: the runnable ones chunk by chunk, then the
    refused (and failed) ones."""
    run = [name for chunk in chunks() for name in chunk]
    rest = [n for n in cases() if prepare(n).model is None and prepare(n).outcome.status != "unsupported"]
    return run + rest
