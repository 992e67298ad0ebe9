"""HLS design choices: IO types, strategies, reuse rounding, zero-weight skipping, derived accumulator
types, and the cost model (estimates against the structure of the generated code)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import make_model
from onnx import helper
from test_hls import assert_matches

import rmodel
from rmodel import examples
from rmodel.emitters.hls import build_firmware, compile_hls, estimate, hls_report, resolve_options
from rmodel.emitters.hls.config import Precision
from rmodel.emitters.hls.csim import check_loop_trips
from rmodel.emitters.hls.design import accumulator_type, rounded_reuse
from rmodel.errors import RModelError

IO_TYPES = ("io_serial", "io_stream", "io_parallel")


def _mlp() -> rmodel.RModel:
    """The jet-tagger topology 16-64-32-32-5 (relu, softmax)."""
    return rmodel.from_onnx(examples.mlp())


def _dense(w: np.ndarray, bias: np.ndarray | None = None) -> rmodel.RModel:
    inits = {"w": w}
    inputs = ["x", "w"]
    if bias is not None:
        inits["b"] = bias
        inputs.append("b")
    node = helper.make_node("Gemm", inputs, ["y"])
    return rmodel.from_onnx(make_model([node], {"x": (np.float32, [1, w.shape[0]])}, ["y"], inits))


# ---- targets of the issue: the jet tagger's estimates ---------------------------------------


def test_jet_estimates_meet_the_latency_targets():
    m = _mlp()
    parallel = estimate(m, io_type="io_parallel", precision="ap_fixed<16,6>")
    stream = estimate(m, io_type="io_stream", precision="ap_fixed<16,6>")
    serial = estimate(m, io_type="io_serial", precision="ap_fixed<16,6>")
    assert parallel.latency <= 20 and parallel.interval == 1, parallel
    assert stream.latency <= 40, stream
    assert serial.latency > 10 * parallel.latency  # one value per clock between layers
    # the same multipliers in every IO type: 16*64 + 64*32 + 32*32 + 32*5 products minus zero weights
    products = 16 * 64 + 64 * 32 + 32 * 32 + 32 * 5
    for e in (parallel, stream, serial):
        assert e.dsp + e.lut_multipliers == products - e.skipped_multiplications


def test_reuse_trades_multipliers_for_interval():
    m = _mlp()
    previous = None
    for reuse in (1, 4, 16):
        e = estimate(m, io_type="io_parallel", strategy="resource", reuse_factor=reuse)
        assert e.interval == reuse
        if previous is not None:
            assert e.dsp < previous.dsp and e.latency > previous.latency
        previous = e
    assert previous is not None and previous.lutram_bits + previous.bram_18k > 0  # weights in memories


def test_dsp_or_lut_multipliers_by_operand_width():
    m = _mlp()
    narrow = estimate(m, io_type="io_parallel", precision="ap_fixed<8,3>")
    wide = estimate(m, io_type="io_parallel", precision="ap_fixed<32,10>")
    floats = estimate(m, io_type="io_parallel", precision="float")
    assert narrow.dsp == 0 and narrow.lut_multipliers > 0
    # a 32 x 32-bit product needs 2 x 2 DSP48 slices
    assert wide.dsp == 4 * (16 * 64 + 64 * 32 + 32 * 32 + 32 * 5 - wide.skipped_multiplications)
    assert floats.dsp > wide.dsp // 2


# ---- the cost model reproduces the code ------------------------------------------------------


@pytest.mark.parametrize("io_type", IO_TYPES)
@pytest.mark.parametrize("strategy,reuse", [("latency", 1), ("resource", 4)])
def test_cost_model_matches_counted_loop_trips(io_type, strategy, reuse):
    checks = check_loop_trips(_mlp(), io_type=io_type, strategy=strategy, reuse_factor=reuse, precision="float")
    assert checks and all(c.estimated == c.measured for c in checks), checks


# ---- numbers in every IO type ------------------------------------------------------------------


@pytest.mark.parametrize("io_type", ["io_stream", "io_parallel"])
@pytest.mark.parametrize("strategy,reuse", [("latency", 1), ("resource", 8)])
def test_float_mode_matches_onnxruntime_in_every_io_type(io_type, strategy, reuse):
    assert_matches(_mlp(), samples=2, io_type=io_type, strategy=strategy, reuse_factor=reuse)


@pytest.mark.parametrize("io_type", ["io_stream", "io_parallel"])
def test_fixed_point_error_is_the_same_in_every_io_type(io_type):
    """The IO type moves values differently; the arithmetic (and so every output bit) is the same."""
    m = _mlp()
    x = np.random.default_rng(3).uniform(-1, 1, (20, 16)).astype(np.float32)
    serial = compile_hls(m, precision="ap_fixed<16,6>").predict(x)
    other = compile_hls(m, precision="ap_fixed<16,6>", io_type=io_type).predict(x)
    np.testing.assert_array_equal(serial, other)


# ---- reuse factors, zero weights, accumulators ----------------------------------------------


def test_reuse_factor_is_rounded_to_a_divisor_with_a_note():
    assert rounded_reuse(7, 1024) == 8
    assert rounded_reuse(3, 1024) == 2  # a tie goes to the smaller one
    assert rounded_reuse(5, 160) == 5
    m = _mlp()
    text = hls_report(m, reuse_factor=7)
    assert "reuse factor 7 does not divide the 1024 products of a pass; using 8 instead" in text
    assert "reuse factor 7 does not divide the 160 products of a pass; using 8 instead" in text
    fw = build_firmware(m, resolve_options(None, {"reuse_factor": 7}), "a")
    assert "reuse factor 8:" in fw.files["a.cpp"]
    assert_matches(m, reuse_factor=7)


def test_zero_weights_get_no_multiplier():
    rng = np.random.default_rng(2)
    w = rng.uniform(-1, 1, (12, 10)).astype(np.float32)
    w[rng.uniform(size=w.shape) < 0.6] = 0.0
    nonzero = int(np.count_nonzero(w))
    m = _dense(w, rng.uniform(-1, 1, 10).astype(np.float32))
    for io_type in IO_TYPES:
        e = estimate(m, io_type=io_type)
        assert e.layers[0].cost.multipliers == nonzero and e.skipped_multiplications == w.size - nonzero
        fw = build_firmware(m, resolve_options(None, {"io_type": io_type}), "a")
        assert (
            f"{nonzero} multipliers for {nonzero} products ({w.size - nonzero} zero weights skipped)"
            in fw.files["a.cpp"]
        )
    assert_matches(m, io_type="io_parallel")
    assert_matches(m, io_type="io_stream", strategy="resource", reuse_factor=4)


def test_weights_that_round_to_zero_are_skipped_too():
    w = np.full((4, 2), 0.5, np.float32)
    w[0, 0] = 2.0**-12  # below ap_fixed<16,6>'s step (2^-10): stored as 0
    e = estimate(_dense(w), precision="ap_fixed<16,6>")
    assert e.skipped_multiplications == 1
    assert estimate(_dense(w), precision="float").skipped_multiplications == 0


def test_accumulator_type_holds_every_sum():
    a = Precision.parse("ap_fixed<16,6>")
    acc = accumulator_type(a, a, 16, a)
    assert (acc.width, acc.integer) == (37, 17)  # 12 product bits + ceil(log2(17)) carries
    config = resolve_options(None, {"precision": "ap_fixed<16,6>"})
    fw = build_firmware(_mlp(), config, "a")
    assert "typedef ap_fixed<37,17> dense_0_accum_t;" in fw.files["defines.h"]
    explicit = resolve_options(None, {"precision": {"default": "ap_fixed<16,6>", "accum": "ap_fixed<20,8>"}})
    assert "typedef ap_fixed<20,8> dense_0_accum_t;" in build_firmware(_mlp(), explicit, "a").files["defines.h"]
    per_layer = resolve_options(None, {"layers": {"dense_0": {"precision": {"accum": "ap_fixed<24,9>"}}}})
    defines = build_firmware(_mlp(), per_layer, "a").files["defines.h"]
    assert "typedef ap_fixed<24,9> dense_0_accum_t;" in defines and "ap_fixed<39,19> dense_1_accum_t" in defines


def test_derived_accumulator_does_not_overflow_on_partial_sums():
    # 20 + 20 overflows ap_fixed<16,6> (max ~32) halfway, the full sum 20 + 20 - 20 - 20 + 1 does not
    w = np.array([[20.0], [20.0], [-20.0], [-20.0], [1.0]], np.float32)
    m = _dense(w)
    x = np.ones((1, 5), np.float32)
    sat = "ap_fixed<16,6,AP_TRN,AP_SAT>"
    derived = compile_hls(m, precision=sat, io_type="io_parallel").predict(x)
    narrow = compile_hls(m, precision={"default": sat, "accum": sat}, io_type="io_parallel").predict(x)
    assert derived[0, 0] == 1.0
    assert narrow[0, 0] != 1.0  # the saturating 16-bit accumulator clipped a partial sum


def test_wrap_is_reported_where_results_may_overflow():
    text = hls_report(_mlp(), precision="ap_fixed<16,6>")
    assert "wrap around (add AP_SAT to saturate them)" in text
    assert "wrap around" not in hls_report(_mlp(), precision="ap_fixed<16,6,AP_TRN,AP_SAT>")


# ---- generated code --------------------------------------------------------------------------


def test_io_parallel_top_is_one_pipeline_of_partitioned_arrays():
    fw = build_firmware(_mlp(), resolve_options(None, {"io_type": "io_parallel", "reuse_factor": 4}), "a")
    source = fw.files["a.cpp"]
    assert "void a(const input_t in_x[16], result_t out_probabilities[5])" in source
    assert "#pragma HLS PIPELINE II=4" in source and "DATAFLOW" not in source and "hls::stream" not in source
    assert "#pragma HLS ALLOCATION operation instances=mul limit=256" in source  # latency strategy, R=4
    resource = build_firmware(
        _mlp(), resolve_options(None, {"io_type": "io_parallel", "strategy": "resource", "reuse_factor": 4}), "a"
    )
    assert "ARRAY_RESHAPE variable=dense_0_w block factor=256" in resource.files["a.cpp"]
    assert "#pragma HLS INLINE off" in resource.files["a.cpp"]


def test_io_stream_words_and_fifo_depths():
    skip = rmodel.from_onnx(examples.skip_model())
    fw = build_firmware(skip, resolve_options(None, {"io_type": "io_stream"}), "a")
    source = fw.files["a.cpp"]
    assert "template <typename T, int N>\nstruct rmodel_word" in fw.files["defines.h"]
    assert "hls::stream<rmodel_word<input0_t, 6>>& in_x" in source and "#pragma HLS DATAFLOW" in source
    depths = dict(line.split("variable=")[1].split(" depth=") for line in source.splitlines() if "HLS STREAM" in line)
    # the skip connection's branch waits for dense_2 before 'skip' reads it: it holds several inferences
    assert int(depths["s_relu_cp1"]) > 2, depths
    assert all(int(d) == 2 for v, d in depths.items() if v != "s_relu_cp1"), depths


@pytest.mark.parametrize(
    "options,message",
    [
        ({"io_type": "io_fast"}, "io_type must be one of 'io_serial', 'io_stream', 'io_parallel'"),
        ({"strategy": "speed"}, "strategy must be one of 'latency', 'resource'"),
        ({"layers": {"Gemm": {"strategy": 3}}}, "layers['Gemm'].strategy must be one of"),
    ],
)
def test_bad_io_options_are_clear_errors(options, message):
    with pytest.raises(RModelError, match=message.replace("[", r"\[").replace("]", r"\]")):
        resolve_options(None, options).for_op("x", "Gemm")


def test_project_readme_and_tcl_describe_the_io_type(tmp_path):
    rmodel.emitters.hls.generate_hls_project(_mlp(), tmp_path, io_type="io_parallel", tb_samples=1)
    readme = (tmp_path / "README.md").read_text()
    assert "PIPELINE" in readme and "Synthesis" in readme
    assert "all=1" in (tmp_path / "build_prj.tcl").read_text()


@pytest.mark.parametrize(
    "name", ["c", "count", "inputs", "main", "run", "detail", "rmodel_word", "input_t", "read_line"]
)
def test_top_function_named_like_a_local_of_the_binding_or_test_bench(name, tmp_path):
    w = np.arange(6, dtype=np.float32).reshape(3, 2)
    node = helper.make_node("MatMul", ["x", "w"], ["y"])
    m = rmodel.from_onnx(make_model([node], {"x": (np.float32, [1, 3])}, ["y"], {"w": w}, name=name))
    x = np.ones((1, 3), np.float32)
    for io_type in IO_TYPES:
        sim = compile_hls(m, precision="float", io_type=io_type)
        np.testing.assert_array_equal(sim.predict(x), x @ w)


def test_an_operator_without_a_form_for_the_io_type_is_named(monkeypatch):
    from rmodel.emitters.hls import build_firmware as build
    from rmodel.errors import UnsupportedOperatorError
    from rmodel.operators.hls import HlsImpl
    from rmodel.operators.hls.activation import ReluHls

    monkeypatch.setattr(ReluHls, "write_parallel", HlsImpl.write_parallel)
    monkeypatch.setattr(ReluHls, "write_words", HlsImpl.write_words)
    for io_type in ("io_parallel", "io_stream"):
        with pytest.raises(
            UnsupportedOperatorError, match=rf"io_type '{io_type}' has no implementation of Relu \('relu_0'"
        ):
            build(_mlp(), resolve_options(None, {"io_type": io_type}), "a")
    build(_mlp(), resolve_options(None, {"io_type": "io_serial"}), "a")
