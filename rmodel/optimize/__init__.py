"""Resource-aware pruning of Keras 3 models (any backend), after hls4ml.optimization.keras.

    from rmodel.optimize import (ParameterEstimator, PolynomialScheduler, get_attributes_from_keras_model,
                                 optimize_model)
    attrs = get_attributes_from_keras_model(model)
    pruned = optimize_model(model, attrs, ParameterEstimator(), PolynomialScheduler(5, final_sparsity=0.8),
                            X_train, y_train, X_val, y_val, batch_size=64, epochs=5, optimizer="adam",
                            loss_fn="categorical_crossentropy", validation_metric="accuracy",
                            increasing=True, rtol=0.98)

Objectives: ParameterEstimator, FLOPEstimator, DSPEstimator (rmodel's HLS cost model). Structures:
unstructured, structured (neurons, filters), pattern (the weights of one multiplier at reuse
factor R), block (Dense). Knapsack solvers: "dp", "greedy", "milp" (scipy).
"""

from __future__ import annotations

from .attributes import SUPPORTED_LAYERS, LayerAttributes, get_attributes_from_keras_model
from .gradients import get_model_gradients, get_model_hessians, hessian_vector_products
from .knapsack import SOLVERS, KnapsackResult, solve_knapsack
from .loop import MaskConstraint, optimize_model
from .masking import SUPPORTED_METRICS, LayerMask, apply_masks, get_model_masks
from .objectives import DSPEstimator, FLOPEstimator, ObjectiveEstimator, ParameterEstimator
from .regularizers import ConvRegularizer, DenseRegularizer
from .scheduler import BinaryScheduler, ConstantScheduler, OptimizationScheduler, PolynomialScheduler
from .structures import StructureType, group_indices, group_matrix
from .utils import get_model_sparsity, remove_custom_regularizers

__all__ = [
    "SOLVERS",
    "SUPPORTED_LAYERS",
    "SUPPORTED_METRICS",
    "BinaryScheduler",
    "ConstantScheduler",
    "ConvRegularizer",
    "DSPEstimator",
    "DenseRegularizer",
    "FLOPEstimator",
    "KnapsackResult",
    "LayerAttributes",
    "LayerMask",
    "MaskConstraint",
    "ObjectiveEstimator",
    "OptimizationScheduler",
    "ParameterEstimator",
    "PolynomialScheduler",
    "StructureType",
    "apply_masks",
    "get_attributes_from_keras_model",
    "get_model_gradients",
    "get_model_hessians",
    "get_model_masks",
    "get_model_sparsity",
    "group_indices",
    "group_matrix",
    "hessian_vector_products",
    "optimize_model",
    "remove_custom_regularizers",
    "solve_knapsack",
]
