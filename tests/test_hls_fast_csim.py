"""rmodel's fast C-simulation ap_fixed (emitters/hls/cpp/fast_ap) against Xilinx's headers, bit for bit."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

import rmodel
from rmodel import examples
from rmodel.build import compiler
from rmodel.emitters.hls import compile_hls
from rmodel.emitters.hls.headers import ap_types_include, fast_arithmetic_fits, fast_arithmetic_headers, stream_header

CHECK = Path(__file__).parent / "cpp" / "fast_ap_check.cpp"
STREAM_CHECK = Path(__file__).parent / "cpp" / "stream_check.cpp"
QUANT = ("AP_RND", "AP_RND_ZERO", "AP_RND_MIN_INF", "AP_RND_INF", "AP_RND_CONV", "AP_TRN", "AP_TRN_ZERO")
OVERFLOW = ("AP_SAT", "AP_SAT_ZERO", "AP_SAT_SYM", "AP_WRAP")
SHAPES = ((16, 6, True), (8, 3, True), (12, 4, False), (18, -2, True), (10, 12, True), (33, 1, True), (64, 30, True))


def _run(tmp: Path, name: str, include: Path, types: str) -> str:
    (tmp / name).mkdir()
    (tmp / name / "check_types.h").write_text(types)
    exe = tmp / name / "check"
    cmd = [compiler(), "-O0", "-std=c++14", "-DSAMPLES=150", f"-I{tmp / name}", f"-I{include}", str(CHECK), "-o"]
    subprocess.run([*cmd, str(exe)], check=True)
    return subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout


def test_types_match_xilinx_bit_for_bit(tmp_path):
    lines = []
    for n, (q, o) in enumerate((q, o) for q in QUANT for o in OVERFLOW):
        w, i, signed = SHAPES[n % len(SHAPES)]
        t = f"ap_{'' if signed else 'u'}fixed<{w}, {i}, {q}, {o}>"
        lines.append(f'typedef {t} t{n}; CHECK(t{n}, "{t}")')
    types = "\n".join(lines) + "\n"
    own_dir = tmp_path / "fast_ap"
    own_dir.mkdir()
    for name, text in fast_arithmetic_headers().items():
        (own_dir / name).write_text(text)
    own = _run(tmp_path, "own", own_dir, types).splitlines()
    xilinx = _run(tmp_path, "xilinx", ap_types_include(), types).splitlines()
    assert len(own) == len(xilinx) > 28 * 150 * 20
    label, mismatches = "", []
    for a, b in zip(own, xilinx):
        label = a if a.startswith("#") else label
        if a != b:
            mismatches.append(f"{label}: rmodel '{a}' xilinx '{b}'")
    assert not mismatches, "\n".join(mismatches[:20])


def test_stream_is_a_fifo_past_its_in_place_storage(tmp_path):
    """rmodel's C-simulation hls::stream keeps order, size and object lifetimes across the values it
    holds in place and those it moves to the heap (bursts of 1 to 5000 values, three value types)."""
    (tmp_path / "rmodel_stream.h").write_text(stream_header())
    exe = tmp_path / "stream_check"
    flags = ["-O1", "-std=c++14", "-Wall", "-Wextra", "-Werror", f"-I{tmp_path}"]
    subprocess.run([compiler(), *flags, str(STREAM_CHECK), "-o", str(exe)], check=True)
    result = subprocess.run([str(exe)], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stdout


def test_auto_picks_xilinx_for_what_the_fast_types_lack():
    assert fast_arithmetic_fits(["ap_fixed<64,30> a; ap_ufixed<62,2,AP_RND,AP_SAT> b;"])
    for text in ("ap_fixed<65,30> a;", "ap_ufixed<63,3> a;", "ap_fixed<8,3,AP_RND,AP_WRAP_SM> a;", "ap_int<8> a;"):
        assert not fast_arithmetic_fits([text])


CASES = [
    ("mlp", "io_serial", "ap_fixed<16,6>"),
    ("mlp", "io_stream", "ap_fixed<16,6,AP_RND,AP_SAT>"),
    ("mlp", "io_parallel", "ap_fixed<8,3>"),
    ("cnn", "io_serial", "ap_fixed<16,6>"),
    ("cnn", "io_stream", "ap_fixed<16,6>"),
    ("cnn", "io_parallel", "ap_fixed<12,5,AP_RND,AP_SAT>"),
    ("skip_model", "io_stream", "ap_fixed<16,6>"),
    ("skip_model", "io_parallel", "ap_fixed<8,3,AP_RND_CONV,AP_SAT>"),
    ("lstm_model", "io_serial", "ap_fixed<16,6>"),
    ("gru_model", "io_serial", "ap_fixed<16,6,AP_RND,AP_SAT>"),
    ("lstm_model", "io_parallel", "ap_fixed<16,6>"),
    ("gru_model", "io_stream", "ap_fixed<16,6>"),
]


@pytest.mark.parametrize(("name", "io_type", "precision"), CASES)
def test_predictions_equal_xilinx(name, io_type, precision):
    m = rmodel.from_onnx(getattr(examples, name)())
    rng = np.random.default_rng(0)
    xs = [rng.uniform(-2, 2, (20 * i.shape[0], *i.shape[1:])).astype(np.float32) for i in m.inputs]
    fast = compile_hls(m, precision=precision, io_type=io_type, arithmetic="rmodel").predict(*xs)
    slow = compile_hls(m, precision=precision, io_type=io_type, arithmetic="xilinx").predict(*xs)
    for a, b in zip(fast if isinstance(fast, tuple) else (fast,), slow if isinstance(slow, tuple) else (slow,)):
        assert np.array_equal(a, b)
