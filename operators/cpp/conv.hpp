// Depthwise convolution kernels and the valid-range helper of operators/conv/ (valid_range is
// also used by operators/pool.py). Each depthwise helper of a generated header is gemm.hpp's
// keep_loop region followed by its own.
// Generated code copies only the text between `// rmodel:begin NAME` and `// rmodel:end NAME`
// (rmodel/cpp_sources.py); the rest of the file makes it compile on its own.
#pragma once

#include <cstddef>

#include "gemm.hpp"

namespace rmodel::detail {

// One channel of a depthwise 2-D convolution (1-D is the case IH = OH = KH = 1): y = b + the
// KH x KW taps of w over x. Columns [LO, HI) of every output row have all horizontal taps inside
// the input; they are computed in runs of T (32) outputs held in local accumulators (the last run
// ends at HI, overlapping the one before, so every run has the same width; the run is shorter
// only when the whole interior is), the few border columns one at a time with bounds checks.
// Rows of taps outside the input are skipped.
// clang-format off
// rmodel:begin depthwise2d
// T outputs from x[base + kh * DH * IW + kw * DW + j * SW] over the valid kernel rows
template <std::size_t T, std::size_t IW, std::size_t KW, std::size_t SW, std::size_t DH, std::size_t DW>
inline void depthwise_run(const float* __restrict x, std::ptrdiff_t base, const float* __restrict w, float b,
                          std::ptrdiff_t kh_lo, std::ptrdiff_t kh_hi, float* __restrict y) {
  float c[T];
  for (std::size_t j = 0; j < T; ++j) c[j] = b;
  for (std::ptrdiff_t kh = kh_lo; kh < kh_hi; ++kh) {
    const float* xr = x + (base + kh * static_cast<std::ptrdiff_t>(DH * IW));
    for (std::size_t kw = 0; kw < KW; ++kw) {
      const float wv = w[static_cast<std::size_t>(kh) * KW + kw];
      const float* xs = xr + kw * DW;
      if constexpr (T > 16 || SW > 1) {
        for (std::size_t j = 0; j < T; ++j) c[j] += wv * xs[j * SW];
      } else {  // g++ would unroll a short contiguous loop before vectorizing it
        RMODEL_KEEP_LOOP
        for (std::size_t j = 0; j < T; ++j) c[j] += wv * xs[j * SW];
      }
    }
  }
  for (std::size_t j = 0; j < T; ++j) y[j] = c[j];
}

// one border output: horizontal taps outside the input are skipped
template <std::size_t IW, std::size_t KW, std::size_t SW, std::size_t DH, std::size_t DW, std::size_t PL>
inline float depthwise_point(const float* __restrict x, std::ptrdiff_t top, const float* __restrict w, float b,
                             std::ptrdiff_t kh_lo, std::ptrdiff_t kh_hi, std::ptrdiff_t o) {
  float acc = b;
  for (std::ptrdiff_t kh = kh_lo; kh < kh_hi; ++kh) {
    const float* xr = x + (top + kh * static_cast<std::ptrdiff_t>(DH)) * static_cast<std::ptrdiff_t>(IW);
    for (std::size_t kw = 0; kw < KW; ++kw) {
      const std::ptrdiff_t i = o * static_cast<std::ptrdiff_t>(SW) + static_cast<std::ptrdiff_t>(kw * DW) -
                               static_cast<std::ptrdiff_t>(PL);
      if (i >= 0 && i < static_cast<std::ptrdiff_t>(IW)) acc += w[static_cast<std::size_t>(kh) * KW + kw] * xr[i];
    }
  }
  return acc;
}

template <std::size_t IH, std::size_t IW, std::size_t OH, std::size_t OW, std::size_t KH, std::size_t KW,
          std::size_t SH, std::size_t SW, std::size_t DH, std::size_t DW, std::size_t PT, std::size_t PL,
          std::size_t LO, std::size_t HI>
inline void depthwise2d(const float* __restrict x, const float* __restrict w, float b, float* __restrict y) {
  // runs of T = 32 outputs, or one run over the whole interior if it is shorter
  constexpr std::size_t SPAN = HI - LO;
  constexpr std::size_t T = SPAN >= 32 ? 32 : SPAN;
  constexpr std::size_t RUNS = T > 0 ? SPAN / T : 0, REST = T > 0 ? SPAN % T : 0;
  constexpr std::ptrdiff_t iw = IW, ih = IH, dh = DH, pl = PL, sw = SW;
  for (std::size_t oh = 0; oh < OH; ++oh) {
    float* yr = y + oh * OW;
    // kernel rows kh in [kh_lo, kh_hi) read input row top + kh * DH inside [0, IH)
    const std::ptrdiff_t top = static_cast<std::ptrdiff_t>(oh * SH) - static_cast<std::ptrdiff_t>(PT);
    const std::ptrdiff_t kh_lo = top >= 0 ? 0 : (-top + dh - 1) / dh;
    std::ptrdiff_t kh_hi = ih - 1 - top < 0 ? 0 : (ih - 1 - top) / dh + 1;
    if (kh_hi > static_cast<std::ptrdiff_t>(KH)) kh_hi = KH;
    if constexpr (T > 0) {
      for (std::size_t r = 0; r < RUNS; ++r) {
        const std::ptrdiff_t o = static_cast<std::ptrdiff_t>(LO + r * T);
        depthwise_run<T, IW, KW, SW, DH, DW>(x, top * iw + o * sw - pl, w, b, kh_lo, kh_hi, yr + o);
      }
      if constexpr (REST > 0) {  // a last full run ending at HI (recomputes a few outputs)
        constexpr std::ptrdiff_t o = HI - T;
        depthwise_run<T, IW, KW, SW, DH, DW>(x, top * iw + o * sw - pl, w, b, kh_lo, kh_hi, yr + o);
      }
    }
    if constexpr (LO > 0) {
      for (std::size_t o = 0; o < LO; ++o) {
        yr[o] = depthwise_point<IW, KW, SW, DH, DW, PL>(x, top, w, b, kh_lo, kh_hi, static_cast<std::ptrdiff_t>(o));
      }
    }
    if constexpr (HI < OW) {
      for (std::size_t o = HI; o < OW; ++o) {
        yr[o] = depthwise_point<IW, KW, SW, DH, DW, PL>(x, top, w, b, kh_lo, kh_hi, static_cast<std::ptrdiff_t>(o));
      }
    }
  }
}
// rmodel:end depthwise2d
// clang-format on

// One channel of a depthwise 2-D convolution (1-D: IH = OH = KH = 1) through a zero-padded copy,
// split by stride phase: padded row r, column q (PL + IW + PR columns) goes to plane (r % SH) * SW
// + q % SW at row r / SH, column q / SW of the planes' QH x QW (the padded size over the strides,
// rounded up; QW widened to a power of 2 up to TILE, else a multiple of it). Tap (kh, kw) of
// output (oh, ow) is then at row oh + kh * DH / SH, column ow + kw * DW / SW of its phase's plane:
// over flat output positions j = oh * QW + ow every tap reads one contiguous stream,
// b + sum w[kh][kw] * pad[j + offset(kh, kw)], computed in runs of TILE local accumulators (whole
// rows, or TILE columns of a wide row) without bounds checks; the OW valid columns of each row are
// stored, the others discarded. The caller zeroes `pad` once; only the interiors of the planes are
// ever written. TILE (64) is DEPTHWISE_FLAT_TILE of conv/depthwise.py, which sizes QW.
// clang-format off
// rmodel:begin depthwise_flat
// T = R * C consecutive flat outputs from p (R rows of C = QW columns, or one row's C columns);
// the first V columns of each of the R rows are stored to y (rows OW apart)
template <std::size_t R, std::size_t C, std::size_t V, std::size_t OW, std::size_t KH, std::size_t KW,
          std::size_t SH, std::size_t SW, std::size_t DH, std::size_t DW, std::size_t QH, std::size_t QW>
inline void depthwise_flat_run(const float* __restrict p, const float* __restrict w, float b, float* __restrict y) {
  constexpr std::size_t T = R * C;
  float c[T];
  for (std::size_t j = 0; j < T; ++j) c[j] = b;
  for (std::size_t kh = 0; kh < KH; ++kh) {
    for (std::size_t kw = 0; kw < KW; ++kw) {
      const float wv = w[kh * KW + kw];
      const std::size_t plane = (kh * DH % SH) * SW + kw * DW % SW;
      const float* ps = p + plane * QH * QW + kh * DH / SH * QW + kw * DW / SW;
      if constexpr (T > 16) {
        for (std::size_t j = 0; j < T; ++j) c[j] += wv * ps[j];
      } else {  // g++ would unroll a short contiguous loop before vectorizing it
        RMODEL_KEEP_LOOP
        for (std::size_t j = 0; j < T; ++j) c[j] += wv * ps[j];
      }
    }
  }
  for (std::size_t r = 0; r < R; ++r) {
    for (std::size_t j = 0; j < V; ++j) y[r * OW + j] = c[r * C + j];
  }
}

template <std::size_t IH, std::size_t IW, std::size_t OH, std::size_t OW, std::size_t KH, std::size_t KW,
          std::size_t SH, std::size_t SW, std::size_t DH, std::size_t DW, std::size_t PT, std::size_t PL,
          std::size_t QH, std::size_t QW>
inline void depthwise_flat(const float* __restrict x, const float* __restrict w, float b, float* __restrict pad,
                           float* __restrict y) {
  constexpr std::size_t TILE = 64;
  for (std::size_t i = 0; i < IH; ++i) {
    const float* xr = x + i * IW;
    const std::size_t r = PT + i;
    float* pr = pad + (r % SH) * SW * QH * QW + r / SH * QW;
    if constexpr (SW == 1) {
      for (std::size_t j = 0; j < IW; ++j) pr[PL + j] = xr[j];
    } else {  // column phase f: padded columns q * SW + f, input column q * SW + f - PL
      for (std::size_t f = 0; f < SW; ++f) {
        float* pf = pr + f * QH * QW;
        const std::size_t q0 = PL > f ? (PL - f + SW - 1) / SW : 0;
        for (std::size_t q = q0; q * SW + f < PL + IW; ++q) pf[q] = xr[q * SW + f - PL];
      }
    }
  }
  if constexpr (QW <= TILE) {  // runs of R = TILE / QW whole rows, the last one shorter
    constexpr std::size_t R = TILE / QW, RUNS = OH / R, REST = OH % R;
    for (std::size_t r = 0; r < RUNS; ++r) {
      depthwise_flat_run<R, QW, OW, OW, KH, KW, SH, SW, DH, DW, QH, QW>(pad + r * R * QW, w, b, y + r * R * OW);
    }
    if constexpr (REST > 0) {
      depthwise_flat_run<REST, QW, OW, OW, KH, KW, SH, SW, DH, DW, QH, QW>(pad + RUNS * R * QW, w, b,
                                                                          y + RUNS * R * OW);
    }
  } else {  // wide rows: runs of TILE columns, the last one storing the V < TILE columns left
    constexpr std::size_t FULL = OW / TILE, V = OW % TILE;
    for (std::size_t i = 0; i < OH; ++i) {
      for (std::size_t k = 0; k < FULL; ++k) {
        depthwise_flat_run<1, TILE, TILE, OW, KH, KW, SH, SW, DH, DW, QH, QW>(pad + i * QW + k * TILE, w, b,
                                                                             y + i * OW + k * TILE);
      }
      if constexpr (V > 0) {
        depthwise_flat_run<1, TILE, V, OW, KH, KW, SH, SW, DH, DW, QH, QW>(pad + i * QW + FULL * TILE, w, b,
                                                                          y + i * OW + FULL * TILE);
      }
    }
  }
}
// rmodel:end depthwise_flat
// clang-format on

// [lo, hi): the output positions o in [0, count) whose input position o * stride + offset lies in
// [0, size). Used where a window tap meets the padding.
// clang-format off
// rmodel:begin valid_range
inline void valid_range(std::ptrdiff_t offset, std::ptrdiff_t stride, std::ptrdiff_t size,
                        std::ptrdiff_t count, std::ptrdiff_t& lo, std::ptrdiff_t& hi) {
  lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  hi = size - 1 - offset < 0 ? 0 : (size - 1 - offset) / stride + 1;
  if (hi > count) hi = count;
  if (lo > hi) lo = hi;
}
// rmodel:end valid_range
// clang-format on

}  // namespace rmodel::detail
