"""Quantized operators against onnxruntime, bit for bit (np.array_equal, NaN in the same places).

Cases are batched: one model holds many nodes, each with its own inputs and outputs, so a whole
attribute space costs one C++ build.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from helpers import TEST_FLAGS, make_model
from onnx import helper

import rmodel
from rmodel.errors import RModelError
from rmodel.verify import onnxruntime_run, onnxruntime_session


def assert_exact(proto, feeds, **load_options) -> rmodel.RModel:
    """Compile ``proto`` and assert every output equals onnxruntime's exactly."""
    m = rmodel.from_onnx(proto, **load_options)
    got = m.compile(binding="ctypes", flags=TEST_FLAGS).predict(*[feeds[n] for n in m.input_names])
    got = [got] if len(m.outputs) == 1 else list(got)
    ref = onnxruntime_run(proto, feeds, m.output_names)
    bad = []
    for name, g, r in zip(m.output_names, got, ref):
        assert g.dtype == r.dtype and g.shape == r.shape, (name, g.dtype, r.dtype, g.shape, r.shape)
        if not np.array_equal(g, r, equal_nan=g.dtype.kind == "f"):
            same = (g == r) | (np.isnan(g) & np.isnan(r)) if g.dtype.kind == "f" else g == r
            where = np.argwhere(~same)
            i = tuple(where[0])
            bad.append(f"{name}: {len(where)} differ, first at {i}: got {g[i]!r}, onnxruntime {r[i]!r}")
    assert not bad, "; ".join(bad)
    return m


def tie_values(rng: np.random.Generator, scale: np.float32, count: int) -> np.ndarray:
    """Floats on, and one step either side of, (k + 1/2) * scale: the rounding ties of x / scale."""
    k = rng.integers(-300, 300, count).astype(np.float32) + np.float32(0.5)
    x = (k * scale).astype(np.float32)
    return np.concatenate([x, np.nextafter(x, np.float32(np.inf)), np.nextafter(x, np.float32(-np.inf))])


SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30, -1e30, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5], np.float32)


def test_quantize_dequantize_exact():
    """Per-tensor and per-axis, int8/uint8/int16, with and without zero points, on ties and
    special values: every QuantizeLinear and DequantizeLinear node of one model."""
    rng = np.random.default_rng(0)
    nodes, inputs, outputs, inits, feeds = [], {}, {}, {}, {}
    cases = [
        # (x shape, axis, scale shape, quantized type, zero point?)
        ((3 * 300,), 1, (), np.int8, True),
        ((3 * 300,), 1, (), np.uint8, True),
        ((3 * 300,), 1, (), np.uint8, False),
        ((3 * 300,), 1, (), np.int16, True),
        ((2, 3, 5, 30), 1, (3,), np.int8, True),
        ((2, 3, 5, 30), -1, (30,), np.uint8, True),
        ((6, 150), 0, (6,), np.int8, False),
        ((6, 150), 0, (6,), np.int16, True),
    ]
    for i, (shape, axis, sshape, qtype, with_zero) in enumerate(cases):
        info = np.iinfo(qtype)
        count = int(np.prod(sshape)) if sshape else 1
        scale = rng.uniform(0.003, 0.3, count).astype(np.float32).reshape(sshape)
        zero = rng.integers(info.min // 4, info.max // 4 + 1, count).astype(qtype).reshape(sshape)
        if not with_zero and qtype != np.int8:
            zero = np.zeros(sshape, qtype)
        x = tie_values(rng, np.float32(scale.reshape(-1)[0]), int(np.prod(shape)) // 3).reshape(shape)
        x.reshape(-1)[: SPECIAL.size] = SPECIAL
        q_in = [f"x{i}", f"s{i}"] + ([f"z{i}"] if with_zero else [])
        nodes.append(helper.make_node("QuantizeLinear", q_in, [f"q{i}"], axis=axis))
        dq_in = [f"qi{i}", f"s{i}"] + ([f"z{i}"] if with_zero else [])
        nodes.append(helper.make_node("DequantizeLinear", dq_in, [f"d{i}"], axis=axis))
        inputs[f"x{i}"] = (np.float32, shape)
        inputs[f"qi{i}"] = (qtype if with_zero else np.uint8, shape)
        outputs[f"q{i}"] = qtype if with_zero else np.uint8
        outputs[f"d{i}"] = np.float32
        inits[f"s{i}"] = scale
        if with_zero:
            inits[f"z{i}"] = zero
        qinfo = np.iinfo(outputs[f"q{i}"])
        feeds[f"x{i}"] = x
        feeds[f"qi{i}"] = rng.integers(qinfo.min, qinfo.max + 1, shape).astype(outputs[f"q{i}"])
    # int32 bias dequantized (as QDQ models store it) and a run-time scale and zero point
    nodes.append(helper.make_node("DequantizeLinear", ["b32", "s0"], ["db"]))
    nodes.append(helper.make_node("QuantizeLinear", ["x0", "rs", "rz"], ["rq"]))
    inputs.update({"b32": (np.int32, (50,)), "rs": (np.float32, ()), "rz": (np.int8, ())})
    outputs.update({"db": np.float32, "rq": np.int8})
    feeds.update(
        b32=rng.integers(-(2**31), 2**31, 50, dtype=np.int64).astype(np.int32),
        rs=np.array(0.0625, np.float32),
        rz=np.array(-3, np.int8),
    )
    proto = make_model(nodes, inputs, outputs, inits, opset=21)
    assert_exact(proto, feeds)


def test_dynamic_quantize_linear():
    rng = np.random.default_rng(1)
    xs = {
        "a": rng.uniform(-3, 5, (4, 37)).astype(np.float32),
        "b": rng.uniform(0.5, 2, (64,)).astype(np.float32),  # all positive: min is 0
        "c": -rng.uniform(0.5, 2, (3, 5)).astype(np.float32),  # all negative: zero point 255
        "d": np.zeros((7,), np.float32),  # empty range: scale 1
        "e": np.array([-1.0, 1.0, 0.25, -0.25, 0.5], np.float32),
    }
    nodes = [helper.make_node("DynamicQuantizeLinear", [k], [f"y{k}", f"s{k}", f"z{k}"]) for k in xs]
    outputs = {}
    for k in xs:
        outputs.update({f"y{k}": np.uint8, f"s{k}": np.float32, f"z{k}": np.uint8})
    proto = make_model(nodes, {k: (np.float32, v.shape) for k, v in xs.items()}, outputs, opset=11)
    assert_exact(proto, xs)


def test_refusals():
    def q(**attrs):
        return make_model(
            [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"], **attrs)],
            {"x": (np.float32, [2, 4])},
            {"y": np.int8},
            {"s": np.full((2, 2), 0.1, np.float32), "z": np.zeros((2, 2), np.int8)},
            opset=21,
        )

    with pytest.raises(RModelError, match=r"node '.*' \(QuantizeLinear\): attribute block_size=2 is not supported"):
        rmodel.from_onnx(q(block_size=2, axis=1))
    with pytest.raises(RModelError, match="blocked quantization is not"):
        rmodel.from_onnx(q())


def _ints(rng: np.random.Generator, dtype, shape) -> np.ndarray:
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max + 1, shape).astype(dtype)


# (a shape, b shape, a type, b type, b zero point: None / "scalar" / "column", b constant)
MATMUL_CASES = [
    ((3, 4), (4, 5), np.uint8, np.int8, "scalar", True),
    ((3, 4), (4, 5), np.uint8, np.uint8, "column", True),
    ((3, 4), (4, 5), np.int8, np.int8, None, True),
    ((2, 3, 20), (20, 17), np.uint8, np.int8, "column", True),
    ((2, 3, 4), (2, 4, 5), np.uint8, np.uint8, "scalar", False),
    ((2, 1, 3, 4), (3, 4, 2), np.int8, np.int8, "scalar", False),
    ((5, 7), (7, 3), np.int8, np.uint8, "column", False),
    ((4,), (4, 5), np.uint8, np.int8, "scalar", True),
    ((3, 4), (4,), np.uint8, np.uint8, "scalar", False),
    ((1, 6), (6, 1), np.int8, np.uint8, None, True),
]


def _matmul_model(rng: np.random.Generator, quantized: bool):
    nodes, inputs, outputs, inits, feeds = [], {}, {}, {}, {}
    for i, (ashape, bshape, at, bt, bzero, bconst) in enumerate(MATMUL_CASES):
        n = bshape[-1] if len(bshape) > 1 else 1
        if quantized and (at, bt) == (np.int8, np.uint8):
            continue  # onnxruntime has no s8u8 QLinearMatMul
        a, b = _ints(rng, at, ashape), _ints(rng, bt, bshape)
        az = _ints(rng, at, ())
        bz = _ints(rng, bt, (n,) if bzero == "column" else ())
        feeds[f"a{i}"] = a
        inputs[f"a{i}"] = (at, ashape)
        (inits if bconst else feeds)[f"b{i}"] = b
        if not bconst:
            inputs[f"b{i}"] = (bt, bshape)
        inits[f"az{i}"] = az
        inits[f"bz{i}"] = bz if bzero else np.zeros((), bt)
        if quantized:
            per_column = bzero == "column"
            inits[f"as{i}"] = np.float32(rng.uniform(0.01, 0.1))
            inits[f"bs{i}"] = rng.uniform(0.001, 0.05, (n,) if per_column else ()).astype(np.float32)
            acc = np.matmul(a.astype(np.int64) - az, b.astype(np.int64) - bz.reshape(-1)[-1])
            # a y_scale that spreads y over its range, a few values saturating
            inits[f"ys{i}"] = np.float32(np.abs(acc).max() * inits[f"as{i}"] * inits[f"bs{i}"].max() / 150)
            yt = at  # onnxruntime: y has the type of a
            inits[f"yz{i}"] = _ints(rng, yt, ())
            ins = [f"a{i}", f"as{i}", f"az{i}", f"b{i}", f"bs{i}", f"bz{i}", f"ys{i}", f"yz{i}"]
            nodes.append(helper.make_node("QLinearMatMul", ins, [f"y{i}"]))
            outputs[f"y{i}"] = yt
        else:
            ins = [f"a{i}", f"b{i}", f"az{i}"] + ([f"bz{i}"] if bzero else [])
            nodes.append(helper.make_node("MatMulInteger", ins, [f"y{i}"]))
            outputs[f"y{i}"] = np.int32
    return make_model(nodes, inputs, outputs, inits, opset=20 if quantized else 10), feeds


@pytest.mark.parametrize("quantized", [False, True], ids=["MatMulInteger", "QLinearMatMul"])
def test_integer_matmul(quantized):
    proto, feeds = _matmul_model(np.random.default_rng(2), quantized)
    assert_exact(proto, feeds)


# (x shape, w shape, attributes, x type, w type, per-channel w zero point / scale)
CONV_CASES = [
    ((1, 3, 7, 7), (4, 3, 3, 3), {"pads": [1, 1, 1, 1]}, np.uint8, np.int8, True),
    (
        (1, 3, 9, 8),
        (5, 3, 3, 2),
        {"strides": [2, 1], "dilations": [2, 2], "pads": [0, 1, 2, 0]},
        np.uint8,
        np.uint8,
        False,
    ),
    ((2, 4, 6, 5), (6, 2, 3, 2), {"group": 2, "pads": [1, 0, 1, 1]}, np.int8, np.int8, True),
    ((1, 4, 5, 5), (4, 1, 3, 3), {"group": 4, "auto_pad": "SAME_UPPER", "strides": [2, 2]}, np.uint8, np.int8, True),
    ((1, 3, 10), (2, 3, 3), {"pads": [1, 2], "strides": [2]}, np.uint8, np.int8, False),
    ((1, 8, 4, 4), (16, 8, 1, 1), {}, np.uint8, np.uint8, True),
]


def _conv_model(rng: np.random.Generator, quantized: bool):
    nodes, inputs, outputs, inits, feeds = [], {}, {}, {}, {}
    for i, (xshape, wshape, attrs, xt, wt, per_channel) in enumerate(CONV_CASES):
        if not quantized and xt != np.uint8:
            continue  # onnxruntime's ConvInteger takes uint8 x only
        m = wshape[0]
        x, w = _ints(rng, xt, xshape), _ints(rng, wt, wshape)
        xz = _ints(rng, xt, ())
        # onnxruntime: ConvInteger takes a scalar w zero point, QLinearConv zero for int8 weights
        wz_shape = (m,) if per_channel and quantized else ()
        wz = _ints(rng, wt, wz_shape) if not quantized or wt == np.uint8 else np.zeros(wz_shape, wt)
        feeds[f"x{i}"], inputs[f"x{i}"] = x, (xt, xshape)
        inits.update({f"w{i}": w, f"xz{i}": xz, f"wz{i}": wz})
        if quantized:
            inits[f"xs{i}"] = np.float32(rng.uniform(0.01, 0.1))
            inits[f"ws{i}"] = rng.uniform(0.001, 0.05, (m,) if per_channel else ()).astype(np.float32)
            inits[f"ys{i}"] = np.float32(inits[f"xs{i}"] * inits[f"ws{i}"].max() * 120 * 120 * np.sqrt(w[0].size) / 60)
            inits[f"yz{i}"] = _ints(rng, xt, ())
            inits[f"bias{i}"] = rng.integers(-20000, 20000, m).astype(np.int32)
            ins = [f"x{i}", f"xs{i}", f"xz{i}", f"w{i}", f"ws{i}", f"wz{i}", f"ys{i}", f"yz{i}"]
            ins += [f"bias{i}"] if i % 2 == 0 else []
            nodes.append(helper.make_node("QLinearConv", ins, [f"y{i}"], **attrs))
            outputs[f"y{i}"] = xt
        else:
            nodes.append(helper.make_node("ConvInteger", [f"x{i}", f"w{i}", f"xz{i}", f"wz{i}"], [f"y{i}"], **attrs))
            outputs[f"y{i}"] = np.int32
    return make_model(nodes, inputs, outputs, inits, opset=10), feeds


@pytest.mark.parametrize("quantized", [False, True], ids=["ConvInteger", "QLinearConv"])
def test_integer_conv(quantized):
    proto, feeds = _conv_model(np.random.default_rng(3), quantized)
    assert_exact(proto, feeds)


def _float_model() -> onnx.ModelProto:
    """A small seeded Conv + Relu + Gemm network."""
    rng = np.random.default_rng(0)
    params = {
        "w": (rng.standard_normal((4, 3, 3, 3)) * 0.3).astype(np.float32),
        "b": (rng.standard_normal(4) * 0.1).astype(np.float32),
        "g": (rng.standard_normal((4 * 4 * 4, 5)) * 0.2).astype(np.float32),
        "gb": (rng.standard_normal(5) * 0.1).astype(np.float32),
    }
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Flatten", ["r"], ["f"]),
        helper.make_node("Gemm", ["f", "g", "gb"], ["y"]),
    ]
    return make_model(nodes, {"x": (np.float32, [1, 3, 8, 8])}, ["y"], params)


class _Calibration:
    """Four seeded inputs for onnxruntime's calibration."""

    def __init__(self):
        rng = np.random.default_rng(1)
        self.data = iter([{"x": rng.uniform(-1, 1, (1, 3, 8, 8)).astype(np.float32)} for _ in range(4)])

    def get_next(self):
        return next(self.data, None)


@pytest.mark.parametrize("fmt", ["QDQ", "QOperator"])
def test_onnxruntime_quantized_model(fmt, tmp_path):
    """quantize_static's own output, in both formats: the float outputs (after the last
    DequantizeLinear) equal onnxruntime's on 20 inputs. QDQ groups run as the integer operators
    onnxruntime fuses them into (rmodel.qdq)."""
    quantization = pytest.importorskip("onnxruntime.quantization")
    reader = type("Reader", (_Calibration, quantization.CalibrationDataReader), {})()
    onnx.save(_float_model(), tmp_path / "float.onnx")
    quantization.quantize_static(
        str(tmp_path / "float.onnx"),
        str(tmp_path / "q.onnx"),
        reader,
        quant_format=getattr(quantization.QuantFormat, fmt),
        activation_type=quantization.QuantType.QUInt8,
        weight_type=quantization.QuantType.QInt8,
    )
    proto = onnx.load(tmp_path / "q.onnx")
    m = rmodel.from_onnx(proto)
    kinds = {op.op_type for op in m.operators}
    assert {"QLinearConv", "com.microsoft::QGemm"} <= kinds and not {"Conv", "Gemm"} & kinds, kinds
    net = m.compile(binding="ctypes", flags=TEST_FLAGS)
    session = onnxruntime_session(proto)
    exported = onnxruntime_session(m.to_onnx())  # rmodel's operators as ONNX (QGemm in its domain)
    rng = np.random.default_rng(4)
    for _ in range(20):
        x = rng.uniform(-1.3, 1.3, (1, 3, 8, 8)).astype(np.float32)
        got, ref = net.predict(x), session.run(None, {"x": x})[0]
        assert got.dtype == ref.dtype == np.float32 and np.array_equal(got, ref), (got, ref)
        assert np.array_equal(exported.run(None, {"x": x})[0], ref)
    m.save(tmp_path / "q.rmodel")
    assert rmodel.load(tmp_path / "q.rmodel").generate() == m.generate()


# (m, k, n, transB, alpha, C shape, output: "int", "float" (y_scale, no zero point) or "raw" (neither), per column)
QGEMM_CASES = [
    (3, 16, 5, 0, 1.0, (5,), "int", False),
    (4, 9, 7, 1, 0.5, None, "int", True),
    (2, 20, 3, 0, 1.0, (2, 3), "int", True),
    (3, 8, 4, 1, 1.0, (1,), "float", False),
    (5, 6, 2, 0, 2.0, (5, 1), "raw", True),
]


def test_qgemm():
    """com.microsoft QGemm over transB, alpha, the broadcast of C and the three output forms."""
    rng = np.random.default_rng(5)
    nodes, inputs, outputs, inits, feeds = [], {}, {}, {}, {}
    for i, (m, k, n, trans_b, alpha, c_shape, output, per_column) in enumerate(QGEMM_CASES):
        at, bt = (np.uint8, np.int8) if i % 2 == 0 else (np.uint8, np.uint8)
        feeds[f"a{i}"], inputs[f"a{i}"] = _ints(rng, at, (m, k)), (at, (m, k))
        inits[f"b{i}"] = _ints(rng, bt, (n, k) if trans_b else (k, n))
        cols = (n,) if per_column else ()
        inits.update({f"as{i}": np.float32(0.02), f"az{i}": _ints(rng, at, ())})
        inits.update({f"bs{i}": rng.uniform(0.001, 0.01, cols).astype(np.float32), f"bz{i}": _ints(rng, bt, cols)})
        ins = [f"a{i}", f"as{i}", f"az{i}", f"b{i}", f"bs{i}", f"bz{i}"]
        if c_shape is not None:
            inits[f"c{i}"] = rng.integers(-30000, 30000, c_shape).astype(np.int32)
        ins.append(f"c{i}" if c_shape is not None else "")
        if output != "raw":
            inits[f"ys{i}"] = np.float32(0.02 * 0.01 * 120 * 120 * np.sqrt(k) / 50)
            ins.append(f"ys{i}")
        if output == "int":
            inits[f"yz{i}"] = _ints(rng, at, ())
            ins.append(f"yz{i}")
        nodes.append(helper.make_node("QGemm", ins, [f"y{i}"], domain="com.microsoft", alpha=alpha, transB=trans_b))
        outputs[f"y{i}"] = at if output == "int" else np.float32
    proto = make_model(nodes, inputs, outputs, inits)
    proto.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    assert_exact(proto, feeds)


def test_qdq_fusion_of_matmul_and_unfused_groups():
    """DQ -> MatMul -> Q becomes QLinearMatMul; a Conv whose output is not quantized stays a float
    Conv (as in onnxruntime), its weights dequantized at load time with onnxruntime's arithmetic."""
    rng = np.random.default_rng(6)
    inits = {
        "s": np.float32(0.05),
        "z": np.uint8(120),
        "wq": _ints(rng, np.int8, (24, 6)),
        "ws": rng.uniform(0.001, 0.01, 6).astype(np.float32),
        "wz": np.zeros(6, np.int8),
        "ys": np.float32(0.03),
        "yz": np.uint8(100),
        "cw": _ints(rng, np.int8, (2, 3, 3, 3)),
        "cs": np.float32(0.01),
        "cz": np.int8(0),
    }
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"]),
        helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["wd"], axis=1),
        helper.make_node("MatMul", ["xd", "wd"], ["mm"]),
        helper.make_node("QuantizeLinear", ["mm", "ys", "yz"], ["yq"]),
        helper.make_node("DequantizeLinear", ["yq", "ys", "yz"], ["y"]),
        helper.make_node("DequantizeLinear", ["ximg", "s", "z"], ["imgd"]),
        helper.make_node("DequantizeLinear", ["cw", "cs", "cz"], ["cwd"]),
        helper.make_node("Conv", ["imgd", "cwd"], ["conv"]),
    ]
    inputs = {"x": (np.float32, (5, 24)), "ximg": (np.uint8, (1, 3, 5, 5))}
    proto = make_model(nodes, inputs, {"y": np.float32, "conv": np.float32}, inits, opset=13)
    m = rmodel.from_onnx(proto)
    assert [op.op_type for op in m.operators] == ["QuantizeLinear", "QLinearMatMul", "DequantizeLinear"] + [
        "DequantizeLinear",
        "Conv",
    ]
    feeds = {"x": rng.uniform(-3, 3, (5, 24)).astype(np.float32), "ximg": _ints(rng, np.uint8, (1, 3, 5, 5))}
    m = rmodel.from_onnx(proto)
    got = m.compile(binding="ctypes", flags=TEST_FLAGS).predict(feeds["x"], feeds["ximg"])
    ref = onnxruntime_run(proto, feeds, m.output_names)
    assert np.array_equal(got[0], ref[0])
    # a float Conv: sums of 27 terms of up to 8 in magnitude, which cancel; float rounding differs
    np.testing.assert_allclose(got[1], ref[1], rtol=0, atol=27 * 8 * 2**-23)


def test_qdq_conv_fusion_rules():
    """Conv groups as onnxruntime fuses them: a bias whose scale is x_scale * w_scale (fused), one
    whose scale is not (left a float Conv, as onnxruntime leaves it), and a Relu made redundant by
    a QuantizeLinear with the type's minimum as zero point (dropped into the QLinearConv)."""
    rng = np.random.default_rng(7)
    c, m = 64, 32
    ws = rng.uniform(0.001, 0.003, m).astype(np.float32)
    inits = {
        "xs": np.float32(0.0173),
        "xz": np.uint8(128),
        "w": _ints(rng, np.int8, (m, c, 3, 3)),
        "ws": ws,
        "wz": np.zeros(m, np.int8),
        "b": rng.integers(-5000, 5000, m).astype(np.int32),
        "bs": (np.float32(0.0173) * ws).astype(np.float32),
        "bad_bs": (np.float32(0.0173) * ws * 1.5).astype(np.float32),
        "ys": np.float32(0.37),
        "yz": np.uint8(128),
        "yz0": np.uint8(0),
    }
    dq = helper.make_node
    nodes = [
        dq("DequantizeLinear", ["x", "xs", "xz"], ["xd"]),
        dq("DequantizeLinear", ["w", "ws", "wz"], ["wd"], axis=0),
        dq("DequantizeLinear", ["b", "bs"], ["bd"], axis=0),
        dq("DequantizeLinear", ["b", "bad_bs"], ["bad_bd"], axis=0),
        dq("Conv", ["xd", "wd", "bd"], ["c1"], pads=[1, 1, 1, 1]),
        dq("QuantizeLinear", ["c1", "ys", "yz"], ["fused"]),
        dq("Conv", ["xd", "wd", "bad_bd"], ["c2"], pads=[1, 1, 1, 1]),
        dq("QuantizeLinear", ["c2", "ys", "yz"], ["float"]),
        dq("Conv", ["xd", "wd", "bd"], ["c3"], strides=[2, 2]),
        dq("Relu", ["c3"], ["r3"]),
        dq("QuantizeLinear", ["r3", "ys", "yz0"], ["relu"]),
    ]
    outputs = {"fused": np.uint8, "float": np.uint8, "relu": np.uint8}
    proto = make_model(nodes, {"x": (np.uint8, (1, c, 10, 10))}, outputs, inits, opset=13)
    m_ = rmodel.from_onnx(proto)
    assert sorted(op.op_type for op in m_.operators) == ["Conv", "DequantizeLinear", "QLinearConv", "QLinearConv"] + [
        "QuantizeLinear"
    ]
    x = _ints(rng, np.uint8, (1, c, 10, 10))
    got = m_.compile(binding="ctypes", flags=TEST_FLAGS).predict(x)
    ref = onnxruntime_run(proto, {"x": x}, m_.output_names)
    assert np.array_equal(got[0], ref[0]) and np.array_equal(got[2], ref[2])
    # the float Conv: onnxruntime's float sums differ in their last bits, rarely across a tie
    assert np.abs(got[1].astype(int) - ref[1].astype(int)).max() <= 1
