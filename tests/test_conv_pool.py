"""Conv, ConvTranspose, MaxPool, AveragePool and the global pools against onnxruntime, over their
attribute spaces, plus the errors for bad attributes and shapes."""

from __future__ import annotations

import dataclasses
import itertools
import math

import helpers
import numpy as np
import onnx
import pytest
from helpers import check_against_onnxruntime, make_model, weights
from onnx import helper

import rmodel
from rmodel.errors import RModelError, ShapeError
from rmodel.operators.conv import Conv, depthwise, im2col, padded
from rmodel.operators.conv.grouped import Pointwise
from rmodel.operators.pool import Pool
from rmodel.operators.transpose import Transpose

RNG_SEED = 7


def conv_model(
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    op: str = "Conv",
    bias: bool = True,
    runtime_weights: bool = False,
    opset: int = 17,
    **attrs,
) -> onnx.ModelProto:
    """One Conv/ConvTranspose node; W (and B) as initializers or as graph inputs."""
    rng = np.random.default_rng(RNG_SEED)
    group = attrs.get("group", 1)
    out_channels = w_shape[0] if op == "Conv" else w_shape[1] * group
    params = {"W": weights(rng, *w_shape, fan_in=math.prod(w_shape[1:]))}
    if bias:
        params["B"] = weights(rng, out_channels)
    inputs = {"X": (np.float32, x_shape)}
    if runtime_weights:
        inputs.update({k: (np.float32, v.shape) for k, v in params.items()})
        params = {}
    node = helper.make_node(op, ["X", "W", "B"] if bias else ["X", "W"], ["Y"], **attrs)
    return make_model([node], inputs, ["Y"], params, opset=opset)


def pool_model(op: str, x_shape: tuple[int, ...], opset: int = 17, **attrs) -> onnx.ModelProto:
    return make_model([helper.make_node(op, ["X"], ["Y"], **attrs)], {"X": (np.float32, x_shape)}, ["Y"], opset=opset)


def pads_for(kind: str, rank: int) -> dict:
    """No pads attribute, symmetric pads, or asymmetric pads (different on every side)."""
    if kind == "none":
        return {}
    if kind == "symmetric":
        return {"pads": [1] * (2 * rank)}
    return {"pads": [(0, 2, 1)[a % 3] for a in range(rank)] + [(1, 0, 2)[a % 3] for a in range(rank)]}


# ---- Conv ------------------------------------------------------------------------------------


CONV_GEOMETRY = [
    # 2-D, 3x2 kernel: every stride x dilation x pads combination
    *((2, 3, s, d, p) for s, d, p in itertools.product((1, 2), (1, 2), ("none", "symmetric", "asymmetric"))),
    # 1-D: a spread of the same space
    (1, 3, 1, 1, "none"),
    (1, 3, 2, 1, "symmetric"),
    (1, 3, 1, 2, "asymmetric"),
    (1, 3, 2, 2, "none"),
    (1, 3, 3, 1, "asymmetric"),
    (1, 3, 2, 2, "symmetric"),
    # 1x1 kernels (strided or padded, so im2col is used)
    (2, 1, 2, 1, "none"),
    (2, 1, 1, 1, "asymmetric"),
    (1, 1, 2, 1, "symmetric"),
]


@pytest.mark.parametrize("rank,kernel,stride,dilation,pads", CONV_GEOMETRY)
def test_conv_geometry(rank, kernel, stride, dilation, pads):
    spatial = (11, 8)[:rank]  # non-square
    kernel_shape = (kernel, kernel - 1 if kernel > 1 else 1)[:rank]
    attrs = {"strides": [stride] * rank, "dilations": [dilation] * rank, **pads_for(pads, rank)}
    model = conv_model((2, 3, *spatial), (4, 3, *kernel_shape), **attrs)
    m = check_against_onnxruntime(model, batch_size=2)
    padded = [s + sum(attrs.get("pads", [0] * 2 * rank)[a::rank]) for a, s in enumerate(spatial)]
    expected = [(p - (k - 1) * dilation - 1) // stride + 1 for p, k in zip(padded, kernel_shape)]
    assert m.outputs[0].shape == (2, 4, *expected)


def test_conv_without_pads_is_a_valid_convolution():
    """No pads attribute means no padding at all (not 'same' padding)."""
    model = conv_model((1, 2, 7, 6), (3, 2, 3, 3), bias=False)
    m = check_against_onnxruntime(model)
    assert m.outputs[0].shape == (1, 3, 5, 4)
    x = np.random.default_rng(1).uniform(-1, 1, (1, 2, 7, 6)).astype(np.float32)
    w = onnx.numpy_helper.to_array(model.graph.initializer[0])
    ref = np.zeros((1, 3, 5, 4), np.float32)
    for i, j in itertools.product(range(5), range(4)):
        ref[0, :, i, j] = np.tensordot(w, x[0, :, i : i + 3, j : j + 3], axes=3)
    got = m.compile(binding="ctypes").predict(x)
    np.testing.assert_allclose(got, ref, atol=1e-5)


@pytest.mark.parametrize("auto_pad", ["NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"])
@pytest.mark.parametrize("rank,stride", [(1, 1), (2, 3)])
def test_conv_auto_pad(auto_pad, rank, stride):
    """(onnxruntime rejects SAME with dilations, so they cannot be checked against it.)"""
    spatial = (10, 7)[:rank]
    model = conv_model(
        (1, 3, *spatial),
        (5, 3, *(4, 3)[:rank]),  # even kernel: odd total padding tells UPPER from LOWER
        auto_pad=auto_pad,
        strides=[stride] * rank,
    )
    m = check_against_onnxruntime(model)
    if auto_pad.startswith("SAME"):
        assert m.outputs[0].shape[2:] == tuple(-(-s // stride) for s in spatial)


@pytest.mark.parametrize(
    "channels,out_channels,group,bias",
    [(4, 6, 2, True), (4, 6, 2, False), (6, 6, 3, True), (4, 4, 4, True), (4, 4, 4, False), (4, 8, 4, True)],
    ids=["grouped", "grouped_nobias", "grouped3", "depthwise", "depthwise_nobias", "depthwise_x2"],
)
def test_conv_groups(channels, out_channels, group, bias):
    model = conv_model(
        (2, channels, 9, 6), (out_channels, channels // group, 3, 3), bias=bias, group=group, pads=[1, 0, 1, 2]
    )
    check_against_onnxruntime(model, batch_size=2)


@pytest.mark.parametrize(
    "x_shape,multiplier,attrs",
    [
        ((2, 3, 12), 1, {"strides": [2], "dilations": [2], "pads": [2, 1]}),
        ((1, 3, 9, 8), 2, {"strides": [2, 1], "auto_pad": "SAME_UPPER"}),
        ((1, 3, 9, 8), 1, {"dilations": [1, 2], "pads": [0, 2, 1, 0]}),
        ((1, 2, 4, 5, 6), 1, {"strides": [1, 2, 2], "pads": [1, 0, 1, 0, 1, 1]}),
    ],
)
def test_conv_depthwise_geometry(x_shape, multiplier, attrs):
    """Depthwise convolutions (one input channel per group) take a direct path without im2col."""
    channels = x_shape[1]
    model = conv_model(x_shape, (channels * multiplier, 1, *(3,) * (len(x_shape) - 2)), group=channels, **attrs)
    check_against_onnxruntime(model, batch_size=x_shape[0])


@pytest.mark.parametrize(
    "x_shape,kernel,multiplier,bias,attrs",
    [
        # interior of 43 columns: one 32-wide run plus an overlapping last run; batch 2
        ((2, 3, 5, 45), (3, 3), 1, True, {"pads": [1, 1, 1, 1]}),
        # stride 2 over long rows, two outputs per input channel, no bias
        ((1, 2, 7, 70), (3, 3), 2, False, {"strides": [2, 2], "pads": [1, 2, 1, 0]}),
        # dilated both ways, 14-column interior (a single short run), kernel rows cut at top/bottom
        ((1, 2, 6, 20), (3, 3), 1, True, {"dilations": [2, 3], "pads": [2, 3, 1, 2]}),
        # input narrower than the kernel: no interior column, all outputs on the border path
        ((1, 3, 4, 2), (3, 3), 1, True, {"pads": [1, 1, 1, 1]}),
        # 1-D with a long interior and an even kernel
        ((1, 2, 50), (4,), 1, True, {"pads": [0, 2]}),
    ],
    ids=["runs_overlap", "stride2_multiplier", "dilated_short_run", "no_interior", "1d_long"],
)
def test_conv_depthwise_runs(x_shape, kernel, multiplier, bias, attrs, monkeypatch):
    """The 1-D/2-D depthwise kernel: interior runs (full, overlapping, short, none) and borders
    (the padded stride-1 path is switched off, so these shapes take ``depthwise2d``)."""
    monkeypatch.setattr(depthwise, "DEPTHWISE_FLAT_FLOATS", 0)
    channels = x_shape[1]
    w_shape = (channels * multiplier, 1, *kernel)
    model = conv_model(x_shape, w_shape, bias=bias, group=channels, **attrs)
    m = check_against_onnxruntime(model, batch_size=x_shape[0])
    code = m.generate()
    assert "detail::depthwise2d<" in code and "detail::depthwise_flat<" not in code


@pytest.mark.parametrize(
    "x_shape,kernel,multiplier,bias,attrs",
    [
        # 14x14 with pads 1 (MobileNet's last stages): planes 16 wide, runs of 4 rows, a last
        # run of 2; batch 2
        ((2, 3, 14, 14), (3, 3), 1, True, {"pads": [1, 1, 1, 1]}),
        # runs of 4 rows with no rest, two outputs per channel, no bias
        ((1, 2, 8, 14), (3, 3), 2, False, {"pads": [1, 1, 1, 1]}),
        # one run of 4 rows of 4 (16 outputs: the kept short loop), input narrower than the kernel
        ((1, 3, 4, 2), (3, 3), 1, True, {"pads": [1, 1, 1, 1]}),
        # no padding, even kernel: rows of 11 widened to 16
        ((1, 2, 9, 11), (2, 4), 1, True, {}),
        # dilated both ways, asymmetric pads, kernel rows cut at top/bottom: rows of 25 -> 32
        ((1, 2, 6, 20), (3, 3), 1, True, {"dilations": [2, 3], "pads": [2, 3, 1, 2]}),
        # SAME_LOWER: the larger pad at the start
        ((1, 2, 7, 6), (4, 4), 1, True, {"auto_pad": "SAME_LOWER"}),
        # 1-D wide row (152 -> 192 columns): two 64-column runs and a last one storing 21
        ((1, 2, 150), (4,), 1, True, {"pads": [0, 2]}),
        # 1-D wide row whose 128 outputs are exactly two runs
        ((1, 2, 128), (3,), 1, True, {"pads": [1, 1]}),
        # wide rows (66 -> 128) with only 62 outputs: a single partly stored run per row
        ((1, 2, 3, 66), (3, 3), 1, True, {"dilations": [1, 2], "pads": [1, 0, 1, 0]}),
        # stride 2 with pads 1 (MobileNet's downsampling): 4 planes of 8 x 8, one run of 7 rows
        ((2, 3, 14, 14), (3, 3), 1, True, {"pads": [1, 1, 1, 1], "strides": [2, 2]}),
        # stride 2 over odd padded sizes (planes rounded up), begin pads 2 > phase, x2, no bias
        ((1, 2, 9, 11), (3, 3), 2, False, {"pads": [2, 2, 1, 1], "strides": [2, 2]}),
        # stride 3 horizontally only, dilated (taps in every phase), asymmetric pads
        ((1, 2, 7, 20), (3, 3), 1, True, {"strides": [1, 3], "dilations": [2, 2], "pads": [1, 0, 2, 3]}),
        # stride 2 vertically only, even kernel, no pads
        ((1, 2, 12, 9), (4, 2), 1, True, {"strides": [2, 1]}),
        # 1-D stride 2 with dilation 2: every tap in the even phase
        ((2, 3, 12), (3,), 1, True, {"strides": [2], "dilations": [2], "pads": [2, 1]}),
    ],
    ids=[
        "14x14_rest",
        "no_rest_x2",
        "one_short_run",
        "unpadded",
        "dilated",
        "same_lower",
        "1d_wide_rest",
        "1d_wide_exact",
        "wide_partial",
        "stride2",
        "stride2_odd_x2",
        "stride_1x3_dilated",
        "stride_2x1",
        "1d_stride2_dilated",
    ],
)
def test_conv_depthwise_flat(x_shape, kernel, multiplier, bias, attrs):
    """Depthwise convolutions through the zero-padded copy split by stride phase and flat output
    rows: runs of whole rows (with and without a shorter last run) or along wide rows (with and
    without a partly stored last run), borders and dilations as zeros, strides on either axis."""
    channels = x_shape[1]
    w_shape = (channels * multiplier, 1, *kernel)
    model = conv_model(x_shape, w_shape, bias=bias, group=channels, **attrs)
    m = check_against_onnxruntime(model, batch_size=x_shape[0])
    code = m.generate()
    assert "detail::depthwise_flat<" in code and "detail::depthwise2d<" not in code


def test_conv_depthwise_flat_size_limit():
    """A channel whose padded copy exceeds the workspace limit takes ``depthwise2d`` instead."""
    size = math.isqrt(depthwise.DEPTHWISE_FLAT_FLOATS) + 2  # padded copy > limit
    model = conv_model((1, 2, size, size), (2, 1, 3, 3), group=2, pads=[1, 1, 1, 1])
    m = check_against_onnxruntime(model)
    assert "detail::depthwise2d<" in m.generate()


@pytest.mark.parametrize("rank", [1, 2])
def test_conv_pointwise_and_depthwise_1d_2d(rank):
    """1x1 convolutions skip im2col; check them with groups and a batch."""
    spatial = (6, 5)[:rank]
    model = conv_model((3, 4, *spatial), (6, 2, *(1,) * rank), group=2)
    check_against_onnxruntime(model, batch_size=3)


@pytest.mark.parametrize("bias", [True, False])
def test_conv_runtime_weights(bias):
    model = conv_model((1, 4, 7, 5), (6, 2, 3, 2), bias=bias, runtime_weights=True, group=2, pads=[0, 1, 1, 0])
    check_against_onnxruntime(model)


def test_conv_3d_with_kernel_shape_attribute():
    model = conv_model(
        (1, 2, 5, 6, 4), (3, 2, 2, 3, 2), kernel_shape=[2, 3, 2], pads=[1, 0, 1, 0, 1, 1], strides=[1, 2, 1]
    )
    check_against_onnxruntime(model)


def test_conv_larger_layer():
    """A CNN-sized layer: more rows and columns than one GEMM tile."""
    model = conv_model((1, 16, 20, 18), (24, 16, 3, 3), pads=[1, 1, 1, 1])
    check_against_onnxruntime(model)


@pytest.mark.parametrize(
    "x_shape,w_shape,attrs,block_floats,block_rows",
    [
        # 2-D, padded and strided, out 6x6, kdim 18: blocks of 4 output rows, the last one of 2
        ((1, 2, 11, 12), (13, 2, 3, 3), {"pads": [1, 1, 2, 0], "strides": [2, 2]}, 432, 4),
        # 2-D, dilated, out 8x7: a budget below one row still takes one row per block
        ((2, 3, 9, 7), (5, 3, 2, 3), {"dilations": [2, 1], "pads": [0, 1, 1, 1]}, 1, 1),
        # 1-D, out 12, kdim 9: blocks of 5 positions, the last one of 2
        ((1, 3, 13), (7, 3, 3), {"pads": [1, 0]}, 45, 5),
        # 3-D, out 4x5x3, kdim 16: blocks of 3 planes, the last one of 1
        ((1, 2, 5, 6, 4), (9, 2, 2, 2, 2), {}, 720, 3),
    ],
    ids=["2d_tail", "2d_one_row", "1d_tail", "3d_tail"],
)
def test_conv_im2col_blocks(x_shape, w_shape, attrs, block_floats, block_rows, monkeypatch):
    """im2col and the product run in blocks of output rows (whole rows of the first output axis);
    a smaller block budget forces several blocks and a shorter last one (the padded path, which
    stride-1 1-D/2-D convolutions take otherwise, and the transposed product for few positions
    are switched off)."""
    monkeypatch.setattr(im2col, "COL_BLOCK_FLOATS", block_floats)
    monkeypatch.setattr(padded, "PADDED_GEMM", False)
    monkeypatch.setattr(im2col, "WEIGHT_PANEL_POSITIONS", 0)
    m = check_against_onnxruntime(conv_model(x_shape, w_shape, **attrs), batch_size=x_shape[0])
    assert f"r0 += {block_rows})" in m.generate()


@pytest.mark.parametrize(
    "x_shape,w_shape,attrs,columns,rows",
    [
        # 3x3 pads 1 (the common CNN layer), 13 output channels (a full row tile plus a rest),
        # padded width 11: 4 rows per product (44 flat columns: a 32-column pair, no single
        # panel, a 12-wide rest), the last product of 1 row; batch 2
        ((2, 5, 9, 9), (13, 5, 3, 3), {"pads": [1, 1, 1, 1]}, 44, 4),
        # asymmetric pads, even kernel, no bias; 3 rows of 18 = 54 (a pair, a single panel, 6)
        ((1, 3, 7, 15), (6, 3, 2, 4), {"pads": [0, 2, 1, 1], "bias": False}, 60, 3),
        # dilated both ways, asymmetric pads; one row per product (budget below a row)
        ((1, 4, 8, 7), (9, 4, 3, 3), {"dilations": [2, 2], "pads": [2, 1, 2, 3]}, 1, 1),
        # SAME_LOWER (the larger pad first), 2 rows of 9 per product
        ((1, 3, 5, 8), (4, 3, 2, 2), {"auto_pad": "SAME_LOWER"}, 18, 2),
        # no padding, groups of 2 channels, all rows in one product
        ((1, 4, 6, 10), (6, 2, 3, 3), {"group": 2}, 512, 4),
        # input narrower than the kernel, padded around it
        ((1, 2, 3, 2), (3, 2, 3, 5), {"pads": [1, 2, 1, 2]}, 512, 3),
        # 1-D: one row of 34 padded positions
        ((2, 3, 30), (7, 3, 5), {"pads": [2, 2]}, 512, 1),
        # long rows (more than the column budget): one row per product, 5 full pairs + rest
        ((1, 3, 4, 170), (17, 3, 3, 3), {"pads": [1, 1, 1, 1]}, 128, 1),
    ],
    ids=["3x3_tail", "asymmetric_nobias", "dilated", "same_lower", "grouped_valid", "narrow", "1d", "long_rows"],
)
def test_conv_padded_gemm(x_shape, w_shape, attrs, columns, rows, monkeypatch):
    """Stride-1 convolutions read their taps from the zero-padded input (no im2col): products over
    blocks of flat output rows (a shorter last block), every tile and panel rest, groups, 1-D
    (the transposed product that few output positions take is switched off)."""
    monkeypatch.setattr(padded, "PADDED_GEMM_COLUMNS", columns)
    monkeypatch.setattr(im2col, "WEIGHT_PANEL_POSITIONS", 0)
    attrs = dict(attrs)
    bias = attrs.pop("bias", True)
    model = conv_model(x_shape, w_shape, bias=bias, **attrs)
    m = check_against_onnxruntime(model, batch_size=x_shape[0])
    code = m.generate()
    assert f"r0 += {rows})" in code and "im2col" not in code


@pytest.mark.parametrize("flags", [("-DRMODEL_GEMM_MR=6", "-DRMODEL_GEMM_PANELS=1"), ("-DRMODEL_GEMM_PANELS=3",)])
def test_conv_padded_gemm_tile_shapes(flags, monkeypatch):
    """The padded path, the depthwise kernels and the transposed product with the tile shapes of
    other targets (6-row tiles and one panel, as without AVX-512) and with 3 panels per tile."""
    monkeypatch.setattr(helpers, "TEST_FLAGS", (*helpers.TEST_FLAGS, *flags))
    rng = np.random.default_rng(RNG_SEED)
    nodes = [
        helper.make_node("Conv", ["X", "W1", "B1"], ["H"], pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["H", "W2"], ["D"], pads=[1, 1, 1, 1], group=8),
        helper.make_node("Conv", ["D", "W3", "B3"], ["Y"], strides=[2, 2]),  # 4 x 6 positions
    ]
    inits = {
        "W1": weights(rng, 8, 3, 3, 3, fan_in=27),
        "B1": weights(rng, 8),
        "W2": weights(rng, 8, 1, 3, 3, fan_in=9),
        "W3": weights(rng, 19, 8, 3, 3, fan_in=72),
        "B3": weights(rng, 19),
    }
    model = make_model(nodes, {"X": (np.float32, (1, 3, 10, 13))}, ["Y"], inits)
    check_against_onnxruntime(model)


@pytest.mark.parametrize(
    "x_shape,w_shape,attrs,bias",
    [
        # 7x7 with pads 1 (a deep CNN stage): 49 positions (6 full 8-row tiles and 1 row), 40
        # output channels (two full panels and 8); batch 2
        ((2, 6, 7, 7), (40, 6, 3, 3), {"pads": [1, 1, 1, 1]}, True),
        # strided, asymmetric pads, no bias: 4 x 3 = 12 positions, 13 channels (a narrow panel)
        ((1, 4, 8, 6), (13, 4, 3, 2), {"strides": [2, 2], "pads": [1, 0, 0, 1]}, False),
        # dilated, exactly 64 positions, 33 channels
        ((1, 3, 10, 10), (33, 3, 2, 2), {"dilations": [2, 2]}, True),
        # 1-D and 3-D
        ((1, 5, 20), (17, 5, 3), {"strides": [2], "pads": [1, 1]}, True),
        ((1, 2, 4, 4, 3), (18, 2, 2, 2, 2), {"pads": [1, 0, 0, 0, 1, 0]}, True),
    ],
    ids=["7x7", "strided_nobias", "dilated_64", "1d", "3d"],
)
def test_conv_weights_by_panel(x_shape, w_shape, attrs, bias):
    """Few output positions: the transposed product streams the packed weights once (every
    row tile and panel rest), then transposes into Y."""
    model = conv_model(x_shape, w_shape, bias=bias, **attrs)
    m = check_against_onnxruntime(model, batch_size=x_shape[0])
    code = m.generate()
    assert "yg[m *" in code


@pytest.mark.parametrize(
    "x_shape,w_shape,attrs",
    [
        # padded path, 40 channels x 9 taps: two k blocks of 20 channels (the second added to Y)
        ((1, 40, 8, 9), (13, 40, 3, 3), {"pads": [1, 1, 1, 1]}),
        # transposed product with packed weights, kdim 65 x 9 = 585: three k blocks of 195 over
        # a narrow packed panel (13 channels)
        ((1, 65, 4, 4), (13, 65, 3, 3), {"pads": [1, 1, 1, 1]}),
        # pointwise, K = 300: two blocks of 150 over 24 output channels and 35 positions
        ((1, 300, 5, 7), (24, 300, 1, 1), {}),
        # im2col, strided: kdim 30 x 9 = 270, two blocks of 135
        ((1, 30, 19, 19), (9, 30, 3, 3), {"strides": [2, 2]}),
    ],
    ids=["padded", "weights_by_panel", "pointwise", "im2col"],
)
def test_conv_deep_products(x_shape, w_shape, attrs):
    """Products deeper than RMODEL_GEMM_KC columns are summed in k blocks (later blocks added to
    Y) on every path, so their rounding stays close to onnxruntime's."""
    m = check_against_onnxruntime(conv_model(x_shape, w_shape, **attrs))
    assert m.generate().count("detail::gemm<") == 1


@pytest.mark.parametrize(
    "x_shape, w_shape",
    [
        ((1, 64, 16, 16), (64, 64, 3, 3)),
        ((1, 128, 8, 8), (128, 128, 3, 3)),
        ((1, 256, 8, 8), (256, 256, 1, 1)),
        ((1, 1024, 4, 4), (256, 1024, 1, 1)),
    ],
    ids=["3x3x64", "3x3x128", "1x1x256", "1x1x1024"],
)
def test_conv_deep_products_as_accurate_as_onnxruntime(x_shape, w_shape):
    """Against a float64 evaluation, rmodel's convolutions are no less accurate than onnxruntime's
    (root mean square error over all outputs): k blocks of RMODEL_GEMM_KC terms keep the running
    sums short. (Single convolutions; a deep network compounds the per-layer error.)"""
    from rmodel.verify import float64_reference, onnxruntime_run

    rng = np.random.default_rng(1)
    w = (rng.standard_normal(w_shape) * np.sqrt(2 / math.prod(w_shape[1:]))).astype(np.float32)
    b = (rng.standard_normal(w_shape[0]) * 0.1).astype(np.float32)
    k = w_shape[2]
    node = helper.make_node("Conv", ["X", "W", "B"], ["Y"], kernel_shape=[k, k], pads=[k // 2] * 4)
    proto = make_model([node], {"X": (np.float32, x_shape)}, ["Y"], {"W": w, "B": b})
    x = rng.uniform(-1, 1, x_shape).astype(np.float32)
    exact = float64_reference(proto, {"X": x})[0]
    ours = rmodel.from_onnx(proto).compile(binding="ctypes").predict(x)
    theirs = onnxruntime_run(proto, {"X": x})[0]

    def rms(y: np.ndarray) -> float:
        return float(np.sqrt(np.mean((y.astype(np.float64) - exact) ** 2)))

    assert rms(ours) <= rms(theirs), f"rms error against float64: rmodel {rms(ours):.3g}, onnxruntime {rms(theirs):.3g}"


def test_conv_weights_by_panel_not_taken():
    """Runtime weights, groups or more positions than WEIGHT_PANEL_POSITIONS keep Y = W . col."""
    positions = im2col.WEIGHT_PANEL_POSITIONS
    cases = [
        conv_model((1, 4, 7, 7), (8, 4, 3, 3), runtime_weights=True, strides=[2, 2]),
        conv_model((1, 4, 7, 7), (8, 2, 3, 3), group=2, strides=[2, 2]),
        conv_model((1, 2, 2, positions + 1), (8, 2, 1, 3), pads=[0, 1, 1, 1], strides=[2, 1]),
    ]
    for model in cases:
        m = check_against_onnxruntime(model)
        assert "yg[m *" not in m.generate()


@pytest.mark.parametrize(
    "x_shape,w_shape,attrs,runtime_weights,strategy",
    [
        ((1, 16, 14, 14), (32, 16, 1, 1), {}, False, Pointwise),
        ((1, 8, 12, 12), (8, 1, 3, 3), {"group": 8, "pads": [1, 1, 1, 1]}, False, depthwise.DepthwiseFlat),
        ((1, 4, 150, 150), (4, 1, 3, 3), {"group": 4}, False, depthwise.Depthwise2d),
        ((1, 4, 6, 7, 8), (4, 1, 3, 2, 3), {"group": 4}, False, depthwise.DepthwiseNd),
        ((1, 64, 4, 4), (128, 64, 3, 3), {"pads": [1, 1, 1, 1]}, False, im2col.WeightPanels),
        ((1, 64, 4, 4), (128, 64, 3, 3), {"pads": [1, 1, 1, 1]}, True, padded.PaddedTaps),
        ((1, 3, 32, 32), (8, 3, 3, 3), {"strides": [2, 2]}, False, im2col.Im2col),
        ((1, 2, 5, 6, 7), (3, 2, 2, 3, 2), {}, False, im2col.Im2col),
    ],
    ids=["pointwise", "depthwise_flat", "depthwise2d", "depthwise_3d", "panels", "padded", "im2col", "im2col_3d"],
)
def test_conv_plan_names_its_strategy(x_shape, w_shape, attrs, runtime_weights, strategy):
    """infer() returns a frozen plan: the dimensions, the window and the chosen strategy; the
    operator itself stays as setup() left it."""
    m = rmodel.from_onnx(conv_model(x_shape, w_shape, runtime_weights=runtime_weights, **attrs))
    (op,) = m.operators
    assert isinstance(op, Conv)
    plan = op.plan
    assert type(plan.strategy) is strategy
    assert (plan.dims.n, plan.dims.c, plan.dims.m) == (x_shape[0], x_shape[1], w_shape[0])
    assert plan.dims.win.out == m.outputs[0].shape[2:]
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.dims = plan.dims  # type: ignore[misc]


def test_pool_and_transpose_plans():
    """AveragePool's plan holds the per-axis tap counts (the padding is not counted); Transpose's
    the permutation it resolved (reversed axes by default)."""
    avg = rmodel.from_onnx(pool_model("AveragePool", (1, 2, 5), kernel_shape=[3], pads=[1, 1])).operators[0]
    assert isinstance(avg, Pool)
    assert avg.plan.counts == ((2, 3, 3, 3, 2),)
    assert avg.plan.win.out == (5,) and avg.plan.planes == 2
    peak = rmodel.from_onnx(pool_model("MaxPool", (1, 2, 5), kernel_shape=[3], pads=[1, 1])).operators[0]
    assert isinstance(peak, Pool) and peak.plan.counts == ()
    node = helper.make_node("Transpose", ["X"], ["Y"])
    t = rmodel.from_onnx(make_model([node], {"X": (np.float32, (2, 3, 4))}, ["Y"], opset=17)).operators[0]
    assert isinstance(t, Transpose) and t.plan.perm == (2, 1, 0)


@pytest.mark.parametrize("bias", [True, False])
def test_conv_pointwise_tiles(bias):
    """1x1 convolution straight into the kernel: 13 output channels (a full row tile plus a
    remainder) over 35 positions (two full 16-column panels plus 3)."""
    check_against_onnxruntime(conv_model((2, 5, 7, 5), (13, 5, 1, 1), bias=bias), batch_size=2)


def test_conv_into_relu_and_pool():
    """Conv -> Relu -> MaxPool -> Conv: workspace and arena sharing between operators."""
    rng = np.random.default_rng(3)
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "w2"], ["y"], strides=[2, 2]),
    ]
    params = {
        "w1": weights(rng, 8, 3, 3, 3, fan_in=27),
        "b1": weights(rng, 8),
        "w2": weights(rng, 4, 8, 2, 2, fan_in=32),
    }
    model = make_model(nodes, {"x": (np.float32, ["N", 3, 12, 10])}, ["y"], params)
    m = check_against_onnxruntime(model, batch_size=2)
    assert m.outputs[0].shape == (2, 4, 3, 2)


@pytest.mark.parametrize(
    "x_shape,w_shape,attrs,message",
    [
        ((1, 3, 8, 8), (4, 2, 3, 3), {}, "input channels"),
        ((1, 6, 8, 8), (4, 2, 3, 3), {"group": 4}, "does not divide the 6 input channels"),
        ((1, 6, 8, 8), (4, 2, 3, 3), {"group": 2}, "input channels"),
        ((1, 6, 8, 8), (5, 3, 3, 3), {"group": 2}, "does not divide the 5 output channels"),
        ((1, 3, 8, 8), (4, 3, 3, 3), {"kernel_shape": [2, 2]}, "kernel_shape"),
        ((1, 3, 2, 8), (4, 3, 3, 3), {}, "smaller than the kernel"),
        ((1, 3, 8, 8), (4, 3, 3, 3), {"pads": [1, 1]}, "'pads' has 2 values"),
        ((1, 3, 8, 8), (4, 3, 3, 3), {"strides": [0, 1]}, "'strides'"),
        ((1, 3, 8, 8), (4, 3, 3), {}, "rank"),
    ],
)
def test_conv_shape_errors(x_shape, w_shape, attrs, message):
    model = conv_model(x_shape, w_shape, bias=False, **attrs)
    with pytest.raises(ShapeError, match=message):
        rmodel.from_onnx(model)


def test_conv_bad_bias_and_attributes():
    model = conv_model((1, 3, 8, 8), (4, 3, 3, 3))
    model.graph.initializer[1].CopyFrom(onnx.numpy_helper.from_array(np.zeros(3, np.float32), "B"))
    with pytest.raises(ShapeError, match=r"bias B must be float32 of shape \(4,\)"):
        rmodel.from_onnx(model)
    with pytest.raises(RModelError, match="auto_pad 'SAME'"):
        rmodel.from_onnx(conv_model((1, 3, 8, 8), (4, 3, 3, 3), auto_pad="SAME"))
    with pytest.raises(RModelError, match="group must be >= 1"):
        rmodel.from_onnx(conv_model((1, 3, 8, 8), (4, 3, 3, 3), group=0))


# ---- ConvTranspose ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rank,stride,pads,output_padding,dilation,bias",
    [
        (1, 1, "none", 0, 1, True),
        (1, 2, "asymmetric", 1, 1, False),
        (1, 3, "symmetric", 2, 2, True),
        (2, 1, "none", 0, 2, False),
        (2, 2, "none", 1, 1, True),
        (2, 2, "symmetric", 0, 1, False),
        (2, 3, "asymmetric", 1, 2, True),
    ],
)
def test_conv_transpose_geometry(rank, stride, pads, output_padding, dilation, bias):
    spatial = (5, 4)[:rank]
    attrs = {
        "strides": [stride] * rank,
        "dilations": [dilation] * rank,
        "output_padding": [output_padding] * rank,
        **pads_for(pads, rank),
    }
    model = conv_model((2, 4, *spatial), (4, 3, *(3, 2)[:rank]), op="ConvTranspose", bias=bias, **attrs)
    check_against_onnxruntime(model, batch_size=2)


@pytest.mark.parametrize("auto_pad", ["VALID", "SAME_UPPER", "SAME_LOWER"])
def test_conv_transpose_auto_pad(auto_pad):
    model = conv_model((1, 3, 5, 4), (3, 2, 3, 4), op="ConvTranspose", auto_pad=auto_pad, strides=[2, 3])
    m = check_against_onnxruntime(model)
    if auto_pad != "VALID":
        assert m.outputs[0].shape == (1, 2, 10, 12)


@pytest.mark.parametrize("auto_pad", ["NOTSET", "SAME_UPPER", "SAME_LOWER"])
@pytest.mark.parametrize("output_shape", [[10, 8], [9, 7], [15, 10], [16, 11], [18, 12]])
def test_conv_transpose_output_shape(output_shape, auto_pad):
    """Cropped (below the full 15 x 11 output) with the padding split by auto_pad, and beyond it by
    less than the stride 4 x 2 (the extra positions at the end take only the bias, as onnxruntime)."""
    model = conv_model(
        (1, 3, 4, 5), (3, 2, 3, 3), op="ConvTranspose", strides=[4, 2], output_shape=output_shape, auto_pad=auto_pad
    )
    m = check_against_onnxruntime(model)
    assert m.outputs[0].shape[2:] == tuple(output_shape[-2:])


@pytest.mark.parametrize("group,w_shape", [(2, (4, 3, 3, 3)), (4, (4, 1, 3, 3))], ids=["grouped", "depthwise"])
@pytest.mark.parametrize("runtime_weights", [False, True])
def test_conv_transpose_groups(group, w_shape, runtime_weights):
    model = conv_model(
        (2, 4, 5, 6),
        w_shape,
        op="ConvTranspose",
        group=group,
        strides=[2, 1],
        pads=[1, 0, 0, 1],
        runtime_weights=runtime_weights,
    )
    check_against_onnxruntime(model, batch_size=2)


@pytest.mark.parametrize(
    "w_shape,attrs,message",
    [
        ((3, 2, 3, 3), {"strides": [2, 2], "output_padding": [2, 0]}, "output_padding"),
        ((4, 2, 3, 3), {}, "input channels as its first dimension"),
        ((3, 2, 3, 3), {"output_shape": [30, 30]}, "exceeds the full transposed output"),
        ((3, 2, 3, 3), {"strides": [2, 2], "output_shape": [11, 9]}, r"by the stride \[2, 2\] or more on axis 0"),
        ((3, 2, 3, 3), {"pads": [3, 3, 3, 3]}, "empty output"),
        ((3, 2, 3, 3), {"output_shape": [1, 2, 9, 9]}, "must give the 2 spatial output dims"),
    ],
)
def test_conv_transpose_errors(w_shape, attrs, message):
    model = conv_model((1, 3, 4, 4), w_shape, op="ConvTranspose", bias=False, **attrs)
    with pytest.raises(ShapeError, match=message):
        rmodel.from_onnx(model)


# ---- MaxPool / AveragePool -------------------------------------------------------------------


def pool_pads(kind: str) -> dict:
    """Pads for a 3x2 pool kernel (onnxruntime wants every pad smaller than the kernel)."""
    return {"none": {}, "symmetric": {"pads": [1, 1, 1, 1]}, "asymmetric": {"pads": [2, 0, 0, 1]}}[kind]


@pytest.mark.parametrize("count_include_pad", [0, 1])
@pytest.mark.parametrize("ceil_mode", [0, 1])
@pytest.mark.parametrize("pads", ["none", "symmetric", "asymmetric"])
@pytest.mark.parametrize("stride", [1, 2])
def test_average_pool(count_include_pad, ceil_mode, pads, stride):
    model = pool_model(
        "AveragePool",
        (2, 3, 10, 7),
        kernel_shape=[3, 2],
        strides=[stride, stride + 1],
        count_include_pad=count_include_pad,
        ceil_mode=ceil_mode,
        **pool_pads(pads),
    )
    check_against_onnxruntime(model, batch_size=2)


@pytest.mark.parametrize("ceil_mode", [0, 1])
@pytest.mark.parametrize("pads", ["none", "symmetric", "asymmetric"])
@pytest.mark.parametrize("stride,dilation", [(1, 1), (2, 2), (3, 1)])
def test_max_pool(ceil_mode, pads, stride, dilation):
    model = pool_model(
        "MaxPool",
        (2, 3, 11, 8),
        kernel_shape=[3, 2],
        strides=[stride, stride],
        dilations=[dilation, 1],
        ceil_mode=ceil_mode,
        **pool_pads(pads),
    )
    check_against_onnxruntime(model, batch_size=2)


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
@pytest.mark.parametrize("auto_pad", ["NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"])
def test_pool_auto_pad(op, auto_pad):
    extra = {"count_include_pad": 1} if op == "AveragePool" else {}
    model = pool_model(op, (1, 3, 9, 8), kernel_shape=[3, 2], strides=[2, 3], auto_pad=auto_pad, **extra)
    check_against_onnxruntime(model)


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
@pytest.mark.parametrize("ceil_mode,pads", [(0, [0, 1]), (1, [1, 1])])
def test_pool_1d(op, ceil_mode, pads):
    extra = {"count_include_pad": 1} if op == "AveragePool" else {}
    model = pool_model(op, (2, 4, 13), kernel_shape=[3], strides=[2], pads=pads, ceil_mode=ceil_mode, **extra)
    check_against_onnxruntime(model, batch_size=2)


@pytest.mark.parametrize("count_include_pad", [0, 1])
def test_average_pool_dilations_opset19(count_include_pad):
    model = pool_model(
        "AveragePool",
        (1, 2, 10, 9),
        opset=19,
        kernel_shape=[2, 3],
        dilations=[2, 2],
        strides=[2, 1],
        pads=[1, 2, 1, 0],
        ceil_mode=1,
        count_include_pad=count_include_pad,
    )
    check_against_onnxruntime(model)


def test_pool_3d():
    model = pool_model(
        "AveragePool", (1, 2, 5, 4, 6), kernel_shape=[2, 2, 3], pads=[1, 0, 0, 0, 1, 1], strides=[2, 1, 2]
    )
    check_against_onnxruntime(model)
    model = pool_model("MaxPool", (1, 2, 5, 4, 6), kernel_shape=[2, 2, 3], pads=[1, 0, 0, 0, 1, 1], strides=[2, 1, 2])
    check_against_onnxruntime(model)


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
def test_ceil_mode_window_starting_in_end_padding_is_dropped(op):
    extra = {"count_include_pad": 1} if op == "AveragePool" else {}
    model = pool_model(op, (1, 2, 5, 6), kernel_shape=[2, 3], strides=[2, 2], pads=[1, 0, 1, 2], ceil_mode=1, **extra)
    m = check_against_onnxruntime(model)
    assert m.outputs[0].shape == (1, 2, 3, 3)


@pytest.mark.parametrize(
    "op,attrs,message",
    [
        ("MaxPool", {"kernel_shape": [3]}, "has 1 axes"),
        ("MaxPool", {"kernel_shape": [9, 2]}, "smaller than the kernel"),
        ("AveragePool", {"kernel_shape": [2, 2], "pads": [1, 1, 1]}, "'pads' has 3 values"),
        ("AveragePool", {"kernel_shape": [2, 2], "strides": [1, 0]}, "'strides'"),
    ],
)
def test_pool_shape_errors(op, attrs, message):
    with pytest.raises(ShapeError, match=message):
        rmodel.from_onnx(pool_model(op, (1, 3, 8, 6), **attrs))


def test_pool_attribute_errors():
    with pytest.raises(RModelError, match="required attribute 'kernel_shape'"):
        rmodel.from_onnx(pool_model("MaxPool", (1, 3, 8, 6)))
    with pytest.raises(RModelError, match="kernel_shape"):
        rmodel.from_onnx(pool_model("AveragePool", (1, 3, 8, 6), kernel_shape=[0, 2]))
    with pytest.raises(RModelError, match="auto_pad 'FULL'"):
        rmodel.from_onnx(pool_model("MaxPool", (1, 3, 8, 6), kernel_shape=[2, 2], auto_pad="FULL"))
    with pytest.raises(RModelError, match="dilations"):  # AveragePool has no dilations before opset 19
        rmodel.from_onnx(pool_model("AveragePool", (1, 3, 8, 6), kernel_shape=[2, 2], dilations=[2, 2]))
    node = helper.make_node("MaxPool", ["X"], ["Y", "I"], kernel_shape=[2, 2])
    model = make_model([node], {"X": (np.float32, (1, 3, 8, 6))}, {"Y": np.float32, "I": np.int64})
    with pytest.raises(RModelError, match="Indices output"):
        rmodel.from_onnx(model)


# ---- global pools ----------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool"])
@pytest.mark.parametrize("shape", [(2, 3, 5), (2, 4, 9, 7), (1, 2, 3, 4, 5)], ids=["1d", "2d", "3d"])
def test_global_pool(op, shape):
    m = check_against_onnxruntime(pool_model(op, shape), batch_size=shape[0])
    assert m.outputs[0].shape == shape[:2] + (1,) * (len(shape) - 2)


def test_global_pool_errors():
    model = make_model([helper.make_node("GlobalMaxPool", ["X"], ["Y"])], {"X": (np.int64, (1, 3, 4))}, {"Y": np.int64})
    with pytest.raises(ShapeError, match="only float32"):
        rmodel.from_onnx(model)
