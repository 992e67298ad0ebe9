"""Firmware of the HLS target: a dataflow top function of stages connected by ``hls::stream``s.

Planning walks the operators once: every streamed tensor becomes a *value* (one producer) with an
order (see ``rmodel.operators.hls``); aliases (Reshape, Flatten, Transpose...) only relabel it.
Emission then gives each value its channels: a fork stage when several stages read it, a reorder
stage when a reader needs another order, and the producer's stream is the top-level port when the
value is a model output read by nobody else.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rmodel._version import __version__
from rmodel.cpp_sources import cpp_source
from rmodel.cpp_writer import CppWriter
from rmodel.errors import RModelError, UnsupportedOperatorError
from rmodel.model import RModel
from rmodel.naming import UniqueNames, identifier, quoted
from rmodel.operators.hls import ANY, HLS_REGISTRY, HlsContext, HlsImpl, as_array, normalize_order, same_order

from ..literals import VALUES_PER_LINE, element_texts
from .config import HlsConfig, LayerConfig

_RESERVED = {"detail", "hls", "std", "input_t", "result_t"}


@dataclass
class Value:
    """One physical stream of the dataflow graph (a producer's output, or a top-level input)."""

    tensor: str
    size: int
    ctype: str
    producer: int | None  # operator index, None for a model input
    port: int | None = None  # model input index when producer is None
    order: Any = None  # order the producer writes in
    consumers: list[tuple[Any, Any, Any]] = field(default_factory=list)  # (key, arriving, required order)


@dataclass
class Stage:
    func: str
    comment: str
    inputs: list[tuple[str, str]]  # (stream variable, C++ type)
    outputs: list[tuple[str, str]]
    body: str


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
    impls: list[tuple[Any, HlsImpl, LayerConfig]]
    typedefs: dict[str, str]


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
        model = self.model
        impls = hls_implementations(model)
        values: list[Value] = []
        where: dict[str, tuple[int, Any]] = {}  # tensor -> (value index, order)
        input_types = []
        for k, info in enumerate(model.inputs):
            input_types.append("input_t" if len(model.inputs) == 1 else f"input{k}_t")
            values.append(Value(info.name, info.size, input_types[-1], None, port=k))
            where[info.name] = (len(values) - 1, None)

        stage_names: list[str] = []
        plans: list[tuple[list[int], list[Any], list[int]]] = []  # (streamed inputs, orders, value idx)
        layer_cfgs: list[LayerConfig] = []
        for index, (op, impl) in enumerate(zip(model.operators, impls)):
            cfg = self.config.for_op(op.name, op.op_type)
            layer_cfgs.append(cfg)
            stage_names.append(self.fresh(op.name or op.op_type, "layer"))
            impl.check(model.constants)
            streamed = impl.streamed_inputs(model.constants)
            for i in streamed:
                if op.inputs[i] not in where:
                    raise RModelError(
                        f"node '{op.name}' ({op.op_type}): input '{op.inputs[i]}' is neither streamed nor a "
                        "constant; the HLS target cannot build this graph"
                    )
            arriving = [where[op.inputs[i]][1] for i in streamed]
            required = impl.required_orders(arriving)
            orders = [a if r is ANY else normalize_order(r) for a, r in zip(arriving, required)]
            out_orders = [normalize_order(o) for o in impl.output_orders(orders)]
            if impl.alias:
                src = where[op.inputs[streamed[0]]][0]
                for name, order in zip(op.outputs, out_orders):
                    if name:
                        where[name] = (src, order)
                plans.append((streamed, orders, []))
                continue
            for pos, i in enumerate(streamed):
                values[where[op.inputs[i]][0]].consumers.append((("op", index, pos), arriving[pos], orders[pos]))
            outs = []
            for k, (name, out_info) in enumerate(zip(op.outputs, op.output_infos)):
                if not name or out_info is None:
                    continue
                result_t = f"detail::{self.layer_type(stage_names[index], 'result', cfg)}"
                order = out_orders[k] if k < len(out_orders) else None
                values.append(Value(name, out_info.size, result_t, index, order=order))
                where[name] = (len(values) - 1, order)
                outs.append(len(values) - 1)
            plans.append((streamed, orders, outs))

        output_types = []
        for k, info in enumerate(model.outputs):
            if info.name not in where:
                raise RModelError(f"output '{info.name}' is a constant; the HLS target streams only computed outputs")
            v, arriving_order = where[info.name]
            values[v].consumers.append((("output", k), arriving_order, None))
            output_types.append("result_t" if len(model.outputs) == 1 else f"result{k}_t")

        # ---- channels -------------------------------------------------------------------------
        in_ports = [self.fresh(f"in_{i.name}", "in") for i in model.inputs]
        out_ports = [self.fresh(f"out_{o.name}", "out") for o in model.outputs]
        streams: list[tuple[str, str, int]] = []  # internal (variable, type, depth)
        reader_stream: dict[Any, str] = {}  # consumer key -> stream variable it reads
        producer_stream: dict[int, str] = {}  # value index -> stream variable written by the producer
        extra_after: dict[Any, list[Stage]] = {}  # producer (op index or ("in", k)) -> stages that follow it

        def new_stream(hint: str, ctype: str, size: int) -> str:
            var = self.fresh(f"s_{hint}", "s")
            depth = size if self.config.stream_depth is None else min(size, self.config.stream_depth)
            streams.append((var, ctype, max(depth, 1)))
            return var

        for vi, value in enumerate(values):
            after = extra_after.setdefault(("in", value.port) if value.producer is None else value.producer, [])
            cons = value.consumers
            rels = [self._relative(arriving, need, value.size) for _key, arriving, need in cons]
            if value.producer is None:
                assert value.port is not None, "a model input's value has its port"
                source = in_ports[value.port]
            elif len(cons) == 1 and cons[0][0][0] == "output" and rels[0] is None:
                source = out_ports[cons[0][0][1]]
            else:
                source = new_stream(value.tensor, value.ctype, value.size)
            producer_stream[vi] = source
            if not cons:
                after.append(self._sink_stage(value, source))
                continue
            branches = [source]
            if len(cons) > 1:
                branches = [new_stream(f"{value.tensor}_cp{j}", value.ctype, value.size) for j in range(len(cons))]
                after.append(self._fork_stage(value, source, branches))
            for (key, _arriving, _need), branch, rel in zip(cons, branches, rels):
                if key[0] == "output":
                    port = out_ports[key[1]]
                    if branch != port:
                        after.append(self._reorder_stage(value, branch, port, rel))
                    continue
                if rel is None:
                    reader_stream[key] = branch
                    continue
                target = new_stream(f"{value.tensor}_ord", value.ctype, value.size)
                after.append(self._reorder_stage(value, branch, target, rel))
                reader_stream[key] = target

        # ---- stages -----------------------------------------------------------------------------
        stages: list[Stage] = []
        for k in range(len(model.inputs)):
            stages += extra_after.get(("in", k), [])
        record: list[tuple[Any, HlsImpl, LayerConfig]] = []
        for index, (op, impl) in enumerate(zip(model.operators, impls)):
            streamed, orders, outs = plans[index]
            record.append((op, impl, layer_cfgs[index]))
            if impl.alias:
                continue
            ins = [
                (reader_stream[("op", index, pos)], values[where[op.inputs[i]][0]].ctype)
                for pos, i in enumerate(streamed)
            ]
            ctx = HlsContext(self, op, stage_names[index], layer_cfgs[index], [t for _, t in ins], orders, streamed)
            body = impl.emit(ctx)
            outputs = [(producer_stream[v], values[v].ctype) for v in outs]
            func = self.fresh(f"{stage_names[index]}_stage")
            stages.append(Stage(func, f"[{index}] {op.comment()}", ins, outputs, body))
            stages += extra_after.get(index, [])

        files = self._files(stages, streams, in_ports, out_ports, input_types, output_types, values, where, weights_dir)
        return Firmware(
            self.top, files, input_types, output_types, in_ports, out_ports, stages, record, dict(self.typedefs)
        )

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
        w = CppWriter()
        with _pipelined_loop(w, "fork", value.size):
            w(f"const {value.ctype} v = in0.read();")
            for j in range(len(branches)):
                w(f"out{j}.write(v);")
        return Stage(
            func,
            f"copy {quoted(value.tensor)} to its {len(branches)} readers",
            [(source, value.ctype)],
            [(b, value.ctype) for b in branches],
            w.text(),
        )

    def _sink_stage(self, value: Value, source: str) -> Stage:
        func = self.fresh(f"drain_{value.tensor}", "drain")
        w = CppWriter()
        with _pipelined_loop(w, "drain", value.size):
            w("in0.read();")
        return Stage(func, f"{quoted(value.tensor)} is not used: drain it", [(source, value.ctype)], [], w.text())

    def _reorder_stage(self, value: Value, source: str, target: str, order) -> Stage:
        """Buffer the tensor, write it back in ``order`` (positions of the incoming stream)."""
        func = self.fresh(f"reorder_{value.tensor}", "reorder")
        w = CppWriter()
        w(f"{value.ctype} buffer[{value.size}];")
        if order is not None:
            table = self.add_weight(func, "index", np.asarray(order, dtype=np.int32), "int")
            index = f"{table}[i]"
        else:
            index = "i"
        with _pipelined_loop(w, "fill", value.size):
            w("buffer[i] = in0.read();")
        with _pipelined_loop(w, "drain", value.size):
            w(f"out0.write(buffer[{index}]);")
        what = "copy" if order is None else "reorder"
        return Stage(
            func,
            f"{what} {quoted(value.tensor)} ({value.size} elements)",
            [(source, value.ctype)],
            [(target, value.ctype)],
            w.text(),
        )

    # ---- files ------------------------------------------------------------------------------
    def _files(
        self, stages, streams, in_ports, out_ports, input_types, output_types, values, where, weights_dir
    ) -> dict[str, str]:
        model, top = self.model, self.top
        port_types = {}
        for k in range(len(model.inputs)):
            port_types[input_types[k]] = self.config.input_precision().cpp()
        for k, info in enumerate(model.outputs):
            v = values[where[info.name][0]]
            port_types[output_types[k]] = v.ctype
        guard = f"{top.upper()}_DEFINES_H_"
        defines = [
            f"// Generated by rmodel {__version__} from {quoted(model.name)} -- do not edit.",
            "// Numeric types of every stage (change them here to experiment, or regenerate).",
            f"#ifndef {guard}\n#define {guard}\n",
            "#include <cstddef>",
            '#include "ap_fixed.h"\n#include "ap_int.h"',
            '#ifdef RMODEL_OWN_STREAM\n#include "rmodel_stream.h"  // C-simulation stand-in for hls_stream.h\n'
            '#else\n#include "hls_stream.h"\n#endif\n',
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
        sig = ", ".join(
            [f"hls::stream<{t}>& {p}" for t, p in zip(input_types, in_ports)]
            + [f"hls::stream<{t}>& {p}" for t, p in zip(output_types, out_ports)]
        )
        iface = []
        for k, info in enumerate(model.inputs):
            iface.append(
                f"//   {in_ports[k]}: input {quoted(info.name)} {info.dtype}[{'x'.join(map(str, info.shape))}], "
                f"{info.size} values per call in row-major order"
            )
        for k, info in enumerate(model.outputs):
            iface.append(
                f"//   {out_ports[k]}: output {quoted(info.name)} {info.dtype}[{'x'.join(map(str, info.shape))}], "
                f"{info.size} values per call in row-major order"
            )
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
            params = [f"hls::stream<{t}>& in{j}" for j, (_, t) in enumerate(st.inputs)]
            params += [f"hls::stream<{t}>& out{j}" for j, (_, t) in enumerate(st.outputs)]
            if k:
                funcs("")
            funcs.comment(st.comment)
            with funcs.block(f"void {st.func}({', '.join(params)})"):
                funcs(st.body)
        dataflow = CppWriter()
        with dataflow.block(f"void {top}({sig})"):
            dataflow(*(f"#pragma HLS INTERFACE axis port={p}" for p in in_ports + out_ports))
            dataflow("#pragma HLS INTERFACE ap_ctrl_chain port=return")
            dataflow("#pragma HLS DATAFLOW")
            for var, ctype, depth in streams:
                dataflow(f'hls::stream<{ctype}> {var}("{var}");')
                dataflow(f"#pragma HLS STREAM variable={var} depth={depth}")
            for st in stages:
                args = [s for s, _ in st.inputs] + [s for s, _ in st.outputs]
                dataflow(f"detail::{st.func}({', '.join(args)});")
        source = "\n".join(
            [
                f"// Generated by rmodel {__version__} from {quoted(model.name)} -- do not edit.",
                f"// {len(model.operators)} operators -> {len(stages)} dataflow stages.",
                f'#include "{top}.h"\n',
                "#include <cmath>\n",
                "namespace detail {\n",
                *includes,
                "",
                *(self.helpers[k] + "\n" for k in sorted(self.helpers)),
                funcs.text(),
                "\n}  // namespace detail\n",
                dataflow.text(),
                "",
            ]
        )
        files = {"defines.h": "\n".join(defines), f"{top}.h": header, f"{top}.cpp": source}
        files.update(weight_files)
        return files


@contextmanager
def _pipelined_loop(w: CppWriter, label: str, count: int) -> Iterator[None]:
    """``label: for (int i = 0; i < count; ++i)`` pipelined at one element per clock."""
    w(f"{label}:")
    with w.loop("i", count, type_="int"):
        w("#pragma HLS PIPELINE II=1")
        yield


def build_firmware(model: RModel, config: HlsConfig, top: str, weights_dir: str = "weights/") -> Firmware:
    return FirmwareEmitter(model, config, identifier(top, "model")).build(weights_dir)
