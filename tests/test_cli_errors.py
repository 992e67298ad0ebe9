"""The command line's contract: every failure is exactly one line ``rmodel: error: ...`` on stderr,
exit status 2, no traceback and no output file left behind; options that would be ignored are
errors."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from helpers import make_model, weights
from onnx import helper

import rmodel
from rmodel import examples


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rmodel", *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def _assert_one_line_error(run: subprocess.CompletedProcess, *fragments: str) -> None:
    assert run.returncode == 2, (run.returncode, run.stdout, run.stderr)
    lines = run.stderr.splitlines()
    # progress lines of finished steps may come first; the error is the last line, and the only one
    *progress, last = lines or [""]
    assert last.startswith("rmodel: error: "), run.stderr
    assert all(re.fullmatch(r"rmodel: .* \.\.\. done in \d+\.\d s", p) for p in progress), run.stderr
    assert "Traceback" not in run.stderr
    for fragment in fragments:
        assert fragment in last, last


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    onnx.save(examples.mlp(), root / "mlp.onnx")
    rng = np.random.default_rng(0)
    symbolic = make_model(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        {"x": (np.float32, ["N", "seq", 4])},
        ["y"],
        {"w": weights(rng, 4, 2)},
    )
    onnx.save(symbolic, root / "seq.onnx")
    unsupported = make_model(
        [helper.make_node("NoSuchOp", ["x"], ["y"], domain="evil.example"), helper.make_node("Det", ["y"], ["z"])],
        {"x": (np.float32, [2, 2])},
        ["z"],
    )
    unsupported.opset_import.append(helper.make_opsetid("evil.example", 1))
    onnx.save(unsupported, root / "unsupported.onnx")
    (root / "corrupt.onnx").write_bytes(b"\x08\x07garbage" * 10)
    (root / "notes.txt").write_text("not a model")
    (root / "adir").mkdir()
    rmodel.from_onnx(examples.mlp()).save(root / "mlp.rmodel")
    return root


CASES = {
    "missing_model": (["convert", "nothere.onnx", "-o", "out.hxx"], ["nothere.onnx", "no such file"]),
    "corrupt_model": (["convert", "corrupt.onnx", "-o", "out.hxx"], ["not a readable ONNX model"]),
    "unknown_format": (["convert", "notes.txt", "-o", "out.hxx"], ["unknown model format"]),
    "directory_model": (["inspect", "adir"], []),
    "unsupported_ops": (["convert", "unsupported.onnx", "-o", "out.hxx"], ["evil.example::NoSuchOp", "Det"]),
    "output_is_a_directory": (["convert", "mlp.onnx", "-o", "adir"], ["is a directory"]),
    "hls_output_is_a_file": (["convert", "mlp.onnx", "--target", "hls", "-o", "notes.txt"], ["is a file"]),
    "output_under_a_file": (["convert", "mlp.onnx", "-o", "notes.txt/out.hxx"], ["notes.txt"]),
    "output_in_proc": (["convert", "mlp.onnx", "-o", "/proc/rmodel-test/out.hxx"], ["/proc"]),
    "rmodel_with_batch_size": (
        ["convert", "mlp.rmodel", "--batch-size", "4", "-o", "out.hxx"],
        ["--batch-size", ".rmodel"],
    ),
    "rmodel_with_dim": (["inspect", "mlp.rmodel", "--dim", "seq=3"], ["--dim"]),
    "dim_on_batch_axis": (
        ["convert", "seq.onnx", "--dim", "N=4", "--dim", "seq=3", "-o", "out.hxx"],
        ["batch axis", "--batch-size"],
    ),
    "misspelled_dim": (["convert", "seq.onnx", "--dim", "sequ=3", "-o", "out.hxx"], ["'sequ'", "'seq'"]),
    "unresolved_dim": (["convert", "seq.onnx", "-o", "out.hxx"], ["seq", "--dim"]),
    "precision_on_cpu": (
        ["convert", "mlp.onnx", "--precision", "ap_fixed<8,3>", "-o", "out.hxx"],
        ["--precision", "--target hls"],
    ),
    "part_on_cpu": (["convert", "mlp.onnx", "--part", "xc7z020", "-o", "out.hxx"], ["--part"]),
    "weights_on_hls": (["convert", "mlp.onnx", "--target", "hls", "--weights", "file", "-o", "prj"], ["--weights"]),
    "bad_part_on_hls": (["convert", "mlp.onnx", "--target", "hls", "--part", "x;exec", "-o", "prj"], ["part"]),
    "zero_batch": (["convert", "mlp.onnx", "--batch-size", "0", "-o", "out.hxx"], ["--batch-size"]),
    "bad_dim_syntax": (["convert", "seq.onnx", "--dim", "seq", "-o", "out.hxx"], ["NAME=VALUE"]),
    "zero_dim": (["convert", "seq.onnx", "--dim", "seq=0", "-o", "out.hxx"], ["NAME=VALUE"]),
    "missing_output_flag": (["convert", "mlp.onnx"], ["-o"]),
    "unknown_flag": (["convert", "mlp.onnx", "-o", "x.hxx", "--frobnicate"], ["--frobnicate"]),
    "no_command": ([], []),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_error(case, files):
    args, fragments = CASES[case]
    before = {p.name for p in files.iterdir()}
    _assert_one_line_error(_run(*args, cwd=files), *fragments)
    after = {p.name for p in files.iterdir()}
    assert after == before, f"left behind: {sorted(after - before)}"
    assert not list(files.glob(".*tmp")), "a temporary file was left behind"


def test_broken_pipe_gives_no_traceback(files):
    proc = subprocess.Popen(
        [sys.executable, "-m", "rmodel", "operators"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=files
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(5)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert proc.returncode in (0, 2)


def test_good_command_still_works(files, tmp_path):
    run = _run("convert", str(files / "seq.onnx"), "--dim", "seq=3", "-o", str(tmp_path / "s.hxx"), cwd=files)
    assert run.returncode == 0, run.stderr
    assert "rmodel: loading" in run.stderr and "rmodel: generating the header" in run.stderr
    quiet = _run("convert", str(files / "seq.onnx"), "--dim", "seq=3", "-q", "-o", str(tmp_path / "q.hxx"), cwd=files)
    assert quiet.returncode == 0 and quiet.stderr == ""
    bad = _run("convert", "nothere.onnx", "-q", "-o", "x.hxx", cwd=files)
    assert bad.stderr.count("\n") == 1 and bad.stderr.startswith("rmodel: error:")
    assert (tmp_path / "s.hxx").read_text().count("kBatchSize = 1") == 1


def test_hls_project_without_ap_types_or_onnxruntime(tmp_path, monkeypatch, capsys):
    """Core-only installs: the project is generated in full and the missing pieces are named."""
    import importlib

    from rmodel.emitters.hls import project

    verify_module = importlib.import_module("rmodel.verify")
    from rmodel.errors import RModelError

    def no_ap_types():
        raise RModelError("Xilinx's ap_types headers were not found; pip install rmodel-codegen[hls]")

    def no_onnxruntime(*args, **kwargs):
        raise RModelError("verification needs onnxruntime: pip install onnxruntime")

    monkeypatch.setattr(project, "ap_types_include", no_ap_types)
    monkeypatch.setattr(verify_module, "run_onnxruntime", no_onnxruntime)
    rmodel.from_onnx(examples.mlp()).generate(tmp_path / "prj", target="hls")
    err = capsys.readouterr().err
    assert "tb_output_predictions.dat" in err and "onnxruntime" in err and "ap_types" in err
    assert (tmp_path / "prj" / "build_prj.tcl").is_file() and (tmp_path / "prj" / "firmware" / "mlp.cpp").is_file()
    assert not (tmp_path / "prj" / "tb_data" / "tb_output_predictions.dat").exists()
