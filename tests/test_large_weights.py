"""Large float32 weights are embedded as byte strings (fast to compile), small ones as readable
float literals; both give exactly the stored values."""

from __future__ import annotations

import ast

import numpy as np
import pytest
from helpers import TEST_FLAGS, check_against_onnxruntime, make_model, weights
from onnx import helper

import rmodel
from rmodel.emitters.literals import BYTES_MIN_ELEMENTS, _string_lines


def test_byte_string_lines_decode_to_the_same_bytes():
    rng = np.random.default_rng(0)
    for size in (0, 1, 255, 256, 257, 100_003):
        data = bytes(rng.integers(0, 256, size, dtype=np.uint8))
        lines = _string_lines(data)
        # Python's bytes literals read octal escapes and printable characters as C++ does
        assert b"".join(ast.literal_eval("b" + line.strip()) for line in lines) == data
    every = bytes(range(256)) * 3
    text = "".join(_string_lines(every))
    assert '\\"' not in text and "?" not in text.replace("\\077", "")  # quotes and '?' always escaped


def test_every_bit_pattern_survives_the_round_trip():
    """A constant output of 2^16 floats built from every byte value (NaN payloads, infinities,
    subnormals, negative zero): the compiled model returns exactly those bits."""
    bits = np.frombuffer(
        np.random.default_rng(1).permutation(np.tile(np.arange(256, dtype=np.uint8), 1024)).tobytes(), "<u4"
    )
    values = bits.view(np.float32).reshape(256, 256)
    assert values.size >= BYTES_MIN_ELEMENTS
    proto = make_model(
        [helper.make_node("Identity", ["c"], ["y"]), helper.make_node("Relu", ["x"], ["z"])],
        {"x": (np.float32, [1, 4])},
        ["y", "z"],
        {"c": values},
    )
    m = rmodel.from_onnx(proto)
    code = m.generate()
    assert "_bytes[" in code and "float_alias" in code
    y, _ = m.compile(binding="ctypes", flags=TEST_FLAGS).predict(np.zeros((1, 4), np.float32))
    assert y.view("<u4").tobytes() == bits.tobytes()


def test_large_layer_as_bytes_matches_onnxruntime_and_small_ones_stay_readable():
    rng = np.random.default_rng(2)
    big, small = weights(rng, 256, 128), weights(rng, 128, 4)
    proto = make_model(
        [helper.make_node("MatMul", ["x", "big"], ["h"]), helper.make_node("MatMul", ["h", "small"], ["y"])],
        {"x": (np.float32, [3, 256])},
        ["y"],
        {"big": big, "small": small},
    )
    m = check_against_onnxruntime(proto)
    code = m.generate()
    assert code.count("_bytes[") == 1  # the 256x128 product's packed panels only
    assert "inline constexpr char w_matmul_0_packed_bytes[131073] =" in code
    assert "inline constexpr float w_matmul_1_packed[512] = {" in code  # 512 floats: readable literals
    assert m.generate() == code  # deterministic


def test_auto_weights_embed_small_models_and_write_large_ones_to_a_file(tmp_path, monkeypatch, capsys):
    """weights='auto' (the default) keeps the self-contained header up to AUTO_EMBED_MAX_BYTES of
    weights and writes larger weights to <header>.weights: generate, compile and the CLI agree."""
    from rmodel.cli import main
    from rmodel.emitters.cpu import header

    rng = np.random.default_rng(2)
    proto = make_model(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        {"x": (np.float32, [1, 64])},
        ["y"],
        {"w": weights(rng, 64, 32)},
    )
    m = rmodel.from_onnx(proto)
    m.generate(tmp_path / "small.hxx")
    assert not (tmp_path / "small.hxx.weights").exists()
    monkeypatch.setattr(header, "AUTO_EMBED_MAX_BYTES", 64 * 32 * 4 - 1)
    code = m.generate(tmp_path / "large.hxx")
    assert (tmp_path / "large.hxx.weights").exists() and "const std::string& weights_path" in code
    with pytest.raises(rmodel.RModelError, match=r"side file .* give generate\(\) a path"):
        m.generate()
    assert "const std::string& weights_path" not in m.generate(weights="embedded")
    compiled = m.compile(binding="ctypes", flags=TEST_FLAGS)
    assert (compiled.library.parent / f"{m.default_namespace}.hxx.weights").exists()
    check_against_onnxruntime(proto)
    model_path = tmp_path / "m.onnx"
    model_path.write_bytes(proto.SerializeToString())
    assert main(["convert", str(model_path), "-o", str(tmp_path / "cli.hxx"), "--quiet"]) == 0
    assert "(+ " in capsys.readouterr().out and (tmp_path / "cli.hxx.weights").exists()
