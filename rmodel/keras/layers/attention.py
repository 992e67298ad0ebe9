"""Attention layers (MultiHeadAttention, Attention, AdditiveAttention) and the group / unit
normalizations that transformer-style models use with them.

Everything is lowered to plain ONNX (MatMul, Transpose, Reshape, Softmax, Add, Mul, Tanh,
ReduceSum, InstanceNormalization, ...); masks passed in as tensors are rejected with a clear error.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..graph import GraphBuilder, KTensor
from ..reader import WeightSpec
from ..registry import CALL_ARG_NAMES, KerasLayer, converter
from .common import known

#: Keras' additive mask value for float32 scores (``scores - 1e9`` where masked)
_MASKED = -1.0e9


def _i64(g: GraphBuilder, values: list[int], hint: str = "shape") -> str:
    return g.const(np.array(values, np.int64), hint)


def _check_call(layer: KerasLayer, tensor_kwargs: tuple[str, ...]) -> bool:
    """Reject call options rmodel cannot honour; return ``use_causal_mask``."""
    kwargs = layer.call_kwargs
    for key in tensor_kwargs:
        if kwargs.get(key) is not None:
            raise layer.unsupported(f"calling the layer with '{key}' (masks passed in are not supported)")
    if kwargs.get("return_attention_scores"):
        raise layer.unsupported("return_attention_scores=True")
    return bool(kwargs.get("use_causal_mask"))


def _causal_bias(g: GraphBuilder, tq: int, tv: int) -> str:
    """A (tq, tv) constant adding -1e9 where key position > query position (Keras' causal mask)."""
    rows = np.arange(tq)[:, None]
    cols = np.arange(tv)[None, :]
    return g.const(np.where(cols > rows, np.float32(_MASKED), np.float32(0.0)), "causal_mask")


# ---- MultiHeadAttention -------------------------------------------------------------------------


def _projection(g: GraphBuilder, x: str, w: dict[str, np.ndarray], name: str, scale: float = 1.0) -> str:
    """x[..., d] @ kernel[d, heads, size] (+ bias[heads, size]) as a MatMul on (..., heads * size)."""
    kernel = w[f"{name}_kernel"]
    d, heads, size = kernel.shape
    y = g.op("MatMul", [x, g.const(kernel.reshape(d, heads * size) * np.float32(scale), f"{name}_kernel")], name=name)
    if f"{name}_bias" in w:
        bias = w[f"{name}_bias"].reshape(heads * size) * np.float32(scale)
        y = g.op("Add", [y, g.const(bias, f"{name}_bias")], name=f"{name}_bias_add")
    return y


def _mha_specs(
    dims: dict[str, int], heads: int, key_dim: int, value_dim: int, out: list[int], bias: bool, gate: bool
) -> list[WeightSpec]:
    """Weights of the sub-layers in a ``.keras`` file: ``<sub>_dense/vars/{0: kernel, 1: bias}``
    (query, key, value, ``_gate_dense`` for use_gate=True, output)."""
    parts = [
        ("query", dims["query"], [heads, key_dim]),
        ("key", dims["key"], [heads, key_dim]),
        ("value", dims["value"], [heads, value_dim]),
    ]
    if gate:
        parts.append(("gate", dims["query"], [heads, value_dim]))
    specs: list[WeightSpec] = []
    for name, d, shape in parts:
        group = f"{name}_dense" if name != "gate" else "_gate_dense"  # (Keras exposes no gate_dense property)
        specs.append(WeightSpec(f"{name}_kernel", f"{group}/vars/0", "kernel", (d, *shape)))
        if bias:
            specs.append(WeightSpec(f"{name}_bias", f"{group}/vars/1", "bias", tuple(shape)))
    specs.append(WeightSpec("output_kernel", "output_dense/vars/0", "kernel", (heads, value_dim, *out)))
    if bias:
        specs.append(WeightSpec("output_bias", "output_dense/vars/1", "bias", tuple(out)))
    return specs


@converter("MultiHeadAttention")
def multi_head_attention(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """MatMul projections, Reshape/Transpose to heads, MatMul, Softmax, MatMul, output MatMul + Add (+ use_gate, causal).

    Mask tensors (attention_mask=...) are rejected."""
    names = list(layer.call_kwargs.get(CALL_ARG_NAMES) or ["query", "value", "key"][: len(layer.inputs)])
    given: dict[str, KTensor] = dict(zip(names, layer.inputs))
    if "query" not in given or "value" not in given:
        raise layer.fail(f"needs query and value tensors, got {sorted(given)}")
    query, value = given["query"], given["value"]
    key = given.get("key", value)
    causal = _check_call(layer, ("attention_mask", "query_mask", "value_mask", "key_mask"))
    if layer.get("sliding_window") is not None:
        raise layer.unsupported("sliding_window")
    rank = query.rank
    if rank < 3 or value.rank != rank or key.rank != rank:
        raise layer.fail(
            f"query, value and key must have the same rank >= 3, got {query.shape}, {value.shape}, {key.shape}"
        )
    axes = layer.get("attention_axes")
    if axes is not None:
        axes = [int(a) if int(a) >= 0 else rank + int(a) for a in ([axes] if isinstance(axes, int) else axes)]
        if axes != list(range(1, rank - 1)):
            raise layer.unsupported(f"attention_axes={layer.get('attention_axes')} (only the default axes 1..rank-2)")
    heads, key_dim = int(layer.get("num_heads")), int(layer.get("key_dim"))
    value_dim = int(layer.get("value_dim") or key_dim)
    bias, gate = bool(layer.get("use_bias", True)), bool(layer.get("use_gate", False))
    q_inner = known(layer, list(query.shape[1:]), "the query dims")
    v_inner = known(layer, list(value.shape[1:]), "the value dims")
    k_inner = known(layer, list(key.shape[1:]), "the key dims")
    if v_inner[:-1] != k_inner[:-1]:
        raise layer.fail(f"value {value.shape} and key {key.shape} must agree on all but the last dim")
    out_shape = layer.get("output_shape")
    if out_shape is None:
        out = [q_inner[-1]]
    else:
        out = [int(out_shape)] if isinstance(out_shape, int) else [int(d) for d in out_shape]
    dims = {"query": q_inner[-1], "key": k_inner[-1], "value": v_inner[-1]}
    w = layer.weights(_mha_specs(dims, heads, key_dim, value_dim, out, bias, gate))
    tq, tv = int(math.prod(q_inner[:-1])), int(math.prod(v_inner[:-1]))

    def flat(x: KTensor, length: int, width: int) -> str:
        src = g.as_layout(x, None)
        return src if x.rank == 3 else g.op("Reshape", [src, _i64(g, [-1, length, width])], name="flatten")

    q_src, v_src = flat(query, tq, q_inner[-1]), flat(value, tv, v_inner[-1])
    k_src = v_src if key is value else flat(key, tv, k_inner[-1])
    # Keras scales the projected query by 1/sqrt(key_dim); folded into its kernel and bias here
    q = _projection(g, q_src, w, "query", 1.0 / math.sqrt(float(key_dim)))
    k = _projection(g, k_src, w, "key")
    v = _projection(g, v_src, w, "value")
    q = g.op("Transpose", [g.op("Reshape", [q, _i64(g, [-1, tq, heads, key_dim])])], perm=[0, 2, 1, 3])
    k = g.op("Transpose", [g.op("Reshape", [k, _i64(g, [-1, tv, heads, key_dim])])], perm=[0, 2, 3, 1])
    v = g.op("Transpose", [g.op("Reshape", [v, _i64(g, [-1, tv, heads, value_dim])])], perm=[0, 2, 1, 3])
    scores = g.op("MatMul", [q, k], name="scores")  # (batch, heads, tq, tv)
    if causal:
        scores = g.op("Add", [scores, _causal_bias(g, tq, tv)], name="causal_mask_add")
    probs = g.op("Softmax", [scores], axis=-1)
    heads_out = g.op("MatMul", [probs, v], name="attend")  # (batch, heads, tq, value_dim)
    merged = g.op("Transpose", [heads_out], perm=[0, 2, 1, 3])
    merged = g.op("Reshape", [merged, _i64(g, [-1, tq, heads * value_dim])], name="merge_heads")
    if gate:
        merged = g.op("Mul", [merged, g.op("Sigmoid", [_projection(g, q_src, w, "gate")])], name="gated")
    n_out = int(math.prod(out))
    kernel = w["output_kernel"].reshape(heads * value_dim, n_out)
    y = g.op("MatMul", [merged, g.const(kernel, "output_kernel")], name="output")
    if bias:
        y = g.op("Add", [y, g.const(w["output_bias"].reshape(n_out), "output_bias")], name="output_bias_add")
    full = [*q_inner[:-1], *out]
    if full != [tq, n_out]:
        y = g.op("Reshape", [y, _i64(g, [-1, *full])], name="unflatten")
    return g.tensor(y, (None, *full))


# ---- Attention / AdditiveAttention --------------------------------------------------------------


def _attention_inputs(layer: KerasLayer, g: GraphBuilder) -> tuple[KTensor, str, str, str]:
    """query tensor and the ONNX names of query, value and key (key defaults to value)."""
    if len(layer.inputs) not in (2, 3):
        raise layer.fail(f"takes [query, value] or [query, value, key], got {len(layer.inputs)} inputs")
    q, v = layer.inputs[0], layer.inputs[1]
    k = layer.inputs[2] if len(layer.inputs) == 3 else v
    if q.rank < 3 or v.rank != q.rank or k.rank != q.rank:
        raise layer.fail(f"query, value and key must have the same rank >= 3, got {q.shape}, {v.shape}, {k.shape}")
    if q.shape[-1] != k.shape[-1] or q.shape[-1] is None:
        raise layer.fail(f"query {q.shape} and key {k.shape} need the same known last dim")
    return q, g.as_layout(q, None), g.as_layout(v, None), g.as_layout(k, None)


def _apply_scores(layer: KerasLayer, g: GraphBuilder, scores: str, value: str, causal: bool) -> KTensor:
    """softmax(scores (+ causal mask)) @ value."""
    if causal:
        tq, tv = g.onnx_shape(scores)[-2:]
        if tq is None or tv is None:
            raise layer.fail("use_causal_mask=True needs known sequence lengths")
        scores = g.op("Add", [scores, _causal_bias(g, int(tq), int(tv))], name="causal_mask_add")
    probs = g.op("Softmax", [scores], axis=-1)
    y = g.op("MatMul", [probs, value], name="attend")
    return g.tensor(y, (None, *g.onnx_shape(y)[1:]))


def _pairwise_tanh(g: GraphBuilder, q: str, k: str, rank: int, scale: str | None = None) -> str:
    """tanh(scale * (q[..., :, None, :] + k[..., None, :, :])) (no Mul when ``scale`` is None)."""
    qe = g.op("Unsqueeze", [q, _i64(g, [rank - 1], "axes")])
    ke = g.op("Unsqueeze", [k, _i64(g, [rank - 2], "axes")])
    total = g.op("Add", [qe, ke], name="pairwise_sum")
    if scale is not None:
        total = g.op("Mul", [total, scale], name="scaled")
    return g.op("Tanh", [total])


@converter("Attention")
def attention(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """dot: MatMul(query, Transpose(key)), Mul by scale; concat: Unsqueeze, Add, Tanh, ReduceSum; then Softmax, MatMul.

    use_causal_mask becomes a constant Add before the Softmax."""
    causal = _check_call(layer, ("mask",))
    q, qn, vn, kn = _attention_inputs(layer, g)
    use_scale = bool(layer.get("use_scale", False))
    mode = str(layer.get("score_mode", "dot"))
    if mode not in ("dot", "concat"):
        raise layer.fail(f"score_mode must be 'dot' or 'concat', got {mode!r}")
    specs = [WeightSpec("scale", "vars/0", "scale", ())] if use_scale else []
    if mode == "concat":
        specs.append(WeightSpec("concat_score_weight", f"vars/{len(specs)}", "concat_score_weight", ()))
    w = layer.weights(specs)
    scale = g.const(np.float32(w["scale"]), "scale") if use_scale else None
    rank = q.rank
    if mode == "dot":
        perm = [*range(rank - 2), rank - 1, rank - 2]
        scores = g.op("MatMul", [qn, g.op("Transpose", [kn], perm=perm)], name="scores")
        if scale is not None:
            scores = g.op("Mul", [scores, scale], name="scaled_scores")
    else:
        summed = g.op("ReduceSum", [_pairwise_tanh(g, qn, kn, rank, scale), _i64(g, [-1], "axes")], keepdims=0)
        scores = g.op("Mul", [summed, g.const(np.float32(w["concat_score_weight"]), "concat_score_weight")])
    return _apply_scores(layer, g, scores, vn, causal)


@converter("AdditiveAttention")
def additive_attention(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Unsqueeze, Add, Tanh, Mul by scale, ReduceSum; then Softmax, MatMul (use_causal_mask as a constant Add)."""
    causal = _check_call(layer, ("mask",))
    q, qn, vn, kn = _attention_inputs(layer, g)
    dim = int(q.shape[-1])  # type: ignore[arg-type]
    use_scale = bool(layer.get("use_scale", True))
    w = layer.weights([WeightSpec("scale", "vars/0", "scale", (dim,))] if use_scale else [])
    t = _pairwise_tanh(g, qn, kn, q.rank)
    if use_scale:
        t = g.op("Mul", [t, g.const(w["scale"], "scale")], name="scaled")
    scores = g.op("ReduceSum", [t, _i64(g, [-1], "axes")], keepdims=0, name="scores")
    return _apply_scores(layer, g, scores, vn, causal)


# ---- GroupNormalization / UnitNormalization -----------------------------------------------------


@converter("GroupNormalization")
def group_normalization(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Reshape to (batch, groups, -1), InstanceNormalization, Reshape back, Mul gamma, Add beta."""
    x = layer.input
    axis = int(layer.get("axis", -1)) % x.rank
    if axis == 0:
        raise layer.fail("axis 0 (the batch axis) cannot be normalized over")
    inner = known(layer, list(x.shape[1:]), "the input dims")
    channels = inner[axis - 1]
    groups = int(layer.get("groups", 32))
    groups = channels if groups == -1 else groups
    if groups <= 0 or channels % groups:
        raise layer.fail(f"{channels} channels cannot be split into {groups} groups")
    specs: list[WeightSpec] = []
    if layer.get("scale", True):
        specs.append(WeightSpec("gamma", f"vars/{len(specs)}", "gamma", (channels,)))
    if layer.get("center", True):
        specs.append(WeightSpec("beta", f"vars/{len(specs)}", "beta", (channels,)))
    w = layer.weights(specs)
    # channels next to the batch axis: each group is then one contiguous block per sample
    perm = (0, axis, *[a for a in range(1, x.rank) if a != axis])
    src = g.as_layout(x, perm)
    moved = [channels, *[d for i, d in enumerate(inner, start=1) if i != axis]]
    grouped = g.op("Reshape", [src, _i64(g, [-1, groups, int(math.prod(moved)) // groups])], name="groups")
    ones, zeros = np.ones(groups, np.float32), np.zeros(groups, np.float32)
    normed = g.op(
        "InstanceNormalization",
        [grouped, g.const(ones, "ones"), g.const(zeros, "zeros")],
        epsilon=float(layer.get("epsilon", 1e-3)),
    )
    y = g.op("Reshape", [normed, _i64(g, [-1, *moved])], name="ungroup")
    per_channel = [channels] + [1] * (x.rank - 2)
    if "gamma" in w:
        y = g.op("Mul", [y, g.const(w["gamma"].reshape(per_channel), "gamma")], name="gamma_mul")
    if "beta" in w:
        y = g.op("Add", [y, g.const(w["beta"].reshape(per_channel), "beta")], name="beta_add")
    return KTensor(y, x.shape, np.dtype(np.float32), perm)


@converter("UnitNormalization")
def unit_normalization(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """ReduceSumSquare, Sqrt, Reciprocal, Min, Mul: x * min(1 / norm(x), 1e12) over the axes."""
    x = layer.input
    value: Any = layer.get("axis", -1)
    keras_axes = {int(a) % x.rank for a in (value if isinstance(value, (list, tuple)) else [value])}
    if 0 in keras_axes:
        raise layer.fail("the batch axis cannot be normalized over")
    axes = sorted(x.onnx_axis(a) for a in keras_axes)
    square_sum = g.op("ReduceSumSquare", [x.name], axes=axes, keepdims=1)
    inv = g.op("Reciprocal", [g.op("Sqrt", [square_sum])], name="inv_norm")
    inv = g.op("Min", [inv, g.const(np.float32(1e12), "max_inv_norm")], name="clipped_inv_norm")
    return KTensor(g.op("Mul", [x.name, inv], name="normalized"), x.shape, x.dtype, x.perm)


#: MultiHeadAttention is called as ``layer(query, value, key=None)``
multi_head_attention.call_args = ("query", "value", "key")  # type: ignore[attr-defined]
