"""The HLS IO types (io_serial, io_stream, io_parallel) give the same numbers, and the cost model's
pipelined-loop ``trips`` equal the iterations counted in C simulation, for every stage kind but
Conv and pooling (tests/test_hls_ops.py).

Each model combines several operators so that a handful of compiles covers them all.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import make_model, weights
from onnx import helper
from test_hls import assert_matches, hls_errors

import rmodel
from rmodel.emitters.hls import compile_hls
from rmodel.emitters.hls.csim import check_loop_trips

IO_TYPES = ["io_serial", "io_stream", "io_parallel"]


def _node(op, inputs, outputs, **attrs):
    return helper.make_node(op, inputs, outputs, **attrs)


def _elementwise_model():
    """Activations, arithmetic (two streams, constants on either side), Softmax over three axes,
    BatchNormalization (row-major, channels-last after a Transpose, reordered), Reduce*, Concat."""
    rng = np.random.default_rng(11)

    def bn(tag):
        return {
            f"g{tag}": weights(rng, 3),
            f"be{tag}": weights(rng, 3),
            f"m{tag}": weights(rng, 3),
            f"v{tag}": np.abs(weights(rng, 3)) + 0.5,
        }

    nodes = [
        _node("Relu", ["x"], ["relu"]),
        _node("LeakyRelu", ["relu"], ["leaky"], alpha=0.2),
        _node("Sigmoid", ["leaky"], ["sig"]),
        _node("Tanh", ["x"], ["tanh"]),
        _node("Shrink", ["tanh"], ["shrink"], lambd=0.1, bias=0.05),
        _node("Add", ["sig", "shrink"], ["sum"]),
        _node("Mul", ["sum", "k"], ["prod"]),
        _node("Sub", ["k2", "prod"], ["diff"]),  # the constant on the left
        _node("Softmax", ["diff"], ["soft1"], axis=1),
        _node("Softmax", ["diff"], ["soft3"], axis=-1),
        _node("BatchNormalization", ["x", "g0", "be0", "m0", "v0"], ["bn0"]),
        _node("Transpose", ["bn0"], ["swap"], perm=[0, 1, 3, 2]),  # (1, 3, 4, 2): a reorder for the next
        _node("BatchNormalization", ["swap", "g1", "be1", "m1", "v1"], ["bn1"]),
        _node("Transpose", ["xl"], ["nchw"], perm=[0, 3, 1, 2]),  # channels-last arrives
        _node("BatchNormalization", ["nchw", "g1", "be1", "m1", "v1"], ["bn2"]),
        _node("Add", ["bn2", "soft1"], ["mix"]),
        _node("ReduceMean", ["bn1"], ["mean"], axes=[1, 2], keepdims=0),
        _node("ReduceMax", ["mix"], ["max"], axes=[2], keepdims=1),
        _node("ReduceSum", ["soft3", "axis2"], ["total"], keepdims=0),
        _node("ReduceMin", ["nchw"], ["min"], axes=[2], keepdims=0),
        _node("Concat", ["min", "total", "min"], ["cat"], axis=2),
        _node("Concat", ["max", "bn0"], ["cat2"], axis=2),
    ]
    inits = {"k": weights(rng, 2, 4), "k2": weights(rng, 4), "axis2": np.array([2], np.int64), **bn(0), **bn(1)}
    return make_model(
        nodes,
        {"x": (np.float32, [1, 3, 2, 4]), "xl": (np.float32, [1, 2, 4, 3])},
        ["soft3", "mean", "cat", "cat2"],
        inits,
    )


def _with_zeros(w: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``w`` with about a quarter of its entries 0 (skipped by the MAC core)."""
    return np.where(rng.uniform(size=w.shape) < 0.25, 0.0, w).astype(np.float32)


def _dense_recurrent_model():
    """LSTM and GRU on one sequence (some weights zero), Gemm (transA/transB, bias or none) and
    MatMul after them, a Transpose between Gemms."""
    rng = np.random.default_rng(12)
    t, i, h = 3, 4, 5
    lstm = {"wl": weights(rng, 1, 4 * h, i), "rl": weights(rng, 1, 4 * h, h), "bl": weights(rng, 1, 8 * h)}
    gru = {"wg": weights(rng, 1, 3 * h, i), "rg": weights(rng, 1, 3 * h, h), "bg": weights(rng, 1, 6 * h)}
    lstm["rl"] = _with_zeros(lstm["rl"], rng)
    gru["wg"] = _with_zeros(gru["wg"], rng)
    nodes = [
        _node("LSTM", ["x", "wl", "rl", "bl"], ["yl", "hl", "cl"], hidden_size=h),
        _node("GRU", ["x", "wg", "rg", "bg"], ["yg", ""], hidden_size=h),
        _node("Reshape", ["yl", "shape"], ["seq"]),  # (t, h)
        _node("Gemm", ["seq", "b1", "c1"], ["g1"], transB=1),  # (t, 6)
        _node("Transpose", ["g1"], ["g1t"], perm=[1, 0]),
        _node("Gemm", ["g1t", "b2"], ["g2"], transA=1),  # (t, 4), no bias
        _node("Reshape", ["yg", "shape"], ["seqg"]),
        _node("MatMul", ["seqg", "b3"], ["mm"]),  # (t, 4)
        _node("Add", ["g2", "mm"], ["out"]),
    ]
    inits = {
        **lstm,
        **gru,
        "shape": np.array([t, h], np.int64),
        "b1": weights(rng, 6, h),
        "c1": weights(rng, 6),
        "b2": _with_zeros(weights(rng, 6, 4), rng),
        "b3": weights(rng, h, 4),
    }
    return make_model(nodes, {"x": (np.float32, [t, 1, i])}, ["out", "hl", "cl"], inits)


def _batch_first_model():
    """LSTM (initial states, no Y_h) and GRU (linear_before_reset) with layout=1 and batch 2."""
    rng = np.random.default_rng(13)
    h, i = 4, 3
    inits = {
        "wl": weights(rng, 1, 4 * h, i),
        "rl": weights(rng, 1, 4 * h, h),
        "bl": weights(rng, 1, 8 * h),
        "h0": weights(rng, 2, 1, h),
        "c0": weights(rng, 2, 1, h),
        "wg": weights(rng, 1, 3 * h, i),
        "rg": weights(rng, 1, 3 * h, h),
        "bg": weights(rng, 1, 6 * h),
    }
    nodes = [
        _node("LSTM", ["x", "wl", "rl", "bl", "", "h0", "c0"], ["yl", "", "cl"], hidden_size=h, layout=1),
        _node("GRU", ["x", "wg", "rg", "bg"], ["", "hg"], hidden_size=h, layout=1, linear_before_reset=1),
    ]
    return make_model(nodes, {"x": (np.float32, [2, 3, i])}, ["yl", "cl", "hg"], inits)


@pytest.mark.parametrize("io_type", IO_TYPES)
@pytest.mark.parametrize("build", [_elementwise_model, _dense_recurrent_model], ids=["elementwise", "dense_recurrent"])
def test_float_mode_matches_onnxruntime_in_every_io_type(build, io_type):
    assert_matches(build(), io_type=io_type, reuse_factor=2)


def test_recurrent_fixed_point_error_is_the_same_in_every_io_type():
    model = _dense_recurrent_model()
    errors = {io: hls_errors(model, precision="ap_fixed<16,6>", io_type=io) for io in IO_TYPES}
    for name, (serial, scale) in errors["io_serial"].items():
        assert serial < 0.02 * scale, (name, serial)
        for io in ("io_stream", "io_parallel"):
            assert abs(errors[io][name][0] - serial) <= 1e-3 * scale, (io, name, errors[io][name], serial)


def test_batch_first_recurrent_layers_agree_across_io_types():
    # onnxruntime has no layout=1 kernels; io_serial's stage is checked against the CPU target
    m = rmodel.from_onnx(_batch_first_model())
    x = np.random.default_rng(5).uniform(-1, 1, m.inputs[0].shape).astype(np.float32)
    serial = compile_hls(m, precision="float").predict(x)
    cpu = m.compile(binding="ctypes").predict(x)
    for c, s in zip(cpu, serial):
        assert np.max(np.abs(c - s)) <= 1e-6 * max(1.0, float(np.max(np.abs(c))))
    for io in ("io_stream", "io_parallel"):
        got = compile_hls(m, precision="float", io_type=io, reuse_factor=4).predict(x)
        for s, g in zip(serial, got):
            assert s.shape == g.shape
            assert np.max(np.abs(s - g)) <= 1e-6 * max(1.0, float(np.max(np.abs(s)))), io


@pytest.mark.parametrize("strategy,reuse", [("latency", 1), ("resource", 4)])
@pytest.mark.parametrize("io_type", IO_TYPES)
@pytest.mark.parametrize("build", [_elementwise_model, _dense_recurrent_model], ids=["elementwise", "dense_recurrent"])
def test_cost_model_trips_equal_counted_iterations(build, io_type, strategy, reuse):
    m = rmodel.from_onnx(build())
    checks = check_loop_trips(
        m, io_type=io_type, strategy=strategy, reuse_factor=reuse, precision="ap_fixed<16,6>", calls=1
    )
    assert {c.layer for c in checks} >= {op.name for op in m.operators if op.op_type not in ("Reshape", "Transpose")}
    if io_type != "io_parallel" or build is _dense_recurrent_model:  # io_parallel unrolls all but reuse loops
        assert sum(c.measured for c in checks) > 0  # the counting works
    wrong = [c for c in checks if c.estimated != c.measured]
    assert not wrong, wrong


def _fusion_model():
    """Conv -> Relu (fused), Gemm -> Relu read twice (fused, then forked), and a Gemm whose output is
    also a graph output (its Relu keeps a stage)."""
    rng = np.random.default_rng(21)
    inits = {
        "wc": weights(rng, 3, 2, 3, 3, fan_in=18),
        "bc": weights(rng, 3),
        "w1": weights(rng, 27, 6),
        "b1": weights(rng, 6),
        "w2": weights(rng, 6, 6),
        "b2": weights(rng, 6),
    }
    nodes = [
        _node("Conv", ["x", "wc", "bc"], ["conv"], kernel_shape=[3, 3]),
        _node("Relu", ["conv"], ["conv_relu"]),
        _node("Flatten", ["conv_relu"], ["flat"]),
        _node("Gemm", ["flat", "w1", "b1"], ["h1"]),
        _node("Relu", ["h1"], ["r1"]),
        _node("Gemm", ["r1", "w2", "b2"], ["h2"]),
        _node("Add", ["h2", "r1"], ["skip"]),
        _node("Relu", ["h2"], ["r2"]),
    ]
    return make_model(nodes, {"x": (np.float32, [1, 2, 5, 5])}, ["skip", "h2", "r2"], inits)


def test_io_stream_applies_a_relu_in_the_stage_before_it():
    """io_stream: a Relu that alone reads a Conv's or Dense's output is applied by that stage as it
    writes (no stage, no FIFO of its own); the numbers are bit for bit those of the unfused designs."""
    m = rmodel.from_onnx(_fusion_model())
    x = np.random.default_rng(3).uniform(-2, 2, (40, 2, 5, 5)).astype(np.float32)
    options = {"precision": "ap_fixed<12,4>", "reuse_factor": 1}
    stream = compile_hls(m, io_type="io_stream", **options)
    code = stream.firmware.files[f"{stream.firmware.top}.cpp"]
    relus = [op.name for op in m.operators if op.op_type == "Relu"]
    staged = [
        name
        for name in relus
        if any(st.layer is not None and m.operators[st.layer].name == name for st in stream.firmware.stages)
    ]
    assert len(relus) == 3 and len(staged) == 1, staged  # the Relu after h2 (a graph output) keeps its stage
    assert code.count("_apply(") == 2 * 2  # two fused functions, each defined and called once
    assert "fused: applied by the stage of" in code
    notes = [note for d in stream.firmware.designs for note in d.notes if "fused" in note]
    assert len(notes) == 2
    for io_type in ("io_serial", "io_parallel"):
        other = compile_hls(m, io_type=io_type, **options)
        for a, b in zip(stream.predict(x), other.predict(x)):
            assert np.array_equal(a, b), io_type
    checks = check_loop_trips(m, io_type="io_stream", precision="ap_fixed<12,4>", calls=1)
    assert not [c for c in checks if c.estimated != c.measured]
