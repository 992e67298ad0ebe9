"""Gradients of a model's loss with respect to its kernels, and the diagonal of its Hessian (for
the gradient-based group rankings ``oracle`` and ``saliency``).

Keras 3 has no backend-neutral way to differentiate, so this reads the backend: TensorFlow
(``tf.GradientTape``) and PyTorch (autograd) are supported; other backends are a clear error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from rmodel.errors import RModelError

GRADIENT_BACKENDS = ("tensorflow", "torch")


def _loss_function(loss_fn: Any) -> Any:
    """A callable ``(y_true, y_pred) -> loss`` for a Keras loss name, object or function."""
    return keras.losses.get(loss_fn) if isinstance(loss_fn, (str, dict)) else loss_fn


def get_model_gradients(
    model: Any, loss_fn: Any, X: Any, y: Any, layer_names: Sequence[str], batch_size: int = 256
) -> dict[str, np.ndarray]:
    """Gradient of the mean loss over ``(X, y)`` (inference mode) with respect to the kernels of
    ``layer_names``, in batches of ``batch_size``."""
    backend = keras.backend.backend()
    if backend not in GRADIENT_BACKENDS:
        raise RModelError(
            f"gradient rankings need the {' or '.join(GRADIENT_BACKENDS)} backend of Keras, not {backend!r}"
        )
    loss = _loss_function(loss_fn)
    kernels = [model.get_layer(name).kernel for name in layer_names]
    total = [np.zeros(tuple(k.shape), dtype=np.float64) for k in kernels]
    n = len(X)
    for start in range(0, n, batch_size):
        xb, yb = X[start : start + batch_size], y[start : start + batch_size]
        grads = (
            _tensorflow(model, loss, kernels, xb, yb)
            if backend == "tensorflow"
            else _torch(model, loss, kernels, xb, yb)
        )
        for acc, g in zip(total, grads):
            acc += g * (len(xb) / n)
    return {name: g for name, g in zip(layer_names, total)}


def _tensorflow(model: Any, loss: Any, kernels: list[Any], xb: Any, yb: Any) -> list[np.ndarray]:
    import tensorflow as tf

    with tf.GradientTape() as tape:
        value = keras.ops.mean(loss(yb, model(xb, training=False)))
    return [np.asarray(g) for g in tape.gradient(value, kernels)]


def _torch(model: Any, loss: Any, kernels: list[Any], xb: Any, yb: Any) -> list[np.ndarray]:
    import torch

    params = [k.value for k in kernels]
    value = keras.ops.mean(loss(keras.ops.convert_to_tensor(yb), model(xb, training=False)))
    grads = torch.autograd.grad(value, params)
    return [g.detach().cpu().numpy() for g in grads]


def get_model_hessians(
    model: Any,
    loss_fn: Any,
    X: Any,
    y: Any,
    layer_names: Sequence[str],
    batch_size: int = 256,
    probes: int = 8,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Estimate of the diagonal of the Hessian of the mean loss over ``(X, y)`` with respect to the
    kernels of ``layer_names``: Hutchinson's ``mean(z * (H z))`` over ``probes`` random +-1
    vectors ``z`` (unbiased; its noise falls as 1/sqrt(probes))."""
    backend = keras.backend.backend()
    if backend not in GRADIENT_BACKENDS:
        raise RModelError(
            f"gradient rankings need the {' or '.join(GRADIENT_BACKENDS)} backend of Keras, not {backend!r}"
        )
    loss = _loss_function(loss_fn)
    kernels = [model.get_layer(name).kernel for name in layer_names]
    rng = np.random.default_rng(seed)
    total = [np.zeros(tuple(k.shape), dtype=np.float64) for k in kernels]
    n = len(X)
    for _ in range(probes):
        z = [rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=tuple(k.shape)) for k in kernels]
        for start in range(0, n, batch_size):
            xb, yb = X[start : start + batch_size], y[start : start + batch_size]
            products = hessian_vector_products(model, loss, kernels, xb, yb, z)
            for acc, zi, hz in zip(total, z, products):
                acc += zi * hz * (len(xb) / (n * probes))
    return {name: h for name, h in zip(layer_names, total)}


def hessian_vector_products(
    model: Any, loss: Any, kernels: list[Any], xb: Any, yb: Any, vectors: list[np.ndarray]
) -> list[np.ndarray]:
    """``H v`` for the mean loss of one batch, ``v`` given per kernel (as ``vectors``)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as outer:
            with tf.GradientTape() as inner:
                value = keras.ops.mean(loss(yb, model(xb, training=False)))
            grads = inner.gradient(value, kernels)
            dot = tf.add_n([tf.reduce_sum(g * tf.constant(v, dtype=g.dtype)) for g, v in zip(grads, vectors)])
        return [np.asarray(h) for h in outer.gradient(dot, kernels)]
    import torch

    params = [k.value for k in kernels]
    value = keras.ops.mean(loss(keras.ops.convert_to_tensor(yb), model(xb, training=False)))
    grads = torch.autograd.grad(value, params, create_graph=True)
    dot = torch.stack([(g * torch.as_tensor(v, dtype=g.dtype, device=g.device)).sum() for g, v in zip(grads, vectors)])
    return [h.detach().cpu().numpy() for h in torch.autograd.grad(dot.sum(), params)]
