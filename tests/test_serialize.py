"""Saving and loading .rmodel files: exact round trips, safe loading, and a clear error for every bad file."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from helpers import TEST_FLAGS, make_model, random_feeds, weights
from onnx import helper

import rmodel
from rmodel.errors import ModelLoadError, RModelError, UnsupportedOperatorError
from rmodel.frontends import load_model
from rmodel.serialize import MANIFEST, UnsupportedSavedOperatorError, load, save
from rmodel.verify import compare, onnxruntime_run

# ---- models -----------------------------------------------------------------------------------


def mlp() -> tuple[onnx.ModelProto, int]:
    rng = np.random.default_rng(1)
    nodes = [
        helper.make_node("Gemm", ["x", "w1", "b1"], ["h1"], name="dense1", transB=1),
        helper.make_node("Relu", ["h1"], ["a1"], name="relu1"),
        helper.make_node("Gemm", ["a1", "w2", "b2"], ["h2"], name="dense2", alpha=0.5, beta=2.0),
        helper.make_node("Sigmoid", ["h2"], ["y"], name="out"),
    ]
    inits = {"w1": weights(rng, 16, 8), "b1": weights(rng, 16)}
    inits |= {"w2": weights(rng, 16, 5), "b2": weights(rng, 5)}
    return make_model(nodes, {"x": (np.float32, ["N", 8])}, ["y"], inits, name="mlp"), 3


def skip_multi_io() -> tuple[onnx.ModelProto, int]:
    """Two inputs, three outputs (one of them an intermediate that is also read later), a skip."""
    rng = np.random.default_rng(2)
    nodes = [
        helper.make_node("MatMul", ["a", "w1"], ["m1"]),
        helper.make_node("Add", ["m1", "b1"], ["h"]),
        helper.make_node("Tanh", ["h"], ["t"]),
        helper.make_node("Add", ["t", "b"], ["skip"]),
        helper.make_node("Gemm", ["skip", "w2"], ["y1"], transA=0, transB=0),
        helper.make_node("Mul", ["skip", "h"], ["y2"]),
    ]
    inits = {"w1": weights(rng, 6, 4), "b1": weights(rng, 4), "w2": weights(rng, 4, 3)}
    inputs = {"a": (np.float32, [2, 6]), "b": (np.float32, [2, 4])}
    return make_model(nodes, inputs, ["y1", "y2", "h"], inits, name="skip model"), 1


def broadcasting() -> tuple[onnx.ModelProto, int]:
    """Broadcasting arithmetic, comparisons, Where, integer tensors and a constant graph output."""
    rng = np.random.default_rng(3)
    nodes = [
        helper.make_node("Add", ["x", "row"], ["s"]),
        helper.make_node("Mul", ["s", "col"], ["p"]),
        helper.make_node("Greater", ["p", "zero"], ["pos"]),
        helper.make_node("LeakyRelu", ["p"], ["lr"], alpha=0.2),
        helper.make_node("Where", ["pos", "p", "lr"], ["w"]),
        helper.make_node("Clip", ["w", "lo", "hi"], ["y"]),
        helper.make_node("Neg", ["k"], ["nk"]),
        helper.make_node("Abs", ["nk"], ["ak"]),
        helper.make_node("Add", ["ak", "kbias"], ["kout"]),
    ]
    inits = {
        "row": weights(rng, 4),
        "col": weights(rng, 3, 1),
        "zero": np.zeros((), np.float32),
        "lo": np.array(-0.25, np.float32),
        "hi": np.array(0.5, np.float32),
        "kbias": np.arange(3, dtype=np.int64),
        "table": np.arange(6, dtype=np.int32).reshape(2, 3),
    }
    inputs = {"x": (np.float32, [2, 3, 4]), "k": (np.int64, [2, 3])}
    outputs = {"y": np.float32, "kout": np.int64, "table": np.int32}
    return make_model(nodes, inputs, outputs, inits, name="broadcast"), 1


def conv_net() -> tuple[onnx.ModelProto, int]:
    """Conv, BatchNormalization, pooling, Flatten, Gemm, Softmax: tuple attributes of every kind."""
    rng = np.random.default_rng(4)
    nodes = [
        helper.make_node("Conv", ["x", "cw", "cb"], ["c"], name="conv", pads=[1, 1, 1, 1], strides=[1, 1]),
        helper.make_node("BatchNormalization", ["c", "scale", "shift", "mean", "var"], ["n"], epsilon=1e-3),
        helper.make_node("Relu", ["n"], ["r"]),
        helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "dw", "db"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["y"], axis=-1),
    ]
    inits = {
        "cw": weights(rng, 4, 2, 3, 3, fan_in=18),
        "cb": weights(rng, 4),
        "scale": rng.uniform(0.5, 1.5, 4).astype(np.float32),
        "shift": weights(rng, 4),
        "mean": weights(rng, 4),
        "var": rng.uniform(0.5, 1.5, 4).astype(np.float32),
        "dw": weights(rng, 5, 36),
        "db": weights(rng, 5),
    }
    return make_model(nodes, {"x": (np.float32, ["batch", 2, 6, 6])}, ["y"], inits, name="conv"), 2


def recurrent() -> tuple[onnx.ModelProto, int]:
    """A bidirectional LSTM and a GRU with explicit activations (string-list attributes)."""
    rng = np.random.default_rng(5)
    hidden, features = 5, 3
    nodes = [
        helper.make_node(
            "LSTM", ["x", "lw", "lr", "lb"], ["y_lstm", "yh_lstm"], direction="bidirectional", hidden_size=hidden
        ),
        helper.make_node(
            "GRU",
            ["x", "gw", "gr", "gb"],
            ["", "yh_gru"],
            hidden_size=hidden,
            linear_before_reset=1,
            activations=["Sigmoid", "Tanh"],
        ),
    ]
    inits = {
        "lw": weights(rng, 2, 4 * hidden, features),
        "lr": weights(rng, 2, 4 * hidden, hidden),
        "lb": weights(rng, 2, 8 * hidden),
        "gw": weights(rng, 1, 3 * hidden, features),
        "gr": weights(rng, 1, 3 * hidden, hidden),
        "gb": weights(rng, 1, 6 * hidden),
    }
    inputs = {"x": (np.float32, [4, 2, features])}
    return make_model(nodes, inputs, ["y_lstm", "yh_gru"], inits, name="recurrent"), 1


MODELS: dict[str, Callable[[], tuple[onnx.ModelProto, int]]] = {
    "mlp": mlp,
    "skip_multi_io": skip_multi_io,
    "broadcasting": broadcasting,
    "conv": conv_net,
    "recurrent": recurrent,
}

OPTIONS = {
    "hls": {"precision": "ap_fixed<16,6>", "reuse_factor": 4, "layer_precision": {"dense1": (18, 8)}},
    "passes": ["fold", "fuse"],
    "clip": float("inf"),
    "note": None,
}


def _operator_record(op) -> tuple:
    return (op.op_type, op.name, op.inputs, op.outputs, op.attrs, op.opset, op.input_infos, op.output_infos)


def _same_options(a, b) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True) and repr(a) == repr(b)


@pytest.mark.parametrize("name", list(MODELS))
def test_round_trip(name: str, tmp_path: Path) -> None:
    proto, batch = MODELS[name]()
    m = rmodel.from_onnx(proto, batch_size=batch)
    m.options = OPTIONS
    path = tmp_path / "model.rmodel"
    save(m, path)
    m2 = load(path)

    assert (m2.name, m2.batch_size, m2.opset) == (m.name, m.batch_size, m.opset)
    assert m2.inputs == m.inputs and m2.outputs == m.outputs
    assert list(m2.tensors.items()) == list(m.tensors.items())
    assert [_operator_record(op) for op in m2.operators] == [_operator_record(op) for op in m.operators]
    assert list(m2.constants) == list(m.constants)
    for key, value in m.constants.items():
        assert m2.constants[key].dtype == value.dtype and np.array_equal(m2.constants[key], value), key
    assert _same_options(m2.options, m.options)
    assert m2.options is not m.options

    # generated code (and the weight file) is byte-identical
    for mode in ("embedded", "file"):
        first, second = tmp_path / f"a_{mode}.hxx", tmp_path / f"b_{mode}.hxx"
        m.generate(first, weights=mode)
        m2.generate(second, weights=mode)
        assert first.read_bytes() == second.read_bytes()
        if mode == "file":
            assert Path(f"{first}.weights").read_bytes() == Path(f"{second}.weights").read_bytes()

    # saving is deterministic: the loaded model saves to the very same bytes
    save(m2, tmp_path / "again.rmodel")
    assert (tmp_path / "again.rmodel").read_bytes() == path.read_bytes()
    # the front-end dispatcher (used by `rmodel convert`) reads .rmodel files too
    assert load_model(path).generate() == m.generate()

    # predictions: equal to the original's and to onnxruntime on the original ONNX model
    feeds = random_feeds(m, np.random.default_rng(0))
    args = [feeds[n] for n in m.input_names]
    got = m2.compile(binding="ctypes", flags=TEST_FLAGS).predict(*args)
    want = m.compile(binding="ctypes", flags=TEST_FLAGS).predict(*args)
    got, want = ([got], [want]) if len(m.outputs) == 1 else (list(got), list(want))
    ref = onnxruntime_run(proto, feeds, m.output_names)
    for out, g, w, r in zip(m.output_names, got, want, ref, strict=True):
        assert g.dtype == w.dtype and np.array_equal(g, w), out
        assert compare(out, g, r).passed, out


def test_weight_byte_order_and_layout(tmp_path: Path) -> None:
    """Big-endian or non-contiguous constants load back as the same values in native order."""
    proto, _ = mlp()
    m = rmodel.from_onnx(proto)
    w1 = m.constants["w1"]
    m.constants["w1"] = w1.astype(">f4")
    m.constants["b1"] = np.asfortranarray(np.stack([m.constants["b1"]] * 2))[0]
    save(m, tmp_path / "m.rmodel")
    m2 = load(tmp_path / "m.rmodel")
    assert m2.constants["w1"].dtype == np.dtype("float32") and m2.constants["w1"].dtype.isnative
    assert np.array_equal(m2.constants["w1"], w1)
    assert np.array_equal(m2.constants["b1"], m.constants["b1"])


# ---- saving: refusals and atomicity -----------------------------------------------------------


@pytest.fixture
def small_model() -> rmodel.RModel:
    return rmodel.from_onnx(mlp()[0], batch_size=3)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"hls": {"reuse_factor": np.int64(4)}}, r"model\.options\['hls'\]\['reuse_factor'\].*numpy\.int64"),
        ({"precision": np.float32(0.5)}, r"numpy\.float32"),
        ({"weights": np.zeros(3)}, r"numpy\.ndarray"),
        ({3: "x"}, r"key 3 cannot be saved"),
        ({"$tuple": 1}, r"key '\$tuple' cannot be saved"),
    ],
)
def test_save_refuses_inexact_options(small_model: rmodel.RModel, tmp_path: Path, options, message) -> None:
    small_model.options = options
    with pytest.raises(RModelError, match=message):
        save(small_model, tmp_path / "m.rmodel")
    assert list(tmp_path.iterdir()) == []


def test_save_refuses_unstorable_attribute_and_constant(small_model: rmodel.RModel, tmp_path: Path) -> None:
    small_model.operators[0].attrs["value"] = helper.make_tensor("v", onnx.TensorProto.FLOAT, [1], [1.0])
    with pytest.raises(RModelError, match=r"operator 0 'dense1' \(Gemm\) attribute 'value'.*TensorProto"):
        save(small_model, tmp_path / "m.rmodel")
    del small_model.operators[0].attrs["value"]
    small_model.constants["names"] = np.array(["a", "b"], dtype=object)
    with pytest.raises(RModelError, match=r"constant 'names' has dtype object"):
        save(small_model, tmp_path / "m.rmodel")


def test_save_is_atomic(small_model: rmodel.RModel, tmp_path: Path) -> None:
    path = tmp_path / "sub" / "m.rmodel"
    save(small_model, path)
    before = path.read_bytes()
    small_model.options = {"bad": object()}
    with pytest.raises(RModelError):
        save(small_model, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.rmodel"]


# ---- loading bad files ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def good_file(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("good") / "m.rmodel"
    save(rmodel.from_onnx(mlp()[0], batch_size=3), path)
    return path.read_bytes()


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _zip(members: list[tuple[str | zipfile.ZipInfo, bytes]], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, payload in members:
            archive.writestr(name, payload)
    return buffer.getvalue()


def _rewrite(
    data: bytes, edit: Callable[[dict], None] | None = None, replace: dict[str, bytes | None] | None = None
) -> bytes:
    """The archive with model.json edited and members replaced (None: removed)."""
    members = _members(data)
    if edit is not None:
        description = json.loads(members[MANIFEST])
        edit(description)
        members[MANIFEST] = json.dumps(description).encode()
    for name, payload in (replace or {}).items():
        if payload is None:
            members.pop(name)
        else:
            members[name] = payload
    return _zip(list(members.items()))


def _manifest(text: bytes) -> Callable[[bytes], bytes]:
    return lambda data: _rewrite(data, replace={MANIFEST: text})


def _weight_member(data: bytes, tensor: str) -> str:
    description = json.loads(_members(data)[MANIFEST])
    return next(w["file"] for w in description["weights"] if w["name"] == tensor)


def _patch_central_size(data: bytes, member: str, size: int) -> bytes:
    """Change the uncompressed size a member declares in the central directory."""
    header = data.index(b"PK\x01\x02")
    while True:
        name_len = int.from_bytes(data[header + 28 : header + 30], "little")
        if data[header + 46 : header + 46 + name_len].decode() == member:
            break
        header = data.index(b"PK\x01\x02", header + 4)
    return data[: header + 24] + size.to_bytes(4, "little") + data[header + 28 :]


def _npy(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def _set(*path_and_value):
    *path, value = path_and_value

    def edit(description: dict) -> None:
        target = description
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return edit


def _flip_weight_byte(data: bytes) -> bytes:
    """Corrupt one byte of stored weight data in place (the zip CRC no longer matches)."""
    members = _members(data)
    payload = members[_weight_member(data, "w1")]
    last = data.index(payload) + len(payload) - 1
    return data[:last] + bytes([data[last] ^ 0xFF]) + data[last + 1 :]


def _changed_weight(data: bytes) -> bytes:
    """A valid archive whose weight data differs from what its checksum says."""
    member = _weight_member(data, "b1")
    array = np.load(io.BytesIO(_members(data)[member]))
    array[3] += 1.0
    return _rewrite(data, replace={member: _npy(array)})


def _bomb(data: bytes) -> bytes:
    """Replace a small weight by 40 MB of zeros that deflate to a few kB."""
    members = _members(data)
    members[_weight_member(data, "b1")] = bytes(40 << 20)
    return _zip(list(members.items()), zipfile.ZIP_DEFLATED)


def _member_swap(data: bytes, tensor: str, payload: bytes) -> bytes:
    return _rewrite(data, replace={_weight_member(data, tensor): payload})


def _with_extra(name: str) -> Callable[[bytes], bytes]:
    return lambda data: _zip([*_members(data).items(), (name, b"x")])


def _bzip2(data: bytes) -> bytes:
    return _zip(list(_members(data).items()), zipfile.ZIP_BZIP2)


def _duplicate_manifest(data: bytes) -> bytes:
    members = list(_members(data).items())
    with pytest.warns(UserWarning, match="Duplicate name"):
        return _zip([*members, (MANIFEST, members[0][1])])


def _op_attr(index: int, attrs: dict):
    return lambda d: d["operators"][index].__setitem__("attrs", attrs)


W1, B1 = "weights/0000_w1.npy", "weights/0001_b1.npy"

# case -> (make the bad file from a good one, regular expression the error message must match)
BAD_FILES: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    # wrong file type and damage
    "empty": (lambda d: b"", r"is not an \.rmodel file \(it is not a zip archive\)"),
    "onnx_file": (lambda d: mlp()[0].SerializeToString(), r"is not an \.rmodel file"),
    "truncated_half": (lambda d: d[: len(d) // 2], r"truncated or damaged"),
    "truncated_tail": (lambda d: d[:-7], r"truncated or damaged"),
    "flipped_byte": (_flip_weight_byte, rf"member '{W1}' \(weight 'w1'\) cannot be read.*CRC"),
    "plain_zip": (
        lambda d: _zip([("readme.txt", b"hi")]),
        r"not an \.rmodel file: member 'model\.json' is missing",
    ),
    "missing_weight": (
        lambda d: _rewrite(d, replace={B1: None}),
        rf"member '{B1}' \(weight 'b1'\) is missing",
    ),
    # unsafe member names
    "dotdot": (_with_extra("../evil.txt"), r"member name '\.\./evil\.txt' is unsafe"),
    "nested_dotdot": (_with_extra("weights/../../evil"), r"member name 'weights/\.\./\.\./evil' is unsafe"),
    "absolute": (_with_extra("/etc/evil"), r"member name '/etc/evil' is unsafe"),
    "drive": (_with_extra("C:/evil"), r"member name 'C:/evil' is unsafe"),
    "backslash": (_with_extra("..\\evil"), r"is unsafe"),
    "duplicate_member": (_duplicate_manifest, r"member 'model\.json' appears twice"),
    "bzip2": (_bzip2, r"uses compression method 12"),
    # sizes: zip bombs and lies
    "declared_huge": (
        lambda d: _patch_central_size(d, W1, 0xFFFFFFF0),
        rf"'{W1}' is stored uncompressed but declares 4,294,967,280 bytes while holding \d+; the archive is damaged",
    ),
    "deflate_bomb": (_bomb, rf"'{B1}' inflates 1,028-fold .* over the limit max_compression_ratio"),
    "declared_small": (
        lambda d: _patch_central_size(d, MANIFEST, 100),
        r"'model\.json'.*(damaged|truncated)",
    ),
    # the description
    "not_json": (_manifest(b"{'format': 'rmodel'"), r"'model\.json' is not valid JSON"),
    "nan_json": (_manifest(b'{"format": NaN}'), r"not valid JSON: 'NaN'"),
    "not_utf8": (_manifest(b"\xff\xfe{}"), r"not valid JSON"),
    "no_format": (_manifest(b'{"name": "x"}'), r"not an rmodel description"),
    "json_list": (_manifest(b"[1, 2]"), r"not an rmodel description"),
    "newer_major": (
        lambda d: _rewrite(d, _set("format_version", "2.0")),
        r"written by rmodel 0\.1\.0 in \.rmodel format 2\.0, newer than the format 1\.x.*upgrade rmodel",
    ),
    "older_major": (lambda d: _rewrite(d, _set("format_version", "0.9")), r"format 0\.9.*no longer reads"),
    "bad_version": (lambda d: _rewrite(d, _set("format_version", "one")), r"no readable format_version"),
    "unknown_op": (
        lambda d: _rewrite(d, _set("operators", 1, "op_type", "FancyRelu")),
        r"operator type\(s\) this rmodel 0\.1\.0 does not implement: FancyRelu \(operator relu1\)",
    ),
    "unknown_input": (
        lambda d: _rewrite(d, _set("operators", 2, "inputs", ["a1", "ghost", "b2"])),
        r"operator 2 'dense2' \(Gemm\) reads tensor 'ghost', which is not an input",
    ),
    "later_input": (
        lambda d: _rewrite(d, _set("operators", 0, "inputs", ["a1", "w1", "b1"])),
        r"operator 0 'dense1' \(Gemm\) reads tensor 'a1'",
    ),
    "overwrite": (
        lambda d: _rewrite(d, _set("operators", 1, "outputs", ["w2"])),
        r"operator 1 'relu1' \(Relu\) writes tensor 'w2', which already exists",
    ),
    "unknown_output": (
        lambda d: _rewrite(d, _set("outputs", 0, "name", "ghost")),
        r"output 'ghost' is produced by no operator",
    ),
    "output_shape": (
        lambda d: _rewrite(d, _set("outputs", 0, "shape", [3, 6])),
        r"output 'y' is float32\[3, 6\] in 'model\.json' but its operators compute float32\[3, 5\]",
    ),
    "tensor_shape": (
        lambda d: _rewrite(d, _set("tensors", 5, "shape", [3, 17])),
        r"tensor 'h1' is float32\[3, 17\] in 'model\.json' but the rebuilt model has float32\[3, 16\]",
    ),
    "weight_info": (
        lambda d: _rewrite(d, _set("tensors", 1, "dtype", "int8")),
        r"tensor 'w1' is int8\[16, 8\] in 'model\.json' but the rebuilt model has float32\[16, 8\]",
    ),
    "tensor_missing": (lambda d: _rewrite(d, lambda j: j["tensors"].pop(5)), r"missing: \['h1'\]"),
    "tensor_extra": (
        lambda d: _rewrite(d, lambda j: j["tensors"].append({"name": "z", "dtype": "float32", "shape": []})),
        r"unknown: \['z'\]",
    ),
    "input_shape": (
        lambda d: _rewrite(d, _set("inputs", 0, "shape", [3, 9])),
        r"operator 0 'dense1' \(Gemm\) cannot be rebuilt: .*inner dimensions differ",
    ),
    "input_dtype": (
        lambda d: _rewrite(d, _set("inputs", 0, "dtype", "complex64")),
        r"inputs\[0\] 'x': dtype 'complex64' is not allowed",
    ),
    "object_dtype": (lambda d: _rewrite(d, _set("inputs", 0, "dtype", "object")), r"dtype 'object' is not allowed"),
    "unknown_attr": (
        lambda d: _rewrite(d, _op_attr(0, {"transB": 1, "bogus": 2})),
        r"'dense1' \(Gemm\) cannot be rebuilt: .*attribute\(s\) bogus",
    ),
    "attr_type": (
        lambda d: _rewrite(d, _op_attr(2, {"alpha": "fast"})),
        r"'dense2' \(Gemm\) cannot be rebuilt",
    ),
    "bad_tag": (lambda d: _rewrite(d, _set("options", {"$code": "import os"})), r"unknown tagged value"),
    "batch_type": (lambda d: _rewrite(d, _set("batch_size", "3")), r"batch_size must be an integer"),
    "batch_zero": (lambda d: _rewrite(d, _set("batch_size", 0)), r"batch_size must be positive"),
    "negative_dim": (lambda d: _rewrite(d, _set("inputs", 0, "shape", [3, -8])), r"integers >= 0"),
    "no_operators": (lambda d: _rewrite(d, lambda j: j.pop("operators")), r"model\.json lacks 'operators'"),
    # weights
    "weight_shape": (
        lambda d: _rewrite(d, _set("weights", 0, "shape", [8, 16])),
        rf"weight 'w1' is float32\[16, 8\] in '{W1}' but float32\[8, 16\] in 'model\.json'",
    ),
    "weight_dtype": (
        lambda d: _rewrite(d, _set("weights", 1, "dtype", "float64")),
        r"weight 'b1' is float32\[16\] in .* but float64\[16\]",
    ),
    "checksum": (_changed_weight, rf"checksum mismatch for weight 'b1' \('{B1}'\): its data is corrupt"),
    "pickled_weight": (
        lambda d: _member_swap(d, "w1", _npy(np.array([{"a": 1}], dtype=object), allow_pickle=True)),
        rf"weight 'w1' \('{W1}'\) is not a readable \.npy array.*allow_pickle",
    ),
    "garbage_weight": (
        lambda d: _member_swap(d, "w1", b"\x93NUMPY garbage"),
        r"weight 'w1' .* not a readable \.npy",
    ),
    "weight_twice": (
        lambda d: _rewrite(d, lambda j: j["weights"].append(dict(j["weights"][0]))),
        r"weight 'w1' is listed twice",
    ),
    "weight_named_input": (
        lambda d: _rewrite(d, _set("weights", 0, "name", "x")),
        r"weight 'x' has the name of an input",
    ),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_file(case: str, good_file: bytes, tmp_path: Path) -> None:
    make, message = BAD_FILES[case]
    path = tmp_path / "bad.rmodel"
    path.write_bytes(make(good_file))
    with pytest.raises(ModelLoadError, match=message) as info:
        load(path)
    assert str(path) in str(info.value)


def test_unknown_operator_error_types(good_file: bytes, tmp_path: Path) -> None:
    path = tmp_path / "bad.rmodel"
    path.write_bytes(_rewrite(good_file, _set("operators", 0, "op_type", "Wobble")))
    with pytest.raises(UnsupportedSavedOperatorError) as info:
        load(path)
    assert isinstance(info.value, UnsupportedOperatorError) and isinstance(info.value, ModelLoadError)
    assert info.value.unsupported == {"Wobble": ["dense1"]}


def test_total_size_limit(good_file: bytes, tmp_path: Path) -> None:
    path = tmp_path / "m.rmodel"
    path.write_bytes(good_file)
    with pytest.raises(ModelLoadError, match=r"more than the limit of 600.*pass max_bytes="):
        load(path, max_bytes=600)
    assert load(path, max_bytes=len(good_file) * 2).operators


def test_newer_minor_version_loads(good_file: bytes, tmp_path: Path) -> None:
    path = tmp_path / "m.rmodel"
    path.write_bytes(_rewrite(good_file, _set("format_version", "1.7")))
    assert [op.name for op in load(path).operators] == ["dense1", "relu1", "dense2", "out"]


def test_missing_path_and_directory(tmp_path: Path) -> None:
    for path in (tmp_path / "none.rmodel", tmp_path):
        with pytest.raises(ModelLoadError, match="no such file"):
            load(path)


def test_loads_unpacked_and_rezipped_archive(good_file: bytes, tmp_path: Path) -> None:
    """Users may unpack the archive, read model.json and zip it again (deflated) with another tool."""
    path = tmp_path / "m.rmodel"
    path.write_bytes(_zip(list(_members(good_file).items()), zipfile.ZIP_DEFLATED))
    assert load(path).generate() == rmodel.from_onnx(mlp()[0], batch_size=3).generate()


# ---- no TensorFlow needed -----------------------------------------------------------------------

BLOCKER = '''
import sys

class _NoTensorFlow:
    """Meta-path finder refusing TensorFlow and Keras, as on a machine without them."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"tensorflow", "keras", "tf_keras", "tf2onnx"}:
            raise ImportError(f"{name} is blocked in this test")
        return None

sys.meta_path.insert(0, _NoTensorFlow())
'''

SCRIPT = """
import sys
from pathlib import Path

for blocked in ("tensorflow", "keras"):
    try:
        __import__(blocked)
    except ImportError:
        pass
    else:
        raise SystemExit(f"{blocked} imported although it is blocked")

from rmodel.cli import main
from rmodel.serialize import load

folder = Path(sys.argv[1])
model = load(folder / "m.rmodel")
model.generate(folder / "api.hxx")
assert main(["convert", str(folder / "m.rmodel"), "-o", str(folder / "cli.hxx")]) == 0
assert not any(m.split(".")[0] in ("tensorflow", "keras") for m in sys.modules)
print("ok")
"""


def test_load_and_generate_without_tensorflow(tmp_path: Path) -> None:
    proto, batch = skip_multi_io()
    m = rmodel.from_onnx(proto, batch_size=batch)
    save(m, tmp_path / "m.rmodel")
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCKER)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(blocker), env.get("PYTHONPATH", "")) if p)
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SCRIPT), str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stdout + proc.stderr
    expected = m.generate()
    assert (tmp_path / "api.hxx").read_text() == expected
    assert (tmp_path / "cli.hxx").read_text() == expected


def test_every_model_field_is_saved() -> None:
    """Tripwire: a new RModel field must be added to the .rmodel format (and to this list)."""
    import dataclasses

    saved = {"name", "inputs", "outputs", "operators", "constants", "tensors", "batch_size", "opset", "options"}
    # a dynamic batch is saved as the 'dynamic_batch' record (tests/test_dynamic_batch.py)
    saved |= {"dynamic_batch", "batch_variants"}
    # the limits in force belong to the session that loads a file, never to the file
    assert {f.name for f in dataclasses.fields(rmodel.RModel)} - {"limits"} == saved


def test_random_damage_is_always_a_load_error(good_file: bytes, tmp_path: Path) -> None:
    """Flipped bytes and truncation anywhere: the model loads unchanged or a ModelLoadError says why."""
    rng = np.random.default_rng(7)
    good = load_model_bytes(good_file, tmp_path / "good.rmodel")
    reference = ([_operator_record(op) for op in good.operators], good.tensors, good.constants)
    path = tmp_path / "bad.rmodel"
    outcomes = {"error": 0, "loaded": 0}
    for trial in range(300):
        data = bytearray(good_file)
        if trial % 3 == 0:
            data = data[: int(rng.integers(0, len(data)))]
        else:
            for position in rng.integers(0, len(data), int(rng.integers(1, 4))):
                data[position] ^= int(rng.integers(1, 256))
        try:
            model = load_model_bytes(bytes(data), path)
        except ModelLoadError:
            outcomes["error"] += 1
        else:  # bytes nobody reads (zip timestamps, comments) may change; the model must not
            operators, tensors, constants = reference
            assert [_operator_record(op) for op in model.operators] == operators and model.tensors == tensors
            assert constants.keys() == model.constants.keys()
            assert all(np.array_equal(constants[k], model.constants[k]) for k in constants)
            outcomes["loaded"] += 1
    assert outcomes["error"] > 200


def load_model_bytes(data: bytes, path: Path) -> rmodel.RModel:
    path.write_bytes(data)
    return load(path)
