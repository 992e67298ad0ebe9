// Normalization kernels of operators/normalization.py (statistics accumulated in double).
// Generated code copies only the text between `// rmodel:begin NAME` and `// rmodel:end NAME`
// (rmodel/cpp_sources.py); the rest of the file makes it compile on its own.
#pragma once

#include <cmath>
#include <cstddef>

namespace rmodel::detail {

// y[n, c, s] = x[n, c, s] * a[c] + b[c]
// rmodel:begin batchnorm
template <std::size_t N, std::size_t C, std::size_t S>
inline void batchnorm(const float* x, const float* a, const float* b, float* y) {
  for (std::size_t n = 0; n < N; ++n) {
    if constexpr (S == 1) {
      for (std::size_t c = 0; c < C; ++c) y[n * C + c] = x[n * C + c] * a[c] + b[c];
    } else {
      for (std::size_t c = 0; c < C; ++c) {
        const float* xc = x + (n * C + c) * S;
        float* yc = y + (n * C + c) * S;
        const float ac = a[c], bc = b[c];
        for (std::size_t s = 0; s < S; ++s) yc[s] = xc[s] * ac + bc;
      }
    }
  }
}
// rmodel:end batchnorm

// a = scale / sqrt(var + eps), b = bias - mean * a (for parameters computed at run time)
// rmodel:begin batchnorm_coefficients
template <std::size_t C>
inline void batchnorm_coefficients(const float* scale, const float* bias, const float* mean, const float* var,
                                   float eps, float* a, float* b) {
  for (std::size_t c = 0; c < C; ++c) {
    const double ac = static_cast<double>(scale[c]) / std::sqrt(static_cast<double>(var[c]) + eps);
    a[c] = static_cast<float>(ac);
    b[c] = static_cast<float>(static_cast<double>(bias[c]) - static_cast<double>(mean[c]) * ac);
  }
}
// rmodel:end batchnorm_coefficients

// mean and 1/sqrt(variance + eps) of a contiguous row of N values (two passes, in double)
// rmodel:begin row_statistics
template <std::size_t N>
inline void row_statistics(const float* x, float eps, float& mean, float& inv_std) {
  double sum = 0.0;
  for (std::size_t k = 0; k < N; ++k) sum += x[k];
  const double m = sum / static_cast<double>(N);
  double sq = 0.0;
  for (std::size_t k = 0; k < N; ++k) {
    const double d = static_cast<double>(x[k]) - m;
    sq += d * d;
  }
  mean = static_cast<float>(m);
  inv_std = static_cast<float>(1.0 / std::sqrt(sq / static_cast<double>(N) + static_cast<double>(eps)));
}
// rmodel:end row_statistics

// each of ROWS rows of N values: y = (x - mean) * inv_std * scale + bias (bias may be null);
// mean_out / inv_std_out (may be null) receive the per-row statistics (calls row_statistics)
// clang-format off
// rmodel:begin layernorm
template <std::size_t ROWS, std::size_t N>
inline void layernorm(const float* x, const float* scale, const float* bias, float eps, float* y,
                      float* mean_out, float* inv_std_out) {
  for (std::size_t r = 0; r < ROWS; ++r) {
    const float* xr = x + r * N;
    float* yr = y + r * N;
    float mean, inv_std;
    row_statistics<N>(xr, eps, mean, inv_std);
    if (mean_out) mean_out[r] = mean;
    if (inv_std_out) inv_std_out[r] = inv_std;
    if (bias) {
      for (std::size_t k = 0; k < N; ++k) yr[k] = (xr[k] - mean) * inv_std * scale[k] + bias[k];
    } else {
      for (std::size_t k = 0; k < N; ++k) yr[k] = (xr[k] - mean) * inv_std * scale[k];
    }
  }
}
// rmodel:end layernorm
// clang-format on

// x is (N, C, S): every (n, c) row of S values is normalized, then scaled by scale[c], shifted by
// bias[c] (calls row_statistics)
// rmodel:begin instancenorm
template <std::size_t N, std::size_t C, std::size_t S>
inline void instancenorm(const float* x, const float* scale, const float* bias, float eps, float* y) {
  for (std::size_t n = 0; n < N; ++n) {
    for (std::size_t c = 0; c < C; ++c) {
      const float* xr = x + (n * C + c) * S;
      float* yr = y + (n * C + c) * S;
      float mean, inv_std;
      row_statistics<S>(xr, eps, mean, inv_std);
      const float a = scale[c] * inv_std;
      const float b = bias[c] - mean * a;
      for (std::size_t s = 0; s < S; ++s) yr[s] = xr[s] * a + b;
    }
  }
}
// rmodel:end instancenorm

// y = x / ||x||_P along the middle axis of an (OUTER, N, INNER) tensor (0 where the norm is 0);
// norm holds INNER doubles
// clang-format off
// rmodel:begin lpnorm
template <std::size_t OUTER, std::size_t N, std::size_t INNER, int P>
inline void lpnorm(const float* x, float* y, double* norm) {
  for (std::size_t o = 0; o < OUTER; ++o) {
    const float* xo = x + o * N * INNER;
    float* yo = y + o * N * INNER;
    for (std::size_t j = 0; j < INNER; ++j) norm[j] = 0.0;
    for (std::size_t k = 0; k < N; ++k)
      for (std::size_t j = 0; j < INNER; ++j) {
        const double v = xo[k * INNER + j];
        norm[j] += P == 1 ? std::fabs(v) : v * v;
      }
    for (std::size_t j = 0; j < INNER; ++j) {
      const double total = P == 1 ? norm[j] : std::sqrt(norm[j]);
      norm[j] = total == 0.0 ? 0.0 : 1.0 / total;
    }
    for (std::size_t k = 0; k < N; ++k)
      for (std::size_t j = 0; j < INNER; ++j)
        yo[k * INNER + j] = static_cast<float>(xo[k * INNER + j] * norm[j]);
  }
}
// rmodel:end lpnorm
// clang-format on

}  // namespace rmodel::detail
