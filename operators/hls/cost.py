"""rmodel's cost model of its HLS stages: cycles, multipliers and storage, per IO type and strategy.

It models the loops rmodel writes, not a synthesis result. Assumptions (at clock period T ns):

- a fixed-point multiplication takes one cycle (a registered DSP or LUT multiplier); a float one
  ``ceil(20 / T)`` cycles, a float addition ``ceil(20 / T)`` cycles per adder level;
- fixed-point additions chain ``floor(T / 1.2 ns)`` adder levels per cycle (carry chains of
  UltraScale+ parts at up to ~48 bits), so a sum of n terms takes ``ceil(ceil(log2 n) / chain)``
  cycles;
- a lookup table (sigmoid, tanh, exp, 1/x) costs one cycle to read;
- ``trips`` counts the iterations of the pipelined (II=1) loops the C++ runs per inference: in
  the sequential IO types (io_serial, io_stream) it is the stage's busy time, its interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

#: delay of one fixed-point adder level (ns), routing included
ADDER_NS = 1.2
#: delay of a float multiplier or adder (ns)
FLOAT_OP_NS = 20.0


@dataclass(frozen=True)
class Schedule:
    """What a stage's cost depends on besides its operator."""

    io_type: str = "io_serial"
    strategy: str = "latency"
    reuse: int = 1
    clock_ns: float = 5.0
    float_math: bool = False
    #: stream words per inference of each streamed input / output (packed io_stream)
    words_in: tuple[int, ...] = ()
    words_out: tuple[int, ...] = ()
    #: the weight type (a Precision: which weights it stores as 0) and the model's constants
    weight_precision: Any = field(default=None, compare=False)
    constants: Any = field(default=None, compare=False)

    def multiply(self) -> int:
        """Cycles of one multiplication."""
        return math.ceil(FLOAT_OP_NS / self.clock_ns) if self.float_math else 1

    def sum(self, terms: int) -> int:
        """Cycles of an adder tree over ``terms`` values."""
        levels = math.ceil(math.log2(terms)) if terms > 1 else 0
        if self.float_math:
            return levels * math.ceil(FLOAT_OP_NS / self.clock_ns)
        chain = max(1, math.floor(self.clock_ns / ADDER_NS))
        return math.ceil(levels / chain)

    def mac(self, terms: int) -> int:
        """Cycles of sum_k a[k] * w[k] over ``terms`` products, reuse factor included."""
        if terms == 0:
            return 0
        return self.multiply() + self.sum(terms) + (self.reuse - 1)


@dataclass(frozen=True)
class Cost:
    """Estimate for one stage and one inference."""

    #: hardware multipliers (zero weights have none)
    multipliers: int = 0
    #: products of zero weights that got no multiplier
    skipped: int = 0
    #: iterations of pipelined loops the C++ runs (compared with C simulation by the tests)
    trips: int = 0
    #: cycles from the first input to the last output of the stage
    latency: int = 0
    #: cycles between two inferences the stage can accept
    interval: int = 1
    #: constant values stored (weights, tables), and where: "registers", "rom" (BRAM/LUTRAM)
    stored: int = 0
    storage: str = "registers"
    #: values held in buffers (line buffers, whole-tensor buffers)
    buffered: int = 0
    #: io_stream: cycles from the first input word to the first output word (None: the emitter
    #: takes ``latency`` less the output words)
    first: int | None = None
