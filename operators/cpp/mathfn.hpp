// Vectorizable float exp, sigmoid and tanh of operators/mathfn.py (its docstring has the method,
// the fitted coefficients' origin and the measured error bounds). The polynomials, in Horner form:
// exp(r) = 1 + r + r^2 (C2 + C3 r + C4 r^2 + C5 r^3 + C6 r^4) for |r| <= ln2/2, and
// tanh(x) = x + x^3 (T0 + T1 u + ... + T5 u^5) with u = x^2 for |x| < 0.625
// (mathfn.fit_coefficients re-derives them).
// Generated code copies only the text between `// rmodel:begin NAME` and `// rmodel:end NAME`
// (rmodel/cpp_sources.py); the rest of the file makes it compile on its own.
// A header carries only the functions it calls (and those they call): each is a section.
#pragma once

#include <cstdint>
#include <cstring>

namespace rmodel::detail {

// clang-format off
// rmodel:begin mathfn
#ifndef RMODEL_MATH_INLINE
#if defined(_MSC_VER)
#define RMODEL_MATH_INLINE __forceinline
#elif defined(__GNUC__)
#define RMODEL_MATH_INLINE inline __attribute__((always_inline))
#else
#define RMODEL_MATH_INLINE inline
#endif
#endif

// Vectorizable float exp/tanh/sigmoid (see operators/mathfn.py): branch-free, no float-to-int
// conversion, bits moved with std::memcpy (compiled to register moves).
// rmodel:section float_bits
RMODEL_MATH_INLINE std::uint32_t float_bits(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}
// rmodel:end-section float_bits

// rmodel:section bits_float
RMODEL_MATH_INLINE float bits_float(std::uint32_t u) {
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}
// rmodel:end-section bits_float

// rmodel:section exp_reduced
// exp(x) for x in [-104, 89] (not NaN): x = n ln2 + r, exp(r) by a polynomial, 2^n = 2^n1 2^n2.
RMODEL_MATH_INLINE float exp_reduced(float x) {
  const float shifted = x * 1.44269502f + 12582912.0f;  // + 1.5 * 2^23 rounds x / ln2 to an integer n
  const float n = shifted - 12582912.0f;
  const float r = (x - n * 0.693145752f) - n * 1.42860677e-6f;  // ln2 = 16-bit head + tail
  const float p = 1.0f + (r + r * r * (0.49999994f + r * (0.1666652f + r * (0.041668393f + r * (0.008368781f + r * 0.0013814467f)))));
  const std::int32_t k = static_cast<std::int32_t>(float_bits(shifted)) - 0x4B400000;  // n, as an integer
  const std::int32_t k1 = k / 2, k2 = k - k1;  // each 2^ki is a normal float even where 2^n is not
  return p * bits_float(static_cast<std::uint32_t>(k1 + 127) << 23) * bits_float(static_cast<std::uint32_t>(k2 + 127) << 23);
}
// rmodel:end-section exp_reduced

// rmodel:section exp_f32
// exp(x): 0 below -104, inf above 89 (both already reached before), NaN passed through.
RMODEL_MATH_INLINE float exp_f32(float x) {
  const float low = x > -104.0f ? x : -104.0f;  // NaN -> -104, replaced below
  const float clamped = low < 89.0f ? low : 89.0f;
  const float y = exp_reduced(clamped);
  return x == x ? y : x;
}
// rmodel:end-section exp_f32

// rmodel:section sigmoid_f32
// 1 / (1 + exp(-x)): 0 and 1 at -inf and +inf, NaN passed through.
RMODEL_MATH_INLINE float sigmoid_f32(float x) {
  return 1.0f / (1.0f + exp_f32(-x));
}
// rmodel:end-section sigmoid_f32

// rmodel:section tanh_f32
// tanh(x): odd polynomial below |x| = 0.625, 1 - 2 / (exp(2|x|) + 1) above; the sign of x put back.
RMODEL_MATH_INLINE float tanh_f32(float x) {
  const std::uint32_t sign = float_bits(x) & 0x80000000u;
  const float ax = bits_float(float_bits(x) ^ sign);  // |x|
  const float a = ax < 10.0f ? ax : 10.0f;  // tanh(10) rounds to 1; NaN -> 10, replaced below
  const float u = a * a;
  const float small = a + a * u * (-0.3333333f + u * (0.13333206f + u * (-0.053946763f + u * (0.021700703f + u * (-0.008177399f + u * 0.0021429618f)))));
  const float big = 1.0f - 2.0f / (exp_reduced(2.0f * a) + 1.0f);
  const float t = bits_float(float_bits(a < 0.625f ? small : big) | sign);
  return x == x ? t : x;
}
// rmodel:end-section tanh_f32
// rmodel:end mathfn
// clang-format on

}  // namespace rmodel::detail
