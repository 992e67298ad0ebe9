"""``optimize_model``: iterative pruning of a Keras 3 model against an objective, under a schedule."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from rmodel.errors import RModelError

from .attributes import LayerAttributes
from .gradients import get_model_gradients, get_model_hessians
from .knapsack import SOLVERS
from .masking import SUPPORTED_METRICS, LayerMask, apply_masks, get_model_masks, optimizable_layers
from .objectives import ObjectiveEstimator
from .regularizers import ConvRegularizer, DenseRegularizer
from .scheduler import OptimizationScheduler
from .utils import remove_custom_regularizers

TUNERS = ("Bayesian", "Hyperband")


class MaskConstraint(keras.constraints.Constraint):
    """Multiplies a weight by a fixed 0/1 mask (then applies the weight's own constraint, if any).
    The optimizer applies it after every update, so masked weights stay zero through fine-tuning."""

    def __init__(self, mask: np.ndarray, inner: Any = None) -> None:
        self.mask = np.asarray(mask, dtype=np.float32)
        self.inner = inner

    def __call__(self, w: Any) -> Any:
        w = w * keras.ops.convert_to_tensor(self.mask, dtype=w.dtype)
        return self.inner(w) if self.inner is not None else w


def optimize_model(
    model: Any,
    model_attributes: Mapping[str, LayerAttributes],
    objective: ObjectiveEstimator,
    scheduler: OptimizationScheduler,
    X_train: Any,
    y_train: Any,
    X_val: Any,
    y_val: Any,
    batch_size: int,
    epochs: int,
    optimizer: Any,
    loss_fn: Any,
    validation_metric: Any,
    increasing: bool,
    rtol: float,
    callbacks: Sequence[Any] | None = None,
    ranking_metric: str = "l1",
    local: bool = False,
    verbose: bool = False,
    rewinding_epochs: int = 1,
    cutoff_bad_trials: int = 1,
    directory: str | Path = "rmodel-optimization",
    tuner: str | None = None,
    knapsack_solver: str = "dp",
    regularization_range: Sequence[float] | None = None,
) -> Any:
    """A pruned copy of ``model`` (a built, Sequential or functional Keras 3 model).

    Each iteration takes the scheduler's next target sparsity s, retrains ``rewinding_epochs``
    epochs without masks (pruned weights may grow back), keeps the most important groups of
    weights whose ``objective`` cost is at most ``(1 - s)`` of the unpruned cost (ranked by
    ``ranking_metric``: ``"l1"``, ``"l2"``, or from the training loss ``"oracle"`` (gradients) or
    ``"saliency"`` (Hessian diagonal, estimated); chosen by the ``knapsack_solver``: ``"dp"``,
    ``"greedy"`` or ``"milp"``), zeroes the rest and fine-tunes ``epochs`` epochs with them held at zero. An iteration whose
    ``validation_metric`` (on ``X_val``, ``y_val``) stays within ``rtol`` of the baseline
    (``metric >= rtol * baseline`` if ``increasing`` else ``metric <= rtol * baseline``) is kept;
    after ``cutoff_bad_trials`` failures the last kept weights are returned.

    ``regularization_range``: regularizer strengths tried before pruning (each trains ``epochs``
    epochs from the baseline with every layer's structure regularizer, ``DenseRegularizer`` or
    ``ConvRegularizer``); the strongest one within ``rtol`` is kept. None: no regularization.
    ``directory`` receives ``best.weights.h5`` after every kept iteration. Keras-tuner search
    (``tuner``) is not available yet: only None is accepted."""
    if tuner is not None:
        hint = "" if _has_keras_tuner() else " (and keras-tuner is not installed)"
        raise RModelError(f"tuner={tuner!r}: rmodel.optimize has no keras-tuner search yet{hint}; pass tuner=None")
    if ranking_metric not in SUPPORTED_METRICS:
        raise RModelError(
            f"ranking metric {ranking_metric!r} is not supported; choose one of {', '.join(SUPPORTED_METRICS)}"
        )
    if knapsack_solver not in SOLVERS:
        raise RModelError(f"knapsack solver {knapsack_solver!r} is not one of {', '.join(SOLVERS)}")
    if not optimizable_layers(model_attributes, objective):
        raise RModelError(f"no layer can be pruned for objective {objective.name}")
    out_dir = Path(directory)
    out_dir.mkdir(parents=True, exist_ok=True)
    pruned = keras.models.clone_model(model)
    pruned.set_weights(model.get_weights())
    run = _Runner(pruned, optimizer, loss_fn, validation_metric, X_train, y_train, X_val, y_val, batch_size, callbacks)
    run.progress = 1 if verbose and sys.stdout.isatty() else 0

    def good(value: float, reference: float) -> bool:
        return value >= rtol * reference if increasing else value <= rtol * reference

    baseline_weights = pruned.get_weights()
    baseline = run.evaluate()
    if regularization_range:
        best_alpha = None
        for alpha in sorted(regularization_range):
            pruned.set_weights(baseline_weights)
            _set_regularizers(pruned, model_attributes, objective, alpha)
            run.fit(epochs, {})
            value = run.evaluate()
            if verbose:
                print(f"regularization {alpha:g}: {run.metric_name} {value:.4f} (baseline {baseline:.4f})")
            if good(value, baseline):
                best_alpha, baseline_weights = alpha, pruned.get_weights()
        _set_regularizers(pruned, model_attributes, objective, best_alpha)
        pruned.set_weights(baseline_weights)
    total = objective.baseline_resources(model_attributes)
    best_weights, bad, step = pruned.get_weights(), 0, 0
    go_on, target = scheduler.update_step()
    while go_on:
        step += 1
        if step > 1 and rewinding_epochs > 0:
            run.fit(rewinding_epochs, {})
        gradients = hessians = None
        names = [a.name for a in optimizable_layers(model_attributes, objective)]
        chunk = max(batch_size, 1024)  # (sums over the whole training set: the chunk size changes only the speed)
        if ranking_metric == "oracle":
            gradients = get_model_gradients(pruned, loss_fn, X_train, y_train, names, chunk)
        if ranking_metric == "saliency":
            hessians = get_model_hessians(pruned, loss_fn, X_train, y_train, names, chunk, seed=step)
        masks = get_model_masks(
            pruned,
            model_attributes,
            target,
            objective,
            ranking_metric,
            local=local,
            knapsack_solver=knapsack_solver,
            gradients=gradients,
            hessians=hessians,
        )
        apply_masks(pruned, masks)
        run.fit(epochs, masks)
        value = run.evaluate()
        reached = 1.0 - objective.model_resources(pruned, model_attributes) / total
        kept = good(value, baseline)
        if verbose:
            print(
                f"iteration {step}: target sparsity {target:.3f}, reached {reached:.3f} "
                f"({objective.name} {objective.model_resources(pruned, model_attributes):g} of {total:g}), "
                f"{run.metric_name} {value:.4f} (baseline {baseline:.4f}): {'kept' if kept else 'rejected'}"
            )
        if kept:
            best_weights = pruned.get_weights()
            pruned.save_weights(out_dir / "best.weights.h5")
            go_on, target = scheduler.update_step()
            continue
        bad += 1
        pruned.set_weights(best_weights)
        if bad >= cutoff_bad_trials:
            break
        go_on, target = scheduler.repair_step()
    pruned.set_weights(best_weights)
    return remove_custom_regularizers(pruned)


def _has_keras_tuner() -> bool:
    import importlib.util

    return importlib.util.find_spec("keras_tuner") is not None


def _set_regularizers(
    model: Any, attributes: Mapping[str, LayerAttributes], objective: ObjectiveEstimator, alpha: float | None
) -> None:
    """Give every optimizable layer the regularizer of its structure (``alpha`` None: take them away)."""
    for attrs in optimizable_layers(attributes, objective):
        layer = model.get_layer(attrs.name)
        regularizer = None
        if alpha is not None:
            kind = DenseRegularizer if attrs.layer_type == "Dense" else ConvRegularizer
            regularizer = kind(alpha, structure_type=attrs.structure_type.value, **attrs.structure_options())
        layer.kernel_regularizer = regularizer
        layer.kernel.regularizer = regularizer


class _Runner:
    """Compiles, fine-tunes (with masks) and evaluates one model on fixed data."""

    def __init__(
        self,
        model: Any,
        optimizer: Any,
        loss_fn: Any,
        metric: Any,
        X_train: Any,
        y_train: Any,
        X_val: Any,
        y_val: Any,
        batch_size: int,
        callbacks: Sequence[Any] | None,
    ) -> None:
        self.model = model
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        self.metric = metric
        self.train = (X_train, y_train)
        self.val = (X_val, y_val)
        self.batch_size = batch_size
        self.callbacks = list(callbacks or [])
        self.progress = 0
        self.metric_name = "metric"

    def _new_optimizer(self) -> Any:
        """A fresh optimizer of the configured kind (a used one holds state for other variables)."""
        if isinstance(self.optimizer, keras.optimizers.Optimizer):
            return type(self.optimizer).from_config(self.optimizer.get_config())
        return keras.optimizers.get(self.optimizer)

    def _new_metric(self) -> Any:
        """A fresh copy of a metric object: Keras does not reset one reused across compiles."""
        if isinstance(self.metric, keras.metrics.Metric):
            return type(self.metric).from_config(self.metric.get_config())
        return self.metric

    def compile(self, metric: bool) -> None:
        metrics = [self._new_metric()] if metric else None
        self.model.compile(optimizer=self._new_optimizer(), loss=self.loss_fn, metrics=metrics)

    def fit(self, epochs: int, masks: Mapping[str, LayerMask]) -> None:
        """Train ``epochs`` epochs; weights ``masks`` zero stay zero (a constraint applied after every step)."""
        if epochs <= 0:
            return
        saved = []
        for name, mask in masks.items():
            layer = self.model.get_layer(name)
            pairs = [(layer.kernel, mask.kernel)] + ([(layer.bias, mask.bias)] if mask.bias is not None else [])
            for variable, m in pairs:
                saved.append((variable, variable.constraint))
                variable.constraint = MaskConstraint(m, variable.constraint)
        try:
            self.compile(metric=False)
            self.model.fit(
                *self.train,
                batch_size=self.batch_size,
                epochs=epochs,
                verbose=self.progress,
                callbacks=self.callbacks,
                shuffle=True,
            )
        finally:
            for variable, constraint in saved:
                variable.constraint = constraint

    def evaluate(self) -> float:
        """The validation metric of the current weights."""
        self.compile(metric=True)
        logs = self.model.evaluate(*self.val, batch_size=self.batch_size, verbose=0, return_dict=True)
        names = [k for k in logs if k != "loss"] or ["loss"]
        self.metric_name = names[0]
        return float(logs[names[0]])
