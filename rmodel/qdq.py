"""QDQ models: run DequantizeLinear -> Conv/Gemm/MatMul -> QuantizeLinear as the integer operator
onnxruntime runs it as.

A QDQ model (``onnxruntime.quantization.quantize_static(quant_format=QDQ)``) stores an integer
network as float operators between DequantizeLinear and QuantizeLinear nodes. onnxruntime's graph
optimizer (its default level) replaces each such group by an integer operator: Conv by
QLinearConv, MatMul by QLinearMatMul, Gemm by com.microsoft QGemm, with the int8 weights and the
int32 bias of the DequantizeLinear nodes. Its results are those of the integer operator, which a
float Conv followed by QuantizeLinear matches only up to values rounding the other way near a
tie. ``fuse_qdq`` makes the same replacements in the ONNX graph before it is loaded, for the groups
onnxruntime fuses (checked against onnxruntime 1.32's optimized graphs): every scale and zero
point constant (zero points present), activations of one type in and out, int8 activations only
with int8 weights, per-axis weight scales along the output channels, a bias of int32 constants
whose scale is x_scale * w_scale with zero point 0 (Gemm: beta 1), and a Relu between the
operator and the QuantizeLinear dropped when the zero point is the type's minimum. Other groups
stay float operators, as onnxruntime keeps them (it also fuses a bias scale a few percent off the
product; rmodel does not). The DequantizeLinear nodes stay: unused, they are dropped later.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np
from onnx import GraphProto, ModelProto, NodeProto, TensorProto, helper, numpy_helper

_INT8 = (np.dtype(np.int8), np.dtype(np.uint8))
_MS_DOMAIN = "com.microsoft"
#: the most elements of a scale, zero point or bias read while matching
_SMALL = 1 << 16


@dataclass(frozen=True)
class _Dq:
    """A DequantizeLinear feeding the group: its integer input, scale, zero point and their facts."""

    value: str
    scale: str
    zero: str
    dtype: np.dtype
    scale_size: int
    axis: int
    constant: bool


class _Graph:
    """Look-ups over one graph: producers, use counts, constant values."""

    def __init__(self, graph: GraphProto):
        self.graph = graph
        self.producer = {o: n for n in graph.node for o in n.output if o}
        self.uses = Counter(i for n in graph.node for i in n.input if i)
        self.readers: dict[str, list[NodeProto]] = {}
        for n in graph.node:
            for i in set(n.input):
                self.readers.setdefault(i, []).append(n)
        self.uses.update(o.name for o in graph.output)
        self.inits = {i.name: i for i in graph.initializer}

    def const(self, name: str) -> np.ndarray | None:
        """The value of a small initializer (scales, zero points, biases): the model is not checked
        against the limits yet, so large or external tensors are not read here."""
        init = self.inits.get(name)
        if init is None or init.data_location == TensorProto.EXTERNAL or math.prod(init.dims) > _SMALL:
            return None
        try:
            return numpy_helper.to_array(init)
        except Exception:  # a damaged tensor: left to the loader, which reports it
            return None

    def weight(self, name: str) -> tuple[np.dtype, int] | None:
        """(element type, rank) of an initializer, read without its data."""
        init = self.inits.get(name)
        if init is None:
            return None
        try:
            return np.dtype(helper.tensor_dtype_to_np_dtype(init.data_type)), len(init.dims)
        except Exception:
            return None

    def dq(self, name: str) -> _Dq | None:
        """The DequantizeLinear producing ``name``, if it has constant parameters and a zero point."""
        node = self.producer.get(name)
        if node is None or node.op_type != "DequantizeLinear" or node.domain not in ("", "ai.onnx"):
            return None
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if len(node.input) < 3 or not node.input[2] or attrs.get("block_size", 0):
            return None
        scale, zero = self.const(node.input[1]), self.const(node.input[2])
        if scale is None or zero is None or scale.dtype != np.float32 or scale.ndim > 1:
            return None
        value = self.weight(node.input[0])
        return _Dq(
            node.input[0],
            node.input[1],
            node.input[2],
            zero.dtype,
            int(scale.size),
            int(attrs.get("axis", 1)),
            value is not None,
        )

    def q_after(self, name: str) -> NodeProto | None:
        """The QuantizeLinear that alone reads ``name`` (a per-tensor one with a zero point)."""
        if self.uses[name] != 1:
            return None
        readers = self.readers.get(name, [])
        if len(readers) != 1:
            return None
        q = readers[0]
        if q.op_type != "QuantizeLinear" or q.domain not in ("", "ai.onnx") or len(q.input) < 3 or not q.input[2]:
            return None
        scale, zero = self.const(q.input[1]), self.const(q.input[2])
        if scale is None or zero is None or scale.size != 1 or zero.dtype not in _INT8:
            return None
        return q


def _activation(g: _Graph, name: str) -> _Dq | None:
    dq = g.dq(name)
    return dq if dq is not None and dq.scale_size == 1 and dq.dtype in _INT8 else None


def _weights(g: _Graph, name: str, act: _Dq, channel_axis: int, rank: int) -> _Dq | None:
    dq = g.dq(name)
    if dq is None or not dq.constant or dq.dtype not in _INT8:
        return None
    if act.dtype == np.int8 and dq.dtype == np.uint8:
        return None  # onnxruntime has no int8 x uint8 kernels
    if dq.scale_size > 1 and dq.axis % rank != channel_axis:
        return None
    return dq


def _attrs(node: NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _output_q(g: _Graph, name: str) -> tuple[NodeProto, list[NodeProto]] | None:
    """The QuantizeLinear quantizing tensor ``name`` and the nodes it absorbs: itself, and a Relu
    in between that it makes redundant (its zero point the type's minimum: every negative value
    quantizes to it anyway), as onnxruntime drops such a Relu."""
    q = g.q_after(name)
    if q is not None:
        return q, [q]
    readers = g.readers.get(name, [])
    if (
        g.uses[name] != 1
        or len(readers) != 1
        or readers[0].op_type != "Relu"
        or readers[0].domain not in ("", "ai.onnx")
    ):
        return None
    relu = readers[0]
    q = g.q_after(relu.output[0]) if relu.output else None
    zero = g.const(q.input[2]) if q is not None else None
    if q is None or zero is None or int(zero.reshape(-1)[0]) != np.iinfo(zero.dtype).min:
        return None
    return q, [relu, q]


def _bias(g: _Graph, name: str, act: _Dq, w: _Dq) -> str | None:
    """The int32 constant behind a dequantized bias ('' when there is no bias; None when it is not
    one: onnxruntime fuses a bias whose scale is the product of the input and weight scales and
    whose zero point is 0, as quantize_static writes it; a scale off that product by a few percent
    it leaves as a float Conv, and so does rmodel, for any difference)."""
    if not name:
        return ""
    node = g.producer.get(name)
    if node is None or node.op_type != "DequantizeLinear" or node.domain not in ("", "ai.onnx") or len(node.input) < 2:
        return None
    value = g.weight(node.input[0])
    scale, x_scale, w_scale = g.const(node.input[1]), g.const(act.scale), g.const(w.scale)
    zero = g.const(node.input[2]) if len(node.input) > 2 and node.input[2] else np.zeros(1, np.int32)
    if value is None or value[0] != np.int32 or scale is None or x_scale is None or w_scale is None or zero is None:
        return None
    expected = (x_scale.astype(np.float32).reshape(-1) * w_scale.astype(np.float32).reshape(-1)).astype(np.float32)
    got = scale.astype(np.float32).reshape(-1)
    if got.size not in (1, expected.size) or not np.array_equal(np.broadcast_to(got, expected.shape), expected):
        return None
    return node.input[0] if not np.any(zero) else None


def _fuse(g: _Graph, node: NodeProto) -> tuple[NodeProto, list[NodeProto]] | None:
    """(the integer node replacing ``node``, the nodes after it that it absorbs), or None."""
    if node.domain not in ("", "ai.onnx") or node.op_type not in ("Conv", "Gemm", "MatMul") or not node.output:
        return None
    found = _output_q(g, node.output[0])
    act = _activation(g, node.input[0]) if node.input else None
    if found is None or act is None or len(node.input) < 2:
        return None
    q, absorbed = found
    out_zero = g.const(q.input[2])
    assert out_zero is not None
    if out_zero.dtype != act.dtype:
        return None
    w_node = g.producer.get(node.input[1])
    w_value = g.weight(w_node.input[0]) if w_node is not None and w_node.input else None
    w_rank = 0 if w_value is None else w_value[1]
    tail = [q.input[1], q.input[2]]
    head = [act.value, act.scale, act.zero]
    name = node.name or node.output[0]
    if node.op_type == "Conv":
        w = _weights(g, node.input[1], act, 0, max(w_rank, 1))
        bias = _bias(g, node.input[2] if len(node.input) > 2 else "", act, w) if w is not None else None
        if w is None or bias is None:
            return None
        inputs = [*head, w.value, w.scale, w.zero, *tail] + ([bias] if bias else [])
        return helper.make_node("QLinearConv", inputs, [q.output[0]], name=name, **_attrs(node)), absorbed
    if node.op_type == "Gemm":
        attrs = _attrs(node)
        w = _weights(g, node.input[1], act, 0 if attrs.get("transB", 0) else 1, 2)
        bias = _bias(g, node.input[2] if len(node.input) > 2 else "", act, w) if w is not None else None
        if w is None or bias is None or (bias and float(attrs.get("beta", 1.0)) != 1.0):
            return None
        inputs = [*head, w.value, w.scale, w.zero, bias, *tail]
        kept = {k: v for k, v in attrs.items() if k in ("alpha", "transA", "transB")}
        return helper.make_node("QGemm", inputs, [q.output[0]], name=name, domain=_MS_DOMAIN, **kept), absorbed
    b = g.dq(node.input[1])
    if b is None or b.dtype not in _INT8 or (act.dtype == np.int8 and b.dtype == np.uint8):
        return None
    if b.scale_size > 1 and not (b.constant and w_rank == 2 and b.axis % 2 == 1):
        return None
    inputs = [*head, b.value, b.scale, b.zero, *tail]
    return helper.make_node("QLinearMatMul", inputs, [q.output[0]], name=name), absorbed


def fuse_qdq(model: ModelProto) -> int:
    """Replace every fusable DequantizeLinear -> Conv/Gemm/MatMul -> QuantizeLinear group of the main
    graph by its integer operator (in place); the number of groups replaced."""
    g = _Graph(model.graph)
    absorbed: set[str] = set()  # the first outputs of the nodes absorbed (QuantizeLinear, Relu)
    fusions = 0
    nodes: list[NodeProto] = []
    for node in model.graph.node:
        if node.output and node.output[0] in absorbed:
            continue
        fused = _fuse(g, node)
        if fused is None:
            nodes.append(node)
            continue
        nodes.append(fused[0])
        absorbed.update(n.output[0] for n in fused[1])
        fusions += 1
    if not fusions:
        return 0
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    if any(n.domain == _MS_DOMAIN for n in nodes) and all(o.domain != _MS_DOMAIN for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid(_MS_DOMAIN, 1))
    return fusions
