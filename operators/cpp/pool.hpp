// Global pooling of operators/pool.py.
// Generated code copies only the text between `// rmodel:begin NAME` and `// rmodel:end NAME`
// (rmodel/cpp_sources.py); the rest of the file makes it compile on its own.
#pragma once

#include <cstddef>
#include <limits>

namespace rmodel::detail {

// out[p] = reduce(x[p * N ... p * N + N)) over P planes, with eight independent partial results so
// the loop vectorizes without reassociating floating point operations.
// rmodel:begin global_pool
template <std::size_t P, std::size_t N, bool Max>
inline void global_pool(const float* x, float* y) {
  for (std::size_t p = 0; p < P; ++p) {
    const float* xp = x + p * N;
    float acc[8];
    for (std::size_t j = 0; j < 8; ++j) acc[j] = Max ? -std::numeric_limits<float>::infinity() : 0.0f;
    std::size_t i = 0;
    for (; i + 8 <= N; i += 8) {
      for (std::size_t j = 0; j < 8; ++j) {
        if (Max) {
          acc[j] = (xp[i + j] > acc[j] || xp[i + j] != xp[i + j]) ? xp[i + j] : acc[j];
        } else {
          acc[j] += xp[i + j];
        }
      }
    }
    for (std::size_t j = 0; i < N; ++i, ++j) {
      if (Max) {
        acc[j] = (xp[i] > acc[j] || xp[i] != xp[i]) ? xp[i] : acc[j];
      } else {
        acc[j] += xp[i];
      }
    }
    float r = acc[0];
    for (std::size_t j = 1; j < 8; ++j) {
      if (Max) {
        r = (acc[j] > r || acc[j] != acc[j]) ? acc[j] : r;
      } else {
        r += acc[j];
      }
    }
    y[p] = Max ? r : r / static_cast<float>(N);
  }
}
// rmodel:end global_pool

}  // namespace rmodel::detail
