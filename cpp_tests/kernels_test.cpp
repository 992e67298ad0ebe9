// The fixed C++ of operators/cpp (the code generated headers copy) tested on its own, without a
// model: the gemm driver against a plain loop in double (row-major, transposed and packed operands,
// bias per row and per column, k blocks, convolution taps), the depthwise kernels against a direct
// convolution, exp/tanh/sigmoid against <cmath> within the bounds operators/mathfn.py documents
// (and their special values), softmax, hardmax and the integer helpers.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "conv.hpp"
#include "gemm.hpp"
#include "intmath.hpp"
#include "mathfn.hpp"
#include "softmax.hpp"

namespace {

namespace detail = rmodel::detail;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kSentinel = 12345.0f;

// n deterministic values in [-1, 1)
std::vector<float> values(std::size_t n, std::uint32_t seed) {
  std::vector<float> v(n);
  std::uint32_t s = seed * 2654435761u + 12345u;
  for (float& x : v) {
    s = s * 1664525u + 1013904223u;
    x = static_cast<float>(s >> 8) / 8388608.0f - 1.0f;
  }
  return v;
}

// b (k x n, row-major) in gemm's PACKED layout: panels of 16 columns (the last one narrower), each k-major
std::vector<float> pack_panels(const std::vector<float>& b, std::size_t k, std::size_t n) {
  std::vector<float> packed;
  for (std::size_t n0 = 0; n0 < n; n0 += 16) {
    const std::size_t width = std::min<std::size_t>(16, n - n0);
    for (std::size_t i = 0; i < k; ++i)
      for (std::size_t j = 0; j < width; ++j) packed.push_back(b[i * n + n0 + j]);
  }
  return packed;
}

// y = bias + a . b for M x N outputs through gemm<...> (b: K x N, leading dimension LDB; y: leading
// dimension LDY, the columns past N must stay untouched), compared with the same sums in double
// within the rounding error of float sums of K products
template <std::size_t M, std::size_t K, std::size_t N, int BIAS, bool PACKED, bool TRANS_A = false, std::size_t LDB = N,
          std::size_t LDY = N>
void check_gemm() {
  constexpr std::size_t SAM = TRANS_A ? 1 : K, SAK = TRANS_A ? M : 1;
  const std::vector<float> a = values(M * K, 1), b = values(K * LDB, 2), bias = values(BIAS == 1 ? M : N, 3);
  const std::vector<float> b_used = PACKED ? pack_panels(b, K, N) : b;
  std::vector<float> y(M * LDY, kSentinel);
  detail::gemm<M, K, N, SAM, SAK, PACKED, LDB, LDY, BIAS>(a.data(), b_used.data(), BIAS ? bias.data() : nullptr,
                                                          y.data());
  for (std::size_t m = 0; m < M; ++m) {
    for (std::size_t n = 0; n < LDY; ++n) {
      if (n >= N) {
        ASSERT_EQ(y[m * LDY + n], kSentinel) << "column " << n << " past N was written";
        continue;
      }
      double exact = BIAS == 1 ? bias[m] : BIAS == 2 ? bias[n] : 0.0, magnitude = std::fabs(exact);
      for (std::size_t k = 0; k < K; ++k) {
        const double term = static_cast<double>(a[m * SAM + k * SAK]) * b[k * LDB + n];
        exact += term;
        magnitude += std::fabs(term);
      }
      const double bound = (K + 1) * std::numeric_limits<float>::epsilon() * magnitude + 1e-30;
      ASSERT_NEAR(y[m * LDY + n], exact, bound)
          << "M=" << M << " K=" << K << " N=" << N << " at (" << m << ", " << n << ")";
    }
  }
}

TEST(Gemm, MatchesPlainLoopOnEveryTileRemainder) {
  check_gemm<1, 1, 1, 0, false>();
  check_gemm<1, 7, 5, 2, true>();                    // one row, one narrow panel
  check_gemm<6, 16, 16, 1, false>();                 // exactly one tile of 6 rows
  check_gemm<8, 33, 48, 2, true>();                  // whole tiles on AVX-512, 8 = 6 + 2 rows elsewhere
  check_gemm<13, 50, 37, 1, true>();                 // row and column remainders
  check_gemm<5, 20, 70, 0, false, true>();           // a transposed
  check_gemm<9, 12, 21, 2, false, false, 29, 25>();  // leading dimensions wider than N
}

TEST(Gemm, DeepProductsSumInKBlocks) {
  check_gemm<3, 300, 40, 2, true>();   // five blocks of 60 (RMODEL_GEMM_KC = 64)
  check_gemm<7, 600, 19, 1, false>();  // ten blocks of 60
  check_gemm<2, 1000, 16, 0, true>();  // sixteen blocks of 63 (the last 55)
}

// y = bias + a . b for one output column through gemv<...> (rows of a SAM apart, y LDY apart; the
// values between must stay untouched), compared with the sums in double
template <std::size_t M, std::size_t K, std::size_t SAM, std::size_t LDY, int BIAS>
void check_gemv() {
  const std::vector<float> a = values(M * SAM, 7), b = values(K, 8), bias = values(BIAS == 1 ? M : 1, 9);
  std::vector<float> y(M * LDY, kSentinel);
  detail::gemv<M, K, SAM, LDY, BIAS>(a.data(), b.data(), BIAS ? bias.data() : nullptr, y.data());
  for (std::size_t i = 0; i < M * LDY; ++i) {
    if (i % LDY) {
      ASSERT_EQ(y[i], kSentinel) << "y[" << i << "] between rows was written";
      continue;
    }
    const std::size_t m = i / LDY;
    double exact = BIAS == 1 ? bias[m] : BIAS == 2 ? bias[0] : 0.0, magnitude = std::fabs(exact);
    for (std::size_t k = 0; k < K; ++k) {
      exact += static_cast<double>(a[m * SAM + k]) * b[k];
      magnitude += std::fabs(static_cast<double>(a[m * SAM + k]) * b[k]);
    }
    // 16 lanes of K / 16 terms, blocks of RMODEL_GEMM_KC per lane, then 4 pairwise levels and the tail
    const double bound =
        (std::min<std::size_t>(K, 16 * 64) / 16 + K / 1024 + 8) * std::numeric_limits<float>::epsilon() * magnitude +
        1e-30;
    ASSERT_NEAR(y[i], exact, bound) << "M=" << M << " K=" << K << " row " << m;
  }
}

TEST(Gemv, OneColumnMatchesDoubleInLanes) {
  check_gemv<1, 1, 1, 1, 0>();        // only the tail
  check_gemv<3, 15, 15, 1, 1>();      // shorter than one lane group
  check_gemv<5, 16, 20, 2, 2>();      // one group; rows and outputs apart
  check_gemv<7, 577, 577, 1, 1>();    // 36 groups and a tail of 1
  check_gemv<2, 3000, 3001, 3, 0>();  // lane blocks of 64 terms added to the lane totals
}

TEST(Gemm, TapsReadSubStepsOfB) {
  // every k is K2 x K3 sub-steps: row k * LDB + k2 * S2 + k3 * S3 of b, column (k * K2 + k2) * K3 + k3 of a
  constexpr std::size_t M = 5, K = 4, N = 20, K2 = 3, S2 = 23, K3 = 2, S3 = 1, LDB = 80;
  constexpr std::size_t KA = K * K2 * K3;
  const std::vector<float> a = values(M * KA, 4), b = values((K - 1) * LDB + (K2 - 1) * S2 + (K3 - 1) * S3 + N, 5);
  const std::vector<float> bias = values(M, 6);
  std::vector<float> y(M * N);
  detail::gemm<M, K, N, KA, 1, false, LDB, N, 1, K2, S2, K3, S3>(a.data(), b.data(), bias.data(), y.data());
  for (std::size_t m = 0; m < M; ++m) {
    for (std::size_t n = 0; n < N; ++n) {
      double exact = bias[m];
      for (std::size_t k = 0; k < K; ++k)
        for (std::size_t k2 = 0; k2 < K2; ++k2)
          for (std::size_t k3 = 0; k3 < K3; ++k3)
            exact += static_cast<double>(a[m * KA + (k * K2 + k2) * K3 + k3]) * b[k * LDB + k2 * S2 + k3 * S3 + n];
      ASSERT_NEAR(y[m * N + n], exact, 1e-5) << "at (" << m << ", " << n << ")";
    }
  }
}

// ---- depthwise convolution: one channel, IH x IW -> OH x OW, kernel KH x KW
struct Geometry {
  std::size_t ih, iw, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr;
  constexpr std::size_t oh() const { return (ih + pt + pb - dh * (kh - 1) - 1) / sh + 1; }
  constexpr std::size_t ow() const { return (iw + pl + pr - dw * (kw - 1) - 1) / sw + 1; }
  // output columns whose horizontal taps all lie inside the input row (as operators/conv/depthwise.py computes them)
  constexpr std::size_t lo() const { return std::min(ow(), (pl + sw - 1) / sw); }
  constexpr std::size_t hi() const {
    const std::ptrdiff_t last = static_cast<std::ptrdiff_t>(iw + pl) - 1 - static_cast<std::ptrdiff_t>((kw - 1) * dw);
    const std::size_t end = last >= 0 ? std::min(ow(), static_cast<std::size_t>(last) / sw + 1) : 0;
    return std::max(lo(), end);
  }
  // stride planes of depthwise_flat: QH x QW, QW widened to a power of 2 up to 64 or a multiple of 64
  constexpr std::size_t qh() const { return (pt + ih + pb + sh - 1) / sh; }
  constexpr std::size_t qw() const {
    const std::size_t q = (pl + iw + pr + sw - 1) / sw;
    std::size_t p = 1;
    while (p < q) p *= 2;
    return q <= 64 ? p : (q + 63) / 64 * 64;
  }
};

std::vector<float> direct_depthwise(const Geometry& g, const std::vector<float>& x, const std::vector<float>& w,
                                    float b) {
  std::vector<float> y(g.oh() * g.ow());
  for (std::size_t oh = 0; oh < g.oh(); ++oh) {
    for (std::size_t ow = 0; ow < g.ow(); ++ow) {
      double acc = b;
      for (std::size_t kh = 0; kh < g.kh; ++kh) {
        for (std::size_t kw = 0; kw < g.kw; ++kw) {
          const std::ptrdiff_t i =
              static_cast<std::ptrdiff_t>(oh * g.sh + kh * g.dh) - static_cast<std::ptrdiff_t>(g.pt);
          const std::ptrdiff_t j =
              static_cast<std::ptrdiff_t>(ow * g.sw + kw * g.dw) - static_cast<std::ptrdiff_t>(g.pl);
          if (i >= 0 && j >= 0 && i < static_cast<std::ptrdiff_t>(g.ih) && j < static_cast<std::ptrdiff_t>(g.iw))
            acc += static_cast<double>(w[kh * g.kw + kw]) * x[static_cast<std::size_t>(i) * g.iw + j];
        }
      }
      y[oh * g.ow() + ow] = static_cast<float>(acc);
    }
  }
  return y;
}

template <const Geometry& G>
void check_depthwise() {
  const std::vector<float> x = values(G.ih * G.iw, 7), w = values(G.kh * G.kw, 8);
  const float b = 0.25f;
  const std::vector<float> want = direct_depthwise(G, x, w, b);
  std::vector<float> y(G.oh() * G.ow(), kSentinel);
  detail::depthwise2d<G.ih, G.iw, G.oh(), G.ow(), G.kh, G.kw, G.sh, G.sw, G.dh, G.dw, G.pt, G.pl, G.lo(), G.hi()>(
      x.data(), w.data(), b, y.data());
  for (std::size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(y[i], want[i], 1e-5) << "depthwise2d, output " << i;
  // depthwise_flat reads past the planes by up to the furthest tap offset: the buffer covers it
  std::vector<float> pad(G.sh * G.sw * G.qh() * G.qw() + G.oh() * G.qw() + (G.kh * G.dh + 1) * G.qw() + G.kw * G.dw,
                         0.0f);
  std::fill(y.begin(), y.end(), kSentinel);
  detail::depthwise_flat<G.ih, G.iw, G.oh(), G.ow(), G.kh, G.kw, G.sh, G.sw, G.dh, G.dw, G.pt, G.pl, G.qh(), G.qw()>(
      x.data(), w.data(), b, pad.data(), y.data());
  for (std::size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(y[i], want[i], 1e-5) << "depthwise_flat, output " << i;
}

constexpr Geometry kSame3x3{20, 75, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1};  // interior runs of 32 and a last overlapping run
constexpr Geometry kStrided{11, 40, 3, 5, 2, 2, 1, 2, 2, 3, 1, 2};  // stride 2, dilated columns, uneven padding
constexpr Geometry kOneD{1, 100, 1, 7, 1, 3, 1, 1, 0, 3, 0, 3};     // 1-D: one row, stride 3

TEST(Depthwise, MatchesDirectConvolution) {
  check_depthwise<kSame3x3>();
  check_depthwise<kStrided>();
  check_depthwise<kOneD>();
}

TEST(ValidRange, OutputsWhoseTapIsInside) {
  std::ptrdiff_t lo = -1, hi = -1;
  detail::valid_range(-2, 1, 10, 12, lo, hi);  // o - 2 in [0, 10)
  EXPECT_EQ(lo, 2);
  EXPECT_EQ(hi, 12);
  detail::valid_range(-3, 2, 10, 8, lo, hi);  // 2o - 3 in [0, 10): o = 2..6
  EXPECT_EQ(lo, 2);
  EXPECT_EQ(hi, 7);
  detail::valid_range(20, 1, 10, 5, lo, hi);  // never inside: an empty range
  EXPECT_EQ(lo, hi);
}

// ---- exp, tanh, sigmoid: the bounds of operators/mathfn.py (exp 1.02 ulp, tanh 7.9e-8, sigmoid
// 8.9e-8 absolute, measured over every float), with a little room for other compilers and flags
double ulp_of(double exact) {
  return std::ldexp(1.0, std::ilogb(static_cast<float>(exact)) - 23);
}

TEST(MathFunctions, ExpWithinDocumentedUlps) {
  double worst = 0.0;
  for (int i = 0; i <= 200000; ++i) {
    const float x = -87.0f + 175.5f * static_cast<float>(i) / 200000.0f;  // normal results
    const double exact = std::exp(static_cast<double>(x));
    worst = std::max(worst, std::fabs(detail::exp_f32(x) - exact) / ulp_of(exact));
  }
  EXPECT_LE(worst, 1.05);
  for (int i = 0; i <= 2000; ++i) {  // subnormal results: within one subnormal ulp (2^-149)
    const float x = -103.9f + 16.5f * static_cast<float>(i) / 2000.0f;
    const double exact = std::exp(static_cast<double>(x));
    if (exact < std::numeric_limits<float>::min()) {
      EXPECT_LE(std::fabs(detail::exp_f32(x) - exact), std::ldexp(0.8, -149)) << "x = " << x;
    }
  }
}

TEST(MathFunctions, ExpSpecialValues) {
  EXPECT_EQ(detail::exp_f32(0.0f), 1.0f);
  EXPECT_EQ(detail::exp_f32(-kInf), 0.0f);
  EXPECT_EQ(detail::exp_f32(kInf), kInf);
  EXPECT_TRUE(std::isnan(detail::exp_f32(kNaN)));
  EXPECT_EQ(detail::exp_f32(88.72283935546875f), kInf);  // the first input whose exp rounds to inf
  EXPECT_TRUE(std::isfinite(detail::exp_f32(std::nextafter(88.72283935546875f, 0.0f))));
  EXPECT_EQ(detail::exp_f32(-104.0f), 0.0f);
  EXPECT_EQ(detail::exp_f32(1000.0f), kInf);
  EXPECT_EQ(detail::exp_f32(-1000.0f), 0.0f);
}

TEST(MathFunctions, TanhAndSigmoidWithinDocumentedError) {
  double worst_tanh = 0.0, worst_sigmoid = 0.0;
  for (int i = 0; i <= 200000; ++i) {
    const float x = -20.0f + 40.0f * static_cast<float>(i) / 200000.0f;
    const double xd = x;
    worst_tanh = std::max(worst_tanh, std::fabs(detail::tanh_f32(x) - std::tanh(xd)));
    worst_sigmoid = std::max(worst_sigmoid, std::fabs(detail::sigmoid_f32(x) - 1.0 / (1.0 + std::exp(-xd))));
  }
  EXPECT_LE(worst_tanh, 8.5e-8);
  EXPECT_LE(worst_sigmoid, 9.5e-8);
}

TEST(MathFunctions, TanhAndSigmoidSpecialValues) {
  EXPECT_EQ(detail::tanh_f32(kInf), 1.0f);
  EXPECT_EQ(detail::tanh_f32(-kInf), -1.0f);
  EXPECT_EQ(detail::tanh_f32(0.0f), 0.0f);
  EXPECT_TRUE(std::signbit(detail::tanh_f32(-0.0f)));
  EXPECT_EQ(detail::tanh_f32(1e-30f), 1e-30f);  // tiny inputs are exact
  EXPECT_TRUE(std::isnan(detail::tanh_f32(kNaN)));
  EXPECT_EQ(detail::sigmoid_f32(kInf), 1.0f);
  EXPECT_EQ(detail::sigmoid_f32(-kInf), 0.0f);
  EXPECT_EQ(detail::sigmoid_f32(0.0f), 0.5f);
  EXPECT_TRUE(std::isnan(detail::sigmoid_f32(kNaN)));
}

// ---- softmax and hardmax
TEST(Softmax, RowsSumToOneAndMatchDouble) {
  constexpr std::size_t kRows = 4, kN = 37;
  std::vector<float> x = values(kRows * kN, 9);
  for (std::size_t k = 0; k < kN; ++k) x[3 * kN + k] = 1000.0f - static_cast<float>(k);  // large: no overflow
  std::vector<float> y(x.size()), log_y(x.size());
  detail::softmax_rows<kRows, kN, false>(x.data(), y.data());
  detail::softmax_rows<kRows, kN, true>(x.data(), log_y.data());
  for (std::size_t r = 0; r < kRows; ++r) {
    const float* xr = x.data() + r * kN;
    const double mx = *std::max_element(xr, xr + kN);
    double sum = 0.0, total = 0.0;
    for (std::size_t k = 0; k < kN; ++k) sum += std::exp(xr[k] - mx);
    for (std::size_t k = 0; k < kN; ++k) {
      const double want = std::exp(xr[k] - mx) / sum;
      EXPECT_NEAR(y[r * kN + k], want, 1e-6 * want + 1e-12) << "row " << r << ", " << k;
      EXPECT_NEAR(log_y[r * kN + k], std::log(want), 1e-5) << "row " << r << ", " << k;
      total += y[r * kN + k];
    }
    EXPECT_NEAR(total, 1.0, 1e-6) << "row " << r;
  }
}

TEST(Softmax, StridedAxisMatchesRows) {
  constexpr std::size_t kOuter = 2, kN = 6, kInner = 5;
  const std::vector<float> x = values(kOuter * kN * kInner, 10);
  std::vector<float> rows(x.size()), y(x.size()), mx(kInner);
  std::vector<double> sum(kInner);
  for (std::size_t o = 0; o < kOuter; ++o)  // the same data with the axis innermost
    for (std::size_t k = 0; k < kN; ++k)
      for (std::size_t j = 0; j < kInner; ++j) rows[(o * kInner + j) * kN + k] = x[(o * kN + k) * kInner + j];
  std::vector<float> want(x.size());
  detail::softmax_rows<kOuter * kInner, kN, false>(rows.data(), want.data());
  detail::softmax_strided<kOuter, kN, kInner, false>(x.data(), y.data(), mx.data(), sum.data());
  for (std::size_t o = 0; o < kOuter; ++o)
    for (std::size_t k = 0; k < kN; ++k)
      for (std::size_t j = 0; j < kInner; ++j)
        EXPECT_NEAR(y[(o * kN + k) * kInner + j], want[(o * kInner + j) * kN + k], 1e-7);
}

TEST(Softmax, HardmaxMarksTheFirstMaximum) {
  const std::vector<float> x = {1.0f, 3.0f, 3.0f, 2.0f, 5.0f, -1.0f, 5.0f, 0.0f};
  std::vector<float> y(x.size(), kSentinel);
  detail::hardmax<2, 4, 1>(x.data(), y.data());
  EXPECT_EQ(y, (std::vector<float>{0.0f, 1.0f, 0.0f, 0.0f, 1.0f, 0.0f, 0.0f, 0.0f}));
}

// ---- integer helpers: two's complement results, no undefined behaviour
TEST(IntMath, WrapsAndConvertsLikeTheHardware) {
  EXPECT_EQ(detail::wrap_add<std::int32_t>(std::numeric_limits<std::int32_t>::max(), 1),
            std::numeric_limits<std::int32_t>::min());
  EXPECT_EQ(detail::wrap_sub<std::int64_t>(std::numeric_limits<std::int64_t>::min(), 1),
            std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(detail::wrap_neg<std::int32_t>(std::numeric_limits<std::int32_t>::min()),
            std::numeric_limits<std::int32_t>::min());
  EXPECT_EQ(detail::wrap_mul<std::int8_t>(100, 3), 44);
  EXPECT_EQ(detail::float_to_int<std::int8_t>(300.7), 44);
  EXPECT_EQ(detail::float_to_int<std::int32_t>(-2.9), -2);
  EXPECT_EQ(detail::float_to_int<std::int32_t>(kNaN), std::numeric_limits<std::int32_t>::min());
  EXPECT_EQ(detail::float_to_int<std::int64_t>(1e30), std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(detail::float_to_int<std::uint8_t>(-1.5), 255);
}

}  // namespace
