"""HLS target: whole models in C simulation against onnxruntime, fixed-point error, project files,
the g++ test bench, options, reports and errors."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import numpy as np
import onnx
import pytest
from helpers import make_model, weights
from onnx import helper

import rmodel
from rmodel import examples
from rmodel.emitters.hls import (
    Precision,
    build_firmware,
    compile_hls,
    generate_hls_project,
    hls_report,
    profile_hls,
    resolve_options,
    verify_hls,
)
from rmodel.emitters.hls.headers import ap_types_include
from rmodel.errors import RModelError, UnsupportedOperatorError
from rmodel.verify import onnxruntime_session, random_inputs

# ---- helpers shared with test_hls_ops.py ---------------------------------------------------


def reference(proto: onnx.ModelProto, feeds: dict[str, np.ndarray], outputs: list[str]) -> list[np.ndarray]:
    """onnxruntime's outputs of the original model."""
    return onnxruntime_session(proto).run(outputs, feeds)


def hls_errors(
    model: onnx.ModelProto | rmodel.RModel, *, samples: int = 1, seed: int = 0, **options: Any
) -> dict[str, tuple[float, float]]:
    """{output: (max|got - ref|, max(1, max|ref|))} of the C simulation against onnxruntime."""
    m = model if isinstance(model, rmodel.RModel) else rmodel.from_onnx(model)
    proto = model.to_onnx() if isinstance(model, rmodel.RModel) else model
    calls = [random_inputs(m, seed + s) for s in range(samples)]
    sim = compile_hls(m, **options)
    stacked = [np.concatenate([c[n] for c in calls]) for n in m.input_names]
    got = sim.predict(*stacked)
    got = [got] if len(m.outputs) == 1 else list(got)
    refs = [reference(proto, c, m.output_names) for c in calls]
    out = {}
    for k, name in enumerate(m.output_names):
        ref = refs[0][k] if samples == 1 else np.concatenate([r[k] for r in refs])
        assert got[k].shape == ref.shape, f"output '{name}': shape {got[k].shape} vs onnxruntime {ref.shape}"
        out[name] = (float(np.max(np.abs(got[k] - ref))), max(1.0, float(np.max(np.abs(ref)))))
    return out


def assert_matches(model: onnx.ModelProto | rmodel.RModel, rtol: float = 1e-6, **options: Any) -> dict:
    """Assert every output is within ``rtol * max(1, max|ref|)`` (float mode: the 1e-6 criterion)."""
    options.setdefault("precision", "float")
    errors = hls_errors(model, **options)
    bad = {k: v for k, v in errors.items() if v[0] > rtol * v[1]}
    assert not bad, "HLS C simulation differs from onnxruntime: " + ", ".join(
        f"'{k}' max|d| {d:.3e} > {rtol:g} * {s:.3g}" for k, (d, s) in bad.items()
    )
    return errors


def _example(name: str) -> onnx.ModelProto:
    return {
        "mlp": examples.mlp,
        "cnn": examples.cnn,
        "lstm": examples.lstm_model,
        "gru": examples.gru_model,
        "skip": examples.skip_model,
    }[name]()


def _mlp() -> rmodel.RModel:
    return rmodel.from_onnx(examples.mlp())


# ---- numbers -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mlp", "cnn", "lstm", "gru", "skip"])
def test_float_mode_matches_onnxruntime(name):
    assert_matches(_example(name), samples=3)


@pytest.mark.parametrize("name,bound", [("cnn", 0.02), ("lstm", 0.01), ("gru", 0.01), ("skip", 0.03)])
def test_ap_fixed_16_6_error_is_bounded(name, bound):
    errors = hls_errors(_example(name), samples=5, precision="ap_fixed<16,6>")
    for out, (diff, scale) in errors.items():
        assert diff <= bound * scale, f"{name} '{out}': error {diff:.3e} above {bound} * {scale:.3g}"
        assert diff > 0.0  # really fixed point


def test_fixed_point_error_shrinks_as_types_widen():
    m = _mlp()
    measured = []
    for precision, table in [
        ("ap_fixed<12,5>", 1024),
        ("ap_fixed<16,6>", 1024),
        ("ap_fixed<24,8>", 1024),
        ("ap_fixed<24,8>", 16384),
    ]:
        ((diff, _),) = hls_errors(m, samples=20, precision=precision, table_size=table).values()
        measured.append(diff)
    assert measured[1] <= 0.01, measured  # ap_fixed<16,6> on the jet-tagger MLP
    assert measured[0] > measured[1] > measured[2] > measured[3] > 0.0, measured
    # at 24 bits the softmax lookup table dominates; a finer table removes most of the rest
    assert measured[3] < measured[1] / 10, measured


def test_reuse_factor_keeps_the_numbers():
    # 7 divides none of the layer sizes: exercises the partial last multiplier round
    assert_matches(examples.mlp(), reuse_factor=7)


def test_saturation_and_wrapping():
    rng = np.random.default_rng(0)
    w = np.full((4, 3), 12.0, np.float32)  # outputs near 48 overflow ap_fixed<16,6> (max ~32)
    proto = make_model([helper.make_node("MatMul", ["x", "w"], ["y"])], {"x": (np.float32, [1, 4])}, ["y"], {"w": w})
    m = rmodel.from_onnx(proto)
    x = np.abs(rng.uniform(0.8, 1.0, (1, 4))).astype(np.float32)
    saturated = compile_hls(m, precision="ap_fixed<16,6>", saturation="AP_SAT").predict(x)
    wrapped = compile_hls(m, precision="ap_fixed<16,6,AP_RND,AP_WRAP>").predict(x)
    assert np.all(saturated == pytest.approx(32 - 2**-10))
    assert np.all(wrapped < 0)  # wrapped around


# ---- configuration -----------------------------------------------------------------------------


def test_precision_per_role_and_per_layer_in_types():
    m = _mlp()
    config = resolve_options(
        {},
        {
            "precision": {"default": "ap_fixed<16,6>", "accum": "ap_fixed<24,10>", "table": "ap_ufixed<18,2>"},
            "layers": {
                "dense_3": {"precision": {"weight": "ap_fixed<8,2>"}, "reuse_factor": 4},
                "Relu": {"precision": "ap_fixed<10,4>"},
            },
            "rounding": "AP_RND",
        },
    )
    fw = build_firmware(m, config, "jet")
    defines = fw.files["defines.h"]
    assert "typedef ap_fixed<8,2,AP_RND> dense_3_weight_t;" in defines
    assert "typedef ap_fixed<16,6,AP_RND> dense_0_weight_t;" in defines
    assert "typedef ap_fixed<24,10,AP_RND> dense_0_accum_t;" in defines
    assert "typedef ap_fixed<10,4,AP_RND> relu_1_result_t;" in defines
    assert "typedef ap_ufixed<18,2,AP_RND> probabilities_table_t;" in defines
    # 7 of dense_3's 160 weights are 0 in ap_fixed<8,2>: they get no multiplier
    assert "reuse factor 4: 39 multipliers for 153 products (7 zero weights skipped)" in fw.files["jet.cpp"]


def test_options_are_read_from_model_options_and_recorded(tmp_path):
    m = _mlp()
    m.options["hls"] = {"precision": "ap_fixed<12,4>", "reuse_factor": 2}
    fw = build_firmware(m, resolve_options(m.options["hls"], {}), "a")
    assert "ap_fixed<12,4>" in fw.files["defines.h"] and "reuse factor 2" in fw.files["a.cpp"]
    override = build_firmware(m, resolve_options(m.options["hls"], {"reuse_factor": 4}), "a")
    assert "reuse factor 4" in override.files["a.cpp"]
    generate_hls_project(m, tmp_path / "prj", precision="ap_fixed<14,5>", tb_samples=1)
    assert m.options["hls"] == {"precision": "ap_fixed<14,5>", "reuse_factor": 2}
    # the recorded options regenerate the same firmware, also after saving and loading the model
    first = (tmp_path / "prj" / "firmware" / "mlp.cpp").read_text()
    m.save(tmp_path / "mlp.rmodel")
    loaded = rmodel.load(tmp_path / "mlp.rmodel")
    generate_hls_project(loaded, tmp_path / "again", tb_samples=1)
    assert (tmp_path / "again" / "firmware" / "mlp.cpp").read_text() == first


def test_testbench_data_from_given_inputs(tmp_path):
    m = _mlp()
    x = np.random.default_rng(5).uniform(-1, 1, (3, 1, 16)).astype(np.float32)
    generate_hls_project(m, tmp_path, precision="float", tb_inputs={"x": x})
    lines = (tmp_path / "tb_data/tb_input_features.dat").read_text().splitlines()
    assert len(lines) == 3 and np.allclose(np.array(lines[1].split(), np.float32), x[1].ravel())
    ref = (tmp_path / "tb_data/tb_output_predictions.dat").read_text().splitlines()
    expected = reference(examples.mlp(), {"x": x[2]}, ["probabilities"])[0]
    assert np.allclose(np.array(ref[2].split(), np.float32), expected.ravel(), atol=1e-7)
    with pytest.raises(RModelError, match="no values for input"):
        generate_hls_project(m, tmp_path, tb_inputs={"y": x})


@pytest.mark.parametrize(
    "options,message",
    [
        ({"precision": "ap_fixed<16>"}, "cannot parse type"),
        ({"precision": "ap_fixed<16,6,AP_ROUND>"}, "unknown rounding mode"),
        ({"precision": {"weights": "float"}}, "unknown role"),
        ({"reuse_factor": 0}, "reuse_factor must be a positive integer"),
        ({"table_size": 1.5}, "table_size must be a positive integer"),
        ({"saturation": "SAT"}, "saturation must be one of"),
        ({"layers": {"dense_0": {"reuse": 2}}}, "unknown setting"),
        ({"precison": "float"}, "unknown HLS option"),
    ],
)
def test_bad_options_are_clear_errors(options, message):
    with pytest.raises(RModelError, match=message):
        compile_hls(_mlp(), **options)


def test_precision_ranges():
    p = Precision.parse("ap_fixed<16,6>")
    assert (p.low, p.high, p.step) == (-32.0, 32 - 2**-10, 2**-10)
    u = Precision.parse("ap_ufixed<8,3>")
    assert (u.low, u.high) == (0.0, 8 - 2**-5)
    assert Precision.parse(" float ").is_float


# ---- project, test bench, pragmas ----------------------------------------------------------------


def test_project_files_and_pragmas(tmp_path):
    m = rmodel.from_onnx(examples.skip_model())
    code = m.generate(
        tmp_path,
        target="hls",
        precision="ap_fixed<16,6>",
        reuse_factor=4,
        part="xc7z020clg400-1",
        clock_period=10,
        tb_samples=2,
    )
    prj = tmp_path
    top = m.default_namespace
    for rel in [
        f"firmware/{top}.cpp",
        f"firmware/{top}.h",
        "firmware/defines.h",
        "firmware/rmodel_stream.h",
        f"tb/{top}_test.cpp",
        "tb_data/tb_input_features.dat",
        "tb_data/tb_output_predictions.dat",
        "build_prj.tcl",
        "build_csim.sh",
        "README.md",
    ]:
        assert (prj / rel).is_file(), rel
    assert code == (prj / f"firmware/{top}.cpp").read_text()
    assert len(list((prj / "firmware" / "weights").glob("*.h"))) >= 5
    assert "#pragma HLS DATAFLOW" in code
    assert code.count("#pragma HLS INTERFACE axis port=") == 4  # two inputs, two outputs
    assert "#pragma HLS STREAM variable=" in code and "depth=" in code
    assert "#pragma HLS PIPELINE II=1" in code and "#pragma HLS ARRAY_PARTITION" in code
    assert "for (int r = 0; r < 4; ++r)" in code  # reuse factor 4 drives the multiplier loop
    assert "fork_" in code  # the skip connection's tensor is copied to its two readers
    for banned in ("new ", "malloc", "std::vector", "std::deque"):
        assert banned not in code
    tcl = (prj / "build_prj.tcl").read_text()
    for step in (
        "csim_design",
        "csynth_design",
        "cosim_design",
        "export_design",
        "xc7z020clg400-1",
        "clock 10",
        f"set_top {top}",
    ):
        assert step in tcl
    assert len((prj / "tb_data/tb_input_features.dat").read_text().splitlines()) == 2
    # our code is warning-free C++14 (Vitis HLS' dialect); Xilinx's headers are system headers here
    check = subprocess.run(
        [
            "g++",
            "-std=c++14",
            "-fsyntax-only",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-Wno-unknown-pragmas",
            "-Wno-unused-label",
            "-DRMODEL_OWN_STREAM",
            "-Ifirmware",
            "-isystem",
            str(ap_types_include()),
            f"firmware/{top}.cpp",
            f"tb/{top}_test.cpp",
        ],
        cwd=prj,
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr[:3000]


def test_testbench_builds_and_runs_with_gpp(tmp_path):
    m = _mlp()
    generate_hls_project(m, tmp_path, precision="ap_fixed<16,6>", tb_samples=4)
    exe = tmp_path / "csim"
    cmd = [
        "g++",
        "-std=c++14",
        "-O1",
        "-DRMODEL_OWN_STREAM",
        "-DRMODEL_FAST_CSIM",
        "-Ifirmware",
        f"-I{ap_types_include()}",
        "firmware/mlp.cpp",
        "tb/mlp_test.cpp",
        "-o",
        str(exe),
    ]
    subprocess.run(cmd, cwd=tmp_path, check=True, capture_output=True)
    run = subprocess.run([str(exe)], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "4 calls, 0 failures" in run.stdout
    results = (tmp_path / "tb_data/csim_results.log").read_text().split("\n")
    assert len(results[0].split()) == 5
    # a tolerance tighter than ap_fixed<16,6> can reach makes the same run fail
    strict = subprocess.run(
        [str(exe), "tb_data/tb_input_features.dat", "tb_data/tb_output_predictions.dat", "1e-9"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert strict.returncode == 1 and "4 failures" in strict.stdout


def test_cli_convert_hls_with_verify(tmp_path, capsys):
    from rmodel.cli import main

    path = tmp_path / "mlp.onnx"
    onnx.save(examples.mlp(), path)
    code = main(
        [
            "convert",
            str(path),
            "--target",
            "hls",
            "-o",
            str(tmp_path / "prj"),
            "--precision",
            "float",
            "--reuse-factor",
            "2",
            "--verify",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "verify HLS C simulation" in out and "ok" in out
    assert (tmp_path / "prj" / "build_prj.tcl").is_file()


def test_verify_hls_reports_failure_with_tight_tolerance():
    report = verify_hls(_mlp(), precision="ap_fixed<8,3>", tolerance=1e-6)
    assert not report.ok and "FAIL" in str(report) and "ap_fixed<8,3>" in str(report)


def test_predict_shapes():
    sim = compile_hls(_mlp(), precision="float")
    x = np.random.default_rng(0).uniform(-1, 1, (7, 16)).astype(np.float32)
    many = sim.predict(x)
    assert many.shape == (7, 5)
    assert np.array_equal(sim.predict(x[2:3]), many[2:3])
    with pytest.raises(rmodel.ShapeError, match="takes"):
        sim.predict(x[:, :8])


# ---- reports ----------------------------------------------------------------------------------


def test_hls_report():
    text = hls_report(_mlp(), reuse_factor=4)
    assert "dense_1" in text and "Gemm" in text and "R=4" in text
    # 64x32 products, 8 of whose weights are 0 in ap_fixed<16,6>, over 4 rounds: ceil(2040 / 4)
    assert re.search(r"dense_1 +Gemm +R=4 latency +510 +510 +8 ", text), text
    assert "ap_fixed<16,6> [-32, 31.999" in text
    assert "not synthesis results" in text


def test_profile_counts_overflows_and_suggests_bits():
    rng = np.random.default_rng(1)
    w = (weights(rng, 8, 4) * 60).astype(np.float32)  # activations up to ~100
    proto = make_model(
        [
            helper.make_node("MatMul", ["x", "w"], ["h"], name="big"),
            helper.make_node("Relu", ["h"], ["y"], name="relu"),
        ],
        {"x": (np.float32, [1, 8])},
        ["y"],
        {"w": w},
    )
    m = rmodel.from_onnx(proto)
    report = profile_hls(m, samples=50, precision="ap_fixed<16,6>")
    by_name = {t.name: t for t in report.tensors}
    h = by_name["h"]
    assert h.overflows > 0 and h.suggested_integer_bits > 6
    assert 2 ** (h.suggested_integer_bits - 1) > max(abs(h.low), abs(h.high))
    assert by_name["x"].overflows == 0 and by_name["x"].suggested_integer_bits <= 2
    assert "overflow their type" in str(report) and "h" in [t.name for t in report.overflowing]
    wide = profile_hls(m, samples=50, precision=f"ap_fixed<24,{h.suggested_integer_bits}>")
    assert not wide.overflowing


# ---- errors -------------------------------------------------------------------------------------


def test_op_without_hls_implementation_is_named():
    proto = make_model(
        [helper.make_node("Erf", ["x"], ["e"], name="erf_1"), helper.make_node("Sin", ["e"], ["y"], name="sin_1")],
        {"x": (np.float32, [1, 4])},
        ["y"],
    )
    with pytest.raises(UnsupportedOperatorError, match=r"no HLS implementation: Erf \(node 'erf_1'\); Sin") as info:
        compile_hls(rmodel.from_onnx(proto))
    assert set(info.value.unsupported) == {"Erf", "Sin"}


def test_gemm_with_runtime_weights_is_rejected():
    proto = make_model(
        [helper.make_node("Gemm", ["x", "w"], ["y"], name="g")],
        {"x": (np.float32, [1, 4]), "w": (np.float32, [4, 3])},
        ["y"],
    )
    with pytest.raises(RModelError, match="needs B to be a constant"):
        compile_hls(rmodel.from_onnx(proto))


def test_generate_needs_a_path():
    with pytest.raises(RModelError, match="needs a directory"):
        _mlp().generate(None, target="hls")


def test_layer_settings_must_name_an_operator():
    folded = rmodel.from_onnx(examples.cnn())
    with pytest.raises(RModelError, match=r"layers names 'bn_0'.*optimize=False"):
        folded.hls_report(layers={"bn_0": {"reuse_factor": 2}})
    kept = rmodel.from_onnx(examples.cnn(), optimize=False)
    assert "bn_0" in kept.hls_report(layers={"bn_0": {"reuse_factor": 2}, "Conv": {"reuse_factor": 4}})
