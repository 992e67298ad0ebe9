// The matrix-vector product of the HLS LSTM and GRU stages (operators/hls/recurrent.py). C++14, as
// the firmware; the HLS pragmas only matter to Vitis HLS (g++ needs -Wno-unknown-pragmas).
// Generated code copies only the text between `// rmodel:begin NAME` and `// rmodel:end NAME`
// (rmodel/cpp_sources.py); the rest of the file makes it compile on its own.
#pragma once

namespace rmodel {
namespace detail {

// clang-format off
// rmodel:begin matvec
// acc[row] += sum_k a[k] * w[row * K + k], over ceil(ROWS * K / R) multipliers used R times each
template <int ROWS, int K, int R, typename TA, typename TW, typename TACC>
void matvec(const TA* a, const TW* w, TACC* acc) {
#pragma HLS INLINE
  const int total = ROWS * K;
  const int mults = (total + R - 1) / R;
  for (int r = 0; r < R; ++r) {
#pragma HLS PIPELINE II=1
    for (int j = 0; j < mults; ++j) {
#pragma HLS UNROLL
      const int idx = r + j * R;
      if (idx < total) acc[idx / K] += a[idx % K] * w[idx];
    }
  }
}
// rmodel:end matvec
// clang-format on

}  // namespace detail
}  // namespace rmodel
