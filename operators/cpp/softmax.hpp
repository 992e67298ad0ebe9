// Softmax, LogSoftmax and Hardmax of operators/softmax.py (softmax_rows and softmax_strided call
// mathfn.hpp's exp_f32, registered before them).
// Generated code copies only the text between `// rmodel:begin NAME` and `// rmodel:end NAME`
// (rmodel/cpp_sources.py); the rest of the file makes it compile on its own.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "mathfn.hpp"

namespace rmodel::detail {

// Rows of length N are contiguous. The max is subtracted before exp, so large inputs cannot
// overflow; the sum of exponentials is accumulated in double. Softmax writes the exponentials first
// (a loop the compiler vectorizes) and sums them in a second loop.
// rmodel:begin softmax_rows
template <std::size_t OUTER, std::size_t N, bool LOG>
inline void softmax_rows(const float* x, float* y) {
  for (std::size_t o = 0; o < OUTER; ++o) {
    const float* xr = x + o * N;
    float* yr = y + o * N;
    float mx = xr[0];
    for (std::size_t k = 1; k < N; ++k) mx = std::max(mx, xr[k]);
    double sum = 0.0;
    if (LOG) {
      for (std::size_t k = 0; k < N; ++k) sum += exp_f32(xr[k] - mx);
    } else {
      for (std::size_t k = 0; k < N; ++k) yr[k] = exp_f32(xr[k] - mx);
      for (std::size_t k = 0; k < N; ++k) sum += yr[k];
    }
    if (LOG) {
      // (x - max) - log(sum): max + log(sum) would be rounded at the scale of max
      const float log_sum = static_cast<float>(std::log(sum));
      for (std::size_t k = 0; k < N; ++k) yr[k] = (xr[k] - mx) - log_sum;
    } else {
      const float scale = static_cast<float>(1.0 / sum);
      for (std::size_t k = 0; k < N; ++k) yr[k] *= scale;
    }
  }
}
// rmodel:end softmax_rows

// The reduced axis has stride INNER: every pass runs over INNER contiguous values, keeping the
// running max (mx) and sum per column in the workspace.
// rmodel:begin softmax_strided
template <std::size_t OUTER, std::size_t N, std::size_t INNER, bool LOG>
inline void softmax_strided(const float* x, float* y, float* mx, double* sum) {
  for (std::size_t o = 0; o < OUTER; ++o) {
    const float* xo = x + o * N * INNER;
    float* yo = y + o * N * INNER;
    for (std::size_t j = 0; j < INNER; ++j) mx[j] = xo[j];
    for (std::size_t k = 1; k < N; ++k)
      for (std::size_t j = 0; j < INNER; ++j) mx[j] = std::max(mx[j], xo[k * INNER + j]);
    for (std::size_t j = 0; j < INNER; ++j) sum[j] = 0.0;
    for (std::size_t k = 0; k < N; ++k)
      for (std::size_t j = 0; j < INNER; ++j) {
        const float e = exp_f32(xo[k * INNER + j] - mx[j]);
        sum[j] += e;
        if (!LOG) yo[k * INNER + j] = e;
      }
    if (LOG) {
      for (std::size_t j = 0; j < INNER; ++j) sum[j] = static_cast<float>(std::log(sum[j]));
      for (std::size_t k = 0; k < N; ++k)
        for (std::size_t j = 0; j < INNER; ++j)
          yo[k * INNER + j] = (xo[k * INNER + j] - mx[j]) - static_cast<float>(sum[j]);
    } else {
      for (std::size_t j = 0; j < INNER; ++j) mx[j] = static_cast<float>(1.0 / sum[j]);
      for (std::size_t k = 0; k < N; ++k)
        for (std::size_t j = 0; j < INNER; ++j) yo[k * INNER + j] *= mx[j];
    }
  }
}
// rmodel:end softmax_strided

// 1 at the first element equal to the maximum along the axis, 0 elsewhere. As onnxruntime: the
// maximum is folded with std::max from the first element, so a leading NaN gives an all-zero row
// and a later NaN is passed over.
// rmodel:begin hardmax
template <std::size_t OUTER, std::size_t N, std::size_t INNER>
inline void hardmax(const float* x, float* y) {
  for (std::size_t i = 0; i < OUTER * N * INNER; ++i) y[i] = 0.0f;
  for (std::size_t o = 0; o < OUTER; ++o) {
    for (std::size_t j = 0; j < INNER; ++j) {
      const float* xc = x + o * N * INNER + j;
      float mx = xc[0];
      for (std::size_t k = 1; k < N; ++k) mx = std::max(mx, xc[k * INNER]);
      for (std::size_t k = 0; k < N; ++k) {
        if (xc[k * INNER] == mx) {
          y[o * N * INNER + k * INNER + j] = 1.0f;
          break;
        }
      }
    }
  }
}
// rmodel:end hardmax

}  // namespace rmodel::detail
