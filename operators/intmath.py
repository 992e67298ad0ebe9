"""Integer arithmetic and float-to-integer conversion with defined results.

Signed overflow and out-of-range float-to-integer casts are undefined behaviour in C++; the
generated code uses these helpers instead, whose results are those of two's complement hardware
(what onnxruntime computes on x86-64 and ARM):

- ``wrap_add/sub/mul/neg``: wrap around modulo 2^bits (``-INT_MIN == INT_MIN``).
- ``float_to_int<T>(v)``: truncation toward zero; NaN, infinities and values outside the range of
  ``int32`` (for types of up to 32 bits) or ``int64`` (for wider ones) give that type's minimum,
  which is then reduced modulo 2^bits of ``T`` -- as onnxruntime's x86-64 build gives (e.g. NaN
  to int32 is -2147483648, 300.7 to int8 is 44).

The C++ is ``operators/cpp/intmath.hpp``.
"""

from __future__ import annotations

from rmodel.cpp_sources import cpp_source

from .base import CpuContext


def use(ctx: CpuContext) -> None:
    """Register the helpers with the header being generated."""
    ctx.helper("int_math", cpp_source("rmodel.operators", "intmath.hpp", "int_math"))
