"""The ONNX graph a Keras model is converted into, and the tensors that flow through it.

Every Keras tensor is represented by an ONNX tensor plus a *layout*: the permutation ``perm`` with
``onnx_value == numpy.transpose(keras_value, perm)`` (``None`` means the Keras order itself). This
lets a stack of convolutions run channels-first with a single Transpose at its entry and exit, and
lets stacked recurrent layers stay time-major, without converters caring about each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ..errors import ModelLoadError
from ..naming import UniqueNames
from ..tensor import numpy_to_onnx_dtype

OPSET = 17
#: the name of the symbolic batch dimension in the ONNX inputs
BATCH_DIM = "batch"

Shape = tuple[int | None, ...]


def channels_first(rank: int) -> tuple[int, ...]:
    """Layout that moves the last (channel) axis of a rank-``rank`` tensor to position 1."""
    return (0, rank - 1, *range(1, rank - 1))


def time_major(rank: int) -> tuple[int, ...]:
    """Layout that swaps the batch and time axes."""
    return (1, 0, *range(2, rank))


def _normal(perm: Sequence[int] | None, rank: int) -> tuple[int, ...] | None:
    if perm is None:
        return None
    perm = tuple(int(p) for p in perm)
    if perm == tuple(range(rank)):
        return None
    return perm


def _inverse(perm: Sequence[int]) -> tuple[int, ...]:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


@dataclass
class KTensor:
    """A Keras tensor as it exists in the ONNX graph."""

    name: str
    #: the Keras shape (None for the batch axis and anything unknown)
    shape: Shape
    dtype: np.dtype
    #: onnx = transpose(keras, perm); None = Keras order
    perm: tuple[int, ...] | None = None

    @property
    def rank(self) -> int:
        return len(self.shape)

    def onnx_axis(self, keras_axis: int) -> int:
        """The ONNX axis holding Keras axis ``keras_axis`` (negative axes allowed)."""
        axis = keras_axis % self.rank
        return axis if self.perm is None else self.perm.index(axis)

    def onnx_shape(self) -> Shape:
        return self.shape if self.perm is None else tuple(self.shape[p] for p in self.perm)


class GraphBuilder:
    """Collects ONNX nodes, initializers and unique names while a Keras model is converted."""

    def __init__(self, name: str = "keras_model"):
        self.name = name
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self._names = UniqueNames(clean=_onnx_name, first_suffix=1)
        self._layout_cache: dict[tuple[str, tuple[int, ...]], str] = {}
        self._const_cache: dict[tuple[str, bytes, tuple[int, ...]], str] = {}
        #: inferred (onnx) shapes and dtypes of every tensor produced so far
        self._shapes: dict[str, tuple[Shape, np.dtype]] = {}
        self._small_constants: list[onnx.TensorProto] = []
        self._inferred_upto = 0
        #: name prefix for the nodes of the layer being converted
        self.scope = ""

    # ---- names ----------------------------------------------------------------------------
    def unique(self, hint: str) -> str:
        """A new ONNX tensor or node name like ``hint``."""
        return self._names.fresh(hint)

    # ---- graph pieces ---------------------------------------------------------------------
    def add_input(self, name: str, shape: Shape, dtype: Any, batch_size: int | None) -> KTensor:
        dtype = np.dtype(dtype)
        onnx_name = self.unique(name)
        dims: list[Any] = [batch_size if batch_size else BATCH_DIM] + [
            d if d is not None else f"{name}_d{i + 1}" for i, d in enumerate(shape[1:])
        ]
        self.inputs.append(helper.make_tensor_value_info(onnx_name, numpy_to_onnx_dtype(dtype), dims))
        self._shapes[onnx_name] = ((batch_size or None, *shape[1:]), dtype)
        return KTensor(onnx_name, (None, *shape[1:]), dtype)

    def add_output(self, tensor: KTensor, name: str) -> str:
        """Make ``tensor`` (in Keras layout) a graph output called (about) ``name``."""
        src = self.as_layout(tensor, None)
        out = self.unique(name)
        self.nodes.append(helper.make_node("Identity", [src], [out], name=self.unique(f"{out}/identity")))
        dims = [
            BATCH_DIM if i == 0 and d is None else (d if d is not None else f"{out}_d{i}")
            for i, d in enumerate(tensor.shape)
        ]
        self.outputs.append(helper.make_tensor_value_info(out, numpy_to_onnx_dtype(tensor.dtype), dims))
        return out

    def const(self, value: Any, hint: str = "const", dtype: Any = None) -> str:
        """An initializer holding ``value`` (deduplicated); returns its name."""
        array = np.asarray(value, dtype=dtype) if dtype is not None else np.asarray(value)
        if array.dtype == np.float64:
            array = array.astype(np.float32)
        array = np.array(array, order="C")  # (ascontiguousarray would turn 0-d into 1-d)
        key = (array.dtype.str, array.tobytes(), array.shape)
        if key in self._const_cache:
            return self._const_cache[key]
        name = self.unique(f"{self.scope}{hint}" if self.scope and "/" not in hint else hint)
        tensor = numpy_helper.from_array(array, name)
        self.initializers.append(tensor)
        if array.size <= 64 or array.dtype.kind in "iub":
            self._small_constants.append(tensor)
        self._shapes[name] = (tuple(array.shape), array.dtype)
        self._const_cache[key] = name
        return name

    def op(self, op_type: str, inputs: Sequence[str], n_outputs: int = 1, name: str | None = None, **attrs: Any) -> Any:
        """Add a node; returns its output name (or a list of names when ``n_outputs`` > 1)."""
        label = name or op_type.lower()
        node_name = self.unique(f"{self.scope}{label}")
        outputs = [self.unique(f"{node_name}:{i}" if n_outputs > 1 else node_name) for i in range(n_outputs)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(helper.make_node(op_type, list(inputs), outputs, name=node_name, **attrs))
        return outputs if n_outputs > 1 else outputs[0]

    # ---- layouts --------------------------------------------------------------------------
    def as_layout(self, tensor: KTensor, perm: Sequence[int] | None) -> str:
        """Name of an ONNX tensor holding ``tensor`` in layout ``perm`` (a Transpose when needed,
        made once per tensor and layout)."""
        want = _normal(perm, tensor.rank)
        have = _normal(tensor.perm, tensor.rank)
        if want == have:
            return tensor.name
        inv = _inverse(have) if have is not None else tuple(range(tensor.rank))
        target = want if want is not None else tuple(range(tensor.rank))
        relative = tuple(inv[target[i]] for i in range(tensor.rank))
        key = (tensor.name, relative)
        if key not in self._layout_cache:
            self._layout_cache[key] = self.op("Transpose", [tensor.name], name="transpose", perm=list(relative))
        return self._layout_cache[key]

    def tensor(self, name: str, shape: Shape, dtype: Any = np.float32, perm: Sequence[int] | None = None) -> KTensor:
        """Wrap an ONNX tensor produced by the converter as a Keras tensor."""
        return KTensor(name, tuple(shape), np.dtype(dtype), _normal(perm, len(shape)))

    # ---- shapes ---------------------------------------------------------------------------
    def onnx_shape(self, name: str) -> Shape:
        """Shape of an ONNX tensor (None for the batch axis and unknown dims), via onnx shape
        inference over the nodes added since the last call."""
        if name not in self._shapes:
            self._infer_new_nodes()
        if name not in self._shapes:
            raise ModelLoadError(f"internal error: the shape of '{name}' cannot be inferred")
        return self._shapes[name][0]

    def onnx_dtype(self, name: str) -> np.dtype:
        if name not in self._shapes:
            self._infer_new_nodes()
        return self._shapes[name][1]

    def keras_shape(self, name: str, perm: Sequence[int] | None = None) -> Shape:
        """The Keras shape of an ONNX tensor whose layout is ``perm``."""
        shape = self.onnx_shape(name)
        if perm is None:
            return shape
        inv = _inverse(perm)
        return tuple(shape[inv[i]] for i in range(len(shape)))

    def _infer_new_nodes(self) -> None:
        new_nodes = self.nodes[self._inferred_upto :]
        if not new_nodes:
            return
        small = {t.name for t in self._small_constants}
        produced = {o for n in new_nodes for o in n.output}
        needed: list[str] = []
        for node in new_nodes:
            for i in node.input:
                if i and i not in produced and i not in small and i not in needed:
                    needed.append(i)
        inputs = []
        for name in needed:
            shape, dtype = self._shapes[name]
            named = [d if d is not None else f"u{k}" for k, d in enumerate(shape)]
            inputs.append(helper.make_tensor_value_info(name, numpy_to_onnx_dtype(dtype), named))
        used_small = [t for t in self._small_constants if any(t.name in n.input for n in new_nodes)]
        outputs = [helper.make_empty_tensor_value_info(o) for o in produced]
        graph = helper.make_graph(list(new_nodes), "infer", inputs, outputs, used_small)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = 8
        try:
            inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
        except Exception as exc:
            raise ModelLoadError(f"the ONNX produced for layer '{self.scope.rstrip('/')}' is invalid: {exc}") from exc
        for vi in list(inferred.graph.value_info) + list(inferred.graph.output):
            tt = vi.type.tensor_type
            if not tt.elem_type or not tt.HasField("shape"):
                continue
            dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim)
            self._shapes[vi.name] = (dims, helper.tensor_dtype_to_np_dtype(tt.elem_type))
        self._inferred_upto = len(self.nodes)

    # ---- result ---------------------------------------------------------------------------
    def model(self, producer: str = "rmodel.keras") -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, self.name, self.inputs, self.outputs, self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name=producer)
        model.ir_version = 8
        return model


FLOAT = TensorProto.FLOAT


def _onnx_name(hint: str, prefix: str) -> str:
    """``hint`` with characters other than letters, digits and ``_./:-`` replaced by ``_``."""
    return "".join(c if c.isalnum() or c in "_./:-" else "_" for c in hint) or prefix
