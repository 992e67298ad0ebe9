"""Which groups of weights to keep: rank groups by magnitude, then a knapsack under the budget.

The budget is ``(1 - sparsity)`` times the objective's cost of the optimizable layers with all
weights kept (globally, or per layer with ``local=True``), less what no group removal saves
(biases outside neurons, rounding); each group's knapsack weight is what
removing it saves, its value its importance: the group's norm divided by ``size ** (1 / p)``
(mean magnitude for l1, root mean square for l2), so groups of different sizes and layers compare.
``oracle`` ranks a group by ``|sum_g dL/dw * w| / size``, the first-order change of the loss when
the group is removed (Molchanov et al. 2016, "Pruning Convolutional Neural Networks for Resource
Efficient Inference"); it needs the loss gradients (``gradients.get_model_gradients``).
``saliency`` ranks it by ``sum_g |d2L/dw2| * w**2 / 2 / size``, Optimal Brain Damage's estimate of
the loss increase (LeCun et al. 1989), from the Hessian's diagonal (``get_model_hessians``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from rmodel.errors import RModelError

from .attributes import LayerAttributes
from .knapsack import solve_knapsack
from .objectives import ObjectiveEstimator
from .structures import StructureType, group_indices

#: ranking metrics of groups
SUPPORTED_METRICS = ("l1", "l2", "oracle", "saliency")


@dataclass(frozen=True)
class LayerMask:
    """Binary masks (1: kept) of a layer's kernel and, for structured pruning, its bias."""

    kernel: np.ndarray
    bias: np.ndarray | None


def optimizable_layers(
    attributes: Mapping[str, LayerAttributes], objective: ObjectiveEstimator
) -> list[LayerAttributes]:
    """The layers to prune: optimizable for the objective with their chosen structure (checked)."""
    chosen = []
    for attrs in attributes.values():
        ok, structures = objective.is_layer_optimizable(attrs)
        if not ok:
            continue
        attrs.check()
        if attrs.structure_type not in structures:
            names = ", ".join(s.value for s in structures)
            raise RModelError(
                f"layer '{attrs.name}': objective {objective.name} does not count structure "
                f"{attrs.structure_type.value!r}; use one of {names}"
            )
        chosen.append(attrs)
    return chosen


def group_importance(
    kernel: np.ndarray,
    groups: np.ndarray,
    metric: str,
    gradient: np.ndarray | None = None,
    hessian: np.ndarray | None = None,
) -> np.ndarray:
    """Importance of each group (row of flat indices ``groups``) of ``kernel`` under ``metric``
    (``gradient``, ``hessian``: the loss gradient and Hessian diagonal with respect to the kernel,
    for ``oracle`` and ``saliency``)."""
    values = np.asarray(kernel, dtype=np.float64).reshape(-1)[groups]
    if metric == "saliency":
        if hessian is None:
            raise RModelError("ranking metric 'saliency' needs the Hessian diagonal of the kernels")
        curvature = np.abs(np.asarray(hessian, dtype=np.float64).reshape(-1)[groups])
        return (0.5 * curvature * values**2).sum(axis=1) / groups.shape[1]
    if metric == "oracle":
        if gradient is None:
            raise RModelError("ranking metric 'oracle' needs the loss gradients of the kernels")
        slopes = np.asarray(gradient, dtype=np.float64).reshape(-1)[groups]
        return np.abs((slopes * values).sum(axis=1)) / groups.shape[1]
    if metric == "l1":
        return np.abs(values).mean(axis=1)
    if metric == "l2":
        return np.sqrt(np.square(values).mean(axis=1))
    raise RModelError(f"ranking metric {metric!r} is not supported; choose one of {', '.join(SUPPORTED_METRICS)}")


def get_model_masks(
    model: Any,
    attributes: Mapping[str, LayerAttributes],
    sparsity: float,
    objective: ObjectiveEstimator,
    metric: str = "l1",
    local: bool = False,
    knapsack_solver: str = "dp",
    gradients: Mapping[str, np.ndarray] | None = None,
    hessians: Mapping[str, np.ndarray] | None = None,
) -> dict[str, LayerMask]:
    """Masks of every optimizable layer keeping at most ``(1 - sparsity)`` of the objective
    (``gradients``, ``hessians``: per layer name, the loss gradient and Hessian diagonal of the
    kernel, for ``metric`` ``"oracle"`` and ``"saliency"``)."""
    if metric not in SUPPORTED_METRICS:
        raise RModelError(f"ranking metric {metric!r} is not supported; choose one of {', '.join(SUPPORTED_METRICS)}")
    layers = optimizable_layers(attributes, objective)
    entries = []  # (attrs, groups, importance, saving per group)
    for attrs in layers:
        kernel = np.asarray(model.get_layer(attrs.name).kernel)
        groups = group_indices(attrs.weight_shape, attrs.structure_type, **attrs.structure_options())
        gradient = gradients.get(attrs.name) if gradients is not None else None
        hessian = hessians.get(attrs.name) if hessians is not None else None
        importance = group_importance(kernel, groups, metric, gradient, hessian)
        entries.append((attrs, groups, importance, objective.layer_savings(attrs)))
    keep: dict[str, np.ndarray] = {}
    batches = [[e] for e in entries] if local else [entries]
    for batch in batches:
        if not batch:
            continue
        values = np.concatenate([e[2] for e in batch])
        weights = np.concatenate([np.full(e[1].shape[0], e[3]) for e in batch])
        # what pruning cannot remove (biases, a DSP count's rounding up) stays within the budget
        total = sum(objective.layer_resources(e[0]) for e in batch)
        fixed = total - float(weights.sum())
        capacity = max(0.0, (1.0 - sparsity) * total - fixed)
        result = solve_knapsack(values, weights, capacity, knapsack_solver)
        chosen = np.zeros(values.size, dtype=bool)
        chosen[list(result.selected)] = True
        start = 0
        for attrs, groups, _, _ in batch:
            keep[attrs.name] = chosen[start : start + groups.shape[0]]
            start += groups.shape[0]
    masks = {}
    for attrs, groups, _, _ in entries:
        kernel_mask = np.zeros(attrs.weights, dtype=np.float32)
        kernel_mask[groups[keep[attrs.name]].reshape(-1)] = 1.0
        bias_mask = None
        if attrs.structure_type is StructureType.STRUCTURED and attrs.use_bias:
            bias_mask = keep[attrs.name].astype(np.float32)
        masks[attrs.name] = LayerMask(kernel_mask.reshape(attrs.weight_shape), bias_mask)
    return masks


def apply_masks(model: Any, masks: Mapping[str, LayerMask]) -> None:
    """Zero the masked weights of the model in place."""
    for name, mask in masks.items():
        layer = model.get_layer(name)
        layer.kernel.assign(np.asarray(layer.kernel) * mask.kernel)
        if mask.bias is not None:
            layer.bias.assign(np.asarray(layer.bias) * mask.bias)
