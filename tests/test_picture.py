"""`rmodel inspect --graph`: the operator graph and the memory plan as SVG/PNG (matplotlib)."""

from __future__ import annotations

import subprocess
import sys

import onnx
import pytest

import rmodel
from rmodel import examples
from rmodel.errors import RModelError
from rmodel.picture import draw, lifetimes


@pytest.mark.parametrize("make", [examples.mlp, examples.skip_model, examples.cnn, examples.lstm_model])
def test_svg_names_every_operator_and_tensor(make, tmp_path):
    m = rmodel.from_onnx(make())
    svg = draw(m, tmp_path / "g.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "</svg>" in svg
    for op in m.operators:
        assert f"({op.op_type})" in svg and op.name[:28] in svg
    assert "scratch arena" in svg and "operator index" in svg


def test_png_from_the_command_line(tmp_path):
    onnx.save(examples.cnn(), tmp_path / "cnn.onnx")
    out = tmp_path / "pics" / "cnn.png"
    run = subprocess.run(
        [sys.executable, "-m", "rmodel", "inspect", str(tmp_path / "cnn.onnx"), "--graph", str(out)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    import matplotlib.image

    image = matplotlib.image.imread(out)
    assert image.shape[0] > 300 and image.shape[1] > 1000


def test_lifetimes_cover_producer_to_last_reader():
    m = rmodel.from_onnx(examples.skip_model())
    spans = lifetimes(m)
    first_output = m.operators[0].outputs[0]
    readers = [i for i, op in enumerate(m.operators) if first_output in op.inputs]
    assert spans[first_output] == (0, max(readers))


def test_unknown_picture_format_is_an_error(tmp_path):
    with pytest.raises(RModelError, match="svg"):
        draw(rmodel.from_onnx(examples.mlp()), tmp_path / "g.gif")
