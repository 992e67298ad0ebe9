"""Padded-taps strategy: stride-1 1-D/2-D convolutions skip the patch copy of im2col.

The input of a group is copied into a zero-padded [cg, ph, pw] buffer; output row oh, column ow of
channel m is then the sum over (c, kh, kw) of W[m, c, kh, kw] * pad[c, oh + kh * dh, ow + kw * dw],
i.e. a product whose b rows are the buffer at offsets c * ph * pw + kh * dh * pw + kw * dw from
the flat output position (rows of pw columns, the last pw - ow of each discarded): the product
reads each kernel tap's row of b straight from the buffer (``gemm_call(taps=...)``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rmodel.cpp_writer import CppWriter

from ..base import CpuContext
from ..kernels import BIAS_NONE, BIAS_ROW, conv_k_block, gemm_call
from .grouped import GroupProduct
from .loops import if_else
from .plan import ConvDims, ConvTensors
from .window import Plane

#: flat output columns (whole rows of the padded width) per product
PADDED_GEMM_COLUMNS = 512
#: switch for the padded path (off: every convolution that is not pointwise or depthwise uses im2col)
PADDED_GEMM = True


@dataclass(frozen=True)
class PaddedTaps(GroupProduct):
    """Per image and group: copy the input into the padded buffer, then per block of ``rows``
    output rows the product over the flat padded positions into ``out``, whose ow valid columns of
    every row are copied to y."""

    plane: Plane
    #: padded height and width
    ph: int
    pw: int
    #: floats of the padded buffer (the flat reads of the last channel run (kw - 1) * dw past it)
    pad_size: int
    #: output rows per product
    rows: int

    @classmethod
    def plan(cls, dims: ConvDims) -> PaddedTaps | None:
        """None where the path does not apply (stride > 1, 3-D and up, switched off)."""
        p = dims.win.plane
        if not PADDED_GEMM or p is None or p.sh != 1 or p.sw != 1:
            return None
        ph, pw = p.pt + p.ih + p.pb, p.pl + p.iw + p.pr
        pad_size = dims.cg * ph * pw + (p.kw - 1) * p.dw
        return cls(p, ph, pw, pad_size, max(1, min(p.oh, PADDED_GEMM_COLUMNS // pw)))

    def workspace(self, dims: ConvDims) -> int:
        return self.pad_size + dims.mg * self.rows * self.pw

    def before_groups(self, ctx: CpuContext, w: CppWriter, dims: ConvDims) -> None:
        w(
            f"float* pad = {ctx.scratch(np.float32)};  // zero-padded group input: only its interior is rewritten",
            f"for (std::size_t i = 0; i < {self.pad_size}; ++i) pad[i] = 0.0f;",
        )

    def group(self, ctx: CpuContext, w: CppWriter, t: ConvTensors, dims: ConvDims, bias: str | None) -> None:
        p, pw, rows, cg, mg = self.plane, self.pw, self.rows, dims.cg, dims.mg
        chan = self.ph * pw
        w(f"float* out = pad + {self.pad_size};  // [{mg}, {rows} x {pw}] flat output rows")
        with w.loop("c", cg), w.loop("i", p.ih):
            w(
                f"const float* xr = xg + (c * {p.ih} + i) * {p.iw};",
                f"float* pr = pad + c * {chan} + (i + {p.pt}) * {pw} + {p.pl};",
                f"for (std::size_t j = 0; j < {p.iw}; ++j) pr[j] = xr[j];",
            )
        taps = (p.kh, p.dh * pw, p.kw, p.dw)

        def product(count: int) -> str:
            return gemm_call(
                ctx,
                "wg",
                f"pad + r0 * {pw}",
                "out",
                mg,
                cg,
                count * pw,
                a_strides=(dims.kdim, 1),
                ldb=chan,
                ldy=rows * pw,
                taps=taps,
                bias=bias,
                bias_kind=BIAS_ROW if bias else BIAS_NONE,
                k_block=conv_k_block(cg, p.taps, taps_in_k=False),
            )

        with w.block(f"for (std::size_t r0 = 0; r0 < {p.oh}; r0 += {rows})"):
            w(f"const std::size_t rows = {p.oh} - r0 < {rows} ? {p.oh} - r0 : {rows};")
            tail = p.oh % rows
            if not tail:
                w(product(rows))
            else:
                if_else(w, f"rows == {rows}", product(rows), product(tail))
            with w.loop("m", mg), w.loop("r", "rows"):
                w(
                    f"const float* orow = out + m * {rows * pw} + r * {pw};",
                    f"float* yr = yg + m * {p.oh * p.ow} + (r0 + r) * {p.ow};",
                    f"for (std::size_t j = 0; j < {p.ow}; ++j) yr[j] = orow[j];",
                )
