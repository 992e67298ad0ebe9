"""Firmware of the HLS target: a dataflow top function of stages connected by ``hls::stream``s.

Planning walks the operators once: every streamed tensor becomes a *value* (one producer) with an
order (see ``rmodel.operators.hls``); aliases (Reshape, Flatten, Transpose...) only relabel it.
Emission then gives each value its channels: a fork stage when several stages read it, a reorder
stage when a reader needs another order, and the producer's stream is the top-level port when the
value is a model output read by nobody else.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np

from rmodel._version import __version__
from rmodel.cpp_sources import cpp_source
from rmodel.cpp_writer import CppWriter
from rmodel.errors import RModelError, UnsupportedOperatorError
from rmodel.model import RModel
from rmodel.naming import UniqueNames, comment_text, identifier, quoted
from rmodel.operators.hls import (
    ANY,
    HLS_REGISTRY,
    Cost,
    HlsContext,
    HlsImpl,
    Schedule,
    StageWriter,
    as_array,
    normalize_order,
    same_order,
)

from ..literals import VALUES_PER_LINE, element_texts
from .config import HlsConfig, LayerConfig
from .design import LayerDesign, design_layers

#: the word of a packed io_stream: ``lanes`` values moved together (all channels of a pixel...)
WORD = "rmodel_word"
_RESERVED = {"detail", "hls", "std", "input_t", "result_t", WORD}


@dataclass
class Value:
    """One physical stream of the dataflow graph (a producer's output, or a top-level input)."""

    tensor: str
    size: int
    ctype: str
    producer: int | None  # operator index, None for a model input
    port: int | None = None  # model input index when producer is None
    order: Any = None  # order the producer writes in
    lanes: int = 1  # values per stream word (io_stream)
    consumers: list[tuple[Any, Any, Any, int]] = field(default_factory=list)  # (key, arriving, required order, lanes)


@dataclass
class Stage:
    func: str
    comment: str
    inputs: list[tuple[str, str]]  # (stream or array variable, C++ type)
    outputs: list[tuple[str, str]]
    body: str
    #: operator index (None for fork, reorder and drain stages) and its cost estimate
    layer: int | None = None
    cost: Cost | None = None
    #: io_parallel: the parameter declarations (default: hls::stream references)
    params: list[str] | None = None
    #: pragmas at the top of the function (io_parallel: INLINE)
    pragmas: list[str] = field(default_factory=list)
    #: cycles from the stage's first input to its first output (None: its whole latency)
    first_out: int | None = None


class Ports(NamedTuple):
    """The top function's ports: C++ types, names and values per word, inputs then outputs."""

    input_types: list[str]
    output_types: list[str]
    input_ports: list[str]
    output_ports: list[str]
    input_lanes: list[int]
    output_lanes: list[int]


@dataclass
class Firmware:
    """Everything the project writer and the C-simulation build need."""

    top: str
    files: dict[str, str]  # path relative to firmware/ -> text
    input_types: list[str]
    output_types: list[str]
    input_ports: list[str]
    output_ports: list[str]
    stages: list[Stage]
    #: every operator's implementation and effective settings (types, reuse, notes)
    designs: list[LayerDesign]
    typedefs: dict[str, str]
    io_type: str = "io_serial"
    #: values per stream word of every input / output port (io_stream; 1 otherwise)
    input_lanes: list[int] = field(default_factory=list)
    output_lanes: list[int] = field(default_factory=list)

    def write_call(self, w: CppWriter, model: RModel, sources: list[str], targets: list[str]) -> None:
        """Declare the ports, fill the inputs from float pointers ``sources``, call the top function
        and copy the outputs to float pointers ``targets``; with streams, ``return 1`` when an output
        stream holds more values than read and ``return 2`` when an input stream was not consumed."""
        ports = [*zip(self.input_types, self.input_ports, model.inputs, self.input_lanes)]
        outs = [*zip(self.output_types, self.output_ports, model.outputs, self.output_lanes)]
        if self.io_type == "io_parallel":
            for k, (t, p, info, _) in enumerate(ports):
                w(f"{t} {p}[{info.size}];")
                w(f"for (int i = 0; i < {info.size}; ++i) {p}[i] = {t}({sources[k]}[i]);")
            for t, p, info, _ in outs:
                w(f"{t} {p}[{info.size}];")
            w(f"::{self.top}({', '.join(self.input_ports + self.output_ports)});")
            for k, (_, p, info, _) in enumerate(outs):
                w(f"for (int i = 0; i < {info.size}; ++i) {targets[k]}[i] = static_cast<float>({p}[i]);")
            return
        packed = self.io_type == "io_stream"
        for k, (t, p, info, lanes) in enumerate(ports):
            word = f"{WORD}<{t}, {lanes}>" if packed else t
            w(f'hls::stream<{word}> {p}("{p}");')
            if packed:
                with w.loop("i", info.size // lanes, type_="int"):
                    w(f"{word} v;")
                    w(f"for (int l = 0; l < {lanes}; ++l) v.data[l] = {t}({sources[k]}[i * {lanes} + l]);")
                    w(f"{p}.write(v);")
            else:
                w(f"for (int i = 0; i < {info.size}; ++i) {p}.write({t}({sources[k]}[i]));")
        for t, p, _, lanes in outs:
            w(f'hls::stream<{f"{WORD}<{t}, {lanes}>" if packed else t}> {p}("{p}");')
        w(f"::{self.top}({', '.join(self.input_ports + self.output_ports)});")
        for k, (t, p, info, lanes) in enumerate(outs):
            if packed:
                with w.loop("i", info.size // lanes, type_="int"):
                    w(f"const {WORD}<{t}, {lanes}> v = {p}.read();")
                    w(
                        f"for (int l = 0; l < {lanes}; ++l) {targets[k]}[i * {lanes} + l] = static_cast<float>(v.data[l]);"
                    )
            else:
                w(f"for (int i = 0; i < {info.size}; ++i) {targets[k]}[i] = static_cast<float>({p}.read());")
            w(f"if (!{p}.empty()) return 1;")
        for p in self.input_ports:
            w(f"if (!{p}.empty()) return 2;")


def hls_implementations(model: RModel) -> list[HlsImpl]:
    """The HLS implementation of every operator, or one error naming all ops without one."""
    missing: dict[str, list[str]] = {}
    for op in model.operators:
        if op.op_type not in HLS_REGISTRY:
            missing.setdefault(op.op_type, []).append(op.name)
    if missing:
        listed = "; ".join(
            f"{t} (node {', '.join(repr(n) for n in names[:3])}{', ...' if len(names) > 3 else ''})"
            for t, names in sorted(missing.items())
        )
        raise UnsupportedOperatorError(
            f"model '{model.name}' uses operator(s) with no HLS implementation: {listed}. "
            f"The HLS target supports: {', '.join(sorted(HLS_REGISTRY))}. Use target='cpu' for this model, "
            "or replace these layers.",
            missing,
        )
    return [HLS_REGISTRY[op.op_type](op) for op in model.operators]


def fused_activations(model: RModel, impls: list[HlsImpl]) -> dict[int, int]:
    """io_stream fusions: producer op index -> index of the elementwise activation that alone reads
    its one output (not a model output), which the producer then applies as it writes."""
    readers: dict[str, list[int]] = {}
    for index, op in enumerate(model.operators):
        for name in dict.fromkeys(n for n in op.inputs if n):
            readers.setdefault(name, []).append(index)
    graph_outputs = {o.name for o in model.outputs}
    fused = {}
    for index, (op, impl) in enumerate(zip(model.operators, impls)):
        outputs = [n for n in op.outputs if n]
        if not impl.fuses_activation or len(outputs) != 1 or outputs[0] in graph_outputs:
            continue
        reading = readers.get(outputs[0], [])
        if len(reading) == 1 and impls[reading[0]].fusable:
            act = model.operators[reading[0]]
            if [n for n in act.inputs if n] == outputs and len([n for n in act.outputs if n]) == 1:
                fused[index] = reading[0]
    return fused


def _written_for(impl: HlsImpl, io_type: str) -> bool:
    """Whether ``impl`` has the body ``io_type`` needs (a method of its own, not the base class's)."""
    if impl.alias:
        return io_type != "io_parallel" or impl.keeps_row_major or _overrides(impl, "write_parallel")
    if io_type == "io_serial":
        return _overrides(impl, "write")
    if io_type == "io_parallel" or impl.packing == "whole":
        return _overrides(impl, "write_parallel")
    return _overrides(impl, "write_words" if impl.packing == "words" else "write_packed")


def _overrides(impl: HlsImpl, method: str) -> bool:
    return getattr(type(impl), method) is not getattr(HlsImpl, method)


def check_io_type(model: RModel, impls: list[HlsImpl], io_type: str) -> None:
    """One error naming every operator that has no form for ``io_type``."""
    missing: dict[str, list[str]] = {}
    for op, impl in zip(model.operators, impls):
        if not _written_for(impl, io_type):
            missing.setdefault(op.op_type, []).append(op.name)
    if missing:
        listed = "; ".join(f"{t} ({', '.join(repr(n) for n in names[:3])})" for t, names in sorted(missing.items()))
        others = [t for t in ("io_stream", "io_parallel", "io_serial") if t != io_type]
        raise UnsupportedOperatorError(
            f"model '{model.name}': the HLS io_type '{io_type}' has no implementation of {listed}; "
            f"use io_type={others[0]!r} or {others[1]!r} for this model",
            missing,
        )


class FirmwareEmitter:
    """Builds the firmware files of one model for one configuration."""

    def __init__(self, model: RModel, config: HlsConfig, top: str):
        self.model = model
        self.config = config
        self.top = top
        # compared case-folded: weight names become file names and include guards, which must
        # stay distinct on case-insensitive file systems ('dense' and 'Dense')
        self._names = UniqueNames(_RESERVED | {top}, fold_case=True)
        self.typedefs: dict[str, str] = {}
        self.weights: dict[str, tuple[str, np.ndarray, str]] = {}  # name -> (ctype, values, stage)
        self.helpers: dict[str, str] = {}

    def fresh(self, hint: str, prefix: str = "t") -> str:
        """A new C++ identifier like ``hint``, distinct (ignoring case) from every one handed out before."""
        return self._names.fresh(hint, prefix)

    # ---- services for HlsContext ----------------------------------------------------------
    def layer_type(self, stage: str, role: str, config: LayerConfig) -> str:
        name = f"{stage}_{role}_t"
        self.typedefs[name] = config.precision(role).cpp()
        return name

    def add_weight(self, stage: str, hint: str, values: np.ndarray, ctype: str) -> str:
        name = self.fresh(f"{stage}_{hint}", "w")
        self.weights[name] = (ctype, np.asarray(values), stage)
        return name

    # ---- planning --------------------------------------------------------------------------
    def build(self, weights_dir: str = "weights/") -> Firmware:
        if self.config.io_type == "io_parallel":
            return self._build_parallel(weights_dir)
        model = self.model
        packed = self.config.io_type == "io_stream"
        impls = hls_implementations(model)
        check_io_type(model, impls, self.config.io_type)
        designs = design_layers(model, self.config, impls)
        values: list[Value] = []
        where: dict[str, tuple[int, Any]] = {}  # tensor -> (value index, order)
        input_types, input_lanes = [], []
        for k, info in enumerate(model.inputs):
            input_types.append("input_t" if len(model.inputs) == 1 else f"input{k}_t")
            lanes = port_lanes(info.shape) if packed else 1
            input_lanes.append(lanes)
            values.append(Value(info.name, info.size, input_types[-1], None, port=k, lanes=lanes))
            where[info.name] = (len(values) - 1, None)

        stage_names = [self.fresh(op.name or op.op_type, "layer") for op in model.operators]
        fused = fused_activations(model, impls) if packed else {}  # producer index -> activation index
        fused_into = {a: p for p, a in fused.items()}
        for p, a in fused.items():
            act = model.operators[a]
            note = f"applies {act.op_type} '{comment_text(act.name)}' to its results as it writes them (fused: no stage or FIFO)"
            designs[p] = replace(designs[p], notes=(*designs[p].notes, note))
        plans: list[tuple[list[int], list[Any], list[int], list[int]]] = []  # (streamed, orders, lanes, values)
        for index, (op, impl, design) in enumerate(zip(model.operators, impls, designs)):
            cfg = design.config
            if index in fused_into:  # its producer writes this activation's output (in ``where``)
                plans.append(([], [], [], []))
                continue
            streamed = impl.streamed_inputs(model.constants)
            for i in streamed:
                if op.inputs[i] not in where:
                    raise RModelError(
                        f"node '{op.name}' ({op.op_type}): input '{op.inputs[i]}' is neither streamed nor a "
                        "constant; the HLS target cannot build this graph"
                    )
            arriving = [where[op.inputs[i]][1] for i in streamed]
            arriving_lanes = [values[where[op.inputs[i]][0]].lanes for i in streamed]
            if packed and impl.packing == "whole":
                required: list[Any] = [ANY] * len(streamed)
            else:
                required = impl.required_orders(arriving)
            orders = [a if r is ANY else normalize_order(r) for a, r in zip(arriving, required)]
            in_lanes = self._required_lanes(impl, arriving_lanes) if packed else [1] * len(streamed)
            out_orders = [normalize_order(o) for o in impl.output_orders(orders)]
            if packed and impl.packing == "whole" and not impl.alias:  # an alias only relabels
                out_orders = [None] * len(out_orders)
            if impl.alias:
                src = where[op.inputs[streamed[0]]][0]
                for name, order in zip(op.outputs, out_orders):
                    if name:
                        where[name] = (src, order)
                plans.append((streamed, orders, in_lanes, []))
                continue
            for pos, i in enumerate(streamed):
                values[where[op.inputs[i]][0]].consumers.append(
                    (("op", index, pos), arriving[pos], orders[pos], in_lanes[pos])
                )
            outs = []
            out_lanes = self._output_lanes(impl, in_lanes) if packed else None
            for k, (name, out_info) in enumerate(zip(op.outputs, op.output_infos)):
                if not name or out_info is None:
                    continue
                result_t = f"detail::{self.layer_type(stage_names[index], 'result', cfg)}"
                if index in fused:  # the stream carries the fused activation's output
                    a = fused[index]
                    name = model.operators[a].outputs[0]
                    result_t = f"detail::{self.layer_type(stage_names[a], 'result', designs[a].config)}"
                order = out_orders[k] if k < len(out_orders) else None
                width = 1 if out_lanes is None else out_lanes(out_info.shape, out_info.size)
                values.append(Value(name, out_info.size, result_t, index, order=order, lanes=width))
                where[name] = (len(values) - 1, order)
                outs.append(len(values) - 1)
            plans.append((streamed, orders, in_lanes, outs))

        output_types, output_lanes = [], []
        for k, info in enumerate(model.outputs):
            if info.name not in where:
                raise RModelError(f"output '{info.name}' is a constant; the HLS target streams only computed outputs")
            v, arriving_order = where[info.name]
            lanes = port_lanes(info.shape) if packed else 1
            output_lanes.append(lanes)
            values[v].consumers.append((("output", k), arriving_order, None, lanes))
            output_types.append("result_t" if len(model.outputs) == 1 else f"result{k}_t")

        # ---- channels -------------------------------------------------------------------------
        in_ports = [self.fresh(f"in_{i.name}", "in") for i in model.inputs]
        out_ports = [self.fresh(f"out_{o.name}", "out") for o in model.outputs]
        streams: list[tuple[str, str, int]] = []  # internal (variable, type, depth)
        reader_stream: dict[Any, str] = {}  # consumer key -> stream variable it reads
        producer_stream: dict[int, str] = {}  # value index -> stream variable written by the producer
        extra_after: dict[Any, list[Stage]] = {}  # producer (op index or ("in", k)) -> stages that follow it

        branch_words: dict[str, int] = {}  # fork branch stream -> words per inference (sized below)

        def new_stream(hint: str, ctype: str, size: int, lanes: int, branch: bool) -> str:
            """A FIFO: io_serial holds the tensor (as before); io_stream holds two words on a straight
            link, and a fork's branch is sized from the schedule once the stages are known."""
            var = self.fresh(f"s_{hint}", "s")
            words = size // lanes
            depth = min(words, 2) if packed and words > 1 else 2 if packed else words
            if branch and packed:
                branch_words[var] = words
            streams.append((var, self._word(ctype, lanes), max(depth, 1)))
            return var

        for vi, value in enumerate(values):
            after = extra_after.setdefault(("in", value.port) if value.producer is None else value.producer, [])
            cons = value.consumers
            rels = [
                self._relative(arriving, need, value.size) if lanes == value.lanes else "repack"
                for _key, arriving, need, lanes in cons
            ]
            if value.producer is None:
                assert value.port is not None, "a model input's value has its port"
                source = in_ports[value.port]
            elif len(cons) == 1 and cons[0][0][0] == "output" and rels[0] is None:
                source = out_ports[cons[0][0][1]]
            else:
                source = new_stream(value.tensor, value.ctype, value.size, value.lanes, False)
            producer_stream[vi] = source
            if not cons:
                after.append(self._sink_stage(value, source))
                continue
            branches = [source]
            if len(cons) > 1:
                branches = [
                    new_stream(f"{value.tensor}_cp{j}", value.ctype, value.size, value.lanes, True)
                    for j in range(len(cons))
                ]
                after.append(self._fork_stage(value, source, branches))
            for (key, arriving, need, lanes), branch, rel in zip(cons, branches, rels):
                if key[0] == "output":
                    port = out_ports[key[1]]
                    if branch != port:
                        after.append(self._reorder_stage(value, branch, port, arriving, need, lanes))
                    continue
                if rel is None:
                    reader_stream[key] = branch
                    continue
                target = new_stream(f"{value.tensor}_ord", value.ctype, value.size, lanes, False)
                after.append(self._reorder_stage(value, branch, target, arriving, need, lanes))
                reader_stream[key] = target

        # ---- stages -----------------------------------------------------------------------------
        stages: list[Stage] = []
        for k in range(len(model.inputs)):
            stages += extra_after.get(("in", k), [])
        for index, (op, impl, design) in enumerate(zip(model.operators, impls, designs)):
            streamed, orders, in_lanes, outs = plans[index]
            if impl.alias or index in fused_into:
                continue
            value_in = [values[where[op.inputs[i]][0]] for i in streamed]
            ins = [(reader_stream[("op", index, pos)], v.ctype) for pos, v in enumerate(value_in)]
            ctx = HlsContext(
                self, op, stage_names[index], design.config, [t for _, t in ins], orders, streamed, self.config.io_type
            )
            if index in fused:
                ctx.epilogue = self._epilogue(impls, designs, stage_names, index, fused[index])
            outputs = [(producer_stream[v], values[v].ctype) for v in outs]
            schedule = self.schedule(
                design,
                tuple(v.size // ln for v, ln in zip(value_in, in_lanes)),
                tuple(values[v].size // values[v].lanes for v in outs),
            )
            cost = impl.cost(schedule)
            func = self.fresh(f"{stage_names[index]}_stage")
            comment = f"[{index}] {op.comment()}"
            if not packed:
                stages.append(Stage(func, comment, ins, outputs, impl.emit(ctx), index, cost))
            else:
                widths = [values[v].lanes for v in outs]
                in_words = [(s, self._word(t, ln)) for (s, t), ln in zip(ins, in_lanes)]
                out_words = [(s, self._word(t, ln)) for (s, t), ln in zip(outputs, widths)]
                stage = self._packed_stage(impl, ctx, func, comment, in_words, out_words, in_lanes, widths, cost)
                stage.layer, stage.cost = index, cost
                stage.first_out = cost.first
                if stage.first_out is None:
                    stage.first_out = max(1, cost.latency - max(schedule.words_out, default=1) + 1)
                stages.append(stage)
            stages += extra_after.get(index, [])

        if branch_words:
            streams = self._size_branches(streams, branch_words, stages)
        if self.config.stream_depth is not None:
            streams = [(v, t, min(d, self.config.stream_depth)) for v, t, d in streams]
        top = CppWriter()
        with top.block(
            f"void {self.top}({self._stream_signature(input_types, output_types, in_ports, out_ports, input_lanes, output_lanes)})"
        ):
            top(*(f"#pragma HLS INTERFACE axis port={p}" for p in in_ports + out_ports))
            top("#pragma HLS INTERFACE ap_ctrl_chain port=return")
            top("#pragma HLS DATAFLOW")
            for var, ctype, depth in streams:
                top(f'hls::stream<{ctype}> {var}("{var}");')
                top(f"#pragma HLS STREAM variable={var} depth={depth}")
            _call_stages(top, stages)
        port_types = self._port_types(
            input_types, output_types, [values[where[o.name][0]].ctype for o in model.outputs]
        )
        ports = Ports(input_types, output_types, in_ports, out_ports, input_lanes, output_lanes)
        return self._finish(stages, top, port_types, ports, designs, weights_dir)

    def _epilogue(
        self, impls: list[HlsImpl], designs: list[LayerDesign], names: list[str], producer: int, act: int
    ) -> str:
        """The inline function (a helper) through which stage ``producer`` writes the activation ``act``."""
        op = self.model.operators[act]
        produced = f"detail::{self.layer_type(names[producer], 'result', designs[producer].config)}"
        result = f"detail::{self.layer_type(names[act], 'result', designs[act].config)}"
        ctx = HlsContext(self, op, names[act], designs[act].config, [produced], [None], [0], self.config.io_type)
        body = StageWriter()
        impls[act].statements(ctx, body)  # type: ignore[attr-defined]  # fusable impls are elementwise
        func = self.fresh(f"{names[act]}_apply")
        code = CppWriter()
        code(f"// [{act}] {op.comment()}")
        code(f"// fused: applied by the stage of [{producer}] {comment_text(self.model.operators[producer].name)}")
        with code.block(f"inline {result} {func}(const {produced} v)"):
            code("#pragma HLS INLINE")
            code(body.text())
            code("return y;")
        self.helpers[func] = code.text()
        return func

    @staticmethod
    def _size_branches(
        streams: list[tuple[str, str, int]], branch_words: dict[str, int], stages: list[Stage]
    ) -> list[tuple[str, str, int]]:
        """Depth of every fork branch: the words its reader receives before the reader's other inputs
        arrive (the delay of the other path, at one inference per interval), plus one inference."""
        timing = stage_timing(stages, "io_stream")
        sized = []
        for var, ctype, depth in streams:
            words = branch_words.get(var)
            if words is not None:
                reader = next((st for st in stages if var in (v for v, _ in st.inputs)), None)
                others = [timing.first.get(v, 0) for v, _ in reader.inputs if v != var] if reader else []
                delay = max(0, max(others, default=0) - timing.first.get(var, 0))
                depth = max(2, words * (1 + math.ceil(delay / max(timing.interval, 1))))
            sized.append((var, ctype, depth))
        return sized

    # ---- io_parallel ------------------------------------------------------------------------
    def _build_parallel(self, weights_dir: str) -> Firmware:
        """One pipelined top function; every tensor a completely partitioned array."""
        model = self.model
        impls = hls_implementations(model)
        check_io_type(model, impls, "io_parallel")
        designs = design_layers(model, self.config, impls)
        input_types = ["input_t" if len(model.inputs) == 1 else f"input{k}_t" for k in range(len(model.inputs))]
        output_types = ["result_t" if len(model.outputs) == 1 else f"result{k}_t" for k in range(len(model.outputs))]
        in_ports = [self.fresh(f"in_{i.name}", "in") for i in model.inputs]
        out_ports = [self.fresh(f"out_{o.name}", "out") for o in model.outputs]
        arrays: dict[str, tuple[str, str, int]] = {}  # tensor -> (array, element type, size)
        for info, port, t in zip(model.inputs, in_ports, input_types):
            arrays[info.name] = (port, t, info.size)
        locals_: list[tuple[str, str, int]] = []
        stages: list[Stage] = []
        for index, (op, impl, design) in enumerate(zip(model.operators, impls, designs)):
            streamed = impl.streamed_inputs(model.constants)
            for i in streamed:
                if op.inputs[i] not in arrays:
                    raise RModelError(
                        f"node '{op.name}' ({op.op_type}): input '{op.inputs[i]}' is neither computed nor a "
                        "constant; the HLS target cannot build this graph"
                    )
            if impl.alias and impl.keeps_row_major:
                for name in op.outputs:
                    if name:
                        arrays[name] = arrays[op.inputs[streamed[0]]]
                continue
            stage = self.fresh(op.name or op.op_type, "layer")
            ins = [arrays[op.inputs[i]] for i in streamed]
            ctx = HlsContext(
                self, op, stage, design.config, [t for _, t, _ in ins], [None] * len(ins), streamed, "io_parallel"
            )
            w = StageWriter()
            impl.write_parallel(ctx, w)
            outs = []
            for name, out_info in zip(op.outputs, op.output_infos):
                if not name or out_info is None:
                    continue
                var = self.fresh(f"v_{name}", "v")
                ctype = f"detail::{self.layer_type(stage, 'result', design.config)}"
                arrays[name] = (var, ctype, out_info.size)
                locals_.append((var, ctype, out_info.size))
                outs.append((var, ctype, out_info.size))
            params = [f"const {t} in{j}[{n}]" for j, (_, t, n) in enumerate(ins)]
            params += [f"{t} out{j}[{n}]" for j, (_, t, n) in enumerate(outs)]
            cost = impl.cost(self.schedule(design, (), ()))
            inline = "#pragma HLS INLINE" if design.config.strategy == "latency" else "#pragma HLS INLINE off"
            stages.append(
                Stage(
                    self.fresh(f"{stage}_stage"),
                    f"[{index}] {op.comment()}",
                    [(v, t) for v, t, _ in ins],
                    [(v, t) for v, t, _ in outs],
                    w.text(),
                    index,
                    cost,
                    params,
                    [inline],
                )
            )
        interval = max([s.cost.interval for s in stages if s.cost is not None] or [1])
        sig = ", ".join(
            [f"const {t} {p}[{i.size}]" for t, p, i in zip(input_types, in_ports, model.inputs)]
            + [f"{t} {p}[{o.size}]" for t, p, o in zip(output_types, out_ports, model.outputs)]
        )
        top = CppWriter()
        with top.block(f"void {self.top}({sig})"):
            for p in in_ports:
                top(f"#pragma HLS ARRAY_RESHAPE variable={p} complete dim=0")
            for p in out_ports:
                top(f"#pragma HLS ARRAY_PARTITION variable={p} complete dim=0")
            top(f"#pragma HLS INTERFACE ap_vld port={','.join(in_ports + out_ports)}")
            top(f"#pragma HLS PIPELINE II={interval}")
            for var, ctype, size in locals_:
                top(f"{ctype} {var}[{size}];")
                top(f"#pragma HLS ARRAY_PARTITION variable={var} complete dim=0")
            _call_stages(top, stages)
            for k, (info, port) in enumerate(zip(model.outputs, out_ports)):
                if info.name not in arrays:
                    raise RModelError(
                        f"output '{info.name}' is a constant; the HLS target outputs only computed tensors"
                    )
                var, _, size = arrays[info.name]
                with top.loop("i", size, type_="int"):
                    top("#pragma HLS UNROLL")
                    top(f"{port}[i] = {output_types[k]}({var}[i]);")
        port_types = self._port_types(input_types, output_types, [arrays[o.name][1] for o in model.outputs])
        ports = Ports(input_types, output_types, in_ports, out_ports, [1] * len(in_ports), [1] * len(out_ports))
        return self._finish(stages, top, port_types, ports, designs, weights_dir)

    # ---- shared ----------------------------------------------------------------------------
    def _finish(
        self,
        stages: list[Stage],
        top: CppWriter,
        port_types: dict[str, str],
        ports: Ports,
        designs: list[LayerDesign],
        weights_dir: str,
    ) -> Firmware:
        """The files and the Firmware record of a built design."""
        files = self._files(stages, top, port_types, *ports, weights_dir)
        return Firmware(
            self.top,
            files,
            ports.input_types,
            ports.output_types,
            ports.input_ports,
            ports.output_ports,
            stages,
            designs,
            dict(self.typedefs),
            self.config.io_type,
            ports.input_lanes,
            ports.output_lanes,
        )

    def schedule(self, design: LayerDesign, words_in: tuple[int, ...], words_out: tuple[int, ...]) -> Schedule:
        cfg = design.config
        return Schedule(
            self.config.io_type,
            cfg.strategy,
            cfg.reuse_factor,
            self.config.clock_period,
            cfg.precision("accum").is_float or cfg.precision("result").is_float,
            words_in,
            words_out,
            cfg.precision("weight"),
            self.model.constants,
        )

    def _word(self, ctype: str, lanes: int) -> str:
        """Stream element type: the scalar (io_serial) or a word of ``lanes`` of them (io_stream)."""
        if self.config.io_type != "io_stream":
            return ctype
        return f"{WORD}<{ctype}, {lanes}>"

    @staticmethod
    def _required_lanes(impl: HlsImpl, arriving: list[int]) -> list[int]:
        """Lanes each streamed input must arrive in (packed io_stream)."""
        if impl.packing == "custom":
            return impl.packed_lanes()[0]
        if impl.packing == "words":
            return [arriving[0]] * len(arriving)
        return list(arriving)

    @staticmethod
    def _output_lanes(impl: HlsImpl, lanes: list[int]) -> Any:
        """Function (shape, size) -> lanes of an output (packed io_stream)."""
        if impl.packing == "custom":
            widths = impl.packed_lanes()[1]
            return lambda shape, size: widths[0]
        if impl.packing == "words":
            return lambda shape, size: lanes[0]
        return lambda shape, size: whole_lanes(shape, size)

    def _stream_signature(self, input_types, output_types, in_ports, out_ports, input_lanes, output_lanes) -> str:
        return ", ".join(
            [f"hls::stream<{self._word(t, ln)}>& {p}" for t, p, ln in zip(input_types, in_ports, input_lanes)]
            + [f"hls::stream<{self._word(t, ln)}>& {p}" for t, p, ln in zip(output_types, out_ports, output_lanes)]
        )

    def _port_types(self, input_types: list[str], output_types: list[str], output_ctypes: list[str]) -> dict[str, str]:
        types = {t: self.config.input_precision().cpp() for t in input_types}
        types.update(zip(output_types, output_ctypes))
        return types

    @staticmethod
    def _relative(produced, need, size: int):
        """Order (over the produced stream's positions) that yields ``need``."""
        if same_order(produced, need):
            return None
        prod = as_array(produced, size)
        inverse = np.empty(size, dtype=np.int64)
        inverse[prod] = np.arange(size)
        return normalize_order(inverse[as_array(need, size)])

    # ---- helper stages ------------------------------------------------------------------
    def _fork_stage(self, value: Value, source: str, branches: list[str]) -> Stage:
        func = self.fresh(f"fork_{value.tensor}", "fork")
        word = self._word(value.ctype, value.lanes)
        w = CppWriter()
        with _pipelined_loop(w, "fork", value.size // value.lanes):
            w(f"const {word} v = in0.read();")
            for j in range(len(branches)):
                w(f"out{j}.write(v);")
        words = value.size // value.lanes
        return Stage(
            func,
            f"copy {quoted(value.tensor)} to its {len(branches)} readers",
            [(source, word)],
            [(b, word) for b in branches],
            w.text(),
            cost=Cost(trips=words, latency=words, interval=words),
            first_out=1,
        )

    def _sink_stage(self, value: Value, source: str) -> Stage:
        func = self.fresh(f"drain_{value.tensor}", "drain")
        w = CppWriter()
        with _pipelined_loop(w, "drain", value.size // value.lanes):
            w("in0.read();")
        word = self._word(value.ctype, value.lanes)
        words = value.size // value.lanes
        cost = Cost(trips=words, latency=words, interval=words)
        return Stage(func, f"{quoted(value.tensor)} is not used: drain it", [(source, word)], [], w.text(), cost=cost)

    def _reorder_stage(self, value: Value, source: str, target: str, arriving: Any, need: Any, lanes: int) -> Stage:
        """Buffer the tensor, write it back in the order ``need`` (from ``arriving``) in words of ``lanes``."""
        order = self._relative(arriving, need, value.size)
        func = self.fresh(f"reorder_{value.tensor}", "reorder")
        w = CppWriter()
        w(f"{value.ctype} buffer[{value.size}];")
        if order is not None:
            table = self.add_weight(func, "index", np.asarray(order, dtype=np.int32), "int")
            index = f"{table}[i]"
        else:
            index = "i"
        what = "copy" if order is None else "reorder"
        if self.config.io_type != "io_stream":
            with _pipelined_loop(w, "fill", value.size):
                w("buffer[i] = in0.read();")
            with _pipelined_loop(w, "drain", value.size):
                w(f"out0.write(buffer[{index}]);")
            types = (value.ctype, value.ctype)
        else:
            types = (self._word(value.ctype, value.lanes), self._word(value.ctype, lanes))
            with _pipelined_loop(w, "fill", value.size // value.lanes):
                w(f"const {types[0]} v = in0.read();")
                w(f"for (int l = 0; l < {value.lanes}; ++l) buffer[i * {value.lanes} + l] = v.data[l];")
            with _pipelined_loop(w, "drain", value.size // lanes):
                w(f"{types[1]} v;")
                pick = index.replace("[i]", f"[i * {lanes} + l]") if order is not None else f"i * {lanes} + l"
                w(f"for (int l = 0; l < {lanes}; ++l) v.data[l] = buffer[{pick}];")
                w("out0.write(v);")
            if value.lanes != lanes:
                what += f" into words of {lanes}"
        words_in = value.size // (value.lanes if self.config.io_type == "io_stream" else 1)
        words_out = value.size // (lanes if self.config.io_type == "io_stream" else 1)
        trips = words_in + words_out
        return Stage(
            func,
            f"{what} {quoted(value.tensor)} ({value.size} elements)",
            [(source, types[0])],
            [(target, types[1])],
            w.text(),
            cost=Cost(trips=trips, latency=trips, interval=trips, buffered=value.size),
            first_out=words_in + 1,
        )

    def _packed_stage(
        self,
        impl: HlsImpl,
        ctx: HlsContext,
        func: str,
        comment: str,
        ins: list[tuple[str, str]],
        outs: list[tuple[str, str]],
        lanes: list[int],
        out_lanes: list[int],
        cost: Cost,
    ) -> Stage:
        """A packed io_stream stage: per word ("words"), the io_parallel body on buffered arrays
        ("whole"), or the operator's own (``write_packed``)."""
        w = StageWriter()
        if impl.packing == "custom":
            ctx.in_words, ctx.out_words = [t for _, t in ins], [t for _, t in outs]
            impl.write_packed(ctx, w)
            return Stage(func, comment, ins, outs, w.text())
        if impl.packing == "words":
            with w.pipelined("words", "k", ctx.op.output_info(0).size // lanes[0]):
                for j, (_, word) in enumerate(ins):
                    w(f"const {word} x{j if j else ''}_word = in{j}.read();")
                w(f"{outs[0][1]} y_word;")
                impl.write_words(ctx, w, lanes[0])
                w("out0.write(y_word);")
            return Stage(func, comment, ins, outs, w.text())
        w(f"#pragma HLS PIPELINE II={max(cost.interval, 1)}")
        op = ctx.op
        for j, ((_, word), t, ln, i) in enumerate(zip(ins, ctx.in_types, lanes, ctx.streamed)):
            size = op.input_info(i).size
            w(f"{t} in{j}[{size}];")
            w(f"#pragma HLS ARRAY_PARTITION variable=in{j} complete")
            order = ctx.in_orders[j]
            place = (
                f"k * {ln} + l"
                if order is None
                else f"{self.add_weight(func, f'in{j}_index', np.asarray(order, dtype=np.int32), 'int')}[k * {ln} + l]"
            )
            with w.pipelined(f"read{j}", "k", size // ln, hang=False):
                w(f"const {word} v = in{j}_stream.read();")
                w(f"for (int l = 0; l < {ln}; ++l) in{j}[{place}] = v.data[l];")
        real_outs = [info for name, info in zip(op.outputs, op.output_infos) if name and info is not None]
        for j, info in enumerate(real_outs):
            w(f"{ctx.type('result')} out{j}[{info.size}];")
            w(f"#pragma HLS ARRAY_PARTITION variable=out{j} complete")
        impl.write_parallel(ctx, w)
        for j, (info, ln) in enumerate(zip(real_outs, out_lanes)):
            with w.pipelined(f"write{j}", "k", info.size // ln, hang=False):
                w(f"{outs[j][1]} v;")
                w(f"for (int l = 0; l < {ln}; ++l) v.data[l] = {ctx.written(f'out{j}[k * {ln} + l]')};")
                w(f"out{j}_stream.write(v);")
        params = [f"hls::stream<{t}>& in{j}_stream" for j, (_, t) in enumerate(ins)]
        params += [f"hls::stream<{t}>& out{j}_stream" for j, (_, t) in enumerate(outs)]
        return Stage(func, comment, ins, outs, w.text(), params=params)

    # ---- files ------------------------------------------------------------------------------
    def _files(
        self,
        stages: list[Stage],
        top_function: CppWriter,
        port_types: dict[str, str],
        input_types: list[str],
        output_types: list[str],
        in_ports: list[str],
        out_ports: list[str],
        input_lanes: list[int],
        output_lanes: list[int],
        weights_dir: str,
    ) -> dict[str, str]:
        model, top = self.model, self.top
        parallel = self.config.io_type == "io_parallel"
        guard = f"{top.upper()}_DEFINES_H_"
        defines = [
            f"// Generated by rmodel {__version__} from {quoted(model.name)} -- do not edit.",
            "// Numeric types of every stage (change them here to experiment, or regenerate).",
            f"#ifndef {guard}\n#define {guard}\n",
            "#include <cstddef>",
            '#include "ap_fixed.h"\n#include "ap_int.h"',
            '#ifdef RMODEL_OWN_STREAM\n#include "rmodel_stream.h"  // C-simulation stand-in for hls_stream.h\n'
            '#else\n#include "hls_stream.h"\n#endif\n',
            *(_WORD_TEMPLATE if self.config.io_type == "io_stream" else []),
            *_TRIP_COUNTER,
            "namespace detail {",
            *(f"typedef {t} {n};" for n, t in sorted(self.typedefs.items())),
            "#ifdef RMODEL_FAST_CSIM",
            cpp_source("rmodel.emitters.hls", "converted_tables.h", "rmodel_converted"),
            "#endif",
            "}  // namespace detail\n",
            *(f"typedef {t} {n};" for n, t in port_types.items()),
            f"\n#endif  // {guard}\n",
        ]
        # the types of output ports refer to detail:: names, so defines come first
        if parallel:
            sig = ", ".join(
                [f"const {t} {p}[{i.size}]" for t, p, i in zip(input_types, in_ports, model.inputs)]
                + [f"{t} {p}[{o.size}]" for t, p, o in zip(output_types, out_ports, model.outputs)]
            )
        else:
            sig = self._stream_signature(input_types, output_types, in_ports, out_ports, input_lanes, output_lanes)

        def port_line(port: str, kind: str, info: Any, lanes: int) -> str:
            how = {
                "io_parallel": "an array",
                "io_stream": f"{info.size // lanes} word(s) of {lanes} values",
                "io_serial": "one value per word",
            }[self.config.io_type]
            return (
                f"//   {port}: {kind} {quoted(info.name)} {info.dtype}[{'x'.join(map(str, info.shape))}], "
                f"{info.size} values per call in row-major order, {how}"
            )

        iface = [port_line(in_ports[k], "input", i, input_lanes[k]) for k, i in enumerate(model.inputs)]
        iface += [port_line(out_ports[k], "output", o, output_lanes[k]) for k, o in enumerate(model.outputs)]
        hguard = f"{top.upper()}_H_"
        header = "\n".join(
            [
                f"// Generated by rmodel {__version__} from {quoted(model.name)} -- do not edit.",
                f"#ifndef {hguard}\n#define {hguard}\n",
                '#include "defines.h"\n',
                f"// Top function: one call processes one inference (batch size {model.batch_size}).",
                "// Ports (AXI4-Stream):",
                *iface,
                f"constexpr int kBatchSize = {model.batch_size};",
                *(f"constexpr int kInputSize{k} = {i.size};" for k, i in enumerate(model.inputs)),
                *(f"constexpr int kOutputSize{k} = {o.size};" for k, o in enumerate(model.outputs)),
                f"void {top}({sig});",
                f"\n#endif  // {hguard}\n",
            ]
        )
        weight_files = {}
        includes = []
        for name, (ctype, arr, _stage) in self.weights.items():
            flat = arr.ravel()
            texts = element_texts(flat.astype(np.float32)) if arr.dtype.kind == "f" else [str(int(v)) for v in flat]
            body = ",\n".join(
                "    " + ", ".join(texts[i : i + VALUES_PER_LINE]) for i in range(0, len(texts), VALUES_PER_LINE)
            )
            t = ctype if ctype == "int" else f"detail::{ctype}"
            size = max(flat.size, 1)
            macro = f"{name.upper()}_VALUES"
            weight_files[f"{weights_dir}{name}.h"] = (
                f"// Generated by rmodel -- do not edit. {name}: {arr.size} values, shape "
                f"{'x'.join(map(str, arr.shape)) or 'scalar'}, stored as {self.typedefs.get(ctype, ctype)}\n"
                f"#ifndef {name.upper()}_H_\n#define {name.upper()}_H_\n"
                f"#define {macro} \\\n" + " \\\n".join((body or "    0").splitlines()) + "\n"
                "#ifndef RMODEL_FAST_CSIM\n"
                f"static const {t} {name}[{size}] = {{{macro}}};\n"
                "#else  // C simulation only: converted once at start-up (compiles much faster)\n"
                f"static const float {name}_init[{size}] = {{{macro}}};\n"
                f"static {t} {name}_table[{size}];\n"
                f"static const {t}* const {name} = rmodel_converted({name}_table, {name}_init, {size});\n"
                f"#endif\n#undef {macro}\n#endif\n"
            )
            includes.append(f'#include "{weights_dir}{name}.h"')
        funcs = CppWriter()
        for k, st in enumerate(stages):
            params = st.params
            if params is None:
                params = [f"hls::stream<{t}>& in{j}" for j, (_, t) in enumerate(st.inputs)]
                params += [f"hls::stream<{t}>& out{j}" for j, (_, t) in enumerate(st.outputs)]
            if k:
                funcs("")
            funcs.comment(st.comment)
            with funcs.block(f"void {st.func}({', '.join(params)})"):
                funcs(*st.pragmas)
                funcs(st.body)
        source = "\n".join(
            [
                f"// Generated by rmodel {__version__} from {quoted(model.name)} -- do not edit.",
                f"// {len(model.operators)} operators -> {len(stages)} stages ({self.config.io_type}).",
                f'#include "{top}.h"\n',
                "#include <cmath>\n",
                "namespace detail {\n",
                *includes,
                "",
                *(self.helpers[k] + "\n" for k in sorted(self.helpers)),
                funcs.text(),
                "\n}  // namespace detail\n",
                top_function.text(),
                "",
            ]
        )
        files = {"defines.h": "\n".join(defines), f"{top}.h": header, f"{top}.cpp": source}
        files.update(weight_files)
        return files


#: defines.h of io_stream: the stream word
_WORD_TEMPLATE = [
    "// io_stream word: `N` values moved together (all channels of a pixel, a whole vector...)",
    f"template <typename T, int N>\nstruct {WORD} {{\n  T data[N];\n}};\n",
]
#: defines.h: RMODEL_TRIP() counts a pipelined loop iteration per stage when the C simulation is
#: built with -DRMODEL_COUNT_TRIPS (rmodel's tests compare the counts with its cost model)
_TRIP_COUNTER = [
    "#ifdef RMODEL_COUNT_TRIPS",
    "#include <map>\n#include <string>",
    "inline std::map<std::string, long>& rmodel_trip_counts() {\n  static std::map<std::string, long> counts;\n"
    "  return counts;\n}",
    "#define RMODEL_TRIP() (++rmodel_trip_counts()[__func__])",
    "#else",
    "#define RMODEL_TRIP() ((void)0)",
    "#endif\n",
]


def _call_stages(w: CppWriter, stages: list[Stage]) -> None:
    """The top function's calls of its stages, in order."""
    for st in stages:
        args = [v for v, _ in st.inputs] + [v for v, _ in st.outputs]
        w(f"detail::{st.func}({', '.join(args)});")


@contextmanager
def _pipelined_loop(w: CppWriter, label: str, count: int) -> Iterator[None]:
    """``label: for (int i = 0; i < count; ++i)`` pipelined at one element per clock."""
    w(f"{label}:")
    with w.loop("i", count, type_="int"):
        w("#pragma HLS PIPELINE II=1")
        yield


@dataclass
class Timing:
    """When the values of every stream or array are there, by the cost model."""

    first: dict[str, int]  # variable -> cycle of its first value
    done: dict[str, int]  # variable -> cycle of its last value
    latency: int
    interval: int


def stage_timing(stages: list[Stage], io_type: str) -> Timing:
    """Latency along the longest path through the stages, where a stage starts when the first
    values of all its inputs are there (io_stream) or when they are complete (io_parallel,
    io_serial), and the interval of the slowest stage."""
    first: dict[str, int] = {}
    done: dict[str, int] = {}
    latency = 0
    interval = 1
    streaming = io_type == "io_stream"
    for stage in stages:
        cost = stage.cost or Cost()
        inputs = [v for v, _ in stage.inputs]
        start = max([first.get(v, 0) if streaming else done.get(v, 0) for v in inputs] or [0])
        ready = max([done.get(v, 0) for v in inputs] or [0])
        end = max(start + cost.latency, ready + 1 if inputs else 0)
        out_first = start + (stage.first_out if streaming and stage.first_out is not None else cost.latency)
        for v, _ in stage.outputs:
            first[v], done[v] = out_first, end
        latency = max(latency, end)
        interval = max(interval, cost.interval)
    if io_type == "io_parallel":
        latency += 1  # the registered input
    return Timing(first, done, latency, interval)


def port_lanes(shape: tuple[int, ...]) -> int:
    """Values per word of a top-level io_stream port: the last dimension (a pixel's channels for
    channels-last images, the whole vector for (batch, features))."""
    return int(shape[-1]) if shape else 1


#: largest word a whole-tensor stage writes at once (larger outputs go out a last dimension at a time)
MAX_WORD_LANES = 4096


def whole_lanes(shape: tuple[int, ...], size: int) -> int:
    """Values per word of a whole-tensor stage's output: one word per batch row if not too wide."""
    row = size // int(shape[0]) if len(shape) > 1 and shape[0] else size
    return row if row <= MAX_WORD_LANES else port_lanes(shape)


#: global names of the firmware, the C-simulation binding and the test bench a top function must not take
_GLOBAL_NAMES = _RESERVED | {"main", "read_line", "rmodel_hls_run", "rmodel_hls_trips", "rmodel_trip_counts"}


def build_firmware(model: RModel, config: HlsConfig, top: str, weights_dir: str = "weights/") -> Firmware:
    name = identifier(top, "model")
    if name in _GLOBAL_NAMES:
        name = f"{name}_top"
    return FirmwareEmitter(model, config, name).build(weights_dir)
