"""Tensor descriptions and the data types rmodel understands."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from onnx import TensorProto, helper

from .errors import DTypeError
from .naming import comment_text

#: numpy dtype -> C++ type used in generated code
CPP_TYPES: dict[np.dtype, str] = {
    np.dtype(np.float32): "float",
    np.dtype(np.float64): "double",
    np.dtype(np.int64): "std::int64_t",
    np.dtype(np.int32): "std::int32_t",
    np.dtype(np.int16): "std::int16_t",
    np.dtype(np.int8): "std::int8_t",
    np.dtype(np.uint8): "std::uint8_t",
    np.dtype(np.bool_): "bool",
}

#: short tags used in identifiers (arena names, etc.)
DTYPE_TAGS: dict[np.dtype, str] = {
    np.dtype(np.float32): "f32",
    np.dtype(np.float64): "f64",
    np.dtype(np.int64): "i64",
    np.dtype(np.int32): "i32",
    np.dtype(np.int16): "i16",
    np.dtype(np.int8): "i8",
    np.dtype(np.uint8): "u8",
    np.dtype(np.bool_): "b8",
}


def onnx_to_numpy_dtype(elem_type: int, where: str = "") -> np.dtype:
    """Map an ONNX TensorProto element type to a numpy dtype we support."""
    try:
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(elem_type))
    except (KeyError, ValueError, TypeError):
        dtype = None
    if dtype is None or dtype not in CPP_TYPES:
        name = TensorProto.DataType.Name(elem_type) if elem_type in TensorProto.DataType.values() else elem_type
        raise DTypeError(
            f"{where or 'tensor'} has data type {name}, which rmodel does not support; "
            f"supported: {', '.join(sorted(t.name for t in CPP_TYPES))}"
        )
    return dtype


def numpy_to_onnx_dtype(dtype: np.dtype) -> int:
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def float_literals(values: np.ndarray) -> list[str]:
    """C++ float literals that round-trip every element of ``values`` (as float32) exactly, row-major:
    ``%.9g`` digits with an ``f`` suffix, NaN and infinities through ``std::numeric_limits``. The one
    writer of float literals (array initialisers and constants inside operator code)."""
    flat = np.asarray(values, dtype=np.float32).ravel()
    texts = np.char.mod("%.9g", flat.astype(np.float64)).tolist()
    out = []
    for text, value in zip(texts, flat):
        if not np.isfinite(value):
            if np.isnan(value):
                out.append("std::numeric_limits<float>::quiet_NaN()")
            else:
                out.append(("-" if value < 0 else "") + "std::numeric_limits<float>::infinity()")
        elif "." in text or "e" in text:
            out.append(text + "f")
        else:
            out.append(text + ".0f")
    return out


def float_literal(value: float) -> str:
    """``float_literals`` of one value."""
    return float_literals(np.array([value]))[0]


def cpp_type(dtype: np.dtype) -> str:
    try:
        return CPP_TYPES[np.dtype(dtype)]
    except KeyError as exc:
        raise DTypeError(f"no C++ type for numpy dtype {dtype}") from exc


@dataclass(frozen=True)
class TensorInfo:
    """Name, element type and (concrete) shape of a tensor."""

    name: str
    dtype: np.dtype
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def rank(self) -> int:
        return len(self.shape)

    def with_name(self, name: str) -> TensorInfo:
        return TensorInfo(name, self.dtype, self.shape)

    def describe(self) -> str:
        """``name: dtype[shape]`` with the name escaped for generated comments."""
        return f"{comment_text(self.name)}: {np.dtype(self.dtype).name}[{'x'.join(map(str, self.shape)) or 'scalar'}]"

    def __str__(self) -> str:
        return f"{self.name}: {np.dtype(self.dtype).name}[{'x'.join(map(str, self.shape)) or 'scalar'}]"
