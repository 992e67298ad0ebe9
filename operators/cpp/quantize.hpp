// Linear quantization and integer products of operators/quantize.py, computed as onnxruntime's
// CPU kernels (MLAS) compute them, bit for bit.
// Generated code copies only the text between `// rmodel:begin NAME` and `// rmodel:end NAME`
// (rmodel/cpp_sources.py); the rest of the file makes it compile on its own.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

namespace rmodel::detail {

// rmodel:begin quantize
// y = saturate(round_half_even(x / scale) + zero_point) over N values, as MlasQuantizeLinear: the
// quotient is a float32 division (not a product with 1 / scale), clamped to [lo, hi] = the range
// of T minus the zero point before rounding (NaN gives lo, i.e. T's minimum at zero point 0)
template <typename T, std::size_t N>
inline void quantize(const float* x, float scale, float lo, float hi, float zero_point, T* y) {
  for (std::size_t i = 0; i < N; ++i) {
    float v = x[i] / scale;
    v = v > lo ? v : lo;
    v = v < hi ? v : hi;
    y[i] = static_cast<T>(static_cast<std::int32_t>(std::nearbyint(v) + zero_point));
  }
}
// rmodel:end quantize

// rmodel:begin requantize
// y = saturate(round_half_even(float(acc + bias) * scale) + zero_point) over N int32 sums, as
// MlasRequantizeOutput: the int32 sum converted to float (rounded to nearest even beyond 2^24),
// one float32 product, clamped to [lo, hi] (the type's range less the zero point) before
// rounding. ScaleStep / BiasStep: 1 for one scale / bias per element, 0 for one for all.
template <typename T, std::size_t N, std::size_t ScaleStep, std::size_t BiasStep>
inline void requantize(const std::int32_t* acc, const std::int32_t* bias, const float* scale, float lo, float hi,
                       std::int32_t zero_point, T* y) {
  for (std::size_t i = 0; i < N; ++i) {
    // the sum wraps around like the vector adds of onnxruntime (no signed overflow)
    const auto sum =
        static_cast<std::int32_t>(static_cast<std::uint32_t>(acc[i]) + static_cast<std::uint32_t>(bias[i * BiasStep]));
    float v = static_cast<float>(sum) * scale[i * ScaleStep];
    v = v > lo ? v : lo;
    v = v < hi ? v : hi;
    y[i] = static_cast<T>(static_cast<std::int32_t>(std::nearbyint(v)) + zero_point);
  }
}
// rmodel:end requantize

// rmodel:begin scale_output
// y = float(acc + bias) * scale over N int32 sums: the float output of com.microsoft QGemm (MLAS's
// scale-bias output processor), steps as in requantize
template <std::size_t N, std::size_t ScaleStep, std::size_t BiasStep>
inline void scale_output(const std::int32_t* acc, const std::int32_t* bias, const float* scale, float* y) {
  for (std::size_t i = 0; i < N; ++i) {
    const auto sum =
        static_cast<std::int32_t>(static_cast<std::uint32_t>(acc[i]) + static_cast<std::uint32_t>(bias[i * BiasStep]));
    y[i] = static_cast<float>(sum) * scale[i * ScaleStep];
  }
}
// rmodel:end scale_output

// rmodel:begin int_product
// y (M x N, int32) = (a - a_zero_point) . b for integer a (M x K, row-major) and b (K x N,
// row-major, its zero points already subtracted: int16), in tiles of R rows x W columns whose
// int32 sums stay in registers over all of k (one run of W values of b serves R rows). Every
// size is a template argument, the last rows and columns smaller tiles. Exact while K * 2^16
// fits int32 (checked at generation time).
template <std::size_t R, std::size_t W, std::size_t K, std::size_t N, typename TA>
inline void int_tile(const TA* a, std::int32_t a_zero_point, const std::int16_t* b, std::int32_t* y) {
  std::int32_t acc[R][W] = {};
  for (std::size_t k = 0; k < K; ++k) {
    const std::int16_t* bk = b + k * N;
    for (std::size_t r = 0; r < R; ++r) {
      const std::int32_t av = static_cast<std::int32_t>(a[r * K + k]) - a_zero_point;
      for (std::size_t n = 0; n < W; ++n) acc[r][n] += av * static_cast<std::int32_t>(bk[n]);
    }
  }
  for (std::size_t r = 0; r < R; ++r) {
    for (std::size_t n = 0; n < W; ++n) y[r * N + n] = acc[r][n];
  }
}
template <std::size_t R, std::size_t K, std::size_t N, typename TA>
inline void int_rows(const TA* a, std::int32_t a_zero_point, const std::int16_t* b, std::int32_t* y) {
  constexpr std::size_t W = 32;
  std::size_t n0 = 0;
  for (; n0 + W <= N; n0 += W) int_tile<R, W, K, N>(a, a_zero_point, b + n0, y + n0);
  if constexpr (N % W != 0) int_tile<R, N % W, K, N>(a, a_zero_point, b + n0, y + n0);
}
template <std::size_t M, std::size_t K, std::size_t N, typename TA>
inline void int_product(const TA* a, std::int32_t a_zero_point, const std::int16_t* b, std::int32_t* y) {
  constexpr std::size_t R = 4;
  std::size_t m0 = 0;
  for (; m0 + R <= M; m0 += R) int_rows<R, K, N>(a + m0 * K, a_zero_point, b, y + m0 * N);
  if constexpr (M % R != 0) int_rows<M % R, K, N>(a + m0 * K, a_zero_point, b, y + m0 * N);
}
// rmodel:end int_product

// rmodel:begin int_im2col
// the C x KH x KW rows of P = OH x OW columns of a 2-D integer convolution, x minus its zero point
// (taps in the padding are 0, the zero point's value): the b operand of int_product
template <std::size_t C, std::size_t IH, std::size_t IW, std::size_t OH, std::size_t OW, std::size_t KH, std::size_t KW,
          std::size_t SH, std::size_t SW, std::size_t DH, std::size_t DW, std::size_t PT, std::size_t PL, typename T>
inline void int_im2col(const T* x, std::int32_t zero_point, std::int16_t* col) {
  for (std::size_t c = 0; c < C; ++c) {
    for (std::size_t kh = 0; kh < KH; ++kh) {
      for (std::size_t kw = 0; kw < KW; ++kw) {
        std::int16_t* row = col + ((c * KH + kh) * KW + kw) * (OH * OW);
        for (std::size_t oh = 0; oh < OH; ++oh) {
          const std::ptrdiff_t ih = static_cast<std::ptrdiff_t>(oh * SH + kh * DH) - static_cast<std::ptrdiff_t>(PT);
          std::int16_t* out = row + oh * OW;
          if (ih < 0 || ih >= static_cast<std::ptrdiff_t>(IH)) {
            for (std::size_t ow = 0; ow < OW; ++ow) out[ow] = 0;
            continue;
          }
          const T* xr = x + (c * IH + static_cast<std::size_t>(ih)) * IW;
          for (std::size_t ow = 0; ow < OW; ++ow) {
            const std::ptrdiff_t iw = static_cast<std::ptrdiff_t>(ow * SW + kw * DW) - static_cast<std::ptrdiff_t>(PL);
            out[ow] = (iw < 0 || iw >= static_cast<std::ptrdiff_t>(IW))
                          ? std::int16_t(0)
                          : static_cast<std::int16_t>(static_cast<std::int32_t>(xr[iw]) - zero_point);
          }
        }
      }
    }
  }
}
// rmodel:end int_im2col

}  // namespace rmodel::detail
