"""Per-layer facts and pruning options of a Keras model's Dense and Conv1D/Conv2D layers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rmodel.errors import RModelError

from .structures import StructureType, check_structure, structure_type

#: Keras layer classes pruning knows (by class name, so subclasses such as QKeras' are not taken for them)
SUPPORTED_LAYERS = ("Dense", "Conv1D", "Conv2D")


@dataclass
class LayerAttributes:
    """One prunable layer: its shapes (without the batch axis) and how it is to be pruned.

    Change ``optimizable``, ``structure_type``, ``reuse_factor``, ``block_shape``,
    ``consecutive_patterns`` or the precisions before passing the attributes to ``optimize_model``.
    ``pattern_offset`` left at None follows the reuse factor (weights / reuse factor). The
    precisions (HLS type names such as ``"ap_fixed<16,6>"``) are read by the DSP objective only;
    None means the objective's own default."""

    name: str
    layer_type: str
    weight_shape: tuple[int, ...]
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    use_bias: bool
    allowed_structures: tuple[StructureType, ...]
    optimizable: bool = True
    structure_type: StructureType = StructureType.UNSTRUCTURED
    reuse_factor: int = 1
    block_shape: tuple[int, int] = (1, 1)
    pattern_offset: int | None = None
    consecutive_patterns: int = 1
    weight_precision: str | None = None
    input_precision: str | None = None
    notes: list[str] = field(default_factory=list)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "structure_type":  # a name such as "pattern" is taken for its StructureType
            value = structure_type(value)
        object.__setattr__(self, name, value)

    @property
    def weights(self) -> int:
        """Kernel size (biases not counted)."""
        return int(np.prod(self.weight_shape))

    @property
    def output_positions(self) -> int:
        """Output pixels or sequence steps (1 for a Dense on a vector): uses of each kernel weight per sample."""
        return int(np.prod(self.output_shape)) // self.weight_shape[-1]  # (either data format)

    def structure_options(self) -> dict[str, Any]:
        """Keyword arguments of ``structures.group_matrix`` for this layer's structure."""
        offset = self.pattern_offset
        if offset is None:
            if self.weights % self.reuse_factor:
                raise RModelError(
                    f"layer '{self.name}': reuse factor {self.reuse_factor} does not divide its {self.weights} weights"
                )
            offset = self.weights // self.reuse_factor
        return {
            "block_shape": tuple(self.block_shape),
            "pattern_offset": offset,
            "consecutive_patterns": self.consecutive_patterns,
        }

    def check(self) -> None:
        """An error when the chosen structure is not allowed for this layer or does not fit its kernel."""
        kind = self.structure_type
        if kind not in self.allowed_structures:
            names = ", ".join(s.value for s in self.allowed_structures)
            raise RModelError(f"layer '{self.name}' ({self.layer_type}): structure {kind.value!r} not one of {names}")
        if self.reuse_factor < 1:
            raise RModelError(f"layer '{self.name}': reuse factor must be at least 1, got {self.reuse_factor}")
        check_structure(self.weight_shape, kind, **self.structure_options())


def _shape(value: Any) -> tuple[int, ...]:
    """A Keras shape without its batch axis (a list of shapes: the first)."""
    if isinstance(value, list):
        value = value[0]
    return tuple(int(d) if d is not None else -1 for d in tuple(value)[1:])


def get_attributes_from_keras_model(model: Any) -> dict[str, LayerAttributes]:
    """Attributes of every Dense, Conv1D and Conv2D layer of a built Keras 3 model, by layer name.

    Neurons/filters (``structured``) of the last layer with weights stay: they are the model's
    outputs. Grouped convolutions are listed but not optimizable."""
    layers = _flat_layers(model)
    with_weights = [layer for layer in layers if layer.weights]
    last = with_weights[-1] if with_weights else None
    out: dict[str, LayerAttributes] = {}
    for layer in layers:
        kind = type(layer).__name__
        if kind not in SUPPORTED_LAYERS:
            continue
        allowed = [StructureType.UNSTRUCTURED, StructureType.PATTERN]
        if layer is not last:
            allowed.insert(1, StructureType.STRUCTURED)
        if kind == "Dense":
            allowed.append(StructureType.BLOCK)
        attrs = LayerAttributes(
            name=layer.name,
            layer_type=kind,
            weight_shape=tuple(int(d) for d in layer.kernel.shape),
            input_shape=_shape(layer.input.shape),
            output_shape=_shape(layer.output.shape),
            use_bias=bool(layer.use_bias),
            allowed_structures=tuple(allowed),
        )
        if kind != "Dense" and getattr(layer, "groups", 1) != 1:
            attrs.optimizable = False
            attrs.notes.append("grouped convolution: not pruned")
        out[layer.name] = attrs
    return out


def _flat_layers(model: Any) -> list[Any]:
    """The model's layers, nested models' layers in place of the nested models."""
    found: list[Any] = []
    for layer in model.layers:
        if hasattr(layer, "layers") and isinstance(getattr(layer, "layers", None), list) and layer.layers:
            found += _flat_layers(layer)
        else:
            found.append(layer)
    return found
