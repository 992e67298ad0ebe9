"""HLS implementations of operators: one module per operator family, registered by ONNX op type.

The HLS target turns every operator into one *stage*: a C++ function that reads its streamed
inputs element by element from ``hls::stream`` channels and writes its outputs to others. Stages
are chained inside one ``#pragma HLS DATAFLOW`` top function by ``rmodel.emitters.hls``.

Each streamed tensor carries an *order*: stream position ``i`` holds the element whose row-major
(ONNX) flat index is ``order[i]`` (``None`` = row-major itself). A stage states which order it
needs on each input (``ANY`` = whatever arrives) and which order its outputs come out in; the
emitter inserts reorder stages where they differ. Transpose, Reshape and Flatten therefore cost
nothing: they only relabel the order of a stream (``alias = True``).

These classes read the typed fields and tensor infos that the CPU operators set in ``setup()`` and
``infer()``; they never change the operators.
"""

from __future__ import annotations

import importlib
import math
import pkgutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import numpy as np

from rmodel.cpp_writer import CppWriter
from rmodel.registry import Registry

from ..base import Operator
from .cost import Cost, Schedule

#: ONNX op type -> HLS implementation class
HLS_REGISTRY: Registry[type[HlsImpl]] = Registry("HLS implementation")
#: class decorator: make the class the HLS implementation of the given ONNX op types
register_hls = HLS_REGISTRY.register

#: order of a stream: None (row-major) or an int array of flat row-major indices
Order = Any
#: required order meaning "accept the order the stream arrives in"
ANY = "any"


def normalize_order(order: Order) -> Order:
    """None for the row-major order, else the order as an int64 array."""
    if order is None:
        return None
    arr = np.asarray(order, dtype=np.int64).ravel()
    return None if np.array_equal(arr, np.arange(arr.size)) else arr


def same_order(a: Order, b: Order) -> bool:
    a, b = normalize_order(a), normalize_order(b)
    if a is None or b is None:
        return a is None and b is None
    return bool(np.array_equal(a, b))


def transpose_order(shape: tuple[int, ...], perm: tuple[int, ...]) -> Order:
    """The order that streams a tensor of ``shape`` as if it were transposed by ``perm``."""
    return normalize_order(np.arange(math.prod(shape)).reshape(shape).transpose(perm))


def channels_last_order(shape: tuple[int, ...]) -> Order:
    """(N, C, spatial...) streamed pixel by pixel, all channels of a pixel together."""
    rank = len(shape)
    return transpose_order(shape, (0, *range(2, rank), 1))


def as_array(order: Order, size: int) -> np.ndarray:
    return np.arange(size) if order is None else np.asarray(order)


class HlsContext:
    """What an HLS implementation may use while writing its stage (filled by the emitter)."""

    def __init__(
        self,
        emitter: Any,
        op: Operator,
        stage: str,
        config: Any,
        in_types: list[str],
        in_orders: list[Order],
        streamed: list[int],
        io_type: str = "io_serial",
    ):
        self._emitter = emitter
        self.op = op
        #: C++ name of this stage (prefix of its types and weights)
        self.stage = stage
        #: the resolved per-layer configuration (precision per role, reuse factor, tables)
        self.config = config
        #: C++ types of the streamed inputs, by position among ``streamed``
        self.in_types = in_types
        #: order in which each streamed input arrives
        self.in_orders = in_orders
        #: operator input indices that are streams (the others are constants)
        self.streamed = streamed
        #: "io_serial" (one scalar per stream word), "io_stream" (packed words) or "io_parallel"
        self.io_type = io_type
        #: C++ word types of the streams ``in0``... / ``out0``... of a "custom" packed stage
        self.in_words: list[str] = []
        self.out_words: list[str] = []
        #: inline function applied to every output value as it is written: the activation fused
        #: into this stage (io_stream; see ``HlsImpl.fuses_activation``), or None
        self.epilogue: str | None = None

    def written(self, value: str) -> str:
        """C++ of an output value as the stage writes it: ``value`` (in the result type), passed
        through the fused activation if there is one."""
        return f"{self.epilogue}({value})" if self.epilogue else value

    @property
    def reuse(self) -> int:
        return int(self.config.reuse_factor)

    def type(self, role: str) -> str:
        """C++ type name of ``role`` (weight, bias, accum, result, table) for this stage."""
        return self._emitter.layer_type(self.stage, role, self.config)

    def is_float(self, role: str = "result") -> bool:
        return self.config.precision(role).is_float

    def weight(self, hint: str, values: np.ndarray, role: str = "weight") -> str:
        """Name of a constant array of ``values`` stored in ``role``'s type (firmware/weights/)."""
        return self._emitter.add_weight(self.stage, hint, np.asarray(values), self.type(role))

    def index_table(self, hint: str, values: np.ndarray) -> str:
        """Name of a constant ``int`` array (e.g. addresses of a fixed access pattern)."""
        return self._emitter.add_weight(self.stage, hint, np.asarray(values, dtype=np.int32), "int")

    def const(self, name: str) -> np.ndarray | None:
        return self._emitter.model.constants.get(name) if name else None

    @property
    def constants(self) -> dict[str, np.ndarray]:
        """The model's constant tensors (weights)."""
        return self._emitter.model.constants

    def helper(self, key: str, code: str) -> None:
        """A helper function shared by stages (emitted once, before the stages)."""
        self._emitter.helpers.setdefault(key, code)


class HlsImpl:
    """HLS stage of one operator. Subclasses override what differs from an elementwise stage."""

    #: True: no stage; the outputs are the (relabelled) input stream
    alias: ClassVar[bool] = False
    #: an alias whose output has the row-major layout of its input (io_parallel shares the array)
    keeps_row_major: ClassVar[bool] = False
    #: io_stream: the stage writes its one output through ``HlsContext.written``, so an activation
    #: that alone reads it can be applied there (no stage and no FIFO of its own)
    fuses_activation: ClassVar[bool] = False
    #: an elementwise activation that a ``fuses_activation`` stage can apply (``statements`` turn
    #: ``v`` into ``const result y``; no multipliers or tables of its own)
    fusable: ClassVar[bool] = False

    def __init__(self, op: Operator):
        self.op = op

    # ---- structure --------------------------------------------------------------------
    def streamed_inputs(self, constants: dict[str, np.ndarray]) -> list[int]:
        """Indices of the inputs that arrive as streams (default: every non-constant input)."""
        return [i for i, n in enumerate(self.op.inputs) if n and n not in constants]

    def required_orders(self, orders: list[Order]) -> list[Order]:
        """Order needed on each streamed input (``ANY`` keeps the arriving one)."""
        return [None] * len(orders)

    def output_orders(self, orders: list[Order]) -> list[Order]:
        """Order of each output, given the orders the inputs are read in."""
        return [None] * len(self.op.outputs)

    def check(self, ctx_constants: dict[str, np.ndarray]) -> None:
        """Raise a clear error when this operator's configuration cannot be built for HLS."""

    # ---- numeric types and reuse --------------------------------------------------------
    def accumulated_terms(self) -> int:
        """Products summed into one accumulator (0: the stage multiplies-and-accumulates nothing)."""
        return 0

    def has_bias(self) -> bool:
        """Whether a bias is added to the sums (sizes the derived accumulator)."""
        return False

    def mac_input_precision(self, config: Any, inputs: tuple[Any, ...]) -> Any:
        """Type of the values multiplied by the weights (default: the first streamed input's)."""
        return inputs[0] if inputs else None

    def reuse_work(self) -> int:
        """Products of one pass that the reuse factor divides among multipliers (0: no reuse)."""
        return 0

    # ---- code ---------------------------------------------------------------------------
    def emit(self, ctx: HlsContext) -> str:
        """Body of the stage function (streams are ``in0``... and ``out0``...), as the emitter takes it."""
        w = StageWriter()
        self.write(ctx, w)
        return w.text()

    def write(self, ctx: HlsContext, w: StageWriter) -> None:
        """Write the body of the stage function into ``w`` (io_serial: one scalar per word)."""
        raise NotImplementedError

    #: how the stage handles packed io_stream words: "whole" (read every word of the inputs into
    #: row-major arrays, run ``write_parallel``, write the outputs as one word each), "words"
    #: (``write_words``: one word at a time, any packing) or "custom" (``write_packed``)
    packing: ClassVar[str] = "whole"

    def write_parallel(self, ctx: HlsContext, w: StageWriter) -> None:
        """io_parallel body: inputs ``in0``... and outputs ``out0``... are row-major arrays."""
        raise NotImplementedError

    def write_words(self, ctx: HlsContext, w: StageWriter, lanes: int) -> None:
        """Body for one word of ``lanes`` values, from ``x_word`` (and ``x1_word``, a second input) to
        ``y_word``: lane ``l`` of word ``k`` holds element ``k * lanes + l`` of the arriving stream;
        "words" packing only."""
        raise NotImplementedError

    def packed_lanes(self) -> tuple[list[int], list[int]]:
        """Lanes of each streamed input and output word of a "custom" packed stage."""
        raise NotImplementedError

    def write_packed(self, ctx: HlsContext, w: StageWriter) -> None:
        """Packed io_stream body of a "custom" stage (streams of ``rmodel_word`` types)."""
        raise NotImplementedError

    # ---- estimates for the report ---------------------------------------------------------
    def macs(self) -> int:
        """Multiplications per inference."""
        return 0

    def multipliers(self, reuse: int) -> int:
        """Hardware multipliers at reuse factor ``reuse``."""
        macs = self.macs()
        return math.ceil(macs / max(reuse, 1)) if macs else 0

    def latency(self, reuse: int) -> int:
        """Rough clock cycles from first input to last output."""
        sizes = [i.size for i in self.op.input_infos if i is not None] or [0]
        outs = [o.size for o in self.op.output_infos if o is not None] or [0]
        return max(sizes) + max(outs)

    def interval(self, reuse: int) -> int:
        """io_serial: cycles between successive inferences (the pipelined loop trips of the stage)."""
        sizes = [i.size for i in self.op.input_infos if i is not None] or [0]
        outs = [o.size for o in self.op.output_infos if o is not None] or [0]
        return max(max(sizes), max(outs), 1)

    def depth(self, s: Schedule) -> int:
        """Cycles of the ``write_parallel`` body (io_parallel, and whole stages of io_stream)."""
        return 1

    def parallel_trips(self, s: Schedule) -> int:
        """Pipelined loop iterations of the ``write_parallel`` body (reuse loops of MAC layers)."""
        return 0

    def cost(self, s: Schedule) -> Cost:
        """The estimate of this stage under ``s`` (see ``operators.hls.cost``)."""
        if self.alias:
            return Cost(interval=0)
        macs = self.macs()
        if s.io_type == "io_serial":
            trips = self.interval(s.reuse)
            return Cost(self.multipliers(s.reuse), trips=trips, latency=self.latency(s.reuse), interval=trips)
        depth = self.depth(s)
        trips = self.parallel_trips(s)
        if s.io_type == "io_parallel":
            return Cost(macs, trips=trips, latency=depth, interval=max(1, trips))
        if self.packing == "words":
            words = s.words_in[0] if s.words_in else 1
            return Cost(math.ceil(macs / max(words, 1)), trips=words, latency=depth + words, interval=words)
        # a whole stage is one pipelined function: a new inference every max(words read, written) cycles
        reads, writes = sum(s.words_in), sum(s.words_out)
        interval = max(reads, writes, trips, 1)
        return Cost(macs, trips=trips + reads + writes, latency=reads + depth + writes, interval=interval)


class StageWriter(CppWriter):
    """CppWriter of an HLS stage body: ``int`` loop counters, loop labels and ``#pragma HLS`` lines."""

    def label(self, name: str, hang: bool = True) -> None:
        """``name:`` before a loop; ``hang`` writes it one level left of the current depth (inside a
        block; at the top level it stays at column 0), else at the depth of the loop."""
        if hang:
            self.outdented(f"{name}:")
        else:
            self(f"{name}:")

    @contextmanager
    def loop(
        self,
        var: str,
        stop: int | str,
        start: int | str = 0,
        type_: str = "int",
        *,
        label: str | None = None,
        hang: bool = True,
        pragma: str | None = None,
    ) -> Iterator[None]:
        """``for (int var = start; var < stop; ++var) { ... }``, after ``label:`` (see ``label``) and
        with ``#pragma HLS <pragma>`` as its first line."""
        if label is not None:
            self.label(label, hang)
        with super().loop(var, stop, start, type_):
            if pragma is not None:
                self(f"#pragma HLS {pragma}")
                if pragma.startswith("PIPELINE"):
                    self("RMODEL_TRIP();")
            yield

    @contextmanager
    def pipelined(self, label: str, var: str, stop: int | str, ii: int = 1, hang: bool = True) -> Iterator[None]:
        """A labelled loop with ``#pragma HLS PIPELINE II=ii``."""
        with self.loop(var, stop, label=label, hang=hang, pragma=f"PIPELINE II={ii}"):
            yield


for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_module}")


__all__ = [
    "ANY",
    "Cost",
    "Schedule",
    "HLS_REGISTRY",
    "HlsContext",
    "HlsImpl",
    "Order",
    "StageWriter",
    "as_array",
    "channels_last_order",
    "normalize_order",
    "register_hls",
    "same_order",
    "transpose_order",
]
