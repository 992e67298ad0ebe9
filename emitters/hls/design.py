"""Per-layer HLS settings after defaults: the types each stage reads, its derived accumulator type
and its reuse factor rounded to a valid value, with a note for every such decision.

Firmware emission, the report and the cost model all start from ``design_layers`` so they describe
the same design.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from rmodel.errors import RModelError
from rmodel.model import RModel
from rmodel.operators.base import Operator
from rmodel.operators.hls import HlsImpl

from .config import HlsConfig, LayerConfig, Precision

#: widest ap_fixed the Xilinx headers accept by default (AP_INT_MAX_W)
MAX_FIXED_WIDTH = 1024


@dataclass(frozen=True)
class LayerDesign:
    """One operator's HLS implementation with its effective settings."""

    op: Operator
    impl: HlsImpl
    config: LayerConfig
    #: types of the streamed inputs, in the order of ``impl.streamed_inputs``
    input_precisions: tuple[Precision, ...]
    #: what rmodel decided for the user (rounded reuse factor, derived accumulator...)
    notes: tuple[str, ...] = ()


def accumulator_type(inputs: Precision, weights: Precision, terms: int, bias: Precision | None) -> Precision:
    """A fixed-point type that holds any sum of ``terms`` products of ``inputs`` x ``weights`` values
    (plus one ``bias``) exactly: product bits, plus ceil(log2(terms + bias)) carry bits."""
    count = terms + (1 if bias is not None else 0)
    carry = max(0, math.ceil(math.log2(max(count, 1))))
    integer = inputs.integer + weights.integer + carry
    fractional = inputs.fractional + weights.fractional
    if bias is not None:
        integer = max(integer, bias.integer + carry)
        fractional = max(fractional, bias.fractional)
    return Precision(integer + fractional, integer, True)


def rounded_reuse(requested: int, work: int) -> int:
    """The divisor of ``work`` nearest to ``requested`` (the smaller one on a tie); ``work`` 0: as is."""
    if work <= 0 or work % requested == 0:
        return requested
    divisors = [d for d in range(1, min(work, requested * 2) + 1) if work % d == 0]
    return min(divisors, key=lambda d: (abs(d - requested), d))


def design_layer(op: Operator, impl: HlsImpl, cfg: LayerConfig, inputs: tuple[Precision, ...]) -> LayerDesign:
    """``cfg`` with the reuse factor rounded and the accumulator derived where the user named none."""
    notes = []
    work = impl.reuse_work()
    reuse = rounded_reuse(cfg.reuse_factor, work)
    if reuse != cfg.reuse_factor:
        notes.append(
            f"reuse factor {cfg.reuse_factor} does not divide the {work} products of a pass; using {reuse} instead"
        )
    types = dict(cfg.types)
    terms = impl.accumulated_terms()
    source = impl.mac_input_precision(cfg, inputs)
    if terms and "accum" not in cfg.explicit and source is not None:
        weight = cfg.precision("weight")
        if source.is_float or weight.is_float:
            types["accum"] = Precision(is_float=True)
        else:
            bias = cfg.precision("bias") if impl.has_bias() else None
            acc = accumulator_type(source, weight, terms, bias)
            if acc.width > MAX_FIXED_WIDTH:
                raise RModelError(
                    f"node '{op.name}' ({op.op_type}): an overflow-free accumulator needs {acc.width} bits, more "
                    f"than ap_fixed's {MAX_FIXED_WIDTH}; name a narrower accum type in the precision option"
                )
            types["accum"] = acc
            result = cfg.precision("result")
            if not result.is_float and result.integer < acc.integer and result.saturation in (None, "AP_WRAP"):
                notes.append(
                    f"result type {result} keeps fewer integer bits than the sums: results outside "
                    f"[{result.low:g}, {result.high:g}] wrap around (add AP_SAT to saturate them)"
                )
    config = dataclasses.replace(cfg, types=types, reuse_factor=reuse)
    return LayerDesign(op, impl, config, inputs, tuple(notes))


def design_layers(model: RModel, config: HlsConfig, impls: list[HlsImpl]) -> list[LayerDesign]:
    """Every operator's design, following the types along the graph (aliases keep their input's)."""
    types: dict[str, Precision] = {info.name: config.input_precision() for info in model.inputs}
    designs = []
    for op, impl in zip(model.operators, impls):
        impl.check(model.constants)
        streamed = impl.streamed_inputs(model.constants)
        inputs = tuple(types.get(op.inputs[i], config.input_precision()) for i in streamed)
        design = design_layer(op, impl, config.for_op(op.name, op.op_type), inputs)
        designs.append(design)
        produced = inputs[0] if impl.alias and inputs else design.config.precision("result")
        for name in op.outputs:
            if name:
                types[name] = produced
    return designs
