"""C++ array initialisers for constant data (exact, deterministic, readable line lengths)."""

from __future__ import annotations

import numpy as np

from rmodel.tensor import cpp_type, float_literals

VALUES_PER_LINE = 8


def element_texts(values: np.ndarray) -> list[str]:
    """C++ literals for every element of ``values`` (row-major)."""
    dtype = np.dtype(values.dtype)
    if dtype == np.float32:
        return float_literals(values)
    if dtype == np.float64:
        flat = np.asarray(values).ravel()
        return [
            repr(float(v))
            if np.isfinite(v)
            else f"std::numeric_limits<double>::{'quiet_NaN' if np.isnan(v) else 'infinity'}()"
            for v in flat
        ]
    if dtype == np.bool_:
        return ["true" if v else "false" for v in np.asarray(values).ravel()]
    suffix = "LL" if dtype == np.int64 else ""
    low = int(np.iinfo(dtype).min)
    return [f"({low + 1}{suffix} - 1)" if int(v) == low else f"{int(v)}{suffix}" for v in np.asarray(values).ravel()]


def array_definition(name: str, values: np.ndarray, qualifiers: str = "alignas(64) inline constexpr") -> str:
    """``qualifiers T name[N] = {...};`` spread over lines of VALUES_PER_LINE values."""
    values = np.asarray(values)
    texts = element_texts(values) if values.size else ["0"]
    lines = ["    " + ", ".join(texts[i : i + VALUES_PER_LINE]) + "," for i in range(0, len(texts), VALUES_PER_LINE)]
    shape = "x".join(map(str, values.shape)) or "scalar"
    return (
        f"// shape {shape}\n{qualifiers} {cpp_type(values.dtype)} {name}[{max(values.size, 1)}] = {{\n"
        + "\n".join(lines)
        + "\n};"
    )


#: float32 arrays with at least this many elements are embedded as bytes (``bytes_definition``):
#: g++ compiles 4 million floats in 1.2 s and 0.2 GB this way, 25 s and 1.2 GB as float literals
BYTES_MIN_ELEMENTS = 16384
#: bytes per line of a byte-string literal
BYTES_PER_LINE = 256


def _escape_table() -> tuple[np.ndarray, np.ndarray]:
    """(256 x 4 characters, length 1 or 4) per byte: printable ASCII as itself except '"', '\\' and
    '?', everything else a three-digit octal escape (never more digits, so none swallows the next
    character). Fewer characters than escaping every byte: g++ needs less memory (ResNet50: 1.7 GB
    instead of 2.6 GB)."""
    table = np.zeros((256, 4), dtype=np.uint8)
    lengths = np.zeros(256, dtype=np.int64)
    for byte in range(256):
        plain = 32 <= byte < 127 and chr(byte) not in '"\\?'
        token = chr(byte).encode() if plain else f"\\{byte:03o}".encode()
        table[byte, : len(token)] = list(token)
        lengths[byte] = len(token)
    return table, lengths


_TABLE, _LENGTHS = _escape_table()


def _string_lines(data: bytes) -> list[str]:
    """``data`` as the lines of a C++ string literal, BYTES_PER_LINE bytes per line (adjacent
    literals concatenate). Vectorized over blocks of about a megabyte: hundreds of MB in seconds."""
    lines: list[str] = []
    block = BYTES_PER_LINE * 4096
    for start in range(0, len(data), block):
        codes = np.frombuffer(data[start : start + block], dtype=np.uint8)
        lengths = _LENGTHS[codes]
        ends = np.cumsum(lengths)
        # four characters per byte, then keep each byte's first 1 or 4
        keep = np.arange(4) < lengths[:, None]
        text = _TABLE[codes][keep].tobytes().decode("ascii")
        cuts = [0, *ends[BYTES_PER_LINE - 1 :: BYTES_PER_LINE].tolist()]
        if cuts[-1] != len(text):
            cuts.append(len(text))
        lines += [f'    "{text[a:b]}"' for a, b in zip(cuts, cuts[1:])]
    return lines


def bytes_definition(name: str, values: np.ndarray) -> str:
    """A float32 array as a 64-byte aligned byte-string literal ``name_bytes`` (little-endian) and
    an accessor ``name()`` returning ``const float*`` (through the ``may_alias`` type
    ``float_alias``; GCC and Clang: other compilers use the weight file)."""
    data = np.ascontiguousarray(values, dtype="<f4").tobytes()
    lines = _string_lines(data)
    shape = "x".join(map(str, np.shape(values))) or "scalar"
    return (
        f"// shape {shape}, float32 little-endian as bytes (compiles far faster than float literals)\n"
        f"alignas(64) inline constexpr char {name}_bytes[{len(data) + 1}] =\n" + "\n".join(lines) + ";\n"
        f"inline const float* {name}() {{ return reinterpret_cast<const float_alias*>({name}_bytes); }}"
    )
