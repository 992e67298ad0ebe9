"""Keras 3 operations on tensors: ``x + 3.0``, ``a * b``, ``keras.ops.mean(x, axis=1)``, ``x[:, 0]``...

Keras 3 saves these as functional nodes of classes in ``keras.src.ops.*`` (registered here under
``module.ClassName``); their constants and options are in the call's arguments (``layer.args``,
``layer.kwargs``) and in the config. Operations act on whole tensors, batch axis included, with
numpy broadcasting; Python scalars adapt to the tensor's dtype as in Keras.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ...tensor import numpy_to_onnx_dtype
from ..graph import GraphBuilder, KTensor
from ..registry import KerasLayer, converter
from .common import _gelu, like

NUMPY, NN, MATH, CORE = "keras.src.ops.numpy", "keras.src.ops.nn", "keras.src.ops.math", "keras.src.ops.core"
INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min


def op(module: str, *names: str) -> Callable[[Any], Any]:
    """Register a converter for the operation classes ``names`` of ``module``."""
    return converter(*(f"{module}.{name}" for name in names))


# ---- operands: tensors and constants on either side -------------------------------------------


def _weak(value: Any) -> bool:
    return isinstance(value, (bool, int, float)) and not isinstance(value, np.generic)


def result_dtype(values: Sequence[Any]) -> np.dtype:
    """The dtype of a numpy-style operation on ``values`` as Keras 3 types it: tensors and numpy
    arrays decide; Python scalars are weak (``int_tensor + 1.5`` is float, ``x + 2`` keeps x's type)."""
    strong = [v.dtype for v in values if isinstance(v, KTensor)]
    strong += [np.asarray(v).dtype for v in values if not isinstance(v, KTensor) and not _weak(v)]
    if strong:
        dtype = np.result_type(*strong)
    elif any(isinstance(v, float) for v in values):
        dtype = np.dtype(np.float32)
    else:
        dtype = np.dtype(np.int32)
    if dtype.kind in "biu" and any(isinstance(v, float) for v in values):
        dtype = np.dtype(np.float32)
    if dtype.kind == "b" and any(isinstance(v, int) and not isinstance(v, bool) for v in values):
        dtype = np.dtype(np.int32)
    if dtype == np.float64:
        dtype = np.dtype(np.float32)
    return np.dtype(dtype)


def _shape_of(value: Any) -> tuple[int | None, ...]:
    return value.shape if isinstance(value, KTensor) else tuple(np.shape(value))


def broadcast_shape(shapes: Sequence[Sequence[int | None]]) -> tuple[int | None, ...]:
    """numpy broadcasting with None for unknown sizes."""
    rank = max((len(s) for s in shapes), default=0)
    out: list[int | None] = []
    for i in range(rank):
        dims = [s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0]
        sizes = [d for d in dims if d is not None and d != 1]
        out.append(sizes[0] if sizes else (None if None in dims else 1))
    return tuple(out)


def cast(g: GraphBuilder, name: str, have: npt.DTypeLike, want: npt.DTypeLike) -> str:
    if np.dtype(have) == np.dtype(want):
        return name
    return g.op("Cast", [name], to=numpy_to_onnx_dtype(np.dtype(want)))


def operands(layer: KerasLayer, g: GraphBuilder, values: Sequence[Any], dtype: Any) -> tuple[list[str], KTensor]:
    """ONNX names of ``values`` (tensors and constants) in one shared layout and ``dtype`` (one for
    all, or one per value), ready for an ONNX op with numpy broadcasting, and a template of the
    result (shape, layout, the first dtype; no name).

    The layout is the most common one among the tensors of the highest rank, so a chain of
    operations on channels-first convolution outputs stays channels-first; constants are transposed
    to it at conversion time, lower-rank tensors get their leading axes first."""
    dtypes = [np.dtype(d) for d in dtype] if isinstance(dtype, (list, tuple)) else [np.dtype(dtype)] * len(values)
    tensors = [v for v in values if isinstance(v, KTensor)]
    if not tensors:
        raise layer.fail("has no tensor among its arguments")
    rank = max(len(_shape_of(v)) for v in values)
    full = [t for t in tensors if t.rank == rank]
    perm = Counter(t.perm for t in full).most_common(1)[0][0] if full else None
    names = []
    for v, want in zip(values, dtypes):
        if isinstance(v, KTensor):
            if v.rank < rank and perm is not None:
                lead = rank - v.rank
                up = g.op("Unsqueeze", [g.as_layout(v, None), g.const(np.arange(lead, dtype=np.int64), "axes")])
                name = g.as_layout(KTensor(up, (1,) * lead + v.shape, v.dtype), perm)
            else:
                name = g.as_layout(v, perm if v.rank == rank else None)
            names.append(cast(g, name, v.dtype, want))
        else:
            array = np.asarray(v).astype(want)
            if array.ndim and perm is not None:
                array = np.transpose(array.reshape((1,) * (rank - array.ndim) + array.shape), perm)
            names.append(g.const(array, "const"))
    shape = broadcast_shape([_shape_of(v) for v in values])
    return names, KTensor("", shape, dtypes[0], perm)


def _out(template: KTensor, name: str, dtype: Any = None) -> KTensor:
    return KTensor(name, template.shape, np.dtype(dtype) if dtype is not None else template.dtype, template.perm)


def tensor_arg(layer: KerasLayer, index: int = 0) -> KTensor:
    """The ``index``-th positional argument, which must be a tensor."""
    value = layer.args[index] if index < len(layer.args) else None
    if not isinstance(value, KTensor):
        raise layer.unsupported(f"a {type(value).__name__} as argument {index} (a tensor is expected)")
    return value


def _arguments(layer: KerasLayer, count: int, names: Sequence[str]) -> list[Any]:
    """The first ``count`` call arguments, given positionally or by keyword (``names``)."""
    values = list(layer.args[:count])
    for name in names[len(values) : count]:
        if name not in layer.kwargs:
            raise layer.fail(f"needs {count} arguments, got {len(values)}")
        values.append(layer.kwargs[name])
    return values


def _float(dtype: np.dtype) -> np.dtype:
    return dtype if dtype.kind == "f" else np.dtype(np.float32)


def _axes(layer: KerasLayer, value: Any, rank: int) -> list[int]:
    """Axes from an int / list / None (None: every axis), normalized and sorted."""
    if value is None:
        return list(range(rank))
    values = [value] if isinstance(value, int) else list(value)
    axes = sorted({int(a) % rank for a in values}) if rank else []
    if any(not -rank <= int(a) < rank for a in values):
        raise layer.fail(f"axis {value} is out of range for a tensor of rank {rank}")
    return axes


def dropped_layout(x: KTensor, axes: Sequence[int]) -> tuple[int, ...] | None:
    """The layout of ``x`` once its (Keras) ``axes`` are removed."""
    if x.perm is None:
        return None
    kept = [p for p in x.perm if p not in axes]
    order = sorted(kept)
    return tuple(order.index(p) for p in kept)


# ---- elementwise with two or three operands -------------------------------------------------------

BINARY = {
    "Add": "Add",
    "Subtract": "Sub",
    "Multiply": "Mul",
    "Divide": "Div",
    "TrueDivide": "Div",
    "Power": "Pow",
    "Maximum": "Max",
    "Minimum": "Min",
}
COMPARISONS = {
    "Greater": "Greater",
    "GreaterEqual": "GreaterOrEqual",
    "Less": "Less",
    "LessEqual": "LessOrEqual",
    "Equal": "Equal",
    "NotEqual": "Equal",
}
LOGICAL = {"LogicalAnd": "And", "LogicalOr": "Or", "LogicalXor": "Xor"}


@op(NUMPY, *BINARY)
def binary(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Add, Sub, Mul, Div, Pow, Max, Min with numpy broadcasting (constants on either side)."""
    values = _arguments(layer, 2, ("x1", "x2"))
    dtype = result_dtype(values)
    if layer.class_name in ("Divide", "TrueDivide"):
        dtype = _float(dtype)
    names, template = operands(layer, g, values, dtype)
    return _out(template, g.op(BINARY[layer.class_name], names))


@op(NUMPY, "FloorDivide")
def floor_divide(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Floor(Div) (float operands)."""
    values = _arguments(layer, 2, ("x1", "x2"))
    dtype = result_dtype(values)
    if dtype.kind != "f":
        raise layer.unsupported(f"floor division of {dtype} values")
    names, template = operands(layer, g, values, dtype)
    return _out(template, g.op("Floor", [g.op("Div", names)]))


@op(NUMPY, *COMPARISONS)
def compare(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Greater, GreaterOrEqual, Less, LessOrEqual, Equal, Not(Equal): bool results."""
    values = _arguments(layer, 2, ("x1", "x2"))
    names, template = operands(layer, g, values, result_dtype(values))
    y = g.op(COMPARISONS[layer.class_name], names)
    if layer.class_name == "NotEqual":
        y = g.op("Not", [y])
    return _out(template, y, np.bool_)


@op(NUMPY, *LOGICAL)
def logical(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """And, Or, Xor of the operands as bools."""
    values = _arguments(layer, 2, ("x1", "x2"))
    names, template = operands(layer, g, values, np.bool_)
    return _out(template, g.op(LOGICAL[layer.class_name], names))


@op(NUMPY, "Where")
def where(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Where(condition, x1, x2) with broadcasting."""
    values = _arguments(layer, 3, ("condition", "x1", "x2"))
    if values[1] is None or values[2] is None:
        raise layer.unsupported("where(condition) without x1 and x2 (the indices of nonzero values)")
    dtype = result_dtype(values[1:])
    names, template = operands(layer, g, values, [np.bool_, dtype, dtype])
    return _out(template, g.op("Where", names), dtype)


@op(NUMPY, "Clip")
def clip(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Clip between x_min and x_max (Max or Min when one bound is None)."""
    x = tensor_arg(layer)
    low, high = layer.get("x_min"), layer.get("x_max")
    dtype = result_dtype([x, *(v for v in (low, high) if v is not None)])
    name = cast(g, x.name, x.dtype, dtype)
    if low is not None and high is not None:
        y = g.op("Clip", [name, g.const(np.asarray(low, dtype), "min"), g.const(np.asarray(high, dtype), "max")])
    elif low is not None:
        y = g.op("Max", [name, g.const(np.asarray(low, dtype), "min")])
    elif high is not None:
        y = g.op("Min", [name, g.const(np.asarray(high, dtype), "max")])
    else:
        y = name
    return KTensor(y, x.shape, dtype, x.perm)


# ---- elementwise with one operand -----------------------------------------------------------------

#: operations on one tensor that keep its dtype: class -> ONNX op
SAME_TYPE = {"Negative": "Neg", "Abs": "Abs", "Absolute": "Abs", "Fabs": "Abs", "Sign": "Sign"}
#: float functions (integer inputs are cast to float32 first): registry key -> ONNX op
FLOAT_FUNCTIONS = {
    f"{NUMPY}.Sqrt": "Sqrt",
    f"{NUMPY}.Exp": "Exp",
    f"{NUMPY}.Log": "Log",
    f"{NUMPY}.Tanh": "Tanh",
    f"{NUMPY}.Sin": "Sin",
    f"{NUMPY}.Cos": "Cos",
    f"{NUMPY}.Floor": "Floor",
    f"{NUMPY}.Ceil": "Ceil",
    f"{NUMPY}.Reciprocal": "Reciprocal",
    f"{MATH}.Erf": "Erf",
    f"{NN}.Sigmoid": "Sigmoid",
    f"{NN}.Relu": "Relu",
    f"{NN}.Softplus": "Softplus",
    f"{NN}.Softsign": "Softsign",
    f"{NN}.Selu": "Selu",
    f"{NN}.HardSilu": "HardSwish",
}


@op(NUMPY, *SAME_TYPE)
def same_type(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Neg, Abs, Sign."""
    x = tensor_arg(layer)
    return like(x, g.op(SAME_TYPE[layer.class_name], [x.name]))


@op(NUMPY, "Square")
def square(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Mul(x, x)."""
    x = tensor_arg(layer)
    return like(x, g.op("Mul", [x.name, x.name], name="square"))


@op(NUMPY, "LogicalNot")
def logical_not(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Not (of the tensor as bool)."""
    x = tensor_arg(layer)
    return KTensor(g.op("Not", [cast(g, x.name, x.dtype, np.bool_)]), x.shape, np.dtype(np.bool_), x.perm)


def _float_input(layer: KerasLayer, g: GraphBuilder) -> tuple[KTensor, str]:
    x = tensor_arg(layer)
    dtype = _float(x.dtype)
    return KTensor(x.name, x.shape, dtype, x.perm), cast(g, x.name, x.dtype, dtype)


@converter(*FLOAT_FUNCTIONS)
def float_function(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """the ONNX op of the same name (HardSwish for HardSilu); integer inputs are cast to float32 first."""
    x, name = _float_input(layer, g)
    return like(x, g.op(FLOAT_FUNCTIONS[layer.key], [name]))


def _one(g: GraphBuilder, dtype: np.dtype) -> str:
    return g.const(np.asarray(1, dtype), "one")


@op(MATH, "Rsqrt")
def rsqrt(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Reciprocal(Sqrt)."""
    x, name = _float_input(layer, g)
    return like(x, g.op("Reciprocal", [g.op("Sqrt", [name])], name="rsqrt"))


@op(NUMPY, "Log1p")
def log1p(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Log(Add(x, 1))."""
    x, name = _float_input(layer, g)
    return like(x, g.op("Log", [g.op("Add", [name, _one(g, x.dtype)])], name="log1p"))


@op(NUMPY, "Expm1")
def expm1(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Sub(Exp(x), 1)."""
    x, name = _float_input(layer, g)
    return like(x, g.op("Sub", [g.op("Exp", [name]), _one(g, x.dtype)], name="expm1"))


@op(NUMPY, "Round")
def round_(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Round (half to even, decimals=0 only)."""
    if int(layer.get("decimals", 0) or 0) != 0:
        raise layer.unsupported(f"decimals={layer.get('decimals')}")
    x, name = _float_input(layer, g)
    return like(x, g.op("Round", [name]))


@op(NN, "Relu6")
def relu6(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Clip(x, 0, 6)."""
    x, name = _float_input(layer, g)
    low, high = g.const(np.asarray(0, x.dtype), "zero"), g.const(np.asarray(6, x.dtype), "six")
    return like(x, g.op("Clip", [name, low, high], name="relu6"))


@op(NN, "Silu")
def silu(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Mul(x, Sigmoid(x))."""
    x, name = _float_input(layer, g)
    return like(x, g.op("Mul", [name, g.op("Sigmoid", [name])], name="silu"))


@op(NN, "HardSigmoid")
def hard_sigmoid(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """HardSigmoid(alpha=1/6, beta=0.5)."""
    x, name = _float_input(layer, g)
    return like(x, g.op("HardSigmoid", [name], alpha=1.0 / 6.0, beta=0.5))


@op(NN, "LeakyRelu")
def leaky_relu(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """LeakyRelu(alpha=negative_slope)."""
    x, name = _float_input(layer, g)
    return like(x, g.op("LeakyRelu", [name], alpha=float(layer.get("negative_slope", 0.2))))


@op(NN, "Elu")
def elu(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Elu(alpha)."""
    x, name = _float_input(layer, g)
    return like(x, g.op("Elu", [name], alpha=float(layer.get("alpha", 1.0))))


@op(NN, "Gelu")
def gelu(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """0.5 x (1 + erf(x / sqrt 2)); approximate=True: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    x, name = _float_input(layer, g)
    if not layer.get("approximate", True):
        return like(x, _gelu(g, name))
    cube = g.op("Mul", [g.op("Mul", [name, name]), name])
    inner = g.op("Add", [name, g.op("Mul", [cube, g.const(np.float32(0.044715), "c")])])
    inner = g.op("Mul", [inner, g.const(np.float32(math.sqrt(2.0 / math.pi)), "sqrt_2_over_pi")])
    half = g.op("Mul", [name, g.const(np.float32(0.5), "half")])
    return like(x, g.op("Mul", [half, g.op("Add", [g.op("Tanh", [inner]), _one(g, x.dtype)])], name="gelu"))


@op(NN, "Softmax", "LogSoftmax")
def softmax(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Softmax / LogSoftmax over one axis."""
    x, name = _float_input(layer, g)
    axis = layer.get("axis", -1)
    if not isinstance(axis, int):
        raise layer.unsupported(f"axis={axis} (one axis only)")
    return like(x, g.op(layer.class_name, [name], axis=x.onnx_axis(axis)))


# ---- reductions -----------------------------------------------------------------------------------

REDUCTIONS = {
    "Mean": "ReduceMean",
    "Sum": "ReduceSum",
    "Max": "ReduceMax",
    "Amax": "ReduceMax",
    "Min": "ReduceMin",
    "Amin": "ReduceMin",
    "Prod": "ReduceProd",
}


@op(NUMPY, *REDUCTIONS)
def reduce(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """ReduceMean, ReduceSum, ReduceMax, ReduceMin, ReduceProd over the axes (keepdims supported)."""
    x = tensor_arg(layer)
    if layer.get("initial") is not None:
        raise layer.unsupported(f"initial={layer.get('initial')}")
    axes = _axes(layer, layer.get("axis"), x.rank)
    keepdims = bool(layer.get("keepdims", False))
    dtype = x.dtype
    if layer.class_name == "Mean":
        dtype = _float(dtype)
    elif dtype.kind == "b":
        dtype = np.dtype(np.int32)
    name = cast(g, x.name, x.dtype, dtype)
    onnx_axes = sorted(x.onnx_axis(a) for a in axes)
    op_type = REDUCTIONS[layer.class_name]
    if op_type == "ReduceSum":  # axes an input from opset 13, an attribute for the others until 18
        y = g.op(op_type, [name, g.const(np.array(onnx_axes, np.int64), "axes")], keepdims=int(keepdims))
    else:
        y = g.op(op_type, [name], axes=onnx_axes, keepdims=int(keepdims))
    if keepdims:
        return KTensor(y, tuple(1 if i in axes else d for i, d in enumerate(x.shape)), dtype, x.perm)
    shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
    return KTensor(y, shape, dtype, dropped_layout(x, axes))


# ---- shapes and layouts ---------------------------------------------------------------------------


def _dims(layer: KerasLayer, value: Any) -> list[int]:
    values = [value] if isinstance(value, int) else list(value)
    if not all(isinstance(v, int) or v is None for v in values):
        raise layer.unsupported(f"a shape computed at run time ({value})")
    return [-1 if v is None else int(v) for v in values]


@op(NUMPY, "Reshape")
def reshape(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Reshape (in Keras order; -1 allowed once)."""
    x = tensor_arg(layer)
    new = _dims(layer, layer.get("newshape", layer.kwargs.get("newshape")))
    if new.count(-1) > 1 or 0 in new or any(d < -1 for d in new):
        raise layer.fail(f"cannot reshape to {tuple(new)}")
    y = g.op("Reshape", [g.as_layout(x, None), g.const(np.array(new, np.int64), "shape")])
    shape: list[int | None] = [None if d == -1 else d for d in new]
    if new and new[0] == -1:  # the batch stays first: any other -1 follows from the known sizes
        shape[0] = None
    rest_in, rest_out = x.shape[1:], [d for d in shape[1:] if d is not None]
    if shape and shape[0] is None and None in shape[1:] and None not in rest_in:
        shape[shape.index(None, 1)] = int(math.prod(rest_in)) // max(1, int(math.prod(rest_out)))  # type: ignore[arg-type]
    return KTensor(y, tuple(shape), x.dtype)


@op(NUMPY, "Transpose")
def transpose(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """nothing by itself: only the tensor's layout changes (a Transpose appears where one is needed)."""
    x = tensor_arg(layer)
    axes = layer.get("axes")
    axes = list(range(x.rank))[::-1] if axes is None else [int(a) % x.rank for a in axes]
    if sorted(axes) != list(range(x.rank)):
        raise layer.fail(f"axes {layer.get('axes')} are not a permutation of {x.rank} axes")
    have = x.perm if x.perm is not None else tuple(range(x.rank))
    perm = tuple(axes.index(p) for p in have)
    return KTensor(x.name, tuple(x.shape[a] for a in axes), x.dtype, perm)


@op(NUMPY, "ExpandDims")
def expand_dims(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Unsqueeze."""
    x = tensor_arg(layer)
    axis = layer.get("axis")
    values = [axis] if isinstance(axis, int) else list(axis)
    rank = x.rank + len(values)
    axes = sorted({int(a) % rank for a in values})
    y = g.op("Unsqueeze", [g.as_layout(x, None), g.const(np.array(axes, np.int64), "axes")])
    dims = iter(x.shape)
    return KTensor(y, tuple(1 if i in axes else next(dims) for i in range(rank)), x.dtype)


@op(NUMPY, "Squeeze")
def squeeze(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Squeeze (in the tensor's layout)."""
    x = tensor_arg(layer)
    axis = layer.get("axis")
    axes = [i for i, d in enumerate(x.shape) if d == 1] if axis is None else _axes(layer, axis, x.rank)
    if any(x.shape[a] not in (1, None) for a in axes):
        raise layer.fail(f"cannot squeeze axes {axes} of a tensor of shape {x.shape}")
    if not axes:
        return x
    onnx_axes = sorted(x.onnx_axis(a) for a in axes)
    y = g.op("Squeeze", [x.name, g.const(np.array(onnx_axes, np.int64), "axes")])
    shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
    return KTensor(y, shape, x.dtype, dropped_layout(x, axes))


def _tensor_list(layer: KerasLayer) -> list[KTensor]:
    xs = layer.args[0] if layer.args else layer.kwargs.get("xs")
    if not isinstance(xs, (list, tuple)) or not xs or not all(isinstance(x, KTensor) for x in xs):
        raise layer.unsupported("arguments other than a list of tensors")
    return list(xs)


@op(NUMPY, "Concatenate")
def concatenate(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Concat (in the layout most inputs have)."""
    xs = _tensor_list(layer)
    if len({x.rank for x in xs}) != 1:
        raise layer.fail(f"cannot concatenate tensors of ranks {[x.rank for x in xs]}")
    axis = int(layer.get("axis", 0)) % xs[0].rank
    dtype = result_dtype(xs)
    names, template = operands(layer, g, xs, dtype)
    sizes = [x.shape[axis] for x in xs]
    shape = list(template.shape)
    shape[axis] = None if None in sizes else sum(sizes)  # type: ignore[arg-type]
    template = KTensor("", tuple(shape), dtype, template.perm)
    return _out(template, g.op("Concat", names, axis=template.onnx_axis(axis)))


@op(NUMPY, "Stack")
def stack(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Unsqueeze each input, Concat."""
    xs = _tensor_list(layer)
    if len({x.shape[1:] for x in xs}) != 1 or len({x.rank for x in xs}) != 1:
        raise layer.fail(f"cannot stack tensors of shapes {[x.shape for x in xs]}")
    rank = xs[0].rank + 1
    axis = int(layer.get("axis", 0)) % rank
    dtype = result_dtype(xs)
    axes = g.const(np.array([axis], np.int64), "axes")
    names = [g.op("Unsqueeze", [cast(g, g.as_layout(x, None), x.dtype, dtype), axes]) for x in xs]
    shape = list(xs[0].shape)
    shape.insert(axis, len(xs))
    return KTensor(g.op("Concat", names, axis=axis), tuple(shape), dtype)


@op(NUMPY, "Split")
def split(layer: KerasLayer, g: GraphBuilder) -> list[KTensor]:
    """Split (equal sections or at indices; the axis size must be known)."""
    x = tensor_arg(layer)
    axis = int(layer.get("axis", 0)) % x.rank
    size = x.shape[axis]
    if size is None:
        raise layer.unsupported(f"splitting axis {axis} of unknown size")
    how = layer.get("indices_or_sections")
    if isinstance(how, int):
        if size % how:
            raise layer.fail(f"axis {axis} of size {size} cannot be split into {how} equal sections")
        sizes = [size // how] * how
    else:
        bounds = [0, *(min(max(int(i) + size if int(i) < 0 else int(i), 0), size) for i in how), size]
        sizes = [b - a for a, b in zip(bounds, bounds[1:])]
    if any(n <= 0 for n in sizes):
        raise layer.unsupported(f"empty sections (indices_or_sections={how})")
    names = g.op(
        "Split",
        [x.name, g.const(np.array(sizes, np.int64), "split")],
        n_outputs=len(sizes),
        axis=x.onnx_axis(axis),
    )
    names = names if isinstance(names, list) else [names]
    outs = []
    for name, n in zip(names, sizes):
        shape = list(x.shape)
        shape[axis] = n
        outs.append(KTensor(name, tuple(shape), x.dtype, x.perm))
    return outs


@op(CORE, "Cast")
def cast_op(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Cast."""
    x = tensor_arg(layer)
    dtype = layer.get("dtype")
    if isinstance(dtype, dict):
        dtype = dtype.get("config", {}).get("name")
    try:
        want = np.dtype(str(dtype))
    except TypeError as exc:
        raise layer.unsupported(f"casting to {dtype!r}") from exc
    return KTensor(cast(g, x.name, x.dtype, want), x.shape, want, x.perm)


@op(NUMPY, "Matmul")
def matmul(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """MatMul (numpy semantics: batched, broadcast, 1-D operands)."""
    a, b = _arguments(layer, 2, ("x1", "x2"))
    dtype = result_dtype([a, b])
    names = []
    for v in (a, b):
        if isinstance(v, KTensor):
            names.append(cast(g, g.as_layout(v, None), v.dtype, dtype))
        else:
            names.append(g.const(np.asarray(v).astype(dtype), "const"))
    sa, sb = list(_shape_of(a)), list(_shape_of(b))
    if not sa or not sb:
        raise layer.fail("matmul needs operands of rank 1 or more")
    if sa[-1] is not None and sb[-2 if len(sb) > 1 else 0] is not None and sa[-1] != sb[-2 if len(sb) > 1 else 0]:
        raise layer.fail(f"cannot multiply matrices of shapes {tuple(sa)} and {tuple(sb)}")
    rows = [sa[-2]] if len(sa) > 1 else []
    cols = [sb[-1]] if len(sb) > 1 else []
    batch = broadcast_shape([sa[:-2], sb[:-2]])
    return KTensor(g.op("MatMul", names), (*batch, *rows, *cols), dtype)


@op(NUMPY, "Take")
def take(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Gather with constant indices along an axis."""
    x = tensor_arg(layer)
    indices = layer.args[1] if len(layer.args) > 1 else layer.kwargs.get("indices")
    if isinstance(indices, KTensor) or indices is None:
        raise layer.unsupported("indices given as a tensor")
    if layer.get("axis") is None:
        raise layer.unsupported("take without an axis (on the flattened tensor)")
    axis = int(layer.get("axis")) % x.rank
    index = np.asarray(indices, np.int64)
    y = g.op("Gather", [g.as_layout(x, None), g.const(index, "indices")], axis=axis)
    shape = (*x.shape[:axis], *index.shape, *x.shape[axis + 1 :])
    return KTensor(y, shape, x.dtype)


@op(NUMPY, "GetItem")
def get_item(layer: KerasLayer, g: GraphBuilder) -> KTensor:
    """Slice, Squeeze for integer indices, Unsqueeze for None (`x[:, 1:3]`, `x[..., 0]`, `x[:, None]`)."""
    x = tensor_arg(layer)
    key = layer.args[1] if len(layer.args) > 1 else layer.kwargs.get("key")
    items = list(key) if isinstance(key, (list, tuple)) else [key]
    for item in items:
        if not (item is None or item is Ellipsis or isinstance(item, (int, slice))) or isinstance(item, bool):
            raise layer.unsupported(f"indexing with a {type(item).__name__}")
    consumed = sum(1 for item in items if item is not None and item is not Ellipsis)
    if items.count(Ellipsis) > 1 or consumed > x.rank:
        raise layer.fail(f"index {key!r} does not fit a tensor of rank {x.rank}")
    if Ellipsis in items:
        at = items.index(Ellipsis)
        items[at : at + 1] = [slice(None)] * (x.rank - consumed)
    else:
        items += [slice(None)] * (x.rank - consumed)
    starts, ends, axes, steps, squeezed = [], [], [], [], []
    out: list[tuple[str, int | None]] = []
    axis = 0
    for item in items:
        if item is None:
            out.append(("new", 1))
            continue
        dim = x.shape[axis]
        if isinstance(item, int):
            if dim is not None and not -dim <= item < dim:
                raise layer.fail(f"index {item} is out of range for axis {axis} of size {dim}")
            starts.append(item)
            ends.append(item + 1 if item != -1 else INT64_MAX)
            axes.append(axis)
            steps.append(1)
            squeezed.append(axis)
        else:
            step = 1 if item.step is None else int(item.step)
            if step == 0:
                raise layer.fail("slice step cannot be zero")
            if (item.start, item.stop, step) != (None, None, 1):
                starts.append(int(item.start) if item.start is not None else (0 if step > 0 else INT64_MAX))
                ends.append(int(item.stop) if item.stop is not None else (INT64_MAX if step > 0 else INT64_MIN))
                axes.append(axis)
                steps.append(step)
            out.append(("keep", len(range(*item.indices(dim))) if dim is not None else None))
        axis += 1
    new = [i for i, (kind, _) in enumerate(out) if kind == "new"]
    if not (axes or squeezed or new):  # x[:], x[...]
        return x
    y = g.as_layout(x, None)
    if axes:
        consts = [
            g.const(np.array(v, np.int64), hint)
            for v, hint in zip((starts, ends, axes, steps), ("starts", "ends", "axes", "steps"))
        ]
        y = g.op("Slice", [y, *consts])
    if squeezed:
        y = g.op("Squeeze", [y, g.const(np.array(squeezed, np.int64), "axes")])
    if new:
        y = g.op("Unsqueeze", [y, g.const(np.array(new, np.int64), "axes")])
    return KTensor(y, tuple(d for _, d in out), x.dtype)
