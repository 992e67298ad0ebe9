"""The command line: rmodel convert / inspect / operators, and its errors."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import onnx
import pytest
from helpers import make_model
from onnx import helper

from rmodel.cli import main
from rmodel.examples import mlp, skip_model


@pytest.fixture
def mlp_file(tmp_path):
    path = tmp_path / "jet.onnx"
    onnx.save(mlp(), path)
    return path


def test_convert_and_verify(mlp_file, tmp_path, capsys):
    out = tmp_path / "gen" / "jet.hxx"
    assert main(["convert", str(mlp_file), "-o", str(out), "--batch-size", "4", "--verify"]) == 0
    text = capsys.readouterr().out
    assert f"wrote {out}" in text
    assert "probabilities" in text and " ok" in text
    assert "namespace jet_batch4 {" in out.read_text()


def test_convert_with_weight_file_and_namespace(mlp_file, tmp_path, capsys):
    out = tmp_path / "jet.hxx"
    assert (
        main(["convert", str(mlp_file), "-o", str(out), "--weights", "file", "--namespace", "trigger", "--verify"]) == 0
    )
    assert (tmp_path / "jet.hxx.weights").stat().st_size > 4 * 4389
    assert "namespace trigger {" in out.read_text()


def test_inspect_prints_a_table(tmp_path, capsys):
    path = tmp_path / "skip.onnx"
    onnx.save(skip_model(), path)
    assert main(["inspect", str(path), "--batch-size", "2"]) == 0
    text = capsys.readouterr().out
    assert "inputs:  x: float32[2x6], gate: float32[2x8]" in text
    assert "dense_1" in text and "Gemm" in text and "FLOPs" in text
    assert "parameters" in text


def test_no_optimize_keeps_every_node(tmp_path, capsys):
    from rmodel.examples import cnn

    path = tmp_path / "cnn.onnx"
    onnx.save(cnn(), path)
    assert main(["inspect", str(path)]) == 0
    assert "BatchNormalization" not in capsys.readouterr().out
    assert main(["inspect", str(path), "--no-optimize"]) == 0
    assert "BatchNormalization" in capsys.readouterr().out


def test_operators_lists_the_registry(capsys):
    assert main(["operators"]) == 0
    listed = capsys.readouterr().out.split()
    assert {"Gemm", "Conv", "LSTM", "Relu", "Transpose", "BatchNormalization"} <= set(listed)


def test_errors_exit_2_with_a_message(tmp_path, capsys):
    bad = make_model(
        [helper.make_node("TopK", ["x", "k"], ["v", "i"], name="top")],
        {"x": (np.float32, [1, 4])},
        {"v": np.float32, "i": np.int64},
        {"k": np.array([2], np.int64)},
    )
    path = tmp_path / "bad.onnx"
    onnx.save(bad, path)
    out = tmp_path / "bad.hxx"
    assert main(["convert", str(path), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "rmodel: error:" in err and "TopK: node top" in err
    assert not out.exists()
    assert main(["convert", str(tmp_path / "missing.onnx"), "-o", str(out)]) == 2
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "model.txt").write_text("x")
    assert main(["inspect", str(tmp_path / "model.txt")]) == 2
    assert "unknown model format" in capsys.readouterr().err


def test_module_entry_point(mlp_file):
    run = subprocess.run([sys.executable, "-m", "rmodel", "inspect", str(mlp_file)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "dense_3" in run.stdout


def test_readme_main_job_on_the_bundled_keras_model(tmp_path, capsys):
    """The README's first command: convert examples/jet_tagger.keras and verify it."""
    from pathlib import Path

    model = Path(__file__).resolve().parents[1] / "examples" / "jet_tagger.keras"
    out = tmp_path / "jet_tagger.hxx"
    assert main(["convert", str(model), "-o", str(out), "--verify"]) == 0
    text = capsys.readouterr().out
    assert "output_softmax" in text and " ok" in text
    assert "namespace jet_tagger {" in out.read_text()


def test_running_step_shows_elapsed_seconds_on_a_terminal(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    """On a terminal a long step (compiling a large model) counts its seconds up while it runs,
    then leaves one 'done' line; a failed step leaves nothing."""
    import time

    from rmodel.cli import _Phases

    monkeypatch.setattr(_Phases, "TICK", 0.05)
    phase = _Phases(quiet=False, live=True)
    with phase("compiling"):
        time.sleep(0.3)
    err = capsys.readouterr().err
    assert err.startswith("rmodel: compiling ...")
    assert err.count("\r\033[Krmodel: compiling ... 0 s") >= 2
    assert re.search(r"\r\033\[Krmodel: compiling \.\.\. done in \d\.\d s\n$", err)
    with pytest.raises(ValueError), phase("failing"):
        time.sleep(0.12)
        raise ValueError("x")
    err = capsys.readouterr().err
    assert err.endswith("\r\033[K") and "done" not in err
    time.sleep(0.15)  # the ticker has stopped: nothing more is written
    assert capsys.readouterr().err == ""
