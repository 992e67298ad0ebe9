"""Convolutions: Conv and ConvTranspose over any number of spatial axes (1-D, 2-D, 3-D...).

Conv is computed per image and group as im2col + the register-blocked matrix product of
``kernels.py``, in blocks of output rows: the input patches of a block are copied into a
[C/group * prod(kernel), block] workspace whose rows are contiguous runs of output positions
(each row's valid range is computed once, so the copy loops carry no bounds checks), then
Y[:, block] = W . col + bias while the block is still in cache. Stride-1 1-D/2-D convolutions
skip the patch copy: the input is copied once into a zero-padded buffer and the product reads
each kernel tap's row of b straight from it (``Conv.padded_gemm``). Convolutions with few output
positions (deep CNN stages) and constant weights compute Y^T = col^T . W^T with the weights packed,
so they stream through the cache once (``Conv.weights_by_panel``). Pointwise convolutions (1x1,
stride 1, no padding) skip the copy. Depthwise convolutions (one input channel per group) are
computed directly: 1-D/2-D ones from a zero-padded copy of the channel split by stride phase, as
flat runs over output rows (``depthwise_flat``; ``depthwise2d`` for channels too large for it: a
few output rows at a time with bounds checks at the borders), N-D ones tap by tap.
ConvTranspose is the adjoint: col = W' . X, then col2im scatters col into Y.

The window geometry (``window_geometry``) is shared with the pooling operators. The fixed C++
kernels (depthwise, ``valid_range``) are in ``operators/cpp/conv.hpp``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from rmodel.cpp_sources import cpp_source
from rmodel.errors import RModelError

from .base import CpuContext, Operator, ShapeContext, register
from .kernels import BIAS_COL, BIAS_ROW, GEMM_NR, conv_k_block, gemm_call, keep_loop

AUTO_PADS = ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER")

#: im2col block budget in floats (256 KiB: stays in the L2 cache between the copy and the
#: product); blocks are whole rows of the first output axis, at least one
COL_BLOCK_FLOATS = 65536

#: stride-1 1-D/2-D convolutions read their taps straight from a zero-padded copy of the input
#: (``Conv.padded_gemm``) instead of copying patches (im2col); this many flat output columns
#: (whole rows of the padded width) per product
PADDED_GEMM_COLUMNS = 512
#: convolutions with at most this many output positions (per image) take ``weights_by_panel``
WEIGHT_PANEL_POSITIONS = 64
#: switch for the padded path (off: every convolution that is not pointwise or depthwise uses im2col)
PADDED_GEMM = True

#: outputs per run of the padded depthwise kernel (its local accumulators: 4 AVX-512 or 8 AVX2
#: registers; 32, 96, 128 and 256 measured slower on the benchmark); a power of 2, the ``TILE`` of
#: ``depthwise_flat`` in operators/cpp/conv.hpp
DEPTHWISE_FLAT_TILE = 64
#: workspace limit in floats of the padded depthwise path (the padded stride planes);
#: larger channels take ``depthwise2d``
DEPTHWISE_FLAT_FLOATS = 16384


def _depthwise_code(region: str) -> str:
    """A depthwise helper of ``operators/cpp/conv.hpp``: ``RMODEL_KEEP_LOOP``'s definition, then the kernel."""
    return keep_loop() + "\n" + cpp_source("rmodel.operators", "conv.hpp", region)


def valid_range_code() -> str:
    """The ``valid_range`` helper: the outputs whose window tap lies inside the input (pooling uses it too)."""
    return cpp_source("rmodel.operators", "conv.hpp", "valid_range")


@dataclass(frozen=True)
class Window:
    """Resolved geometry of a sliding window over the spatial axes."""

    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    dilations: tuple[int, ...]
    pads_begin: tuple[int, ...]
    pads_end: tuple[int, ...]
    out: tuple[int, ...]

    @property
    def spans(self) -> tuple[int, ...]:
        """Extent of the dilated kernel along each axis."""
        return tuple((k - 1) * d + 1 for k, d in zip(self.kernel, self.dilations, strict=True))


def int_tuple(op: Operator, name: str, value: Any, rank: int, default: int, minimum: int) -> tuple[int, ...]:
    """Attribute ``name`` as a tuple of ``rank`` ints >= ``minimum`` (``default`` when absent)."""
    if value is None or value == ():
        return (default,) * rank
    values = tuple(int(v) for v in value)
    if len(values) != rank:
        raise op.fail(f"attribute '{name}' has {len(values)} values, expected {rank} (one per spatial axis)")
    if any(v < minimum for v in values):
        raise op.fail(f"attribute '{name}' = {list(values)} must hold values >= {minimum}")
    return values


def check_auto_pad(op: Operator, auto_pad: str) -> str:
    if auto_pad not in AUTO_PADS:
        raise RModelError(
            f"node '{op.name}' ({op.op_type}): auto_pad '{auto_pad}' is not one of {', '.join(AUTO_PADS)}"
        )
    return auto_pad


def window_geometry(
    op: Operator,
    in_spatial: tuple[int, ...],
    kernel: tuple[int, ...],
    strides: Any,
    dilations: Any,
    pads: Any,
    auto_pad: str,
    ceil_mode: bool = False,
) -> Window:
    """Pads and output size of a window (Conv, pools), following ONNX and onnxruntime.

    With ``ceil_mode`` the last window must start inside the input or its begin padding (a window
    starting in the end padding is dropped), as onnxruntime and the ONNX reference do.
    """
    rank = len(in_spatial)
    strides_ = int_tuple(op, "strides", strides, rank, 1, 1)
    dilations_ = int_tuple(op, "dilations", dilations, rank, 1, 1)
    if pads is None or pads == ():
        pads_ = (0,) * (2 * rank)
    else:
        pads_ = tuple(int(p) for p in pads)
        if len(pads_) != 2 * rank:
            raise op.fail(f"attribute 'pads' has {len(pads_)} values, expected {2 * rank} (begin, end)")
        if any(p < 0 for p in pads_):
            raise op.fail(f"attribute 'pads' = {list(pads_)} must not be negative")
    begin, end, out = [], [], []
    for axis, size in enumerate(in_spatial):
        k, s, d = kernel[axis], strides_[axis], dilations_[axis]
        span = (k - 1) * d + 1
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            n = -(-size // s)
            total = max(0, (n - 1) * s + span - size)
            small = total // 2
            pb, pe = (small, total - small) if auto_pad == "SAME_UPPER" else (total - small, small)
        elif auto_pad == "VALID":
            pb = pe = 0
            n = (size - span) // s + 1 if size >= span else 0
            if ceil_mode and size >= span:
                n = -(-(size - span) // s) + 1
                if (n - 1) * s >= size:
                    n -= 1
        else:
            pb, pe = pads_[axis], pads_[axis + rank]
            extent = size + pb + pe - span
            if extent < 0:
                n = 0
            elif ceil_mode:
                n = -(-extent // s) + 1
                if (n - 1) * s >= size + pb:
                    n -= 1
            else:
                n = extent // s + 1
        if n < 1:
            raise op.fail(
                f"spatial axis {axis} of size {size} (padded by {pb}+{pe}) is smaller than the "
                f"{'dilated ' if d > 1 else ''}kernel extent {span}: the output would be empty"
            )
        begin.append(pb)
        end.append(pe)
        out.append(n)
    return Window(tuple(kernel), strides_, dilations_, tuple(begin), tuple(end), tuple(out))


def loop(var: str, start: object, stop: object) -> str:
    """Opening line of a C++ for loop over a signed index."""
    return f"for (std::ptrdiff_t {var} = {start}; {var} < {stop}; ++{var}) {{"


def window_outer_loops(
    win: Window, in_spatial: tuple[int, ...], indent: str, src: str, dst: str
) -> tuple[list[str], str, str, str, str]:
    """Loops over output position and kernel tap of every spatial axis but the last, skipping taps
    that fall in the padding. Returns (lines, indent, input row pointer, output row pointer, index
    expression of the tap over those axes)."""
    lines: list[str] = []
    tap = ""
    for axis in range(len(win.kernel) - 1):
        lines.append(indent + loop(f"o{axis}", 0, win.out[axis]))
        indent += "  "
        lines.append(f"{indent}float* y{axis} = {dst} + o{axis} * {math.prod(win.out[axis + 1 :])};")
        lines.append(indent + loop(f"k{axis}", 0, win.kernel[axis]))
        indent += "  "
        lines += [
            f"{indent}const std::ptrdiff_t i{axis} = o{axis} * {win.strides[axis]} + k{axis} * "
            f"{win.dilations[axis]} - {win.pads_begin[axis]};",
            f"{indent}if (i{axis} < 0 || i{axis} >= {in_spatial[axis]}) continue;",
            f"{indent}const float* x{axis} = {src} + i{axis} * {math.prod(in_spatial[axis + 1 :])};",
        ]
        src, dst = f"x{axis}", f"y{axis}"
        tap = f"k{axis}" if not tap else f"({tap}) * {win.kernel[axis]} + k{axis}"
    return lines, indent, src, dst, tap


def gather_code(
    src: str,
    dst: str,
    in_spatial: tuple[int, ...],
    out_spatial: tuple[int, ...],
    offsets: list[str],
    strides: tuple[int, ...],
    always_valid: list[bool],
    indent: str,
) -> list[str]:
    """C++ filling ``dst`` (out_spatial, contiguous) with src[o * stride + offset] per axis, zero
    where the input position falls outside ``in_spatial``. ``offsets`` are C++ expressions
    (signed); ``always_valid[axis]`` says no check is needed on that axis."""
    rank = len(in_spatial)
    in_blocks = [math.prod(in_spatial[a + 1 :]) for a in range(rank)]
    out_blocks = [math.prod(out_spatial[a + 1 :]) for a in range(rank)]
    lines: list[str] = []
    src_ptr, dst_ptr = src, dst
    for axis in range(rank - 1):
        o, i = f"o{axis}", f"i{axis}"
        lines.append(f"{indent}for (std::ptrdiff_t {o} = 0; {o} < {out_spatial[axis]}; ++{o}) {{")
        indent += "  "
        lines.append(f"{indent}float* d{axis} = {dst_ptr} + {o} * {out_blocks[axis]};")
        lines.append(f"{indent}const std::ptrdiff_t {i} = {o} * {strides[axis]} + {offsets[axis]};")
        if not always_valid[axis]:
            lines.append(f"{indent}if ({i} < 0 || {i} >= {in_spatial[axis]}) {{")
            lines.append(f"{indent}  for (std::size_t j = 0; j < {out_blocks[axis]}; ++j) d{axis}[j] = 0.0f;")
            lines.append(f"{indent}  continue;")
            lines.append(f"{indent}}}")
        lines.append(f"{indent}const float* s{axis} = {src_ptr} + {i} * {in_blocks[axis]};")
        src_ptr, dst_ptr = f"s{axis}", f"d{axis}"
    last = rank - 1
    count, stride, off = out_spatial[last], strides[last], offsets[last]
    step = "o" if stride == 1 else f"o * {stride}"
    if always_valid[last]:
        lines.append(f"{indent}const float* s = {src_ptr} + ({off});")
        lines.append(f"{indent}for (std::ptrdiff_t o = 0; o < {count}; ++o) {dst_ptr}[o] = s[{step}];")
    else:
        lines += [
            f"{indent}const std::ptrdiff_t off = {off};",
            f"{indent}std::ptrdiff_t lo, hi;",
            f"{indent}detail::valid_range(off, {stride}, {in_spatial[last]}, {count}, lo, hi);",
            f"{indent}for (std::ptrdiff_t o = 0; o < lo; ++o) {dst_ptr}[o] = 0.0f;",
            f"{indent}for (std::ptrdiff_t o = lo; o < hi; ++o) {dst_ptr}[o] = {src_ptr}[{step} + off];",
            f"{indent}for (std::ptrdiff_t o = hi; o < {count}; ++o) {dst_ptr}[o] = 0.0f;",
        ]
    for _ in range(rank - 1):
        indent = indent[:-2]
        lines.append(f"{indent}}}")
    return lines


def axis_always_valid(size: int, out: int, stride: int, kernel: int, dilation: int, pad_begin: int) -> bool:
    """True when every tap of every window lies inside the input along this axis."""
    return pad_begin == 0 and (out - 1) * stride + (kernel - 1) * dilation - pad_begin <= size - 1


class _ConvBase(Operator):
    """Attribute parsing shared by Conv and ConvTranspose."""

    attributes = {
        "auto_pad": "NOTSET",
        "dilations": None,
        "group": 1,
        "kernel_shape": None,
        "pads": None,
        "strides": None,
    }

    def setup(self) -> None:
        self.auto_pad = check_auto_pad(self, str(self.attr["auto_pad"]))
        self.group = int(self.attr["group"])
        if self.group < 1:
            raise RModelError(f"node '{self.name}' ({self.op_type}): group must be >= 1, got {self.group}")

    def common_inputs(self, ctx: ShapeContext) -> tuple[Any, Any, tuple[int, ...]]:
        """X and W infos (validated) and the kernel shape."""
        x, w = self.input_info(0), self.input_info(1)
        if x.dtype != np.float32 or w.dtype != np.float32:
            raise self.fail(f"only float32 is supported, got X {x.dtype} and W {w.dtype}")
        if x.rank < 3:
            raise self.fail(f"X must be (N, C, spatial...) with a spatial axis, got shape {x.shape}")
        if w.rank != x.rank:
            raise self.fail(f"W must have rank {x.rank} like X {x.shape}, got shape {w.shape}")
        kernel = tuple(int(k) for k in w.shape[2:])
        if self.attr["kernel_shape"] is not None:
            given = tuple(int(k) for k in self.attr["kernel_shape"])
            if given != kernel:
                raise self.fail(f"kernel_shape {list(given)} does not match W's spatial shape {list(kernel)}")
        if any(k < 1 for k in kernel):
            raise self.fail(f"kernel shape {list(kernel)} must be positive")
        return x, w, kernel

    def check_bias(self, channels: int) -> None:
        if self.has_input(2):
            b = self.input_info(2)
            if b.dtype != np.float32 or b.shape != (channels,):
                raise self.fail(f"bias B must be float32 of shape ({channels},), got {b.dtype} {b.shape}")


@register("Conv")
class Conv(_ConvBase):
    """ONNX Conv: grouped, strided, dilated, padded N-d convolution with optional bias."""

    def infer(self, ctx: ShapeContext) -> list:
        x, w, kernel = self.common_inputs(ctx)
        n, c = x.shape[:2]
        m = w.shape[0]
        if c % self.group:
            raise self.fail(f"group {self.group} does not divide the {c} input channels")
        if m % self.group:
            raise self.fail(f"group {self.group} does not divide the {m} output channels (W.shape[0])")
        if w.shape[1] * self.group != c:
            raise self.fail(
                f"W {w.shape} expects {w.shape[1]} channels per group x {self.group} group(s) = "
                f"{w.shape[1] * self.group} input channels, but X {x.shape} has {c}"
            )
        self.check_bias(m)
        self.win = window_geometry(
            self, x.shape[2:], kernel, self.attr["strides"], self.attr["dilations"], self.attr["pads"], self.auto_pad
        )
        self.n, self.c, self.m = n, c, m
        self.in_spatial = tuple(x.shape[2:])
        self.kdim = (c // self.group) * math.prod(kernel)
        self.w_const = ctx.const(self.inputs[1]) is not None
        return [self.out(0, np.float32, (n, m, *self.win.out))]

    @property
    def pointwise(self) -> bool:
        """1x1 kernel, stride 1, no padding: the input already is the im2col matrix."""
        w = self.win
        ones = all(k == 1 for k in w.kernel) and all(s == 1 for s in w.strides)
        return ones and not any(w.pads_begin + w.pads_end)

    @property
    def depthwise(self) -> bool:
        """One input channel per group: computed directly, without im2col."""
        return self.c == self.group and not self.pointwise

    def workspace(self) -> dict[np.dtype, int]:
        if self.depthwise and self.flat_depthwise is not None:
            geo = self.flat_depthwise
            return {np.dtype(np.float32): geo["pad_size"]}
        if self.pointwise or self.depthwise:
            return {}
        if self.weights_by_panel:
            out_size = math.prod(self.win.out)
            return {np.dtype(np.float32): (self.kdim + self.m) * out_size}
        if self.padded_gemm is not None:
            geo = self.padded_gemm
            return {np.dtype(np.float32): geo["pad_size"] + self.m // self.group * geo["rows"] * geo["pw"]}
        return {np.dtype(np.float32): self.kdim * self.block_rows * math.prod(self.win.out[1:])}

    def flops(self) -> int:
        out = self.n * self.m * math.prod(self.win.out)
        return 2 * out * self.kdim + (out if self.has_input(2) else 0)

    def emit_cpu(self, ctx: CpuContext) -> str:
        if self.depthwise:
            return self._emit_depthwise(ctx)
        win, g = self.win, self.group
        cg, mg = self.c // g, self.m // g
        in_size, out_size = math.prod(self.in_spatial), math.prod(win.out)
        has_bias = self.has_input(2)
        # the weights of the panel strategy are a packed constant: no pointer to the ONNX weights
        weights_by_panel = not self.pointwise and self.weights_by_panel
        padded = not self.pointwise and not weights_by_panel and self.padded_gemm is not None
        lines = [f"const float* x = {ctx.ptr(self.inputs[0])};"]
        if not weights_by_panel:
            lines.append(f"const float* w = {ctx.ptr(self.inputs[1])};")
        lines.append(f"float* y = {ctx.ptr(self.outputs[0])};")
        if has_bias:
            lines.append(f"const float* bias = {ctx.ptr(self.inputs[2])};")
        if padded:
            lines += [
                f"float* pad = {ctx.scratch(np.float32)};  // zero-padded group input: only its interior is rewritten",
                f"for (std::size_t i = 0; i < {self.padded_gemm['pad_size']}; ++i) pad[i] = 0.0f;",
            ]
        lines += [
            f"for (std::size_t n = 0; n < {self.n}; ++n) {{",
            f"  for (std::size_t g = 0; g < {g}; ++g) {{",
            f"    const float* xg = x + (n * {self.c} + g * {cg}) * {in_size};",
        ]
        if not weights_by_panel:
            lines.append(f"    const float* wg = w + g * {mg * self.kdim};")
        lines.append(f"    float* yg = y + (n * {self.m} + g * {mg}) * {out_size};")
        bias_args = {"bias": "bias + g * " + str(mg), "bias_kind": BIAS_ROW} if has_bias else {}
        if self.pointwise:
            call = gemm_call(ctx, "wg", "xg", "yg", mg, self.kdim, out_size, **bias_args)
            lines.append(f"    {call}")
        elif weights_by_panel:
            lines += self._weights_by_panel(ctx, cg, mg, bias_args)
        elif padded:
            lines += self._padded_gemm(ctx, cg, mg, bias_args)
        else:
            ctx.helper("valid_range", valid_range_code())
            lines.append(f"    float* col = {ctx.scratch(np.float32)};")
            lines += self._blocked_im2col_gemm(ctx, cg, mg, bias_args)
        lines += ["  }", "}"]
        return "\n".join(lines)

    @property
    def weights_by_panel(self) -> bool:
        """Few output positions (at most WEIGHT_PANEL_POSITIONS), one group, constant weights: the
        product runs transposed, Y^T = col^T . W^T with W^T packed into panels of output channels,
        so the (large) weights stream through the cache once instead of once per column panel."""
        return (
            WEIGHT_PANEL_POSITIONS > 0
            and self.group == 1
            and self.w_const
            and not self.pointwise
            and not self.depthwise
            and math.prod(self.win.out) <= WEIGHT_PANEL_POSITIONS
        )

    def _weights_by_panel(self, ctx: CpuContext, cg: int, mg: int, bias_args: dict) -> list[str]:
        """im2col of the whole output into col [kdim, P], then out[P, M] = col^T . W^T (+ bias per
        column) and y = out^T."""
        ctx.helper("valid_range", valid_range_code())
        out_size = math.prod(self.win.out)
        w_const = ctx.const(self.inputs[1])
        assert w_const is not None
        wt = np.asarray(w_const, dtype=np.float32).reshape(mg, self.kdim).T
        lines = [
            f"    float* col = {ctx.scratch(np.float32)};",
            f"    float* out = col + {self.kdim * out_size};  // [{out_size}, {mg}]",
            f"    const std::ptrdiff_t r0 = 0, rows = {self.win.out[0]};",
        ]
        lines += self._im2col(cg, "    ", out_size)
        bias = {"bias": bias_args["bias"], "bias_kind": BIAS_COL} if "bias" in bias_args else {}
        call = gemm_call(
            ctx,
            "col",
            "",
            "out",
            out_size,
            self.kdim,
            mg,
            a_strides=(1, out_size),
            b_const=wt,
            **bias,
            k_block=conv_k_block(cg, math.prod(self.win.kernel), taps_in_k=True),
        )
        lines += [
            f"    {call}",
            f"    for (std::size_t p = 0; p < {out_size}; ++p) {{",
            f"      for (std::size_t m = 0; m < {mg}; ++m) yg[m * {out_size} + p] = out[p * {mg} + m];",
            "    }",
        ]
        return lines

    @property
    def padded_gemm(self) -> dict[str, int] | None:
        """Geometry of the padded path, or None where it does not apply (stride > 1, 3-D and up).

        The input of a group is copied into a zero-padded [cg, ph, pw] buffer; output row oh,
        column ow of channel m is then sum over (c, kh, kw) of W[m, c, kh, kw] * pad[c, oh + kh *
        dh, ow + kw * dw], i.e. a product whose b rows are the buffer at offsets c * ph * pw + kh *
        dh * pw + kw * dw from the flat output position (rows of pw columns, the last pw - ow of
        each discarded). ``rows`` output rows per product."""
        win = self.win
        if not PADDED_GEMM or len(win.kernel) > 2 or any(s != 1 for s in win.strides):
            return None
        if self.pointwise or self.depthwise:
            return None
        ih, iw, oh, ow, kh, kw, _, _, dh, dw, pt, pl, pb, pr = self._window_2d()
        ph, pw = pt + ih + pb, pl + iw + pr
        cg = self.c // self.group
        # the flat reads of the last channel run (kw - 1) * dw past it (into discarded columns)
        pad_size = cg * ph * pw + (kw - 1) * dw
        rows = max(1, min(oh, PADDED_GEMM_COLUMNS // pw))
        return {
            "ih": ih, "iw": iw, "oh": oh, "ow": ow, "kh": kh, "kw": kw, "dh": dh, "dw": dw,
            "pt": pt, "pl": pl, "ph": ph, "pw": pw, "pad_size": pad_size, "rows": rows,
        }  # fmt: skip

    def _padded_gemm(self, ctx: CpuContext, cg: int, mg: int, bias_args: dict) -> list[str]:
        """Per image and group: copy the input into the padded buffer, then per block of output
        rows the product over the flat padded positions into ``out``, whose ow valid columns of
        every row are copied to y."""
        geo = self.padded_gemm
        assert geo is not None
        ih, iw, oh, ow, pw, rows = geo["ih"], geo["iw"], geo["oh"], geo["ow"], geo["pw"], geo["rows"]
        chan = geo["ph"] * pw
        out_size = oh * ow
        lines = [
            f"    float* out = pad + {geo['pad_size']};  // [{mg}, {rows} x {pw}] flat output rows",
            f"    for (std::size_t c = 0; c < {cg}; ++c) {{",
            f"      for (std::size_t i = 0; i < {ih}; ++i) {{",
            f"        const float* xr = xg + (c * {ih} + i) * {iw};",
            f"        float* pr = pad + c * {chan} + (i + {geo['pt']}) * {pw} + {geo['pl']};",
            f"        for (std::size_t j = 0; j < {iw}; ++j) pr[j] = xr[j];",
            "      }",
            "    }",
            f"    for (std::size_t r0 = 0; r0 < {oh}; r0 += {rows}) {{",
            f"      const std::size_t rows = {oh} - r0 < {rows} ? {oh} - r0 : {rows};",
        ]
        taps = (geo["kh"], geo["dh"] * pw, geo["kw"], geo["dw"])

        def product(count: int) -> str:
            return gemm_call(
                ctx,
                "wg",
                f"pad + r0 * {pw}",
                "out",
                mg,
                cg,
                count * pw,
                a_strides=(self.kdim, 1),
                ldb=chan,
                ldy=rows * pw,
                taps=taps,
                **bias_args,
                k_block=conv_k_block(cg, geo["kh"] * geo["kw"], taps_in_k=False),
            )

        tail = oh % rows
        if not tail:
            lines.append(f"      {product(rows)}")
        else:
            lines += [
                f"      if (rows == {rows}) {{",
                f"        {product(rows)}",
                "      } else {",
                f"        {product(tail)}",
                "      }",
            ]
        lines += [
            f"      for (std::size_t m = 0; m < {mg}; ++m) {{",
            "        for (std::size_t r = 0; r < rows; ++r) {",
            f"          const float* orow = out + m * {rows * pw} + r * {pw};",
            f"          float* yr = yg + m * {out_size} + (r0 + r) * {ow};",
            f"          for (std::size_t j = 0; j < {ow}; ++j) yr[j] = orow[j];",
            "        }",
            "      }",
            "    }",
        ]
        return lines

    @property
    def block_rows(self) -> int:
        """Rows of the first output axis per im2col block: as many as the budget allows, preferring
        a count whose block width is a whole number of the kernel's column panels."""
        inner = math.prod(self.win.out[1:])
        most = max(1, min(self.win.out[0], COL_BLOCK_FLOATS // max(1, self.kdim * inner)))
        whole = [r for r in range(most, 0, -1) if r * inner % GEMM_NR == 0]
        return whole[0] if whole and 2 * whole[0] > most else most

    def _blocked_im2col_gemm(self, ctx: CpuContext, cg: int, mg: int, bias_args: dict) -> list[str]:
        """Per block of output rows: im2col into col [kdim, block], then its columns of Y."""
        rows_total, block = self.win.out[0], self.block_rows
        inner = math.prod(self.win.out[1:])
        out_size = math.prod(self.win.out)
        width = block * inner
        lines = [
            f"    for (std::ptrdiff_t r0 = 0; r0 < {rows_total}; r0 += {block}) {{",
            f"      const std::ptrdiff_t rows = {rows_total} - r0 < {block} ? {rows_total} - r0 : {block};",
        ]
        lines += self._im2col(cg, "      ", width)
        k_block = conv_k_block(cg, math.prod(self.win.kernel), taps_in_k=True)

        def product(columns: int) -> str:
            """Y's next ``columns`` columns from the first ``columns`` of col (row stride ``width``)."""
            y = "yg + r0 * " + str(inner)
            return gemm_call(
                ctx, "wg", "col", y, mg, self.kdim, columns, ldb=width, ldy=out_size, **bias_args, k_block=k_block
            )

        full = product(width)
        tail = rows_total % block
        if not tail:
            lines.append(f"      {full}")
        else:
            last = product(tail * inner)
            lines += [
                f"      if (rows == {block}) {{",
                f"        {full}",
                "      } else {",
                f"        {last}",
                "      }",
            ]
        lines.append("    }")
        return lines

    def _emit_depthwise(self, ctx: CpuContext) -> str:
        """1-D and 2-D: the ``depthwise2d`` helper per output channel; N-D: per output channel
        y = bias, then for every kernel tap y[o] += w * x[o * stride + offset] over the
        contiguous run of output positions whose input is valid."""
        if self.flat_depthwise is not None:
            return self._emit_depthwise_flat(ctx)
        if len(self.win.kernel) <= 2:
            return self._emit_depthwise_2d(ctx)
        ctx.helper("valid_range", valid_range_code())
        win = self.win
        rank = len(win.kernel)
        mg, taps = self.m // self.group, math.prod(win.kernel)
        in_size, out_size = math.prod(self.in_spatial), math.prod(win.out)
        init = f"bias[oc % {self.m}]" if self.has_input(2) else "0.0f"
        lines = [
            f"const float* x = {ctx.ptr(self.inputs[0])};",
            f"const float* w = {ctx.ptr(self.inputs[1])};",
            f"float* y = {ctx.ptr(self.outputs[0])};",
        ]
        if self.has_input(2):
            lines.append(f"const float* bias = {ctx.ptr(self.inputs[2])};")
        lines += [
            f"for (std::size_t oc = 0; oc < {self.n * self.m}; ++oc) {{",
            f"  const float* xp = x + oc / {mg} * {in_size};  // input channel of this output channel",
            f"  const float* wp = w + oc % {self.m} * {taps};",
            f"  float* yp = y + oc * {out_size};",
            f"  for (std::size_t j = 0; j < {out_size}; ++j) yp[j] = {init};",
        ]
        outer, indent, src, dst, tap = window_outer_loops(win, self.in_spatial, "  ", "xp", "yp")
        lines += outer
        last = rank - 1
        stride = win.strides[last]
        tap = "k" if not tap else f"({tap}) * {win.kernel[last]} + k"
        step = "o" if stride == 1 else f"o * {stride}"
        lines += [
            indent + loop("k", 0, win.kernel[last]),
            f"{indent}  const float wv = wp[{tap}];",
            f"{indent}  const std::ptrdiff_t off = k * {win.dilations[last]} - {win.pads_begin[last]};",
            f"{indent}  std::ptrdiff_t lo, hi;",
            f"{indent}  detail::valid_range(off, {stride}, {self.in_spatial[last]}, {win.out[last]}, lo, hi);",
            f"{indent}  for (std::ptrdiff_t o = lo; o < hi; ++o) {dst}[o] += wv * {src}[{step} + off];",
            f"{indent}}}",
        ]
        for _ in range(2 * (rank - 1)):
            indent = indent[:-2]
            lines.append(f"{indent}}}")
        lines.append("}")
        return "\n".join(lines)

    def _axes_2d(self, values: tuple[int, ...], one: int) -> tuple[int, int]:
        """(vertical, horizontal) of a 1-D/2-D window value (1-D as one row: ``one`` vertically)."""
        return (values[0], values[1]) if len(values) == 2 else (one, values[0])

    def _window_2d(self) -> tuple[int, ...]:
        """Input, output, kernel, stride, dilation, leading and trailing pad sizes as (vertical, horizontal) pairs."""
        win = self.win
        return (
            *self._axes_2d(self.in_spatial, 1),
            *self._axes_2d(win.out, 1),
            *self._axes_2d(win.kernel, 1),
            *self._axes_2d(win.strides, 1),
            *self._axes_2d(win.dilations, 1),
            *self._axes_2d(win.pads_begin, 0),
            *self._axes_2d(win.pads_end, 0),
        )

    @property
    def flat_depthwise(self) -> dict[str, int] | None:
        """Geometry of the ``depthwise_flat`` path (stride planes QH x QW, flat outputs OH * QW,
        size of the planes with the runs' overreach), used for 1-D/2-D depthwise convolutions
        whose planes fit in DEPTHWISE_FLAT_FLOATS."""
        win = self.win
        if len(win.kernel) > 2:
            return None
        ih, iw, oh, _, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr = self._window_2d()
        qh, qw = -(-(pt + ih + pb) // sh), -(-(pl + iw + pr) // sw)
        # plane rows widened (with zeros) so runs fill whole vectors: a divisor of the run width
        # DEPTHWISE_FLAT_TILE (runs of whole rows), or a multiple of it (runs along a row)
        tile = DEPTHWISE_FLAT_TILE
        qw = 1 << (qw - 1).bit_length() if qw <= tile else -(-qw // tile) * tile  # tile: a power of 2
        flat = oh * qw
        reach = max(
            ((i * dh % sh) * sw + j * dw % sw) * qh * qw + i * dh // sh * qw + j * dw // sw
            for i in range(kh)
            for j in range(kw)
        )
        pad_size = max(sh * sw * qh * qw, reach + flat)
        if pad_size > DEPTHWISE_FLAT_FLOATS:
            return None
        return {"qh": qh, "qw": qw, "flat": flat, "pad_size": pad_size}

    def _emit_depthwise_flat(self, ctx: CpuContext) -> str:
        """Depthwise 1-D / 2-D convolution through ``depthwise_flat`` (see there)."""
        ctx.helper("depthwise_flat", _depthwise_code("depthwise_flat"))
        ih, iw, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl, _, _ = self._window_2d()
        geo = self.flat_depthwise
        assert geo is not None
        params = f"{ih}, {iw}, {oh}, {ow}, {kh}, {kw}, {sh}, {sw}, {dh}, {dw}, {pt}, {pl}, {geo['qh']}, {geo['qw']}"
        setup = [
            f"float* pad = {ctx.scratch(np.float32)};  // zero-padded stride planes: only interiors are rewritten",
            f"for (std::size_t i = 0; i < {geo['pad_size']}; ++i) pad[i] = 0.0f;",
        ]
        return self._depthwise_loop(ctx, f"depthwise_flat<{params}>", ih * iw, oh * ow, kh * kw, setup, "pad, ")

    def _depthwise_loop(
        self, ctx: CpuContext, call: str, in_size: int, out_size: int, taps: int, setup: list[str], extra: str
    ) -> str:
        """One call of a depthwise helper per output channel (``extra`` arguments go before y)."""
        mg = self.m // self.group
        lines = [
            f"const float* x = {ctx.ptr(self.inputs[0])};",
            f"const float* w = {ctx.ptr(self.inputs[1])};",
            f"float* y = {ctx.ptr(self.outputs[0])};",
            *setup,
        ]
        if self.has_input(2):
            lines.append(f"const float* bias = {ctx.ptr(self.inputs[2])};")
        bias = f"bias[oc % {self.m}]" if self.has_input(2) else "0.0f"
        lines += [
            f"for (std::size_t oc = 0; oc < {self.n * self.m}; ++oc) {{",
            f"  // input channel oc / {mg} of image oc / {self.m}",
            f"  detail::{call}(x + oc / {mg} * {in_size}, w + oc % {self.m} * {taps}, {bias},",
            f"      {extra}y + oc * {out_size});",
            "}",
        ]
        return "\n".join(lines)

    def _emit_depthwise_2d(self, ctx: CpuContext) -> str:
        """Depthwise 1-D / 2-D convolution through ``depthwise2d`` (1-D as one output row)."""
        ctx.helper("depthwise2d", _depthwise_code("depthwise2d"))
        ih, iw, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl, _, _ = self._window_2d()
        # output columns whose horizontal taps all lie inside the input row
        lo = min(ow, -(-pl // sw))
        last = iw - 1 + pl - (kw - 1) * dw
        hi = max(lo, min(ow, last // sw + 1 if last >= 0 else 0))
        params = f"{ih}, {iw}, {oh}, {ow}, {kh}, {kw}, {sh}, {sw}, {dh}, {dw}, {pt}, {pl}, {lo}, {hi}"
        return self._depthwise_loop(ctx, f"depthwise2d<{params}>", ih * iw, oh * ow, kh * kw, [], "")

    def _im2col(self, cg: int, indent: str, width: int) -> list[str]:
        """Loops copying the patches of output rows [r0, r0 + rows) of group input xg into
        col[(c, taps...), (block outputs...)], whose rows are ``width`` floats apart."""
        win = self.win
        rank = len(win.kernel)
        taps = math.prod(win.kernel)
        lines = [f"{indent}// im2col: col[(c, k...), (o...)] = xg[c][o * stride + k * dilation - pad]"]
        lines.append(f"{indent}for (std::size_t c = 0; c < {cg}; ++c) {{")
        inner = indent + "  "
        lines.append(f"{inner}const float* xc = xg + c * {math.prod(self.in_spatial)};")
        for axis in range(rank):
            lines.append(inner + loop(f"k{axis}", 0, win.kernel[axis]))
            inner += "  "
        tap_index = "k0"
        for axis in range(1, rank):
            tap_index = f"({tap_index}) * {win.kernel[axis]} + k{axis}"
        lines.append(f"{inner}float* row = col + (c * {taps} + {tap_index}) * {width};")
        offsets = []
        for axis in range(rank):
            term = f"k{axis}" if win.dilations[axis] == 1 else f"k{axis} * {win.dilations[axis]}"
            offsets.append(term + (f" - {win.pads_begin[axis]}" if win.pads_begin[axis] else ""))
        offsets[0] = f"r0 * {win.strides[0]} + {offsets[0]}"  # the block starts at output row r0
        valid = [
            axis_always_valid(
                self.in_spatial[a], win.out[a], win.strides[a], win.kernel[a], win.dilations[a], win.pads_begin[a]
            )
            for a in range(rank)
        ]
        out_block = ("rows", *win.out[1:])
        lines += gather_code("xc", "row", self.in_spatial, out_block, offsets, win.strides, valid, inner)
        for _ in range(rank):
            inner = inner[:-2]
            lines.append(f"{inner}}}")
        lines.append(f"{indent}}}")
        return lines


@register("ConvTranspose")
class ConvTranspose(_ConvBase):
    """ONNX ConvTranspose (the gradient of Conv): grouped, strided, dilated, with output_padding
    and output_shape, computed as col = W' . X followed by a scatter-add (col2im) into Y."""

    attributes = {**_ConvBase.attributes, "output_padding": None, "output_shape": None}

    def infer(self, ctx: ShapeContext) -> list:
        x, w, kernel = self.common_inputs(ctx)
        n, c = x.shape[:2]
        if c % self.group:
            raise self.fail(f"group {self.group} does not divide the {c} input channels")
        if w.shape[0] != c:
            raise self.fail(f"W {w.shape} must have X's {c} input channels as its first dimension")
        m = w.shape[1] * self.group
        self.check_bias(m)
        rank = x.rank - 2
        in_spatial = tuple(x.shape[2:])
        strides = int_tuple(self, "strides", self.attr["strides"], rank, 1, 1)
        dilations = int_tuple(self, "dilations", self.attr["dilations"], rank, 1, 1)
        out_pad = int_tuple(self, "output_padding", self.attr["output_padding"], rank, 0, 0)
        for axis in range(rank):
            if out_pad[axis] >= max(strides[axis], dilations[axis]):
                raise self.fail(
                    f"output_padding {list(out_pad)} must be smaller than the stride or dilation on each axis"
                )
        pads = self.attr["pads"]
        pads_ = (0,) * (2 * rank) if pads is None or pads == () else tuple(int(p) for p in pads)
        if len(pads_) != 2 * rank or any(p < 0 for p in pads_):
            raise self.fail(f"attribute 'pads' = {list(pads_)} must hold {2 * rank} non-negative values")
        full = [
            s * (i - 1) + op + (k - 1) * d + 1
            for i, s, op, k, d in zip(in_spatial, strides, out_pad, kernel, dilations, strict=True)
        ]
        target = self.attr["output_shape"]
        if target is not None and target != ():
            target = tuple(int(v) for v in target)
            if len(target) != rank:
                raise self.fail(f"output_shape {list(target)} must give the {rank} spatial output dims")
        elif self.auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            target = tuple(i * s for i, s in zip(in_spatial, strides, strict=True))
        else:
            target = None
        begin, end = [], []
        for axis in range(rank):
            if target is None:
                pb, pe = (0, 0) if self.auto_pad == "VALID" else (pads_[axis], pads_[axis + rank])
            else:
                total = full[axis] - target[axis]
                if total < 0:
                    # beyond the full output (as onnxruntime: by less than the stride, like
                    # output_padding): the extra positions at the end take only the bias
                    if -total >= strides[axis]:
                        raise self.fail(
                            f"output_shape {list(target)} exceeds the full transposed output {full} by "
                            f"the stride {list(strides)} or more on axis {axis}"
                        )
                    pb, pe = 0, total
                else:
                    # ONNX: SAME_UPPER puts the larger half of the padding at the end
                    small, large = total // 2, total - total // 2
                    pb, pe = (small, large) if self.auto_pad == "SAME_UPPER" else (large, small)
            begin.append(pb)
            end.append(pe)
        out = tuple(f - b - e for f, b, e in zip(full, begin, end, strict=True))
        if any(o < 1 for o in out):
            raise self.fail(f"pads {begin + end} leave an empty output {list(out)}")
        self.win = Window(kernel, strides, dilations, tuple(begin), tuple(end), out)
        self.n, self.c, self.m = n, c, m
        self.in_spatial = in_spatial
        self.w_const = ctx.const(self.inputs[1]) is not None
        return [self.out(0, np.float32, (n, m, *out))]

    def workspace(self) -> dict[np.dtype, int]:
        rows = self.m // self.group * math.prod(self.win.kernel)
        transposed_w = 0 if self.w_const else self.c * rows
        return {np.dtype(np.float32): rows * math.prod(self.in_spatial) + transposed_w}

    def flops(self) -> int:
        taps = math.prod(self.win.kernel)
        macs = self.n * self.c * (self.m // self.group) * taps * math.prod(self.in_spatial)
        return 2 * macs + (self.n * self.m * math.prod(self.win.out) if self.has_input(2) else 0)

    def emit_cpu(self, ctx: CpuContext) -> str:
        ctx.helper("valid_range", valid_range_code())
        win, g = self.win, self.group
        cg, mg = self.c // g, self.m // g
        rank = len(win.kernel)
        taps = math.prod(win.kernel)
        in_size, out_size = math.prod(self.in_spatial), math.prod(win.out)
        rows = mg * taps  # rows of col per group
        lines = [
            f"const float* x = {ctx.ptr(self.inputs[0])};",
            f"float* y = {ctx.ptr(self.outputs[0])};",
            f"float* col = {ctx.scratch(np.float32)};",
        ]
        w_const = ctx.const(self.inputs[1])
        if w_const is not None:
            # per group: W_g is [cg, mg * taps]; the product needs its transpose [mg * taps, cg]
            wt = w_const.reshape(g, cg, rows).transpose(0, 2, 1)
            lines.append(f"const float* wt = {ctx.constant('transposed', wt)};")
        else:
            lines += [
                f"const float* w = {ctx.ptr(self.inputs[1])};",
                f"float* wt = col + {rows * in_size};",
                f"for (std::size_t g = 0; g < {g}; ++g)",
                f"  for (std::size_t c = 0; c < {cg}; ++c)",
                f"    for (std::size_t r = 0; r < {rows}; ++r)",
                f"      wt[(g * {rows} + r) * {cg} + c] = w[(g * {cg} + c) * {rows} + r];",
            ]
        if self.has_input(2):
            lines += [
                f"const float* bias = {ctx.ptr(self.inputs[2])};",
                f"for (std::size_t i = 0; i < {self.n * self.m}; ++i) {{",
                f"  const float b = bias[i % {self.m}];",
                f"  float* yi = y + i * {out_size};",
                f"  for (std::size_t j = 0; j < {out_size}; ++j) yi[j] = b;",
                "}",
            ]
        else:
            lines.append(f"for (std::size_t j = 0; j < {self.n * self.m * out_size}; ++j) y[j] = 0.0f;")
        lines += [
            f"for (std::size_t n = 0; n < {self.n}; ++n) {{",
            f"  for (std::size_t g = 0; g < {g}; ++g) {{",
            "    "
            + gemm_call(
                ctx, f"wt + g * {rows * cg}", f"x + (n * {self.c} + g * {cg}) * {in_size}", "col", rows, cg, in_size
            ),
            "    // col2im: y[m][i * stride + k * dilation - pad] += col[(m, k...), (i...)]",
            f"    for (std::size_t m = 0; m < {mg}; ++m) {{",
            f"      float* ym = y + (n * {self.m} + g * {mg} + m) * {out_size};",
        ]
        indent = "      "
        for axis in range(rank):
            lines.append(indent + loop(f"k{axis}", 0, win.kernel[axis]))
            indent += "  "
        tap_index = "k0"
        for axis in range(1, rank):
            tap_index = f"({tap_index}) * {win.kernel[axis]} + k{axis}"
        lines.append(f"{indent}const float* row = col + (m * {taps} + {tap_index}) * {in_size};")
        lines += self._scatter(indent)
        for _ in range(rank):
            indent = indent[:-2]
            lines.append(f"{indent}}}")
        lines += ["    }", "  }", "}"]
        return "\n".join(lines)

    def _scatter(self, indent: str) -> list[str]:
        """Loops adding row[(i...)] into ym[i * stride + k * dilation - pad], skipping positions
        that fall outside the output (the cropped padding)."""
        win = self.win
        rank = len(win.kernel)
        ins, outs = self.in_spatial, win.out
        out_blocks = [math.prod(outs[a + 1 :]) for a in range(rank)]
        in_blocks = [math.prod(ins[a + 1 :]) for a in range(rank)]
        lines: list[str] = []
        src, dst = "row", "ym"
        for axis in range(rank):
            off = f"k{axis} * {win.dilations[axis]} - {win.pads_begin[axis]}"
            lines += [
                f"{indent}std::ptrdiff_t lo{axis}, hi{axis};",
                f"{indent}detail::valid_range({off}, {win.strides[axis]}, {outs[axis]}, {ins[axis]}, "
                f"lo{axis}, hi{axis});",
            ]
            if axis < rank - 1:
                lines.append(indent + loop(f"i{axis}", f"lo{axis}", f"hi{axis}"))
                indent += "  "
                lines.append(f"{indent}const float* r{axis} = {src} + i{axis} * {in_blocks[axis]};")
                lines.append(
                    f"{indent}float* y{axis} = {dst} + (i{axis} * {win.strides[axis]} + {off}) * {out_blocks[axis]};"
                )
                src, dst = f"r{axis}", f"y{axis}"
        last = rank - 1
        s = win.strides[last]
        off = f"k{last} * {win.dilations[last]} - {win.pads_begin[last]}"
        step = "i" if s == 1 else f"i * {s}"
        lines.append(f"{indent}const std::ptrdiff_t off = {off};")
        lines.append(f"{indent}for (std::ptrdiff_t i = lo{last}; i < hi{last}; ++i) {dst}[{step} + off] += {src}[i];")
        for _ in range(rank - 1):
            indent = indent[:-2]
            lines.append(f"{indent}}}")
        return lines
