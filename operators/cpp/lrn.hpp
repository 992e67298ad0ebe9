// LRN of operators/lrn.py: the window sum over channels kept as onnxruntime keeps it.
// Generated code copies only the text between `// rmodel:begin NAME` and `// rmodel:end NAME`
// (rmodel/cpp_sources.py); the rest of the file makes it compile on its own.
#pragma once

#include <algorithm>
#include <cstddef>

namespace rmodel::detail {

// clang-format off
// rmodel:begin lrn
template <std::size_t S>
inline void lrn_terms(const float* x, float a, float* terms) {
  for (std::size_t s = 0; s < S; ++s) {
    const float q = x[s] * x[s];
    terms[s] = a * q;
  }
}

template <std::size_t N, std::size_t C, std::size_t S, std::size_t PRE, std::size_t POST, class Pow>
inline void lrn(const float* x, float* y, float* run, float bias, float a, float pad, Pow power) {
  float* head = run + S;
  float* tail = run + 2 * S;
  for (std::size_t n = 0; n < N; ++n) {
    const float* xn = x + n * C * S;
    float* yn = y + n * C * S;
    for (std::size_t s = 0; s < S; ++s) run[s] = PRE > 0 ? bias + pad : bias;
    for (std::size_t c = 0; c <= POST && c < C; ++c) {
      lrn_terms<S>(xn + c * S, a, head);
      for (std::size_t s = 0; s < S; ++s) run[s] = run[s] + head[s];
    }
    if (POST >= C) {
      for (std::size_t s = 0; s < S; ++s) run[s] = run[s] + pad;
    }
    for (std::size_t s = 0; s < S; ++s) yn[s] = xn[s] * power(run[s]);
    for (std::size_t c = 1; c < C; ++c) {
      const float* xc = xn + c * S;
      float* yc = yn + c * S;
      if (c + POST < C) {
        lrn_terms<S>(xn + (c + POST) * S, a, head);
      } else {
        std::fill(head, head + S, pad);
      }
      if (c >= PRE + 1) {
        lrn_terms<S>(xn + (c - 1 - PRE) * S, a, tail);
      } else {
        std::fill(tail, tail + S, pad);
      }
      for (std::size_t s = 0; s < S; ++s) {
        float v = run[s] + head[s];
        v = v - tail[s];
        run[s] = v;
        yc[s] = xc[s] * power(v);
      }
    }
  }
}
// rmodel:end lrn
// clang-format on

}  // namespace rmodel::detail
