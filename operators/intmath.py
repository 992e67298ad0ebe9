"""Integer arithmetic and float-to-integer conversion with defined results.

Signed overflow and out-of-range float-to-integer casts are undefined behaviour in C++; the
generated code uses these helpers instead, whose results are those of two's complement hardware
(what onnxruntime computes on x86-64 and ARM):

- ``wrap_add/sub/mul/neg``: wrap around modulo 2^bits (``-INT_MIN == INT_MIN``).
- ``float_to_int<T>(v)``: truncation toward zero; NaN, infinities and values outside the range of
  ``int32`` (for types of up to 32 bits) or ``int64`` (for wider ones) give that type's minimum,
  which is then reduced modulo 2^bits of ``T`` -- as onnxruntime's x86-64 build gives (e.g. NaN
  to int32 is -2147483648, 300.7 to int8 is 44).
"""

from __future__ import annotations

from .base import CpuContext

INT_MATH = """// integer arithmetic without undefined behaviour: computed in an unsigned type of at least
// int's width (no promotion back to int), converted back modulo 2^bits
template <typename T>
using wrap_t = std::conditional_t<(sizeof(T) < sizeof(unsigned)), unsigned, std::make_unsigned_t<T>>;
template <typename T>
inline T wrap_add(T a, T b) {
  return static_cast<T>(static_cast<wrap_t<T>>(a) + static_cast<wrap_t<T>>(b));
}
template <typename T>
inline T wrap_sub(T a, T b) {
  return static_cast<T>(static_cast<wrap_t<T>>(a) - static_cast<wrap_t<T>>(b));
}
template <typename T>
inline T wrap_mul(T a, T b) {
  return static_cast<T>(static_cast<wrap_t<T>>(a) * static_cast<wrap_t<T>>(b));
}
template <typename T>
inline T wrap_neg(T a) {
  return static_cast<T>(wrap_t<T>(0) - static_cast<wrap_t<T>>(a));
}
// float to integer: truncation; NaN/inf/out of range give the minimum of int32 (types up to 32
// bits) or int64, reduced modulo 2^bits of T (x86-64's cvttss2si, as onnxruntime computes)
template <typename T>
inline T float_to_int(double v) {
  using W = std::conditional_t<(sizeof(T) < 4 || (sizeof(T) == 4 && std::is_signed_v<T>)), std::int32_t, std::int64_t>;
  constexpr double lo = static_cast<double>(std::numeric_limits<W>::min());
  const W w = (v >= lo && v < -lo) ? static_cast<W>(v) : std::numeric_limits<W>::min();
  return static_cast<T>(static_cast<std::make_unsigned_t<W>>(w));
}"""


def use(ctx: CpuContext) -> None:
    """Register the helpers with the header being generated."""
    ctx.helper("int_math", INT_MATH)
