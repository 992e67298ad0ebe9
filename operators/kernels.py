"""Shared register-blocked matrix-product kernel for the CPU header (Gemm, MatMul, Conv).

``y[M, N] = bias + a[M, K] . b[K, N]`` is computed in tiles of MR rows x NR (16) columns whose
accumulators live in local arrays (one per row, so the compiler keeps them in vector registers):
for every k, MR values of ``a`` are broadcast against one contiguous run of NR values of ``b``.
``a`` is read through compile-time strides (row-major, transposed or any view); ``b`` is either
row-major with a leading dimension, or - when it is a constant such as Dense weights - packed at
generation time into panels of NR columns (``pack_panels``) so every k step reads one contiguous
run (the last panel is as wide as the columns left). Rows and columns that do not fill a tile use
smaller instantiations of the same tile (every size is a template argument, so each loop has a
constant trip count). MR is 8 on targets with 32 vector registers (AVX-512), else 6: 6 x 16
accumulators fill 12 of AVX2's 16 registers; on AVX-512 8 rows keep more FMAs per load, and
full tiles take ``RMODEL_GEMM_PANELS`` = 2 panels (8 x 32: 16 of the 32 registers), enough
independent accumulators to keep both FMA units busy (1.3-1.9x on the conv benchmark's GEMM
layers; 3 panels measured slower). The last R < MR rows (all rows at batch 1) take MR / R
panels per tile, so they keep as many independent accumulators and the FMA latency stays hidden.
Products deeper than ``GEMM_KC`` (256) columns of ``a`` are summed in equal k blocks whose partial
sums are added to y in turn: one running sum over thousands of terms drifted past the 1e-6
criterion against onnxruntime (3x3 convolutions over 256+ channels). ``K2/S2/K3/S3`` split each k
into sub-steps with their own b offsets, so a convolution reads its kernel taps from a padded
input in place (``gemm_call(taps=...)``).

g++ would fully unroll the NR-wide column loop of a tile with few rows before vectorizing, then
vectorize along k instead (shuffling b); ``RMODEL_KEEP_LOOP`` (``#pragma GCC unroll 1`` on g++,
nothing elsewhere) keeps that loop so it is vectorized across the columns.

The module registers no operator; ``gemm_call`` is what operators use.
"""

from __future__ import annotations

import numpy as np

from .base import CpuContext

#: rows of a tile (values of a broadcast per k step): 8 where the target has 32 vector registers
#: (AVX-512), else 6; a header compiled with -DRMODEL_GEMM_MR=<1..GEMM_MR_MAX> uses that instead
GEMM_MR_MAX = 8
GEMM_MR_DEFAULT = 6
#: columns of a tile: one contiguous run of b (the packed panel width)
GEMM_NR = 16

#: deepest running sum of the product in columns of a (longer K is split into blocks whose partial
#: sums are added to y; -DRMODEL_GEMM_KC=<n> overrides it)
GEMM_KC = 256

BIAS_NONE, BIAS_ROW, BIAS_COL = 0, 1, 2

#: put before a short fixed-length loop over contiguous columns that must stay a loop for the
#: vectorizer (g++ unrolls it early otherwise); include this text in any helper that uses it
KEEP_LOOP = """#ifndef RMODEL_KEEP_LOOP
#if defined(__GNUC__) && !defined(__clang__)
#define RMODEL_KEEP_LOOP _Pragma("GCC unroll 1")
#else
#define RMODEL_KEEP_LOOP
#endif
#endif"""


def _tile_specialization(mr: int) -> str:
    """gemm_tile for ``mr`` rows: one local accumulator array per row, written out explicitly."""
    rows = range(mr)
    acc = " ".join(f"float c{i}[P * NR];" for i in rows)
    init = " ".join(f"c{i}[q] = BIAS == 1 ? bias[{i}] : bj;" for i in rows)
    loads = " ".join(f"const float a{i} = a[{i} * SAM + ka * SAK];" for i in rows)
    fmas = " ".join(f"c{i}[p * NR + j] += a{i} * bv;" for i in rows)
    stores = " ".join(f"y[{i} * LDY + q] = c{i}[q];" for i in rows)
    adds = " ".join(f"y[{i} * LDY + q] += c{i}[q];" for i in rows)
    return f"""template <std::size_t NR, std::size_t P, std::size_t PS, std::size_t K, std::size_t SAM, std::size_t SAK,
          std::size_t SBK, std::size_t LDY, int BIAS, std::size_t K2, std::size_t S2, std::size_t K3, std::size_t S3>
struct gemm_tile<{mr}, NR, P, PS, K, SAM, SAK, SBK, LDY, BIAS, K2, S2, K3, S3> {{
  static void run(const float* __restrict a, const float* __restrict b, const float* __restrict bias,
                  float* __restrict y) {{
    {acc}
    for (std::size_t q = 0; q < P * NR; ++q) {{
      const float bj = BIAS == 2 ? bias[q] : 0.0f;
      {init}
    }}
    for (std::size_t k = 0; k < K; ++k) {{
      for (std::size_t k2 = 0; k2 < K2; ++k2) {{
        for (std::size_t k3 = 0; k3 < K3; ++k3) {{
          const std::size_t ka = (k * K2 + k2) * K3 + k3;
          {loads}
          for (std::size_t p = 0; p < P; ++p) {{
            const float* bk = b + p * PS + k * SBK + k2 * S2 + k3 * S3;
            RMODEL_KEEP_LOOP
            for (std::size_t j = 0; j < NR; ++j) {{
              const float bv = bk[j];
              {fmas}
            }}
          }}
        }}
      }}
    }}
    if constexpr (BIAS == 3) {{
      for (std::size_t q = 0; q < P * NR; ++q) {{
        {adds}
      }}
    }} else {{
      for (std::size_t q = 0; q < P * NR; ++q) {{
        {stores}
      }}
    }}
  }}
}};"""


def gemm_code() -> str:
    """The tile specializations (1..GEMM_MR_MAX rows) and the gemm driver, as one helper."""
    tiles = "\n\n".join(_tile_specialization(mr) for mr in range(1, GEMM_MR_MAX + 1))
    return f"""#ifndef RMODEL_GEMM_MR
#if defined(__AVX512F__)
#define RMODEL_GEMM_MR {GEMM_MR_MAX}
#else
#define RMODEL_GEMM_MR {GEMM_MR_DEFAULT}
#endif
#endif
#ifndef RMODEL_GEMM_KC
#define RMODEL_GEMM_KC {GEMM_KC}
#endif
#ifndef RMODEL_GEMM_PANELS
#if defined(__AVX512F__)
#define RMODEL_GEMM_PANELS 2
#else
#define RMODEL_GEMM_PANELS 1
#endif
#endif
{KEEP_LOOP}

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

{tiles}

// Columns [K0, K0 + K) of a (k blocks of KF; each k covers K2 x K3 columns of a) of the product
// below, into y (BIAS 3: added to y).
template <std::size_t M, std::size_t KF, std::size_t K0, std::size_t K, std::size_t N, std::size_t SAM,
          std::size_t SAK, bool PACKED, std::size_t LDB, std::size_t LDY, int BIAS, std::size_t K2, std::size_t S2,
          std::size_t K3, std::size_t S3>
inline void gemm_kblock(const float* __restrict a, const float* __restrict b, const float* __restrict bias,
                        float* __restrict y) {{
  constexpr std::size_t MR = RMODEL_GEMM_MR, NR = {GEMM_NR};
  static_assert(MR >= 1 && MR <= {GEMM_MR_MAX}, "RMODEL_GEMM_MR must be 1..{GEMM_MR_MAX}");
  static_assert(!PACKED || K2 * K3 == 1, "sub-steps of k read b unpacked");
  constexpr std::size_t MF = M - M % MR, NF = N - N % NR, NT = N - NF;
  constexpr std::size_t SBK = PACKED ? NR : LDB, PS = PACKED ? KF * NR : NR;
  a += K0 * K2 * K3 * SAK;
  const float* bf = b + K0 * SBK;  // the full panels at this block of k
  // full tiles of MR rows x PF panels (PF = 2 where 32 vector registers hold the accumulators)
  constexpr std::size_t PF = RMODEL_GEMM_PANELS, NP = NF - NF % (PF * NR);
  for (std::size_t n0 = 0; n0 < NP; n0 += PF * NR) {{
    const float* bp = PACKED ? bf + n0 * KF : bf + n0;
    const float* bn = BIAS == 2 ? bias + n0 : bias;
    for (std::size_t m0 = 0; m0 < MF; m0 += MR) {{
      gemm_tile<MR, NR, PF, PS, K, SAM, SAK, SBK, LDY, BIAS, K2, S2, K3, S3>::run(a + m0 * SAM, bp, BIAS == 1 ? bias + m0 : bn,
                                                                  y + m0 * LDY + n0);
    }}
  }}
  for (std::size_t n0 = NP; n0 < NF; n0 += NR) {{
    const float* bp = PACKED ? bf + n0 * KF : bf + n0;
    const float* bn = BIAS == 2 ? bias + n0 : bias;
    for (std::size_t m0 = 0; m0 < MF; m0 += MR) {{
      gemm_tile<MR, NR, 1, PS, K, SAM, SAK, SBK, LDY, BIAS, K2, S2, K3, S3>::run(a + m0 * SAM, bp, BIAS == 1 ? bias + m0 : bn,
                                                                 y + m0 * LDY + n0);
    }}
  }}
  if constexpr (MF < M) {{  // the last R rows, P = MR / R panels at a time (as many accumulators)
    constexpr std::size_t R = M - MF, P = MR / R < NF / NR ? MR / R : NF / NR > 0 ? NF / NR : 1;
    constexpr std::size_t NG = NF - NF % (P * NR);
    const float* ar = a + MF * SAM;
    const float* br = BIAS == 1 ? bias + MF : bias;
    float* yr = y + MF * LDY;
    for (std::size_t n0 = 0; n0 < NG; n0 += P * NR) {{
      gemm_tile<R, NR, P, PS, K, SAM, SAK, SBK, LDY, BIAS, K2, S2, K3, S3>::run(ar, PACKED ? bf + n0 * KF : bf + n0,
                                                                BIAS == 2 ? bias + n0 : br, yr + n0);
    }}
    for (std::size_t n0 = NG; n0 < NF; n0 += NR) {{
      gemm_tile<R, NR, 1, PS, K, SAM, SAK, SBK, LDY, BIAS, K2, S2, K3, S3>::run(ar, PACKED ? bf + n0 * KF : bf + n0,
                                                                BIAS == 2 ? bias + n0 : br, yr + n0);
    }}
  }}
  if constexpr (NT > 0) {{  // the last, narrower column panel
    constexpr std::size_t SBL = PACKED ? NT : LDB;
    const float* bp = PACKED ? b + NF * KF + K0 * NT : b + K0 * LDB + NF;
    const float* bn = BIAS == 2 ? bias + NF : bias;
    for (std::size_t m0 = 0; m0 < MF; m0 += MR) {{
      gemm_tile<MR, NT, 1, 0, K, SAM, SAK, SBL, LDY, BIAS, K2, S2, K3, S3>::run(a + m0 * SAM, bp, BIAS == 1 ? bias + m0 : bn,
                                                                y + m0 * LDY + NF);
    }}
    if constexpr (MF < M) {{
      gemm_tile<M - MF, NT, 1, 0, K, SAM, SAK, SBL, LDY, BIAS, K2, S2, K3, S3>::run(a + MF * SAM, bp, BIAS == 1 ? bias + MF : bn,
                                                                    y + MF * LDY + NF);
    }}
  }}
}}

// blocks of KB from K0 on: the first with the bias, the later ones added to y
template <std::size_t M, std::size_t K, std::size_t K0, std::size_t KB, std::size_t N, std::size_t SAM,
          std::size_t SAK, bool PACKED, std::size_t LDB, std::size_t LDY, int BIAS, std::size_t K2, std::size_t S2,
          std::size_t K3, std::size_t S3>
inline void gemm_kblocks(const float* __restrict a, const float* __restrict b, const float* __restrict bias,
                         float* __restrict y) {{
  constexpr std::size_t KN = K - K0 < KB ? K - K0 : KB;
  gemm_kblock<M, K, K0, KN, N, SAM, SAK, PACKED, LDB, LDY, K0 == 0 ? BIAS : 3, K2, S2, K3, S3>(a, b, bias, y);
  if constexpr (K0 + KN < K) {{
    gemm_kblocks<M, K, K0 + KN, KB, N, SAM, SAK, PACKED, LDB, LDY, BIAS, K2, S2, K3, S3>(a, b, bias, y);
  }}
}}

// y[m * LDY + n] = bias + sum_k a[m * SAM + k * SAK] * b(k, n) for m < M, n < N. b(k, n) is
// b[k * LDB + n] or, when PACKED, b[n / {GEMM_NR} * K * {GEMM_NR} + k * W + n % {GEMM_NR}] where the panel
// width W is {GEMM_NR}, or N % {GEMM_NR} for the last panel. Column panels outside, row tiles inside, so a
// panel of b is reused from cache by every row tile. A K of more than RMODEL_GEMM_KC columns of a
// is split into equal blocks whose partial sums are added to y one after another: shorter
// running sums, closer to an exact (or onnxruntime's) result for deep products.
template <std::size_t M, std::size_t K, std::size_t N, std::size_t SAM, std::size_t SAK, bool PACKED,
          std::size_t LDB, std::size_t LDY, int BIAS, std::size_t K2 = 1, std::size_t S2 = 0, std::size_t K3 = 1,
          std::size_t S3 = 0>
inline void gemm(const float* __restrict a, const float* __restrict b, const float* __restrict bias,
                 float* __restrict y) {{
  constexpr std::size_t KC = RMODEL_GEMM_KC / (K2 * K3) > 0 ? RMODEL_GEMM_KC / (K2 * K3) : 1;
  constexpr std::size_t BLOCKS = (K + KC - 1) / KC;
  gemm_kblocks<M, K, 0, (K + BLOCKS - 1) / BLOCKS, N, SAM, SAK, PACKED, LDB, LDY, BIAS, K2, S2, K3, S3>(a, b, bias, y);
}}"""


def pack_panels(b: np.ndarray) -> np.ndarray:
    """b (K x N) as consecutive panels of GEMM_NR columns (the last one narrower if N is not a
    multiple), each stored k-major: the ``PACKED`` layout of ``gemm``. Same size as b."""
    n = b.shape[1]
    parts = [b[:, n0 : n0 + GEMM_NR].reshape(-1) for n0 in range(0, n, GEMM_NR)]
    return np.concatenate(parts) if parts else b.reshape(-1)


def gemm_call(
    ctx: CpuContext,
    a: str,
    b: str,
    y: str,
    m: int,
    k: int,
    n: int,
    *,
    a_strides: tuple[int, int] | None = None,
    b_const: np.ndarray | None = None,
    ldb: int | None = None,
    ldy: int | None = None,
    bias: str | None = None,
    bias_kind: int = BIAS_NONE,
    taps: tuple[int, int, int, int] | None = None,
) -> str:
    """C++ statement: y (m x n, leading dimension ``ldy``) = bias + a . b.

    ``a_strides`` = (row, column) element strides of a (default row-major). A constant ``b_const``
    (k x n, already in product orientation) is packed into panels and ``b`` is ignored; otherwise
    ``b`` is a row-major pointer with leading dimension ``ldb``. ``bias_kind`` is BIAS_ROW
    (bias[m]) or BIAS_COL (bias[n]) with ``bias`` its pointer. ``taps`` = (K2, S2, K3, S3) makes
    each of the k rows K2 x K3 rows of b at k * ldb + k2 * S2 + k3 * S3 (a then has k * K2 * K3
    columns; b is a runtime pointer).
    """
    ctx.helper("gemm", gemm_code())
    sam, sak = a_strides or (k, 1)
    packed = b_const is not None
    if packed:
        b = ctx.constant("packed", pack_panels(np.asarray(b_const, dtype=np.float32).reshape(k, n)))
    if bias is None:
        bias_kind = BIAS_NONE
    args = f"{m}, {k}, {n}, {sam}, {sak}, {'true' if packed else 'false'}, {ldb or n}, {ldy or n}, {bias_kind}"
    if taps is not None and taps[0] * taps[2] > 1:
        args += ", " + ", ".join(str(t) for t in taps)
    return f"detail::gemm<{args}>({a}, {b}, {bias or 'nullptr'}, {y});"
