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
