"""Convolutions and pooling. They run channels-first: a channels-last input is transposed once
(the Transpose is shared by every consumer) and the result stays channels-first until a layer
needs the Keras order back."""

from __future__ import annotations

import math

import numpy as np

from ..graph import GraphBuilder, KTensor, channels_first
from ..registry import KerasLayer, converter
from .common import activation, int_list, known, spec


def _layout(layer: KerasLayer, x: KTensor) -> tuple[int, ...] | None:
    """The ONNX layout convolution layers need for ``x`` (NC... in ONNX)."""
    if layer.get("data_format", "channels_last") == "channels_first":
        return None
    return channels_first(x.rank)


def _spatial(layer: KerasLayer, x: KTensor) -> tuple[list[int], int]:
    """Spatial sizes and channel count of ``x``."""
    if layer.get("data_format", "channels_last") == "channels_first":
        dims, channels = x.shape[2:], x.shape[1]
    else:
        dims, channels = x.shape[1:-1], x.shape[-1]
    values = known(layer, [*dims, channels], "the spatial size and channels of the input")
    return values[:-1], values[-1]


def _pads(
    layer: KerasLayer, sizes: list[int], kernel: list[int], strides: list[int], dilations: list[int]
) -> list[int]:
    """ONNX pads (all begins, then all ends) for Keras 'valid', 'same' or 'causal' padding."""
    padding = str(layer.get("padding", "valid")).lower()
    n = len(sizes)
    if padding == "valid":
        return [0] * (2 * n)
    begins, ends = [], []
    for size, k, s, d in zip(sizes, kernel, strides, dilations):
        effective = (k - 1) * d + 1
        if padding == "causal":
            begins.append(effective - 1)
            ends.append(0)
            continue
        if padding != "same":
            raise layer.unsupported(f"padding='{padding}'")
        out = math.ceil(size / s)
        total = max((out - 1) * s + effective - size, 0)
        begins.append(total // 2)
        ends.append(total - total // 2)
    return begins + ends


def _finish(layer: KerasLayer, g: GraphBuilder, y: str, x: KTensor, perm: tuple[int, ...] | None) -> KTensor:
    shape = g.keras_shape(y, perm)
    out = g.tensor(y, (None, *shape[1:]), np.float32, perm)
    return activation(layer, g, out, layer.get("activation"))


def _conv_options(layer: KerasLayer, n: int) -> tuple[list[int], list[int], list[int]]:
    kernel = int_list(layer.get("kernel_size"), n)
    strides = int_list(layer.get("strides", 1), n)
    dilations = int_list(layer.get("dilation_rate", 1), n)
    return kernel, strides, dilations


@converter("Conv1D", "Conv2D", "Conv3D")
def conv(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Conv (kernel re-laid out to OIHW; 'valid', 'same', 'causal'; strides, dilation, groups; channels_first)."""
    x = layer.input
    perm = _layout(layer, x)
    sizes, channels = _spatial(layer, x)
    n = len(sizes)
    kernel, strides, dilations = _conv_options(layer, n)
    groups = int(layer.get("groups", 1) or 1)
    filters = int(layer.get("filters"))
    if channels % groups or filters % groups:
        raise layer.fail(f"groups={groups} must divide the input channels ({channels}) and filters ({filters})")
    specs = [spec("kernel", 0, (*kernel, channels // groups, filters))]
    if layer.get("use_bias", True):
        specs.append(spec("bias", 1, (filters,)))
    w = layer.weights(specs)
    weight = np.transpose(w["kernel"], (n + 1, n, *range(n)))
    inputs = [g.as_layout(x, perm), g.const(weight, "kernel")]
    if "bias" in w:
        inputs.append(g.const(w["bias"], "bias"))
    y = g.op(
        "Conv",
        inputs,
        kernel_shape=kernel,
        strides=strides,
        dilations=dilations,
        pads=_pads(layer, sizes, kernel, strides, dilations),
        group=groups,
    )
    return _finish(layer, g, y, x, perm)


def _depthwise(
    layer: KerasLayer,
    g: GraphBuilder,
    x: KTensor,
    perm: tuple[int, ...] | None,
    kernel_w: np.ndarray,
    sizes: list[int],
    kernel: list[int],
    strides: list[int],
    dilations: list[int],
    bias: np.ndarray | None,
) -> str:
    n = len(sizes)
    channels, multiplier = kernel_w.shape[-2], kernel_w.shape[-1]
    # [*k, C, M] -> [C*M, 1, *k]: output channel c*M + m reads input channel c
    weight = np.transpose(kernel_w.reshape(*kernel, channels * multiplier), (n, *range(n)))[:, None]
    inputs = [g.as_layout(x, perm), g.const(np.ascontiguousarray(weight), "depthwise_kernel")]
    if bias is not None:
        inputs.append(g.const(bias, "bias"))
    return g.op(
        "Conv",
        inputs,
        name="depthwise_conv",
        kernel_shape=kernel,
        strides=strides,
        dilations=dilations,
        pads=_pads(layer, sizes, kernel, strides, dilations),
        group=channels,
    )


@converter("DepthwiseConv1D", "DepthwiseConv2D")
def depthwise_conv(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Conv with group = input channels (depth_multiplier supported)."""
    x = layer.input
    perm = _layout(layer, x)
    sizes, channels = _spatial(layer, x)
    n = len(sizes)
    kernel, strides, dilations = _conv_options(layer, n)
    multiplier = int(layer.get("depth_multiplier", 1))
    specs = [spec("kernel", 0, (*kernel, channels, multiplier), "depthwise_kernel|kernel")]
    if layer.get("use_bias", True):
        specs.append(spec("bias", 1, (channels * multiplier,)))
    w = layer.weights(specs)
    y = _depthwise(layer, g, x, perm, w["kernel"], sizes, kernel, strides, dilations, w.get("bias"))
    return _finish(layer, g, y, x, perm)


@converter("SeparableConv1D", "SeparableConv2D")
def separable_conv(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """depthwise Conv then 1x1 Conv."""
    x = layer.input
    perm = _layout(layer, x)
    sizes, channels = _spatial(layer, x)
    n = len(sizes)
    kernel, strides, dilations = _conv_options(layer, n)
    multiplier = int(layer.get("depth_multiplier", 1))
    filters = int(layer.get("filters"))
    specs = [
        spec("depthwise_kernel", 0, (*kernel, channels, multiplier)),
        spec("pointwise_kernel", 1, (*[1] * n, channels * multiplier, filters)),
    ]
    if layer.get("use_bias", True):
        specs.append(spec("bias", 2, (filters,)))
    w = layer.weights(specs)
    depth = _depthwise(layer, g, x, perm, w["depthwise_kernel"], sizes, kernel, strides, dilations, None)
    point = np.transpose(w["pointwise_kernel"], (n + 1, n, *range(n)))
    inputs = [depth, g.const(point, "pointwise_kernel")]
    if "bias" in w:
        inputs.append(g.const(w["bias"], "bias"))
    y = g.op("Conv", inputs, name="pointwise_conv", kernel_shape=[1] * n)
    return _finish(layer, g, y, x, perm)


def transpose_output_size(
    size: int, kernel: int, stride: int, dilation: int, padding: str, output_padding: int | None
) -> int:
    """Keras' output length of a transposed convolution (the same rule in Keras 2 and 3)."""
    effective = (kernel - 1) * dilation + 1
    if output_padding is None:
        return size * stride if padding == "same" else (size - 1) * stride + max(effective, stride)
    if padding == "same":
        return (size - 1) * stride + effective % 2 + output_padding
    return (size - 1) * stride + effective + output_padding


@converter("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose")
def conv_transpose(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """ConvTranspose ('valid'/'same', strides, dilation, output_padding)."""
    x = layer.input
    perm = _layout(layer, x)
    sizes, channels = _spatial(layer, x)
    n = len(sizes)
    kernel, strides, dilations = _conv_options(layer, n)
    padding = str(layer.get("padding", "valid")).lower()
    if padding not in ("valid", "same"):
        raise layer.unsupported(f"padding='{padding}'")
    given = layer.get("output_padding")
    output_padding: list[int | None] = [None] * n if given is None else int_list(given, n)  # type: ignore[assignment]
    for op, s in zip(output_padding, strides):
        if op is not None and not 0 <= op < s:
            raise layer.fail(f"output_padding {tuple(output_padding)} must lie in [0, strides {tuple(strides)})")
    filters = int(layer.get("filters"))
    specs = [spec("kernel", 0, (*kernel, filters, channels))]
    if layer.get("use_bias", True):
        specs.append(spec("bias", 1, (filters,)))
    w = layer.weights(specs)
    # Keras computes the transpose of a convolution whose input has the target size: the full result
    # (size - 1) * stride + effective kernel, cropped like that convolution pads ('same': the smaller
    # half first) or extended with zeros at the end
    begins, ends, extra = [], [], []
    for size, k, s, d, op in zip(sizes, kernel, strides, dilations, output_padding):
        full = (size - 1) * s + (k - 1) * d + 1
        total = full - transpose_output_size(size, k, s, d, padding, op)
        begins.append(max(total, 0) // 2)
        ends.append(max(total, 0) - max(total, 0) // 2)
        extra.append(max(-total, 0))
    weight = np.transpose(w["kernel"], (n + 1, n, *range(n)))  # [*k, out, in] -> [in, out, *k]
    inputs = [g.as_layout(x, perm), g.const(weight, "kernel")]
    if "bias" in w:
        inputs.append(g.const(w["bias"], "bias"))
    y = g.op(
        "ConvTranspose",
        inputs,
        kernel_shape=kernel,
        strides=strides,
        dilations=dilations,
        pads=begins + ends,
        output_padding=extra if any(extra) else None,
    )
    return _finish(layer, g, y, x, perm)


@converter("MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D")
def pooling(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """MaxPool / AveragePool ('same' padding excluded from averages)."""
    x = layer.input
    perm = _layout(layer, x)
    sizes, _ = _spatial(layer, x)
    n = len(sizes)
    pool = int_list(layer.get("pool_size", 2), n)
    strides = int_list(layer.get("strides") or pool, n)
    pads = _pads(layer, sizes, pool, strides, [1] * n)
    if layer.class_name.startswith("Max"):
        y = g.op("MaxPool", [g.as_layout(x, perm)], kernel_shape=pool, strides=strides, pads=pads)
    else:
        y = g.op(
            "AveragePool", [g.as_layout(x, perm)], kernel_shape=pool, strides=strides, pads=pads, count_include_pad=0
        )
    shape = g.keras_shape(y, perm)
    return g.tensor(y, (None, *shape[1:]), x.dtype, perm)
