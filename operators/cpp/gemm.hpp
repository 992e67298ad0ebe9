// The register-blocked matrix product of operators/kernels.py (Gemm, MatMul, Conv). The "gemm"
// helper of a generated header is the regions gemm_config, keep_loop and gemm, in that order
// (kernels.gemm_code). NR = 16 is GEMM_NR of kernels.py, which packs constant b into panels that wide.
// Generated code copies only the text between `// rmodel:begin NAME` and `// rmodel:end NAME`
// (rmodel/cpp_sources.py); the rest of the file makes it compile on its own.
// A header carries only the gemm_tile_N sections its products instantiate (emitters/cpu/helper_code.py).
#pragma once

#include <cstddef>

namespace rmodel::detail {

// rows of a tile (8 where AVX-512 gives 32 vector registers, else 6), deepest running sum in
// columns of a, and panels of a full tile; each can be set with -D when the header is compiled
// rmodel:begin gemm_config
#ifndef RMODEL_GEMM_MR
#if defined(__AVX512F__)
#define RMODEL_GEMM_MR 8
#else
#define RMODEL_GEMM_MR 6
#endif
#endif
#ifndef RMODEL_GEMM_KC
#define RMODEL_GEMM_KC 64
#endif
#ifndef RMODEL_GEMM_PANELS
#if defined(__AVX512F__)
#define RMODEL_GEMM_PANELS 2
#else
#define RMODEL_GEMM_PANELS 1
#endif
#endif
// rmodel:end gemm_config

// put before a short fixed-length loop over contiguous columns that must stay a loop for the
// vectorizer (g++ unrolls it early otherwise); every helper that uses it starts with this region
// rmodel:begin keep_loop
#ifndef RMODEL_KEEP_LOOP
#if defined(__GNUC__) && !defined(__clang__)
#define RMODEL_KEEP_LOOP _Pragma("GCC unroll 1")
#else
#define RMODEL_KEEP_LOOP
#endif
#endif
// rmodel:end keep_loop

// clang-format off
// rmodel:begin gemm
// One tile of MR rows x P panels of NR columns: y[i * LDY + p * NR + j] = bias + sum_k
// a[i * SAM + k * SAK] * b[p * PS + k * SBK + j] for i < MR, p < P, j < NR. BIAS: 0 none,
// 1 bias[i] per row, 2 bias[p * NR + j] per column, 3 none but the tile is added to y (a later
// block of k). Several panels give a tile of few rows enough independent accumulators to hide the
// FMA latency. K2, S2, K3, S3 split every k into
// K2 x K3 sub-steps whose row of b is k * SBK + k2 * S2 + k3 * S3 (a's column (k * K2 + k2) * K3
// + k3): a convolution reads its kernel taps straight from a padded input this way.
template <std::size_t MR, std::size_t NR, std::size_t P, std::size_t PS, std::size_t K, std::size_t SAM, std::size_t SAK,
          std::size_t SBK, std::size_t LDY, int BIAS, std::size_t K2 = 1, std::size_t S2 = 0, std::size_t K3 = 1,
          std::size_t S3 = 0>
struct gemm_tile;

// rmodel:section gemm_tile_1
template <std::size_t NR, std::size_t P, std::size_t PS, std::size_t K, std::size_t SAM, std::size_t SAK,
          std::size_t SBK, std::size_t LDY, int BIAS, std::size_t K2, std::size_t S2, std::size_t K3, std::size_t S3>
struct gemm_tile<1, NR, P, PS, K, SAM, SAK, SBK, LDY, BIAS, K2, S2, K3, S3> {
  static void run(const float* __restrict a, const float* __restrict b, const float* __restrict bias,
                  float* __restrict y) {
    float c0[P * NR];
    for (std::size_t q = 0; q < P * NR; ++q) {
      const float bj = BIAS == 2 ? bias[q] : 0.0f;
      c0[q] = BIAS == 1 ? bias[0] : bj;
    }
    for (std::size_t k = 0; k < K; ++k) {
      for (std::size_t k2 = 0; k2 < K2; ++k2) {
        for (std::size_t k3 = 0; k3 < K3; ++k3) {
          const std::size_t ka = (k * K2 + k2) * K3 + k3;
          const float a0 = a[0 * SAM + ka * SAK];
          for (std::size_t p = 0; p < P; ++p) {
            const float* bk = b + p * PS + k * SBK + k2 * S2 + k3 * S3;
            RMODEL_KEEP_LOOP
            for (std::size_t j = 0; j < NR; ++j) {
              const float bv = bk[j];
              c0[p * NR + j] += a0 * bv;
            }
          }
        }
      }
    }
    if constexpr (BIAS == 3) {
      for (std::size_t q = 0; q < P * NR; ++q) {
        y[0 * LDY + q] += c0[q];
      }
    } else {
      for (std::size_t q = 0; q < P * NR; ++q) {
        y[0 * LDY + q] = c0[q];
      }
    }
  }
};
// rmodel:end-section gemm_tile_1

// rmodel:section gemm_tile_2
template <std::size_t NR, std::size_t P, std::size_t PS, std::size_t K, std::size_t SAM, std::size_t SAK,
          std::size_t SBK, std::size_t LDY, int BIAS, std::size_t K2, std::size_t S2, std::size_t K3, std::size_t S3>
struct gemm_tile<2, NR, P, PS, K, SAM, SAK, SBK, LDY, BIAS, K2, S2, K3, S3> {
  static void run(const float* __restrict a, const float* __restrict b, const float* __restrict bias,
                  float* __restrict y) {
    float c0[P * NR]; float c1[P * NR];
    for (std::size_t q = 0; q < P * NR; ++q) {
      const float bj = BIAS == 2 ? bias[q] : 0.0f;
      c0[q] = BIAS == 1 ? bias[0] : bj; c1[q] = BIAS == 1 ? bias[1] : bj;
    }
    for (std::size_t k = 0; k < K; ++k) {
      for (std::size_t k2 = 0; k2 < K2; ++k2) {
        for (std::size_t k3 = 0; k3 < K3; ++k3) {
          const std::size_t ka = (k * K2 + k2) * K3 + k3;
          const float a0 = a[0 * SAM + ka * SAK]; const float a1 = a[1 * SAM + ka * SAK];
          for (std::size_t p = 0; p < P; ++p) {
            const float* bk = b + p * PS + k * SBK + k2 * S2 + k3 * S3;
            RMODEL_KEEP_LOOP
            for (std::size_t j = 0; j < NR; ++j) {
              const float bv = bk[j];
              c0[p * NR + j] += a0 * bv; c1[p * NR + j] += a1 * bv;
            }
          }
        }
      }
    }
    if constexpr (BIAS == 3) {
      for (std::size_t q = 0; q < P * NR; ++q) {
        y[0 * LDY + q] += c0[q]; y[1 * LDY + q] += c1[q];
      }
    } else {
      for (std::size_t q = 0; q < P * NR; ++q) {
        y[0 * LDY + q] = c0[q]; y[1 * LDY + q] = c1[q];
      }
    }
  }
};
// rmodel:end-section gemm_tile_2

// rmodel:section gemm_tile_3
template <std::size_t NR, std::size_t P, std::size_t PS, std::size_t K, std::size_t SAM, std::size_t SAK,
          std::size_t SBK, std::size_t LDY, int BIAS, std::size_t K2, std::size_t S2, std::size_t K3, std::size_t S3>
struct gemm_tile<3, NR, P, PS, K, SAM, SAK, SBK, LDY, BIAS, K2, S2, K3, S3> {
  static void run(const float* __restrict a, const float* __restrict b, const float* __restrict bias,
                  float* __restrict y) {
    float c0[P * NR]; float c1[P * NR]; float c2[P * NR];
    for (std::size_t q = 0; q < P * NR; ++q) {
      const float bj = BIAS == 2 ? bias[q] : 0.0f;
      c0[q] = BIAS == 1 ? bias[0] : bj; c1[q] = BIAS == 1 ? bias[1] : bj; c2[q] = BIAS == 1 ? bias[2] : bj;
    }
    for (std::size_t k = 0; k < K; ++k) {
      for (std::size_t k2 = 0; k2 < K2; ++k2) {
        for (std::size_t k3 = 0; k3 < K3; ++k3) {
          const std::size_t ka = (k * K2 + k2) * K3 + k3;
          const float a0 = a[0 * SAM + ka * SAK]; const float a1 = a[1 * SAM + ka * SAK]; const float a2 = a[2 * SAM + ka * SAK];
          for (std::size_t p = 0; p < P; ++p) {
            const float* bk = b + p * PS + k * SBK + k2 * S2 + k3 * S3;
            RMODEL_KEEP_LOOP
            for (std::size_t j = 0; j < NR; ++j) {
              const float bv = bk[j];
              c0[p * NR + j] += a0 * bv; c1[p * NR + j] += a1 * bv; c2[p * NR + j] += a2 * bv;
            }
          }
        }
      }
    }
    if constexpr (BIAS == 3) {
      for (std::size_t q = 0; q < P * NR; ++q) {
        y[0 * LDY + q] += c0[q]; y[1 * LDY + q] += c1[q]; y[2 * LDY + q] += c2[q];
      }
    } else {
      for (std::size_t q = 0; q < P * NR; ++q) {
        y[0 * LDY + q] = c0[q]; y[1 * LDY + q] = c1[q]; y[2 * LDY + q] = c2[q];
      }
    }
  }
};
// rmodel:end-section gemm_tile_3

// rmodel:section gemm_tile_4
template <std::size_t NR, std::size_t P, std::size_t PS, std::size_t K, std::size_t SAM, std::size_t SAK,
          std::size_t SBK, std::size_t LDY, int BIAS, std::size_t K2, std::size_t S2, std::size_t K3, std::size_t S3>
struct gemm_tile<4, NR, P, PS, K, SAM, SAK, SBK, LDY, BIAS, K2, S2, K3, S3> {
  static void run(const float* __restrict a, const float* __restrict b, const float* __restrict bias,
                  float* __restrict y) {
    float c0[P * NR]; float c1[P * NR]; float c2[P * NR]; float c3[P * NR];
    for (std::size_t q = 0; q < P * NR; ++q) {
      const float bj = BIAS == 2 ? bias[q] : 0.0f;
      c0[q] = BIAS == 1 ? bias[0] : bj; c1[q] = BIAS == 1 ? bias[1] : bj; c2[q] = BIAS == 1 ? bias[2] : bj; c3[q] = BIAS == 1 ? bias[3] : bj;
    }
    for (std::size_t k = 0; k < K; ++k) {
      for (std::size_t k2 = 0; k2 < K2; ++k2) {
        for (std::size_t k3 = 0; k3 < K3; ++k3) {
          const std::size_t ka = (k * K2 + k2) * K3 + k3;
          const float a0 = a[0 * SAM + ka * SAK]; const float a1 = a[1 * SAM + ka * SAK]; const float a2 = a[2 * SAM + ka * SAK]; const float a3 = a[3 * SAM + ka * SAK];
          for (std::size_t p = 0; p < P; ++p) {
            const float* bk = b + p * PS + k * SBK + k2 * S2 + k3 * S3;
            RMODEL_KEEP_LOOP
            for (std::size_t j = 0; j < NR; ++j) {
              const float bv = bk[j];
              c0[p * NR + j] += a0 * bv; c1[p * NR + j] += a1 * bv; c2[p * NR + j] += a2 * bv; c3[p * NR + j] += a3 * bv;
            }
          }
        }
      }
    }
    if constexpr (BIAS == 3) {
      for (std::size_t q = 0; q < P * NR; ++q) {
        y[0 * LDY + q] += c0[q]; y[1 * LDY + q] += c1[q]; y[2 * LDY + q] += c2[q]; y[3 * LDY + q] += c3[q];
      }
    } else {
      for (std::size_t q = 0; q < P * NR; ++q) {
        y[0 * LDY + q] = c0[q]; y[1 * LDY + q] = c1[q]; y[2 * LDY + q] = c2[q]; y[3 * LDY + q] = c3[q];
      }
    }
  }
};
// rmodel:end-section gemm_tile_4

// rmodel:section gemm_tile_5
template <std::size_t NR, std::size_t P, std::size_t PS, std::size_t K, std::size_t SAM, std::size_t SAK,
          std::size_t SBK, std::size_t LDY, int BIAS, std::size_t K2, std::size_t S2, std::size_t K3, std::size_t S3>
struct gemm_tile<5, NR, P, PS, K, SAM, SAK, SBK, LDY, BIAS, K2, S2, K3, S3> {
  static void run(const float* __restrict a, const float* __restrict b, const float* __restrict bias,
                  float* __restrict y) {
    float c0[P * NR]; float c1[P * NR]; float c2[P * NR]; float c3[P * NR]; float c4[P * NR];
    for (std::size_t q = 0; q < P * NR; ++q) {
      const float bj = BIAS == 2 ? bias[q] : 0.0f;
      c0[q] = BIAS == 1 ? bias[0] : bj; c1[q] = BIAS == 1 ? bias[1] : bj; c2[q] = BIAS == 1 ? bias[2] : bj; c3[q] = BIAS == 1 ? bias[3] : bj; c4[q] = BIAS == 1 ? bias[4] : bj;
    }
    for (std::size_t k = 0; k < K; ++k) {
      for (std::size_t k2 = 0; k2 < K2; ++k2) {
        for (std::size_t k3 = 0; k3 < K3; ++k3) {
          const std::size_t ka = (k * K2 + k2) * K3 + k3;
          const float a0 = a[0 * SAM + ka * SAK]; const float a1 = a[1 * SAM + ka * SAK]; const float a2 = a[2 * SAM + ka * SAK]; const float a3 = a[3 * SAM + ka * SAK]; const float a4 = a[4 * SAM + ka * SAK];
          for (std::size_t p = 0; p < P; ++p) {
            const float* bk = b + p * PS + k * SBK + k2 * S2 + k3 * S3;
            RMODEL_KEEP_LOOP
            for (std::size_t j = 0; j < NR; ++j) {
              const float bv = bk[j];
              c0[p * NR + j] += a0 * bv; c1[p * NR + j] += a1 * bv; c2[p * NR + j] += a2 * bv; c3[p * NR + j] += a3 * bv; c4[p * NR + j] += a4 * bv;
            }
          }
        }
      }
    }
    if constexpr (BIAS == 3) {
      for (std::size_t q = 0; q < P * NR; ++q) {
        y[0 * LDY + q] += c0[q]; y[1 * LDY + q] += c1[q]; y[2 * LDY + q] += c2[q]; y[3 * LDY + q] += c3[q]; y[4 * LDY + q] += c4[q];
      }
    } else {
      for (std::size_t q = 0; q < P * NR; ++q) {
        y[0 * LDY + q] = c0[q]; y[1 * LDY + q] = c1[q]; y[2 * LDY + q] = c2[q]; y[3 * LDY + q] = c3[q]; y[4 * LDY + q] = c4[q];
      }
    }
  }
};
// rmodel:end-section gemm_tile_5

// rmodel:section gemm_tile_6
template <std::size_t NR, std::size_t P, std::size_t PS, std::size_t K, std::size_t SAM, std::size_t SAK,
          std::size_t SBK, std::size_t LDY, int BIAS, std::size_t K2, std::size_t S2, std::size_t K3, std::size_t S3>
struct gemm_tile<6, NR, P, PS, K, SAM, SAK, SBK, LDY, BIAS, K2, S2, K3, S3> {
  static void run(const float* __restrict a, const float* __restrict b, const float* __restrict bias,
                  float* __restrict y) {
    float c0[P * NR]; float c1[P * NR]; float c2[P * NR]; float c3[P * NR]; float c4[P * NR]; float c5[P * NR];
    for (std::size_t q = 0; q < P * NR; ++q) {
      const float bj = BIAS == 2 ? bias[q] : 0.0f;
      c0[q] = BIAS == 1 ? bias[0] : bj; c1[q] = BIAS == 1 ? bias[1] : bj; c2[q] = BIAS == 1 ? bias[2] : bj; c3[q] = BIAS == 1 ? bias[3] : bj; c4[q] = BIAS == 1 ? bias[4] : bj; c5[q] = BIAS == 1 ? bias[5] : bj;
    }
    for (std::size_t k = 0; k < K; ++k) {
      for (std::size_t k2 = 0; k2 < K2; ++k2) {
        for (std::size_t k3 = 0; k3 < K3; ++k3) {
          const std::size_t ka = (k * K2 + k2) * K3 + k3;
          const float a0 = a[0 * SAM + ka * SAK]; const float a1 = a[1 * SAM + ka * SAK]; const float a2 = a[2 * SAM + ka * SAK]; const float a3 = a[3 * SAM + ka * SAK]; const float a4 = a[4 * SAM + ka * SAK]; const float a5 = a[5 * SAM + ka * SAK];
          for (std::size_t p = 0; p < P; ++p) {
            const float* bk = b + p * PS + k * SBK + k2 * S2 + k3 * S3;
            RMODEL_KEEP_LOOP
            for (std::size_t j = 0; j < NR; ++j) {
              const float bv = bk[j];
              c0[p * NR + j] += a0 * bv; c1[p * NR + j] += a1 * bv; c2[p * NR + j] += a2 * bv; c3[p * NR + j] += a3 * bv; c4[p * NR + j] += a4 * bv; c5[p * NR + j] += a5 * bv;
            }
          }
        }
      }
    }
    if constexpr (BIAS == 3) {
      for (std::size_t q = 0; q < P * NR; ++q) {
        y[0 * LDY + q] += c0[q]; y[1 * LDY + q] += c1[q]; y[2 * LDY + q] += c2[q]; y[3 * LDY + q] += c3[q]; y[4 * LDY + q] += c4[q]; y[5 * LDY + q] += c5[q];
      }
    } else {
      for (std::size_t q = 0; q < P * NR; ++q) {
        y[0 * LDY + q] = c0[q]; y[1 * LDY + q] = c1[q]; y[2 * LDY + q] = c2[q]; y[3 * LDY + q] = c3[q]; y[4 * LDY + q] = c4[q]; y[5 * LDY + q] = c5[q];
      }
    }
  }
};
// rmodel:end-section gemm_tile_6

// rmodel:section gemm_tile_7
template <std::size_t NR, std::size_t P, std::size_t PS, std::size_t K, std::size_t SAM, std::size_t SAK,
          std::size_t SBK, std::size_t LDY, int BIAS, std::size_t K2, std::size_t S2, std::size_t K3, std::size_t S3>
struct gemm_tile<7, NR, P, PS, K, SAM, SAK, SBK, LDY, BIAS, K2, S2, K3, S3> {
  static void run(const float* __restrict a, const float* __restrict b, const float* __restrict bias,
                  float* __restrict y) {
    float c0[P * NR]; float c1[P * NR]; float c2[P * NR]; float c3[P * NR]; float c4[P * NR]; float c5[P * NR]; float c6[P * NR];
    for (std::size_t q = 0; q < P * NR; ++q) {
      const float bj = BIAS == 2 ? bias[q] : 0.0f;
      c0[q] = BIAS == 1 ? bias[0] : bj; c1[q] = BIAS == 1 ? bias[1] : bj; c2[q] = BIAS == 1 ? bias[2] : bj; c3[q] = BIAS == 1 ? bias[3] : bj; c4[q] = BIAS == 1 ? bias[4] : bj; c5[q] = BIAS == 1 ? bias[5] : bj; c6[q] = BIAS == 1 ? bias[6] : bj;
    }
    for (std::size_t k = 0; k < K; ++k) {
      for (std::size_t k2 = 0; k2 < K2; ++k2) {
        for (std::size_t k3 = 0; k3 < K3; ++k3) {
          const std::size_t ka = (k * K2 + k2) * K3 + k3;
          const float a0 = a[0 * SAM + ka * SAK]; const float a1 = a[1 * SAM + ka * SAK]; const float a2 = a[2 * SAM + ka * SAK]; const float a3 = a[3 * SAM + ka * SAK]; const float a4 = a[4 * SAM + ka * SAK]; const float a5 = a[5 * SAM + ka * SAK]; const float a6 = a[6 * SAM + ka * SAK];
          for (std::size_t p = 0; p < P; ++p) {
            const float* bk = b + p * PS + k * SBK + k2 * S2 + k3 * S3;
            RMODEL_KEEP_LOOP
            for (std::size_t j = 0; j < NR; ++j) {
              const float bv = bk[j];
              c0[p * NR + j] += a0 * bv; c1[p * NR + j] += a1 * bv; c2[p * NR + j] += a2 * bv; c3[p * NR + j] += a3 * bv; c4[p * NR + j] += a4 * bv; c5[p * NR + j] += a5 * bv; c6[p * NR + j] += a6 * bv;
            }
          }
        }
      }
    }
    if constexpr (BIAS == 3) {
      for (std::size_t q = 0; q < P * NR; ++q) {
        y[0 * LDY + q] += c0[q]; y[1 * LDY + q] += c1[q]; y[2 * LDY + q] += c2[q]; y[3 * LDY + q] += c3[q]; y[4 * LDY + q] += c4[q]; y[5 * LDY + q] += c5[q]; y[6 * LDY + q] += c6[q];
      }
    } else {
      for (std::size_t q = 0; q < P * NR; ++q) {
        y[0 * LDY + q] = c0[q]; y[1 * LDY + q] = c1[q]; y[2 * LDY + q] = c2[q]; y[3 * LDY + q] = c3[q]; y[4 * LDY + q] = c4[q]; y[5 * LDY + q] = c5[q]; y[6 * LDY + q] = c6[q];
      }
    }
  }
};
// rmodel:end-section gemm_tile_7

// rmodel:section gemm_tile_8
template <std::size_t NR, std::size_t P, std::size_t PS, std::size_t K, std::size_t SAM, std::size_t SAK,
          std::size_t SBK, std::size_t LDY, int BIAS, std::size_t K2, std::size_t S2, std::size_t K3, std::size_t S3>
struct gemm_tile<8, NR, P, PS, K, SAM, SAK, SBK, LDY, BIAS, K2, S2, K3, S3> {
  static void run(const float* __restrict a, const float* __restrict b, const float* __restrict bias,
                  float* __restrict y) {
    float c0[P * NR]; float c1[P * NR]; float c2[P * NR]; float c3[P * NR]; float c4[P * NR]; float c5[P * NR]; float c6[P * NR]; float c7[P * NR];
    for (std::size_t q = 0; q < P * NR; ++q) {
      const float bj = BIAS == 2 ? bias[q] : 0.0f;
      c0[q] = BIAS == 1 ? bias[0] : bj; c1[q] = BIAS == 1 ? bias[1] : bj; c2[q] = BIAS == 1 ? bias[2] : bj; c3[q] = BIAS == 1 ? bias[3] : bj; c4[q] = BIAS == 1 ? bias[4] : bj; c5[q] = BIAS == 1 ? bias[5] : bj; c6[q] = BIAS == 1 ? bias[6] : bj; c7[q] = BIAS == 1 ? bias[7] : bj;
    }
    for (std::size_t k = 0; k < K; ++k) {
      for (std::size_t k2 = 0; k2 < K2; ++k2) {
        for (std::size_t k3 = 0; k3 < K3; ++k3) {
          const std::size_t ka = (k * K2 + k2) * K3 + k3;
          const float a0 = a[0 * SAM + ka * SAK]; const float a1 = a[1 * SAM + ka * SAK]; const float a2 = a[2 * SAM + ka * SAK]; const float a3 = a[3 * SAM + ka * SAK]; const float a4 = a[4 * SAM + ka * SAK]; const float a5 = a[5 * SAM + ka * SAK]; const float a6 = a[6 * SAM + ka * SAK]; const float a7 = a[7 * SAM + ka * SAK];
          for (std::size_t p = 0; p < P; ++p) {
            const float* bk = b + p * PS + k * SBK + k2 * S2 + k3 * S3;
            RMODEL_KEEP_LOOP
            for (std::size_t j = 0; j < NR; ++j) {
              const float bv = bk[j];
              c0[p * NR + j] += a0 * bv; c1[p * NR + j] += a1 * bv; c2[p * NR + j] += a2 * bv; c3[p * NR + j] += a3 * bv; c4[p * NR + j] += a4 * bv; c5[p * NR + j] += a5 * bv; c6[p * NR + j] += a6 * bv; c7[p * NR + j] += a7 * bv;
            }
          }
        }
      }
    }
    if constexpr (BIAS == 3) {
      for (std::size_t q = 0; q < P * NR; ++q) {
        y[0 * LDY + q] += c0[q]; y[1 * LDY + q] += c1[q]; y[2 * LDY + q] += c2[q]; y[3 * LDY + q] += c3[q]; y[4 * LDY + q] += c4[q]; y[5 * LDY + q] += c5[q]; y[6 * LDY + q] += c6[q]; y[7 * LDY + q] += c7[q];
      }
    } else {
      for (std::size_t q = 0; q < P * NR; ++q) {
        y[0 * LDY + q] = c0[q]; y[1 * LDY + q] = c1[q]; y[2 * LDY + q] = c2[q]; y[3 * LDY + q] = c3[q]; y[4 * LDY + q] = c4[q]; y[5 * LDY + q] = c5[q]; y[6 * LDY + q] = c6[q]; y[7 * LDY + q] = c7[q];
      }
    }
  }
};
// rmodel:end-section gemm_tile_8

// Columns [K0, K0 + K) of a (k blocks of KF; each k covers K2 x K3 columns of a) of the product
// below, into y (BIAS 3: added to y).
template <std::size_t M, std::size_t KF, std::size_t K0, std::size_t K, std::size_t N, std::size_t SAM,
          std::size_t SAK, bool PACKED, std::size_t LDB, std::size_t LDY, int BIAS, std::size_t K2, std::size_t S2,
          std::size_t K3, std::size_t S3>
inline void gemm_kblock(const float* __restrict a, const float* __restrict b, const float* __restrict bias,
                        float* __restrict y) {
  constexpr std::size_t MR = RMODEL_GEMM_MR, NR = 16;
  static_assert(MR >= 1 && MR <= 8, "RMODEL_GEMM_MR must be 1..8");
  static_assert(!PACKED || K2 * K3 == 1, "sub-steps of k read b unpacked");
  constexpr std::size_t MF = M - M % MR, NF = N - N % NR, NT = N - NF;
  constexpr std::size_t SBK = PACKED ? NR : LDB, PS = PACKED ? KF * NR : NR;
  a += K0 * K2 * K3 * SAK;
  const float* bf = b + K0 * SBK;  // the full panels at this block of k
  // full tiles of MR rows x PF panels (PF = 2 where 32 vector registers hold the accumulators)
  constexpr std::size_t PF = RMODEL_GEMM_PANELS, NP = NF - NF % (PF * NR);
  if constexpr (MF > 0) {  // (fewer rows instantiate no tile of MR rows: headers carry only the tiles used)
    for (std::size_t n0 = 0; n0 < NP; n0 += PF * NR) {
      const float* bp = PACKED ? bf + n0 * KF : bf + n0;
      const float* bn = BIAS == 2 ? bias + n0 : bias;
      for (std::size_t m0 = 0; m0 < MF; m0 += MR) {
        gemm_tile<MR, NR, PF, PS, K, SAM, SAK, SBK, LDY, BIAS, K2, S2, K3, S3>::run(a + m0 * SAM, bp, BIAS == 1 ? bias + m0 : bn,
                                                                    y + m0 * LDY + n0);
      }
    }
    for (std::size_t n0 = NP; n0 < NF; n0 += NR) {
      const float* bp = PACKED ? bf + n0 * KF : bf + n0;
      const float* bn = BIAS == 2 ? bias + n0 : bias;
      for (std::size_t m0 = 0; m0 < MF; m0 += MR) {
        gemm_tile<MR, NR, 1, PS, K, SAM, SAK, SBK, LDY, BIAS, K2, S2, K3, S3>::run(a + m0 * SAM, bp, BIAS == 1 ? bias + m0 : bn,
                                                                   y + m0 * LDY + n0);
      }
    }
  }
  if constexpr (MF < M) {  // the last R rows, P = MR / R panels at a time (as many accumulators)
    constexpr std::size_t R = M - MF, P = MR / R < NF / NR ? MR / R : NF / NR > 0 ? NF / NR : 1;
    constexpr std::size_t NG = NF - NF % (P * NR);
    const float* ar = a + MF * SAM;
    const float* br = BIAS == 1 ? bias + MF : bias;
    float* yr = y + MF * LDY;
    for (std::size_t n0 = 0; n0 < NG; n0 += P * NR) {
      gemm_tile<R, NR, P, PS, K, SAM, SAK, SBK, LDY, BIAS, K2, S2, K3, S3>::run(ar, PACKED ? bf + n0 * KF : bf + n0,
                                                                BIAS == 2 ? bias + n0 : br, yr + n0);
    }
    for (std::size_t n0 = NG; n0 < NF; n0 += NR) {
      gemm_tile<R, NR, 1, PS, K, SAM, SAK, SBK, LDY, BIAS, K2, S2, K3, S3>::run(ar, PACKED ? bf + n0 * KF : bf + n0,
                                                                BIAS == 2 ? bias + n0 : br, yr + n0);
    }
  }
  if constexpr (NT > 0) {  // the last, narrower column panel
    constexpr std::size_t SBL = PACKED ? NT : LDB;
    const float* bp = PACKED ? b + NF * KF + K0 * NT : b + K0 * LDB + NF;
    const float* bn = BIAS == 2 ? bias + NF : bias;
    if constexpr (MF > 0) {
      for (std::size_t m0 = 0; m0 < MF; m0 += MR) {
        gemm_tile<MR, NT, 1, 0, K, SAM, SAK, SBL, LDY, BIAS, K2, S2, K3, S3>::run(a + m0 * SAM, bp, BIAS == 1 ? bias + m0 : bn,
                                                                  y + m0 * LDY + NF);
      }
    }
    if constexpr (MF < M) {
      gemm_tile<M - MF, NT, 1, 0, K, SAM, SAK, SBL, LDY, BIAS, K2, S2, K3, S3>::run(a + MF * SAM, bp, BIAS == 1 ? bias + MF : bn,
                                                                    y + MF * LDY + NF);
    }
  }
}

// blocks of KB from K0 on: the first with the bias, the later ones added to y
template <std::size_t M, std::size_t K, std::size_t K0, std::size_t KB, std::size_t N, std::size_t SAM,
          std::size_t SAK, bool PACKED, std::size_t LDB, std::size_t LDY, int BIAS, std::size_t K2, std::size_t S2,
          std::size_t K3, std::size_t S3>
inline void gemm_kblocks(const float* __restrict a, const float* __restrict b, const float* __restrict bias,
                         float* __restrict y) {
  constexpr std::size_t KN = K - K0 < KB ? K - K0 : KB;
  gemm_kblock<M, K, K0, KN, N, SAM, SAK, PACKED, LDB, LDY, K0 == 0 ? BIAS : 3, K2, S2, K3, S3>(a, b, bias, y);
  if constexpr (K0 + KN < K) {
    gemm_kblocks<M, K, K0 + KN, KB, N, SAM, SAK, PACKED, LDB, LDY, BIAS, K2, S2, K3, S3>(a, b, bias, y);
  }
}

// y[m * LDY + n] = bias + sum_k a[m * SAM + k * SAK] * b(k, n) for m < M, n < N. b(k, n) is
// b[k * LDB + n] or, when PACKED, b[n / 16 * K * 16 + k * W + n % 16] where the panel
// width W is 16, or N % 16 for the last panel. Column panels outside, row tiles inside, so a
// panel of b is reused from cache by every row tile. A product of more than RMODEL_GEMM_KC terms
// (columns of a times kernel taps) is split into equal blocks whose partial sums are added to y
// one after another: shorter running sums, closer to an exact result for deep products. KB > 0
// sets the block (in k steps) instead: a convolution over few channels sums each channel's taps.
template <std::size_t M, std::size_t K, std::size_t N, std::size_t SAM, std::size_t SAK, bool PACKED,
          std::size_t LDB, std::size_t LDY, int BIAS, std::size_t K2 = 1, std::size_t S2 = 0, std::size_t K3 = 1,
          std::size_t S3 = 0, std::size_t KB = 0>
inline void gemm(const float* __restrict a, const float* __restrict b, const float* __restrict bias,
                 float* __restrict y) {
  constexpr std::size_t KC = KB ? KB : RMODEL_GEMM_KC / (K2 * K3) > 0 ? RMODEL_GEMM_KC / (K2 * K3) : 1;
  constexpr std::size_t BLOCKS = (K + KC - 1) / KC;
  gemm_kblocks<M, K, 0, (K + BLOCKS - 1) / BLOCKS, N, SAM, SAK, PACKED, LDB, LDY, BIAS, K2, S2, K3, S3>(a, b, bias, y);
}
// rmodel:end gemm
// clang-format on

// One output column: y[m * LDY] = bias + sum_k a[m * SAM + k] * b[k] for m < M (a convolution
// over a single pixel, a matrix times a vector; a's rows and b contiguous). Each row is a dot
// product in L = 16 lanes: vectorized along k, and L short running sums of K / L terms instead of
// one of K (gemm's tiles vectorize along n, which a single column cannot use). Blocks of
// RMODEL_GEMM_KC terms per lane are added to the lane totals, which are then summed pairwise.
// rmodel:begin gemv
template <std::size_t M, std::size_t K, std::size_t SAM, std::size_t LDY, int BIAS>
inline void gemv(const float* __restrict a, const float* __restrict b, const float* __restrict bias,
                 float* __restrict y) {
  constexpr std::size_t L = 16;
  constexpr std::size_t KL = K / L * L;
  constexpr std::size_t STEP = RMODEL_GEMM_KC * L;
  for (std::size_t m = 0; m < M; ++m) {
    const float* am = a + m * SAM;
    float total[L] = {};
    for (std::size_t k0 = 0; k0 < KL; k0 += STEP) {
      const std::size_t k1 = k0 + STEP < KL ? k0 + STEP : KL;
      float acc[L] = {};
      for (std::size_t k = k0; k < k1; k += L)
        for (std::size_t l = 0; l < L; ++l) acc[l] += am[k + l] * b[k + l];
      for (std::size_t l = 0; l < L; ++l) total[l] += acc[l];
    }
    for (std::size_t width = L / 2; width > 0; width /= 2)
      for (std::size_t l = 0; l < width; ++l) total[l] += total[l + width];
    float tail = 0.0f;
    for (std::size_t k = KL; k < K; ++k) tail += am[k] * b[k];
    const float sum = total[0] + tail;
    y[m * LDY] = BIAS == 1 ? bias[m] + sum : BIAS == 2 ? bias[0] + sum : sum;
  }
}
// rmodel:end gemv

// general strides (operators/gemm.py): a(m, k) = a[m * SAM + k * SAK], b(k, n) = b[k * SBK + n * SBN];
// only used for a run-time b stored transposed (its columns are not contiguous)
// clang-format off
// rmodel:begin matmul_strided
template <std::size_t M, std::size_t K, std::size_t N, std::size_t SAM, std::size_t SAK,
          std::size_t SBK, std::size_t SBN>
inline void matmul_strided(const float* a, const float* b, float* y) {
  for (std::size_t m = 0; m < M; ++m) {
    for (std::size_t n = 0; n < N; ++n) {
      float acc = 0.0f;
      for (std::size_t k = 0; k < K; ++k) acc += a[m * SAM + k * SAK] * b[k * SBK + n * SBN];
      y[m * N + n] = acc;
    }
  }
}
// rmodel:end matmul_strided
// clang-format on

}  // namespace rmodel::detail
