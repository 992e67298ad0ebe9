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

The C++ is ``operators/cpp/mathfn.hpp``; ``cpp_tests/kernels_test.cpp`` checks it on its own. The
coefficients were fitted for rmodel (``fit_coefficients`` re-derives them with numpy/scipy).
The module registers no operator; operators call ``use(ctx)`` and then ``EXP``/``TANH``/``SIGMOID``.
Helpers are emitted in the order they are first registered: an operator whose own helper calls
these functions calls ``use(ctx)`` before registering it (code inside ``infer()`` can always call them).
"""

from __future__ import annotations

from rmodel.cpp_sources import cpp_source

from .base import CpuContext

#: C++ names of the functions (in namespace detail)
EXP = "detail::exp_f32"
TANH = "detail::tanh_f32"
SIGMOID = "detail::sigmoid_f32"


def use(ctx: CpuContext) -> None:
    """Make ``EXP``, ``TANH`` and ``SIGMOID`` available in the header being generated."""
    ctx.helper("mathfn", cpp_source("rmodel.operators", "mathfn.hpp", "mathfn"))


def fit_coefficients() -> dict[str, list[float]]:
    """Re-derive the polynomial coefficients (minimax by linear programming; needs scipy).

    Returns {"exp": [C2..C6], "tanh": [T0..T5]} in double precision (``operators/cpp/mathfn.hpp``
    holds them rounded to float32, in Horner form).
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


__all__ = ["EXP", "SIGMOID", "TANH", "fit_coefficients", "use"]
