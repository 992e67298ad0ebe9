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
Products deeper than ``RMODEL_GEMM_KC`` (64) terms are summed in equal k blocks whose
partial sums are added to y in turn (a convolution's kernel taps count: a 3x3 kernel gives blocks
of 7 channels). One running sum over thousands of terms drifted past the 1e-6 criterion against
onnxruntime (3x3 convolutions over 256+ channels); blocks of 256 terms still left rmodel's error
against a float64 evaluation 1.2-1.6x onnxruntime's on convolutions, which compounds through a
deep network; blocks of 64 bring it to 0.5-1.0x (``tests/test_conv_pool.py``) for the cost of
one load and store of the tile per block; ``gemm_call(k_block=...)`` sets the block (see
``conv_k_block``). A product with one contiguous output column (a squeeze-excitation's 1x1
convolution over one pixel, Dense(1)) runs as ``gemv`` instead: dot products in 16 lanes, which
vectorize along k and keep every running sum short. ``K2/S2/K3/S3`` split each k
into sub-steps with their own b offsets, so a convolution reads its kernel taps from a padded
input in place (``gemm_call(taps=...)``).

g++ would fully unroll the NR-wide column loop of a tile with few rows before vectorizing, then
vectorize along k instead (shuffling b); ``RMODEL_KEEP_LOOP`` (``#pragma GCC unroll 1`` on g++,
nothing elsewhere) keeps that loop so it is vectorized across the columns.

The C++ is ``operators/cpp/gemm.hpp`` (tested on its own by ``cpp_tests/kernels_test.cpp``); its
tuning values (MR 8 or 6, ``RMODEL_GEMM_KC``, ``RMODEL_GEMM_PANELS``) can be overridden with -D when
a header is compiled. The module registers no operator; ``gemm_call`` is what operators use.
"""

from __future__ import annotations

import numpy as np

from rmodel.cpp_sources import cpp_source

from .base import CpuContext

#: columns of a tile: one contiguous run of b (the packed panel width); NR in operators/cpp/gemm.hpp
GEMM_NR = 16
#: terms of a product summed in one running sum (RMODEL_GEMM_KC in operators/cpp/gemm.hpp)
GEMM_KC = 64


def conv_k_block(channels: int, taps: int, taps_in_k: bool) -> int | None:
    """``gemm_call``'s ``k_block`` for a convolution over ``channels`` input channels with ``taps``
    kernel taps each: per channel when the whole product is short (a network's first layer, 3 RGB
    channels x 9 taps), so each channel's taps are one running sum and the channels are added
    after, as onnxruntime's blocked convolution does. One running sum over the 27 terms had 1.35x
    onnxruntime's error against float64, an excess the first layer passes on to the whole network.
    None (gemm's own blocks) for longer products. ``taps_in_k``: k counts channels x taps (im2col),
    else channels (``gemm_call(taps=...)``)."""
    if taps < 2 or channels < 2 or channels * taps > 2 * GEMM_KC:
        return None
    return taps if taps_in_k else 1


BIAS_NONE, BIAS_ROW, BIAS_COL = 0, 1, 2
_BIAS_NAMES = {BIAS_NONE: "none", BIAS_ROW: "per row", BIAS_COL: "per column"}

_PACKAGE = "rmodel.operators"


def keep_loop() -> str:
    """The ``RMODEL_KEEP_LOOP`` definition: a helper that uses the macro starts with this text."""
    return cpp_source(_PACKAGE, "gemm.hpp", "keep_loop")


def gemm_code() -> str:
    """The gemm helper: ``RMODEL_KEEP_LOOP``, the tiles of 1..8 rows and the driver."""
    return "\n".join([keep_loop(), "", cpp_source(_PACKAGE, "gemm.hpp", "gemm")])


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
    k_block: int | None = None,
) -> str:
    """C++ statement: y (m x n, leading dimension ``ldy``) = bias + a . b.

    ``a_strides`` = (row, column) element strides of a (default row-major). A constant ``b_const``
    (k x n, already in product orientation) is packed into panels and ``b`` is ignored; otherwise
    ``b`` is a row-major pointer with leading dimension ``ldb``. ``bias_kind`` is BIAS_ROW
    (bias[m]) or BIAS_COL (bias[n]) with ``bias`` its pointer. ``taps`` = (K2, S2, K3, S3) makes
    each of the k rows K2 x K3 rows of b at k * ldb + k2 * S2 + k3 * S3 (a then has k * K2 * K3
    columns; b is a runtime pointer). ``k_block``: k steps per running sum (default: gemm's
    ``RMODEL_GEMM_KC`` rule; see ``conv_k_block``).
    """
    ctx.helper("gemm_config", cpp_source(_PACKAGE, "gemm.hpp", "gemm_config"))
    sam, sak = a_strides or (k, 1)
    packed = b_const is not None
    if bias is None:
        bias_kind = BIAS_NONE
    if n == 1 and sak == 1 and (packed or (ldb or 1) == 1) and (taps is None or taps[0] * taps[2] == 1):
        # one contiguous column of b (a packed panel of width 1 is one too): dot products in lanes
        ctx.helper("gemv", cpp_source(_PACKAGE, "gemm.hpp", "gemv"))
        if packed:
            b = ctx.constant("packed", np.asarray(b_const, dtype=np.float32).reshape(k))
        args = f"/*M=*/{m}, /*K=*/{k}, /*a row stride=*/{sam}, /*ldy=*/{ldy or 1}, /*bias: {_BIAS_NAMES[bias_kind]}*/ {bias_kind}"
        return f"detail::gemv<{args}>({a}, {b}, {bias or 'nullptr'}, {y});"
    ctx.helper("gemm", gemm_code())
    if packed:
        b = ctx.constant("packed", pack_panels(np.asarray(b_const, dtype=np.float32).reshape(k, n)))
    # every template argument labelled, so a reader sees the product's shape and layout at the call
    args = (
        f"/*M=*/{m}, /*K=*/{k}, /*N=*/{n}, /*a row, column stride=*/{sam}, {sak}, "
        f"/*b packed=*/{'true' if packed else 'false'}, /*ldb=*/{ldb or n}, /*ldy=*/{ldy or n}, "
        f"/*bias: {_BIAS_NAMES[bias_kind]}*/ {bias_kind}"
    )
    if (taps is not None and taps[0] * taps[2] > 1) or k_block:
        args += ", /*taps K2, S2, K3, S3=*/" + ", ".join(str(t) for t in (taps or (1, 0, 1, 0)))
    if k_block:
        args += f", /*k block=*/{k_block}"
    return f"detail::gemm<{args}>({a}, {b}, {bias or 'nullptr'}, {y});"
