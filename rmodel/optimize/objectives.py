"""What pruning minimises: an estimate of a resource per layer, and what removing a group saves.

Every objective answers four questions about a layer (``LayerAttributes``): can pruning reduce
it, and with which structures (``is_layer_optimizable``); what the dense layer costs
(``layer_resources``); what one removed group of its structure saves (``layer_savings``); and
what the layer costs now, zeros removed (``layer_usage``). ``model_resources`` sums the last
over the optimizable layers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from rmodel.emitters.hls.config import Precision
from rmodel.emitters.hls.design import rounded_reuse
from rmodel.emitters.hls.report import multiplier_dsps
from rmodel.errors import RModelError

from .attributes import LayerAttributes
from .structures import StructureType, check_structure

IO_TYPES = ("io_stream", "io_parallel", "io_serial")


class ObjectiveEstimator:
    """Base objective; subclasses give ``layer_resources``, ``group_saving`` and ``layer_usage``."""

    name = "objective"
    #: structures whose removal this objective counts
    structures: tuple[StructureType, ...] = tuple(StructureType)

    def is_layer_optimizable(self, attrs: LayerAttributes) -> tuple[bool, tuple[StructureType, ...]]:
        """Whether pruning ``attrs``' layer lowers the objective, and the structures that do."""
        usable = tuple(s for s in attrs.allowed_structures if s in self.structures)
        ok = attrs.optimizable and bool(usable) and self.layer_resources(attrs) > 0
        return ok, usable if ok else ()

    def layer_resources(self, attrs: LayerAttributes) -> float:
        """The layer's cost with every weight kept."""
        raise NotImplementedError

    def layer_savings(self, attrs: LayerAttributes) -> float:
        """What removing one group of the layer's structure saves."""
        _, group_size = check_structure(attrs.weight_shape, attrs.structure_type, **attrs.structure_options())
        bias = 1 if attrs.structure_type is StructureType.STRUCTURED and attrs.use_bias else 0
        return self.group_saving(attrs, group_size, bias)

    def group_saving(self, attrs: LayerAttributes, weights: int, biases: int) -> float:
        """Saving of removing ``weights`` kernel weights and ``biases`` biases of the layer."""
        raise NotImplementedError

    def layer_usage(self, attrs: LayerAttributes, kernel: np.ndarray, bias: np.ndarray | None) -> float:
        """The layer's cost with its current weights (zeros removed)."""
        raise NotImplementedError

    def model_resources(self, model: Any, attributes: Mapping[str, LayerAttributes]) -> float:
        """Current cost of the model's optimizable layers."""
        total = 0.0
        for attrs in attributes.values():
            if not self.is_layer_optimizable(attrs)[0]:
                continue
            layer = model.get_layer(attrs.name)
            bias = np.asarray(layer.bias) if attrs.use_bias else None
            total += self.layer_usage(attrs, np.asarray(layer.kernel), bias)
        return total

    def baseline_resources(self, attributes: Mapping[str, LayerAttributes]) -> float:
        """Cost of the optimizable layers with every weight kept."""
        return sum(self.layer_resources(a) for a in attributes.values() if self.is_layer_optimizable(a)[0])


class ParameterEstimator(ObjectiveEstimator):
    """Nonzero parameters (kernel and bias) of the optimizable layers."""

    name = "parameters"

    def layer_resources(self, attrs: LayerAttributes) -> float:
        return attrs.weights + (attrs.output_shape[-1] if attrs.use_bias else 0)

    def group_saving(self, attrs: LayerAttributes, weights: int, biases: int) -> float:
        return weights + biases

    def layer_usage(self, attrs: LayerAttributes, kernel: np.ndarray, bias: np.ndarray | None) -> float:
        return float(np.count_nonzero(kernel) + (np.count_nonzero(bias) if bias is not None else 0))


class FLOPEstimator(ObjectiveEstimator):
    """Floating-point operations per sample: two (a multiply and an add) per nonzero kernel weight
    and output position."""

    name = "FLOPs"

    def layer_resources(self, attrs: LayerAttributes) -> float:
        return 2.0 * attrs.weights * attrs.output_positions

    def group_saving(self, attrs: LayerAttributes, weights: int, biases: int) -> float:
        return 2.0 * weights * attrs.output_positions

    def layer_usage(self, attrs: LayerAttributes, kernel: np.ndarray, bias: np.ndarray | None) -> float:
        return 2.0 * np.count_nonzero(kernel) * attrs.output_positions


class DSPEstimator(ObjectiveEstimator):
    """DSPs of rmodel's HLS design, by the rule of its cost model (``rmodel.emitters.hls.estimate``):
    a layer whose weight type keeps ``n`` nonzero weights gets ``ceil(n / R)`` multipliers at reuse
    factor ``R`` (rounded to a divisor of the layer's products as the HLS emitter does), each of
    ``multiplier_dsps(input type, weight type)`` DSPs; Dense layers on sequences (except in
    io_serial) and Conv layers in io_parallel have one set per output position.

    The generated code drops every zero weight and packs the rest, so every R removed weights free
    a multiplier whatever their pattern; ``pattern`` groups (the R weights of one multiplier in
    hls4ml's layout) free one each. A group of ``g`` weights is counted as ``g / R`` multipliers."""

    name = "DSP"

    def __init__(self, precision: str = "ap_fixed<16,6>", io_type: str = "io_stream") -> None:
        if io_type not in IO_TYPES:
            raise RModelError(f"DSPEstimator: io_type {io_type!r} is not one of {', '.join(IO_TYPES)}")
        self.precision = Precision.parse(precision)
        self.io_type = io_type

    def _precisions(self, attrs: LayerAttributes) -> tuple[Precision, Precision]:
        source = Precision.parse(attrs.input_precision) if attrs.input_precision else self.precision
        weight = Precision.parse(attrs.weight_precision) if attrs.weight_precision else self.precision
        return source, weight

    def _per_multiplier(self, attrs: LayerAttributes) -> float:
        """DSPs of one multiplier times the number of parallel copies of the layer's multipliers."""
        dsps, _ = multiplier_dsps(*self._precisions(attrs))
        copies = attrs.output_positions
        if attrs.layer_type == "Dense" and self.io_type == "io_serial":
            copies = 1
        if attrs.layer_type != "Dense" and self.io_type != "io_parallel":
            copies = 1
        return float(dsps * copies)

    def reuse(self, attrs: LayerAttributes) -> int:
        """The reuse factor the HLS emitter uses for the layer."""
        return rounded_reuse(attrs.reuse_factor, attrs.weights)

    def layer_resources(self, attrs: LayerAttributes) -> float:
        return math.ceil(attrs.weights / self.reuse(attrs)) * self._per_multiplier(attrs)

    def group_saving(self, attrs: LayerAttributes, weights: int, biases: int) -> float:
        return weights / self.reuse(attrs) * self._per_multiplier(attrs)

    def layer_usage(self, attrs: LayerAttributes, kernel: np.ndarray, bias: np.ndarray | None) -> float:
        _, weight = self._precisions(attrs)
        kept = int(np.count_nonzero(~np.asarray(weight.rounds_to_zero(kernel))))
        reuse = max(1, min(self.reuse(attrs), kept))
        return math.ceil(kept / reuse) * self._per_multiplier(attrs)
