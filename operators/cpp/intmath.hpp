// Integer arithmetic and float-to-integer conversion with defined results (operators/intmath.py).
// Generated code copies only the text between `// rmodel:begin NAME` and `// rmodel:end NAME`
// (rmodel/cpp_sources.py); the rest of the file makes it compile on its own.
#pragma once

#include <cstdint>
#include <limits>
#include <type_traits>

namespace rmodel::detail {

// rmodel:begin int_math
// integer arithmetic without undefined behaviour: computed in an unsigned type of at least
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
}
// rmodel:end int_math

}  // namespace rmodel::detail
