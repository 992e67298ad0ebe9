"""Vectorizable float math for generated headers: exp, sigmoid and tanh (``detail::exp_f32``...).

glibc's ``std::exp``/``std::tanh`` are scalar calls the compiler cannot vectorize (without
-ffast-math), so a loop of gate activations runs one element at a time. These functions are
plain C++17 written so that ``g++ -O3 -march=native`` (and clang/MSVC) inline and vectorize the
loops that call them: no branches (clamps and selects), no float-to-int conversion (bits are
moved with ``std::memcpy``), no table look-ups.

exp(x): x is clamped to [-104, 89] (beyond, the result is 0 or inf anyway), then split as
``x = n ln2 + r`` with n = round(x / ln2) (by adding 1.5 * 2^23, whose ulp is 1, so n also sits
in the low mantissa bits) and |r| <= ln2 / 2 (Cody-Waite: ln2 as a 16-bit head, exact when
multiplied by n, plus a tail). ``exp(r) = 1 + r + r^2 q(r)`` with q of degree 4, fitted by
minimax (linear programming over 20000 points of [-ln2/2, ln2/2], relative error 3.1e-9 before
rounding to float32). The result is ``p * 2^n1 * 2^n2`` with n = n1 + n2: both powers are
normal floats even where 2^n is not, so results in the subnormal range round once, as
std::exp's, and overflow to inf / underflow to 0 at the same thresholds. NaN is passed through
by a final select.

tanh(x): for |x| < 0.625 an odd polynomial ``x + x^3 s(x^2)`` (s of degree 5, minimax fit of the
relative error, 1.6e-10 before rounding; keeps tanh(-0) = -0 and tiny inputs exact); above,
``1 - 2 / (exp(2|x|) + 1)``; both on |x| (clamped to 10, where tanh rounds to 1), with the
sign bit of x put back. sigmoid(x) = 1 / (1 + exp(-x)).

Measured over all 2^32 float32 inputs (g++ 12 -O3 -march=native, loops vectorized with AVX-512;
every 13th input also with -ffp-contract=fast and with plain SSE2: the same bounds within 0.01
ulp), against double-precision std::exp/std::tanh:

- exp: at most 1.02 ulp from the exact value where the result is a normal float, subnormal
  results within 0.75 subnormal ulp; 0 and inf exactly where the correctly rounded result is
  (overflow from 88.72283935546875 on, underflow below about -103.97), NaN in -> NaN out
- tanh: absolute error at most 7.9e-8 (relative 7.3e-8 on the polynomial range |x| < 0.625);
  tanh(+-inf) = +-1, tanh(-0) = -0, NaN -> NaN
- sigmoid: absolute error at most 8.9e-8 (relative 1.5e-7 down to 1e-30); 1 and 0 at +-inf

``tests/test_elementwise.py`` checks the special values and these bounds (2 ulp / 2e-7) on a
sample, and that the loops calling the functions vectorize.

The coefficients were fitted for rmodel (``fit_coefficients`` re-derives them with numpy/scipy).
The module registers no operator; operators call ``use(ctx)`` and then ``EXP``/``TANH``/``SIGMOID``.
Helpers are emitted in the order they are first registered: an operator whose own helper calls
these functions calls ``use(ctx)`` before registering it (code inside ``infer()`` can always call them).
"""

from __future__ import annotations

from .base import CpuContext

#: C++ names of the functions (in namespace detail)
EXP = "detail::exp_f32"
TANH = "detail::tanh_f32"
SIGMOID = "detail::sigmoid_f32"

# exp(r) = 1 + r + r^2 (C2 + C3 r + C4 r^2 + C5 r^3 + C6 r^4), |r| <= ln2/2
_EXP_POLY = ("0.49999994f", "0.1666652f", "0.041668393f", "0.008368781f", "0.0013814467f")
# tanh(x) = x + x^3 (T0 + T1 u + ... + T5 u^5), u = x^2, |x| < 0.625
_TANH_POLY = ("-0.3333333f", "0.13333206f", "-0.053946763f", "0.021700703f", "-0.008177399f", "0.0021429618f")


def _horner(var: str, coefficients: tuple[str, ...]) -> str:
    """C++ Horner form c0 + var * (c1 + var * (...))."""
    expr = coefficients[-1]
    for c in reversed(coefficients[:-1]):
        expr = f"{c} + {var} * ({expr})" if "+" in expr else f"{c} + {var} * {expr}"
    return expr


SOURCE = f"""#ifndef RMODEL_MATH_INLINE
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
RMODEL_MATH_INLINE std::uint32_t float_bits(float x) {{
  std::uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}}

RMODEL_MATH_INLINE float bits_float(std::uint32_t u) {{
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}}

// exp(x) for x in [-104, 89] (not NaN): x = n ln2 + r, exp(r) by a polynomial, 2^n = 2^n1 2^n2.
RMODEL_MATH_INLINE float exp_reduced(float x) {{
  const float shifted = x * 1.44269502f + 12582912.0f;  // + 1.5 * 2^23 rounds x / ln2 to an integer n
  const float n = shifted - 12582912.0f;
  const float r = (x - n * 0.693145752f) - n * 1.42860677e-6f;  // ln2 = 16-bit head + tail
  const float p = 1.0f + (r + r * r * ({_horner("r", _EXP_POLY)}));
  const std::int32_t k = static_cast<std::int32_t>(float_bits(shifted)) - 0x4B400000;  // n, as an integer
  const std::int32_t k1 = k / 2, k2 = k - k1;  // each 2^ki is a normal float even where 2^n is not
  return p * bits_float(static_cast<std::uint32_t>(k1 + 127) << 23) * bits_float(static_cast<std::uint32_t>(k2 + 127) << 23);
}}

// exp(x): 0 below -104, inf above 89 (both already reached before), NaN passed through.
RMODEL_MATH_INLINE float exp_f32(float x) {{
  const float low = x > -104.0f ? x : -104.0f;  // NaN -> -104, replaced below
  const float clamped = low < 89.0f ? low : 89.0f;
  const float y = exp_reduced(clamped);
  return x == x ? y : x;
}}

// 1 / (1 + exp(-x)): 0 and 1 at -inf and +inf, NaN passed through.
RMODEL_MATH_INLINE float sigmoid_f32(float x) {{
  return 1.0f / (1.0f + exp_f32(-x));
}}

// tanh(x): odd polynomial below |x| = 0.625, 1 - 2 / (exp(2|x|) + 1) above; the sign of x put back.
RMODEL_MATH_INLINE float tanh_f32(float x) {{
  const std::uint32_t sign = float_bits(x) & 0x80000000u;
  const float ax = bits_float(float_bits(x) ^ sign);  // |x|
  const float a = ax < 10.0f ? ax : 10.0f;  // tanh(10) rounds to 1; NaN -> 10, replaced below
  const float u = a * a;
  const float small = a + a * u * ({_horner("u", _TANH_POLY)});
  const float big = 1.0f - 2.0f / (exp_reduced(2.0f * a) + 1.0f);
  const float t = bits_float(float_bits(a < 0.625f ? small : big) | sign);
  return x == x ? t : x;
}}"""


def use(ctx: CpuContext) -> None:
    """Make ``EXP``, ``TANH`` and ``SIGMOID`` available in the header being generated."""
    ctx.helper("mathfn", SOURCE)


def fit_coefficients() -> dict[str, list[float]]:
    """Re-derive the polynomial coefficients (minimax by linear programming; needs scipy).

    Returns {"exp": [C2..C6], "tanh": [T0..T5]} in double precision (``SOURCE`` holds them
    rounded to float32).
    """
    import numpy as np
    from scipy.optimize import linprog

    def minimax(powers: list[int], target: np.ndarray, weight: np.ndarray, x: np.ndarray) -> np.ndarray:
        a0 = np.stack([x**k for k in powers], axis=1) * weight[:, None]
        t0 = target * weight
        c0 = np.linalg.lstsq(a0, t0, rcond=None)[0]  # start from least squares, solve for the correction
        scale = np.max(np.abs(a0 @ c0 - t0))
        columns = np.max(np.abs(a0), axis=0) / scale
        a = a0 / scale / columns
        t = (t0 - a0 @ c0) / scale
        ones = np.ones((len(x), 1))
        res = linprog(
            np.r_[np.zeros(len(powers)), 1.0],
            A_ub=np.block([[a, -ones], [-a, -ones]]),
            b_ub=np.r_[t, -t],
            bounds=[(None, None)] * (len(powers) + 1),
            method="highs",
        )
        return c0 + res.x[:-1] / columns

    r = np.cos(np.linspace(0, np.pi, 20001)) * np.log(2.0) / 2 * 1.001
    r = r[np.abs(r) > 1e-6]
    exp_c = minimax([2, 3, 4, 5, 6], np.exp(r) - 1 - r, np.exp(-r), r)
    x = np.linspace(1e-4, 0.625, 20001)
    tanh_c = minimax([3, 5, 7, 9, 11, 13], np.tanh(x) - x, 1 / np.tanh(x), x)
    return {"exp": [float(c) for c in exp_c], "tanh": [float(c) for c in tanh_c]}


__all__ = ["EXP", "SIGMOID", "SOURCE", "TANH", "fit_coefficients", "use"]
