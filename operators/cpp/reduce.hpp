// ArgMax / ArgMin of operators/reduce.py.
// Generated code copies only the text between `// rmodel:begin NAME` and `// rmodel:end NAME`
// (rmodel/cpp_sources.py); the rest of the file makes it compile on its own.
#pragma once

#include <cstddef>
#include <cstdint>

namespace rmodel::detail {

// index of the first (or, with LAST, the last) maximum (MAX) or minimum along the middle axis of an
// (OUTER, N, INNER) tensor; best holds INNER values when INNER > 1
// rmodel:begin arg_reduce
template <std::size_t OUTER, std::size_t N, std::size_t INNER, bool MAX, bool LAST, typename T>
inline void arg_reduce(const T* x, std::int64_t* y, T* best) {
  const auto better = [](T v, T b) { return MAX ? (LAST ? v >= b : v > b) : (LAST ? v <= b : v < b); };
  for (std::size_t o = 0; o < OUTER; ++o) {
    const T* xo = x + o * N * INNER;
    std::int64_t* yo = y + o * INNER;
    if constexpr (INNER == 1) {
      T b = xo[0];
      std::int64_t index = 0;
      for (std::size_t k = 1; k < N; ++k) {
        if (better(xo[k], b)) {
          b = xo[k];
          index = static_cast<std::int64_t>(k);
        }
      }
      yo[0] = index;
    } else {
      for (std::size_t j = 0; j < INNER; ++j) {
        best[j] = xo[j];
        yo[j] = 0;
      }
      for (std::size_t k = 1; k < N; ++k) {
        for (std::size_t j = 0; j < INNER; ++j) {
          const T v = xo[k * INNER + j];
          if (better(v, best[j])) {
            best[j] = v;
            yo[j] = static_cast<std::int64_t>(k);
          }
        }
      }
    }
  }
}
// rmodel:end arg_reduce

}  // namespace rmodel::detail
