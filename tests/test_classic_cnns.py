"""Miniatures of the ONNX model zoo's classic image classifiers, at the opsets the zoo ships them
with (7 to 13), against onnxruntime: each has the zoo model's operators and attributes (LRN, Dropout,
BatchNormalization with ``spatial``, Sum, Clip bounds as inputs, channel shuffles, NHWC inputs...)
on small tensors and random weights.

The zoo's opset 3 and 6 exports use pre-opset-7 attributes (``broadcast`` of Gemm and Add,
``consumed_inputs``) that rmodel refuses by name; onnxruntime does not run opsets below 7 either.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from helpers import check_against_onnxruntime, make_model, weights
from onnx import TensorProto, helper, numpy_helper

import rmodel
from rmodel.errors import RModelError


class Net:
    """A graph under construction: ``add`` appends a node and returns its output name."""

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: dict[str, np.ndarray] = {}

    def const(self, value: np.ndarray) -> str:
        name = f"c{len(self.inits)}"
        self.inits[name] = np.asarray(value)
        return name

    def add(self, op: str, inputs: list[str], **attrs) -> str:
        out = f"t{len(self.nodes)}"
        self.nodes.append(helper.make_node(op, inputs, [out], name=f"{op.lower()}_{len(self.nodes)}", **attrs))
        return out

    def conv(self, x: str, c_in: int, c_out: int, k: int, group: int = 1, **attrs) -> str:
        w = self.const(weights(self.rng, c_out, c_in // group, k, k, fan_in=c_in // group * k * k))
        b = self.const(weights(self.rng, c_out))
        return self.add("Conv", [x, w, b], kernel_shape=[k, k], group=group, **attrs)

    def bn(self, x: str, c: int, opset: int) -> str:
        scale, bias = self.const(self.rng.uniform(0.5, 1.5, c).astype(np.float32)), self.const(weights(self.rng, c))
        mean = self.const(weights(self.rng, c))
        var = self.const(self.rng.uniform(0.5, 2, c).astype(np.float32))
        attrs = {"spatial": 1} if opset < 9 else {}
        return self.add("BatchNormalization", [x, scale, bias, mean, var], epsilon=1e-5, **attrs)

    def gemm(self, x: str, n_in: int, n_out: int) -> str:
        w, b = self.const(weights(self.rng, n_out, n_in)), self.const(weights(self.rng, n_out))
        return self.add("Gemm", [x, w, b], transB=1)

    def dropout(self, x: str, ratio: float, opset: int) -> str:
        """Dropout: ratio an attribute before opset 12, an input from 12 on (identity in inference)."""
        if opset < 12:
            return self.add("Dropout", [x], ratio=ratio)
        return self.add("Dropout", [x, self.const(np.array(ratio, np.float32))])

    def reshape(self, x: str, shape: list[int]) -> str:
        return self.add("Reshape", [x, self.const(np.array(shape, np.int64))])

    def model(self, x_shape: list[int], out: str, opset: int) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes,
            "classic",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
            [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)],
            [numpy_helper.from_array(v, k) for k, v in self.inits.items()],
        )
        proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        proto.ir_version = 7
        return proto


def alexnet(opset: int, lrn: dict) -> onnx.ModelProto:
    """AlexNet, CaffeNet, ZFNet, R-CNN ILSVRC13: Conv-Relu-LRN-MaxPool twice, then the classifier."""
    n = Net(1)
    x = n.add("Relu", [n.conv("x", 3, 8, 5, strides=[2, 2], pads=[2, 2, 2, 2])])
    x = n.add("MaxPool", [n.add("LRN", [x], **lrn)], kernel_shape=[3, 3], strides=[2, 2])
    x = n.add("Relu", [n.conv(x, 8, 16, 3, pads=[1, 1, 1, 1], group=2)])
    x = n.add("MaxPool", [n.add("LRN", [x], **lrn)], kernel_shape=[3, 3], strides=[2, 2])
    x = n.reshape(x, [1, 16 * 3 * 3])
    x = n.dropout(n.add("Relu", [n.gemm(x, 144, 32)]), 0.5, opset)
    return n.model([1, 3, 32, 32], n.add("Softmax", [n.gemm(x, 32, 10)]), opset)


def googlenet(opset: int) -> onnx.ModelProto:
    """GoogLeNet / Inception v1: LRN after the stem, inception modules (four branches concatenated),
    AveragePool, Dropout, Gemm, Softmax."""
    n = Net(2)
    x = n.add(
        "MaxPool", [n.add("Relu", [n.conv("x", 3, 8, 3, pads=[1, 1, 1, 1])])], kernel_shape=[3, 3], strides=[2, 2]
    )
    x = n.add("LRN", [x], size=5, alpha=1e-4, beta=0.75, bias=1.0)
    branches = [
        n.add("Relu", [n.conv(x, 8, 4, 1)]),
        n.add("Relu", [n.conv(n.add("Relu", [n.conv(x, 8, 4, 1)]), 4, 6, 3, pads=[1, 1, 1, 1])]),
        n.add("Relu", [n.conv(n.add("Relu", [n.conv(x, 8, 2, 1)]), 2, 3, 5, pads=[2, 2, 2, 2])]),
        n.add("Relu", [n.conv(n.add("MaxPool", [x], kernel_shape=[3, 3], pads=[1, 1, 1, 1]), 8, 3, 1)]),
    ]
    x = n.add("Concat", branches, axis=1)
    x = n.add("AveragePool", [x], kernel_shape=[7, 7], strides=[1, 1])
    x = n.dropout(n.reshape(x, [1, 16]), 0.4, opset)
    return n.model([1, 3, 16, 16], n.add("Softmax", [n.gemm(x, 16, 10)]), opset)


def resnet_caffe2(opset: int) -> onnx.ModelProto:
    """ResNet v1 (caffe2 export) and Inception v2: BatchNormalization (``spatial`` before opset 9),
    a residual Sum, GlobalAveragePool, Reshape, Gemm, Softmax."""
    n = Net(3)
    stem = n.add("Relu", [n.bn(n.conv("x", 3, 8, 3, pads=[1, 1, 1, 1], strides=[2, 2]), 8, opset)])
    stem = n.add("MaxPool", [stem], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    y = n.add("Relu", [n.bn(n.conv(stem, 8, 8, 3, pads=[1, 1, 1, 1]), 8, opset)])
    y = n.bn(n.conv(y, 8, 8, 3, pads=[1, 1, 1, 1]), 8, opset)
    x = n.add("Relu", [n.add("Sum", [stem, y])])
    x = n.add("AveragePool", [x], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1], count_include_pad=1)
    x = n.reshape(n.add("GlobalAveragePool", [x]), [1, 8])
    return n.model([1, 3, 16, 16], n.add("Softmax", [n.gemm(x, 8, 5)]), opset)


def squeezenet(opset: int) -> onnx.ModelProto:
    """SqueezeNet: fire modules (squeeze, two expands concatenated), Dropout, a 1x1 Conv classifier,
    GlobalAveragePool, Reshape, Softmax."""
    n = Net(4)
    x = n.add("MaxPool", [n.add("Relu", [n.conv("x", 3, 8, 3, strides=[2, 2])])], kernel_shape=[3, 3], strides=[2, 2])
    s = n.add("Relu", [n.conv(x, 8, 4, 1)])
    x = n.add(
        "Concat", [n.add("Relu", [n.conv(s, 4, 6, 1)]), n.add("Relu", [n.conv(s, 4, 6, 3, pads=[1, 1, 1, 1])])], axis=1
    )
    x = n.add("Relu", [n.conv(n.dropout(x, 0.5, opset), 12, 10, 1)])
    x = n.reshape(n.add("GlobalAveragePool", [x]), [1, 10])
    return n.model([1, 3, 24, 24], n.add("Softmax", [x]), opset)


def densenet(opset: int) -> onnx.ModelProto:
    """DenseNet-121: BN-Relu-Conv layers whose outputs are concatenated onto their input, a
    transition AveragePool, GlobalAveragePool."""
    n = Net(5)
    x = n.conv("x", 3, 8, 3, pads=[1, 1, 1, 1])
    c = 8
    for _ in range(2):
        y = n.conv(n.add("Relu", [n.bn(x, c, opset)]), c, 4, 3, pads=[1, 1, 1, 1])
        x, c = n.add("Concat", [x, y], axis=1), c + 4
    x = n.add("AveragePool", [n.conv(n.add("Relu", [n.bn(x, c, opset)]), c, 8, 1)], kernel_shape=[2, 2], strides=[2, 2])
    x = n.reshape(n.add("GlobalAveragePool", [x]), [1, 8])
    return n.model([1, 3, 8, 8], n.add("Softmax", [n.gemm(x, 8, 5)]), opset)


def shufflenet(opset: int) -> onnx.ModelProto:
    """ShuffleNet v1 (caffe2) and v2: group convolutions, a channel shuffle (Reshape, Transpose,
    Reshape), a depthwise Conv, a channel Split (v2) and Concat."""
    n = Net(6)
    x = n.add("Relu", [n.bn(n.conv("x", 3, 8, 3, pads=[1, 1, 1, 1]), 8, opset)])
    y = n.add("Relu", [n.conv(x, 8, 8, 1, group=2)])
    y = n.reshape(n.add("Transpose", [n.reshape(y, [1, 2, 4, 8, 8])], perm=[0, 2, 1, 3, 4]), [1, 8, 8, 8])
    y = n.bn(n.conv(y, 8, 8, 3, group=8, pads=[1, 1, 1, 1]), 8, opset)
    a, b = "half_a", "half_b"  # split sizes: an attribute before opset 13, an input from 13 on
    if opset < 13:
        n.nodes.append(helper.make_node("Split", [y], [a, b], axis=1, split=[4, 4]))
    else:
        n.nodes.append(helper.make_node("Split", [y, n.const(np.array([4, 4], np.int64))], [a, b], axis=1))
    x = n.add("Relu", [n.add("Sum", [x, n.add("Concat", [b, a], axis=1)])])
    x = n.reshape(n.add("GlobalAveragePool", [x]), [1, 8])
    return n.model([1, 3, 8, 8], n.add("Softmax", [n.gemm(x, 8, 5)]), opset)


def mobilenet_v2(opset: int) -> onnx.ModelProto:
    """MobileNet v2 and EfficientNet-Lite: ReLU6 as Clip (bounds as inputs from opset 11), inverted
    residual blocks (expand, depthwise, project, Add); EfficientNet-Lite's NHWC input is transposed,
    and it ends with ReduceMean, Squeeze and MatMul + Add."""
    n = Net(7)
    if opset >= 11:
        bounds = [n.const(np.array(0, np.float32)), n.const(np.array(6, np.float32))]

        def relu6(t: str) -> str:
            return n.add("Clip", [t, *bounds])
    else:

        def relu6(t: str) -> str:
            return n.add("Clip", [t], min=0.0, max=6.0)

    x = n.add("Transpose", ["x"], perm=[0, 3, 1, 2])
    x = relu6(n.bn(n.conv(x, 3, 8, 3, pads=[1, 1, 1, 1], strides=[2, 2]), 8, opset))
    y = relu6(n.conv(x, 8, 16, 1))
    y = relu6(n.conv(y, 16, 16, 3, group=16, pads=[1, 1, 1, 1]))
    x = n.add("Add", [x, n.conv(y, 16, 8, 1)])
    axes = {"axes": [2, 3]}
    x = (
        n.add("ReduceMean", [x], keepdims=1, **axes)
        if opset < 18
        else n.add("ReduceMean", [x, n.const(np.array([2, 3], np.int64))], keepdims=1)
    )
    x = n.add("Squeeze", [x], axes=[2, 3]) if opset < 13 else n.add("Squeeze", [x, n.const(np.array([2, 3], np.int64))])
    x = n.add("Add", [n.add("MatMul", [x, n.const(weights(n.rng, 8, 5))]), n.const(weights(n.rng, 5))])
    return n.model([1, 16, 16, 3], n.add("Softmax", [x], axis=-1), opset)


LRN_ZOO = {
    "alexnet": {"size": 5, "alpha": 1e-4, "beta": 0.75, "bias": 1.0},
    "zfnet": {"size": 5, "alpha": 2e-5, "beta": 0.75, "bias": 1.0},
    "rcnn": {"size": 5, "alpha": 1e-4, "beta": 0.75},
}


@pytest.mark.parametrize("opset", [7, 9, 12])
@pytest.mark.parametrize("variant", sorted(LRN_ZOO))
def test_alexnet_caffenet_zfnet(variant, opset):
    check_against_onnxruntime(alexnet(opset, LRN_ZOO[variant]))


@pytest.mark.parametrize(
    ("build", "opset"),
    [
        (googlenet, 7),
        (googlenet, 12),
        (resnet_caffe2, 7),
        (resnet_caffe2, 9),
        (squeezenet, 8),
        (squeezenet, 12),
        (densenet, 8),
        (densenet, 12),
        (shufflenet, 7),
        (shufflenet, 13),
        (mobilenet_v2, 10),
        (mobilenet_v2, 11),
        (mobilenet_v2, 13),
    ],
    ids=lambda v: v.__name__ if callable(v) else f"opset{v}",
)
def test_zoo_classic(build, opset):
    check_against_onnxruntime(build(opset))


@pytest.mark.parametrize(
    ("op", "attrs", "opset", "message"),
    [
        ("Gemm", {"broadcast": 1}, 6, "has attribute.s. broadcast that rmodel does not support"),
        ("Relu", {"consumed_inputs": [0]}, 1, "has attribute.s. consumed_inputs that rmodel does not support"),
    ],
)
def test_pre_opset_7_attributes_are_refused_by_name(op, attrs, opset, message):
    inputs = ["x", "w", "b"] if op == "Gemm" else ["x"]
    inits = {"w": np.ones((4, 3), np.float32), "b": np.ones(3, np.float32)} if op == "Gemm" else {}
    proto = make_model([helper.make_node(op, inputs, ["y"], **attrs)], {"x": (np.float32, [1, 4])}, ["y"], inits, opset)
    with pytest.raises(RModelError, match=message):
        rmodel.from_onnx(proto)
