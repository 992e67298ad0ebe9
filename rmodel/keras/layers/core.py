"""Dense, activations, normalization, reshaping, padding and other single-input layers."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..graph import GraphBuilder, KTensor
from ..reader import WeightSpec
from ..registry import KerasLayer, converter
from .common import activation, int_list, known, like, spec

# ---- no-ops at inference ------------------------------------------------------------------------


@converter(
    "Dropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "ActivityRegularization",
    "Identity",
)
def identity(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """nothing: these layers only act while training."""
    return layer.input


# ---- dense ------------------------------------------------------------------------------------


def dense_core(layer: KerasLayer, g: GraphBuilder, x: KTensor, prefix: str = "") -> KTensor:
    """x @ kernel + bias over the last axis (Gemm for rank 2, MatMul + Add otherwise)."""
    units = int(layer.get("units"))
    features = known(layer, [x.shape[-1]], "the input feature size")[0]
    specs = [spec("kernel", 0, (features, units), prefix=prefix)]
    if layer.get("use_bias", True):
        specs.append(spec("bias", 1, (units,), prefix=prefix))
    w = layer.weights(specs)
    # any layout that keeps the feature axis last works (e.g. time-major sequences)
    keep = x.rank > 2 and x.perm is not None and x.perm[-1] == x.rank - 1
    src = x.name if keep else g.as_layout(x, None)
    kernel = g.const(w["kernel"], "kernel")
    if x.rank == 2:
        inputs = [src, kernel] + ([g.const(w["bias"], "bias")] if "bias" in w else [])
        y = g.op("Gemm", inputs, name="gemm")
    else:
        y = g.op("MatMul", [src, kernel], name="matmul")
        if "bias" in w:
            y = g.op("Add", [y, g.const(w["bias"], "bias")], name="bias_add")
    out = KTensor(y, (*x.shape[:-1], units), np.dtype(np.float32), x.perm if keep else None)
    return activation(layer, g, out, layer.get("activation"))


@converter("Dense")
def dense(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Gemm (MatMul + Add for inputs of rank > 2) and the fused activation."""
    return dense_core(layer, g, layer.input)


def _einsum_parts(equation: str) -> tuple[str, str, str]:
    lhs, out = equation.replace(" ", "").split("->")
    a, b = lhs.split(",")
    return a, b, out


def _einsum_as_matmul(
    layer: KerasLayer,
    g: GraphBuilder,
    src: str,
    kernel: np.ndarray,
    a: str,
    b: str,
    out: str,
    dims: dict[str, int | None],
) -> str:
    """x[free..., k...] . W[k..., n...] -> out as one MatMul between two Transpose/Reshapes."""
    contracted = [c for c in a if c in b and c not in out]
    free = [c for c in a if c not in contracted]
    new = [c for c in b if c not in contracted]
    if a[0] not in free or sorted(free + new) != sorted(out) or any(c not in a + b for c in out):
        return g.op("Einsum", [src, g.const(kernel, "kernel")], equation=f"{a},{b}->{out}")
    k = int(math.prod(known(layer, [dims[c] for c in contracted], "the contracted dims")))
    n = int(math.prod(known(layer, [dims[c] for c in new], "the kernel's output dims")))
    order = [a.index(c) for c in free + contracted]
    x = g.op("Transpose", [src], perm=order) if order != list(range(len(a))) else src
    x = g.op("Reshape", [x, g.const(np.array([-1, k], np.int64), "shape")])
    w2 = np.transpose(kernel, [b.index(c) for c in contracted + new]).reshape(k, n)
    y = g.op("MatMul", [x, g.const(w2, "kernel")], name="matmul")
    free_dims = known(layer, [dims[c] for c in free[1:]], "the input dims")
    new_dims = known(layer, [dims[c] for c in new], "the kernel's output dims")
    y = g.op("Reshape", [y, g.const(np.array([-1, *free_dims, *new_dims], np.int64), "shape")])
    have = free + new
    perm = [have.index(c) for c in out]
    return g.op("Transpose", [y], perm=perm) if perm != list(range(len(out))) else y


@converter("EinsumDense")
def einsum_dense(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """MatMul (with Transpose/Reshape around it when needed), Einsum otherwise; bias Add."""
    x = layer.input
    equation = str(layer.get("equation"))
    a, b, out = _einsum_parts(equation)
    out_shape = layer.get("output_shape")
    out_shape = [out_shape] if isinstance(out_shape, int) else list(out_shape)
    a_letters, out_letters = a.replace("...", ""), out.replace("...", "")
    dims: dict[str, int | None] = {}
    for letter, d in zip(reversed(a_letters), reversed(x.shape)):
        dims[letter] = d
    for letter, d in zip(reversed(out_letters), reversed(out_shape)):
        dims.setdefault(letter, d)
    if "..." in b:
        raise layer.unsupported("an ellipsis in the kernel of the equation")
    kernel_shape = known(layer, [dims.get(c) for c in b], "the kernel dimensions")
    specs = [spec("kernel", 0, kernel_shape)]
    bias_axes = layer.get("bias_axes")
    if bias_axes:
        first = min(out_letters.index(c) for c in bias_axes)
        bias_shape = [dims[c] if c in bias_axes else 1 for c in out_letters[first:]]
        specs.append(spec("bias", 1, known(layer, bias_shape, "the bias dimensions")))
    w = layer.weights(specs)
    src = g.as_layout(x, None)
    # x[..., k] @ kernel[k, n] is a MatMul; other contractions become Transpose/Reshape + MatMul
    if len(b) == 2 and a.endswith(b[0]) and out == a[:-1] + b[1] and b[0] not in a[:-1] and b[1] not in a:
        y = g.op("MatMul", [src, g.const(w["kernel"], "kernel")], name="matmul")
    elif "..." not in a and "..." not in out and not (set(a) & set(b) & set(out)):
        y = _einsum_as_matmul(layer, g, src, w["kernel"], a, b, out, dims)
    else:
        y = g.op("Einsum", [src, g.const(w["kernel"], "kernel")], equation=equation)
    if "bias" in w:
        y = g.op("Add", [y, g.const(w["bias"], "bias")], name="bias_add")
    result = g.tensor(y, (None, *g.onnx_shape(y)[1:]))
    return activation(layer, g, result, layer.get("activation"))


# ---- activations --------------------------------------------------------------------------------


@converter("Activation")
def activation_layer(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """the activation's ONNX op(s) (activations listed below)."""
    return activation(layer, g, layer.input, layer.get("activation"))


@converter("ReLU")
def relu(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Relu / LeakyRelu, Where for a threshold, Min for max_value."""
    x = layer.input
    max_value = layer.get("max_value")
    slope = float(layer.get("negative_slope", 0.0) or 0.0)
    threshold = float(layer.get("threshold", 0.0) or 0.0)
    if threshold == 0.0:
        y = g.op("LeakyRelu", [x.name], alpha=slope) if slope else g.op("Relu", [x.name])
    else:
        thr = g.const(np.float32(threshold), "threshold")
        below = (
            g.op("Mul", [g.op("Sub", [x.name, thr]), g.const(np.float32(slope), "slope")])
            if slope
            else g.const(np.float32(0), "zero")
        )
        y = g.op("Where", [g.op("GreaterOrEqual", [x.name, thr]), x.name, below], name="relu")
    if max_value is not None:
        y = g.op("Min", [y, g.const(np.float32(max_value), "max_value")], name="max_value")
    return like(x, y)


@converter("LeakyReLU")
def leaky_relu(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """LeakyRelu."""
    slope = layer.get("negative_slope", layer.get("alpha", 0.3))
    return like(layer.input, g.op("LeakyRelu", [layer.input.name], alpha=float(slope)))


@converter("ELU")
def elu(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Elu."""
    return like(layer.input, g.op("Elu", [layer.input.name], alpha=float(layer.get("alpha", 1.0))))


@converter("PReLU")
def prelu(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """PRelu (shared_axes supported)."""
    x = layer.input
    shape = list(known(layer, x.shape[1:], "the input shape"))
    for axis in layer.get("shared_axes") or []:
        shape[int(axis) - 1] = 1
    alpha = layer.weights([spec("alpha", 0, shape)])["alpha"]
    if x.perm is not None:  # the slope follows the tensor's layout (batch axis excluded)
        alpha = np.transpose(alpha, [p - 1 for p in x.perm[1:]])
    return like(x, g.op("PRelu", [x.name, g.const(alpha, "alpha")]))


@converter("Softmax")
def softmax(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Softmax over one axis."""
    x = layer.input
    axis = layer.get("axis", -1)
    if isinstance(axis, (list, tuple)):
        if len(axis) != 1:
            raise layer.unsupported("softmax over several axes")
        axis = axis[0]
    return like(x, g.op("Softmax", [x.name], axis=x.onnx_axis(int(axis))))


@converter("Rescaling")
def rescaling(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Mul (+ Add for an offset)."""
    x = layer.input
    scale, offset = layer.get("scale", 1.0), layer.get("offset", 0.0)
    if isinstance(scale, (list, dict)) or isinstance(offset, (list, dict)):
        raise layer.unsupported("per-channel scale or offset")
    y = g.op("Mul", [x.name, g.const(np.float32(scale), "scale")])
    if offset:
        y = g.op("Add", [y, g.const(np.float32(offset), "offset")])
    return like(x, y)


# ---- normalization ------------------------------------------------------------------------------


def _axes(layer: KerasLayer, x: KTensor, value: Any) -> list[int]:
    axes: list[Any] = list(value) if isinstance(value, (list, tuple)) else [value]
    return sorted(int(a) % x.rank for a in axes)


@converter("BatchNormalization")
def batch_norm(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """BatchNormalization on the channel axis, Mul + Add otherwise."""
    x = layer.input
    axes = _axes(layer, x, layer.get("axis", -1))
    if len(axes) != 1:
        raise layer.unsupported("normalizing over several axes")
    channels = known(layer, [x.shape[axes[0]]], "the normalized axis")[0]
    specs: list[WeightSpec] = []
    if layer.get("scale", True):
        specs.append(spec("gamma", len(specs), (channels,)))
    if layer.get("center", True):
        specs.append(spec("beta", len(specs), (channels,)))
    specs += [spec("moving_mean", len(specs), (channels,)), spec("moving_variance", len(specs) + 1, (channels,))]
    w = layer.weights(specs)
    gamma = w.get("gamma", np.ones(channels, np.float32))
    beta = w.get("beta", np.zeros(channels, np.float32))
    eps = float(layer.get("epsilon", 1e-3))
    axis = x.onnx_axis(axes[0])
    if axis == 1:
        y = g.op(
            "BatchNormalization",
            [
                x.name,
                g.const(gamma, "gamma"),
                g.const(beta, "beta"),
                g.const(w["moving_mean"], "moving_mean"),
                g.const(w["moving_variance"], "moving_variance"),
            ],
            epsilon=eps,
        )
        return like(x, y)
    scale = (gamma / np.sqrt(w["moving_variance"].astype(np.float64) + eps)).astype(np.float32)
    shift = (beta - w["moving_mean"] * scale).astype(np.float32)
    shape = [1] * (x.rank - axis)
    shape[0] = channels
    y = g.op("Mul", [x.name, g.const(scale.reshape(shape), "scale")])
    return like(x, g.op("Add", [y, g.const(shift.reshape(shape), "shift")], name="batchnorm"))


@converter("LayerNormalization")
def layer_norm(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """LayerNormalization over trailing axes; rms_scaling=True as ReduceMean, Sub, Mul, Sqrt, Div, Mul."""
    x = layer.input
    axes = _axes(layer, x, layer.get("axis", -1))
    dims = known(layer, [x.shape[a] for a in axes], "the normalized axes")
    if layer.get("rms_scaling"):
        return _variance_scaling(layer, g, x, axes, dims)
    specs: list[WeightSpec] = []
    if layer.get("scale", True):
        specs.append(spec("gamma", len(specs), dims))
    if layer.get("center", True):
        specs.append(spec("beta", len(specs), dims))
    w = layer.weights(specs)
    onnx_axes = [x.onnx_axis(a) for a in axes]
    if sorted(onnx_axes) == list(range(x.rank - len(axes), x.rank)):
        src, perm = x.name, x.perm
    else:
        src, perm = g.as_layout(x, None), None
        onnx_axes = axes
        if axes != list(range(x.rank - len(axes), x.rank)):
            raise layer.unsupported(f"normalizing over non-trailing axes {axes}")
    order = np.argsort(onnx_axes)  # the weights' axes in the ONNX order
    gamma = np.transpose(w.get("gamma", np.ones(dims, np.float32)), order)
    inputs = [src, g.const(gamma, "gamma")]
    if "beta" in w:
        inputs.append(g.const(np.transpose(w["beta"], order), "beta"))
    y = g.op("LayerNormalization", inputs, axis=min(onnx_axes), epsilon=float(layer.get("epsilon", 1e-3)))
    return KTensor(y, x.shape, x.dtype, perm)


def _broadcast_to_layout(x: KTensor, value: np.ndarray, keras_shape: list[int]) -> np.ndarray:
    """``value`` reshaped to ``keras_shape`` (1 on broadcast axes) and laid out like ``x`` in ONNX."""
    value = np.asarray(value, np.float32).reshape(keras_shape)
    return np.ascontiguousarray(np.transpose(value, x.perm) if x.perm is not None else value)


def _scale_by_root(
    g: GraphBuilder,
    x: KTensor,
    axes: list[int],
    epsilon: float,
    centred: bool,
    scale: np.ndarray,
    scale_shape: list[int],
) -> KTensor:
    """``x * scale / sqrt(mean(d * d) + epsilon)`` over ``axes``, d = x minus its mean if ``centred`` else x."""
    onnx_axes = sorted(x.onnx_axis(a) for a in axes)
    d = x.name
    if centred:
        d = g.op("Sub", [x.name, g.op("ReduceMean", [x.name], axes=onnx_axes, keepdims=1, name="mean")], name="centred")
    mean_square = g.op("ReduceMean", [g.op("Mul", [d, d])], axes=onnx_axes, keepdims=1, name="mean_square")
    root = g.op("Sqrt", [g.op("Add", [mean_square, g.const(np.float32(epsilon), "epsilon")])])
    y = g.op("Div", [x.name, root])
    return like(x, g.op("Mul", [y, g.const(_broadcast_to_layout(x, scale, scale_shape), "scale")], name="scale"))


def _variance_scaling(layer: KerasLayer, g: GraphBuilder, x: KTensor, axes: list[int], dims: list[int]) -> KTensor:
    """Keras' ``rms_scaling=True``: ``x * gamma / sqrt(var(x) + epsilon)`` over ``axes``. Keras scales by
    the variance about the mean (not the mean of squares) and has no beta then."""
    gamma = layer.weights([spec("gamma", 0, dims)])["gamma"]
    shape = [1] * x.rank
    for a, d in zip(axes, dims):
        shape[a] = d
    return _scale_by_root(g, x, axes, float(layer.get("epsilon", 1e-3)), True, gamma, shape)


@converter("RMSNormalization")
def rms_normalization(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Mul, ReduceMean, Add, Sqrt, Div, Mul: x * scale / sqrt(mean(x * x) + epsilon)."""
    x = layer.input
    axes = _axes(layer, x, layer.get("axis", -1))
    dims = known(layer, [x.shape[a] for a in axes], "the normalized axes")
    scale = layer.weights([spec("scale", 0, dims)])["scale"]
    # Keras multiplies by the scale vector as it is: numpy broadcasting against the trailing axes
    shape = [1] * (x.rank - len(dims)) + dims
    return _scale_by_root(g, x, axes, float(layer.get("epsilon", 1e-6)), False, scale, shape)


#: Keras' backend.epsilon(), the floor of Normalization's standard deviation
KERAS_EPSILON = 1e-7


@converter("Normalization")
def normalization(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Sub + Div by constants from the mean and variance (Mul + Add for invert=True)."""
    x = layer.input
    axis = layer.get("axis", -1)
    keep = [] if axis is None else _axes(layer, x, axis)
    if layer.get("mean") is not None and layer.get("variance") is not None:
        mean = np.asarray(layer.get("mean"), np.float32)
        variance = np.asarray(layer.get("variance"), np.float32)
        if mean.shape != variance.shape or mean.ndim > len(keep):
            raise layer.fail(f"mean {mean.shape} and variance {variance.shape} do not fit the kept axes {keep}")
        layer.weights([])
    else:
        dims = known(layer, [x.shape[a] for a in keep], "the kept axes")
        w = layer.weights([spec("mean", 0, dims), spec("variance", 1, dims), spec("count", 2, ())])
        mean, variance = w["mean"].astype(np.float32), w["variance"].astype(np.float32)
    shape = [1] * x.rank
    for i in range(1, mean.ndim + 1):  # stored axes align with the kept axes from the right
        shape[keep[-i]] = mean.shape[-i]
    mean_c = g.const(_broadcast_to_layout(x, mean, shape), "mean")
    std = np.maximum(np.sqrt(variance), np.float32(KERAS_EPSILON)).astype(np.float32)
    std_c = g.const(_broadcast_to_layout(x, std, shape), "std")
    if layer.get("invert", False):
        return like(x, g.op("Add", [g.op("Mul", [x.name, std_c]), mean_c], name="denormalize"))
    return like(x, g.op("Div", [g.op("Sub", [x.name, mean_c]), std_c], name="normalize"))


# ---- shape layers -------------------------------------------------------------------------------


@converter("Flatten")
def flatten(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Flatten (a Transpose back to Keras order first if needed)."""
    x = layer.input
    if x.rank == 2:
        return x
    if layer.get("data_format") == "channels_first":
        src = g.as_layout(x, (0, *range(2, x.rank), 1))
    else:
        src = g.as_layout(x, None)
    size = int(math.prod(known(layer, x.shape[1:], "the input shape")))
    return KTensor(g.op("Flatten", [src], axis=1), (None, size), x.dtype)


@converter("Reshape")
def reshape(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Reshape."""
    x = layer.input
    size = int(math.prod(known(layer, x.shape[1:], "the input shape")))
    target = [int(d) for d in layer.get("target_shape")]
    if -1 in target:
        rest = int(math.prod([d for d in target if d != -1]))
        target[target.index(-1)] = size // rest
    if int(math.prod(target)) != size:
        raise layer.fail(f"cannot reshape {x.shape[1:]} to {tuple(target)}")
    y = g.op("Reshape", [g.as_layout(x, None), g.const(np.array([-1, *target], np.int64), "shape")])
    return KTensor(y, (None, *target), x.dtype)


@converter("Permute")
def permute(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """nothing by itself: only the tensor's layout changes (a Transpose appears where one is needed)."""
    x = layer.input
    full = (0, *[int(d) for d in layer.get("dims")])
    if sorted(full) != list(range(x.rank)):
        raise layer.fail(f"dims {layer.get('dims')} are not a permutation of the axes 1..{x.rank - 1}")
    inverse = [full.index(i) for i in range(x.rank)]
    have = x.perm or tuple(range(x.rank))
    perm = tuple(inverse[have[i]] for i in range(x.rank))
    return g.tensor(x.name, tuple(x.shape[p] for p in full), x.dtype, perm)


@converter("RepeatVector")
def repeat_vector(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Unsqueeze + Concat."""
    x = layer.input
    n = int(layer.get("n"))
    expanded = g.op("Unsqueeze", [g.as_layout(x, None), g.const(np.array([1], np.int64), "axes")])
    y = g.op("Concat", [expanded] * n, axis=1, name="repeat") if n > 1 else expanded
    return KTensor(y, (None, n, *x.shape[1:]), x.dtype)


@converter("Embedding")
def embedding(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Gather (Cast to int64 for float inputs)."""
    x = layer.input
    vocab, dim = int(layer.get("input_dim")), int(layer.get("output_dim"))
    w = layer.weights([spec("embeddings", 0, (vocab, dim))])
    ids = g.as_layout(x, None)
    if x.dtype.kind not in "iu":
        ids = g.op("Cast", [ids], to=7)  # int64
    y = g.op("Gather", [g.const(w["embeddings"], "embeddings"), ids], axis=0)
    return KTensor(y, (*x.shape, dim), np.dtype(np.float32))


# ---- spatial: padding, cropping, upsampling, global pooling -------------------------------------


def spatial_axes(layer: KerasLayer, x: KTensor) -> list[int]:
    """Keras axes of the spatial dims of ``x`` given the layer's data_format."""
    if layer.get("data_format", "channels_last") == "channels_first":
        return list(range(2, x.rank))
    return list(range(1, x.rank - 1))


def _pairs(value: object, n: int) -> list[tuple[int, int]]:
    if isinstance(value, int):
        return [(value, value)] * n
    items = list(value)  # type: ignore[call-overload]
    if n == 1 and len(items) == 2 and all(isinstance(v, int) for v in items):
        return [(int(items[0]), int(items[1]))]
    return [(v, v) if isinstance(v, int) else (int(v[0]), int(v[1])) for v in items]


@converter("ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D")
def zero_padding(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Pad."""
    x = layer.input
    axes = spatial_axes(layer, x)
    pairs = _pairs(layer.get("padding"), len(axes))
    pads = [0] * (2 * x.rank)
    shape = list(x.shape)
    for axis, (before, after) in zip(axes, pairs):
        o = x.onnx_axis(axis)
        pads[o], pads[x.rank + o] = before, after
        size = shape[axis]
        shape[axis] = None if size is None else size + before + after
    y = g.op("Pad", [x.name, g.const(np.array(pads, np.int64), "pads")], mode="constant")
    return KTensor(y, tuple(shape), x.dtype, x.perm)


@converter("Cropping1D", "Cropping2D", "Cropping3D")
def cropping(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Slice."""
    x = layer.input
    axes = spatial_axes(layer, x)
    pairs = _pairs(layer.get("cropping"), len(axes))
    starts, ends, onnx_axes = [], [], []
    shape = list(x.shape)
    for axis, (before, after) in zip(axes, pairs):
        size = known(layer, [x.shape[axis]], "the cropped dims")[0]
        starts.append(before)
        ends.append(size - after)
        onnx_axes.append(x.onnx_axis(axis))
        shape[axis] = size - before - after
    y = g.op(
        "Slice",
        [
            x.name,
            g.const(np.array(starts, np.int64), "starts"),
            g.const(np.array(ends, np.int64), "ends"),
            g.const(np.array(onnx_axes, np.int64), "axes"),
        ],
        name="crop",
    )
    return KTensor(y, tuple(shape), x.dtype, x.perm)


@converter("UpSampling1D", "UpSampling2D", "UpSampling3D")
def upsampling(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Resize (nearest or bilinear)."""
    x = layer.input
    axes = spatial_axes(layer, x) if layer.class_name != "UpSampling1D" else [1]
    sizes = int_list(layer.get("size", 2), len(axes))
    scales = [1.0] * x.rank
    shape = list(x.shape)
    for axis, s in zip(axes, sizes):
        scales[x.onnx_axis(axis)] = float(s)
        size = shape[axis]
        shape[axis] = None if size is None else size * s
    mode = layer.get("interpolation", "nearest")
    attrs: dict[str, Any]
    if mode == "nearest":
        attrs = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
    elif mode == "bilinear":
        attrs = {"mode": "linear", "coordinate_transformation_mode": "half_pixel"}
    else:
        raise layer.unsupported(f"interpolation='{mode}'")
    y = g.op("Resize", [x.name, "", g.const(np.array(scales, np.float32), "scales")], name="upsample", **attrs)
    return KTensor(y, tuple(shape), x.dtype, x.perm)


@converter(
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalAveragePooling3D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "GlobalMaxPooling3D",
)
def global_pooling(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """ReduceMean / ReduceMax over the spatial axes (keepdims supported)."""
    x = layer.input
    axes = spatial_axes(layer, x)
    keep = bool(layer.get("keepdims", False))
    op = "ReduceMean" if "Average" in layer.class_name else "ReduceMax"
    y = g.op(op, [x.name], axes=sorted(x.onnx_axis(a) for a in axes), keepdims=int(keep))
    if keep:
        shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
        return KTensor(y, shape, x.dtype, x.perm)
    kept = [i for i in range(x.rank) if i not in axes]
    shape = tuple(x.shape[i] for i in kept)
    order = sorted(kept, key=x.onnx_axis)  # kept Keras axes in ONNX order
    perm = tuple(kept.index(a) for a in order)
    return g.tensor(y, shape, x.dtype, perm)
