"""Size, folding and file bombs are refused with LimitExceededError before anything is allocated.

Each bomb is loaded in a subprocess under a memory cap (RLIMIT_AS) and a time limit, so a
regression shows up as a MemoryError, a kill or a timeout instead of taking the machine down.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import onnx
import pytest
from helpers import make_model
from onnx import helper, numpy_helper

import rmodel
from rmodel import examples, limits
from rmodel.errors import LimitExceededError, ModelLoadError

ROOT = Path(__file__).resolve().parents[1]
MEMORY_CAP = 3 << 30


def _load_capped(source_expr: str, tmp_path: Path, timeout: float = 60) -> str:
    """Run ``rmodel`` on ``source_expr`` in a subprocess capped at 3 GiB and ``timeout`` s; return
    the name of the exception it raised (or 'ok')."""
    code = textwrap.dedent(
        f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_CAP}, {MEMORY_CAP}))
        import rmodel
        try:
            m = {source_expr}
            m.generate()
            print("RESULT ok")
        except Exception as exc:
            print("RESULT", type(exc).__name__, str(exc)[:300])
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, cwd=tmp_path, env=env
    )
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT")]
    assert lines, f"no result (exit {run.returncode}): {run.stderr[-2000:]}"
    return lines[-1]


def _save(proto: onnx.ModelProto, path: Path) -> Path:
    path.write_bytes(proto.SerializeToString())
    return path


def _one_node(op: str, inputs: dict, consts: dict, **attrs) -> onnx.ModelProto:
    names = list(inputs) + list(consts)
    return make_model([helper.make_node(op, names, ["y"], **attrs)], inputs, ["y"], consts)


BOMBS = {
    # run-time operators whose output shape comes from a constant
    "tile": lambda: _one_node("Tile", {"x": (np.float32, [1, 4])}, {"r": np.array([2**62, 1], np.int64)}),
    "expand": lambda: _one_node("Expand", {"x": (np.float32, [1, 4])}, {"s": np.array([2**40, 4], np.int64)}),
    "resize": lambda: make_model(
        [helper.make_node("Resize", ["x", "", "s"], ["y"])],
        {"x": (np.float32, [1, 1, 4, 4])},
        ["y"],
        {"s": np.array([1, 1, 1e6, 1e6], np.float32)},
    ),
    "pad": lambda: _one_node("Pad", {"x": (np.float32, [1, 4])}, {"p": np.array([0, 0, 2**40, 0], np.int64)}),
    # constant folding at load time
    "constant_of_shape": lambda: make_model(
        [
            helper.make_node("ConstantOfShape", ["s"], ["c"]),
            helper.make_node("Add", ["x", "c"], ["y"]),
        ],
        {"x": (np.float32, [1])},
        ["y"],
        {"s": np.array([2**20, 2**20], np.int64)},
    ),
    "range": lambda: make_model(
        [
            helper.make_node("Range", ["a", "b", "d"], ["r"]),
            helper.make_node("Cast", ["r"], ["c"], to=1),
            helper.make_node("Add", ["x", "c"], ["y"]),
        ],
        {"x": (np.float32, [1])},
        ["y"],
        {"a": np.array(0, np.int64), "b": np.array(2**40, np.int64), "d": np.array(1, np.int64)},
    ),
    "broadcast_fold": lambda: make_model(
        [helper.make_node("Add", ["u", "v"], ["c"]), helper.make_node("Add", ["x", "c"], ["y"])],
        {"x": (np.float32, [1])},
        ["y"],
        {"u": np.zeros((2**15, 1), np.float32), "v": np.zeros((1, 2**15), np.float32)},
    ),
    "input_dims": lambda: make_model(
        [helper.make_node("Relu", ["x"], ["y"])], {"x": (np.float32, [1, 2**31, 2**31])}, ["y"]
    ),
}


@pytest.mark.parametrize("kind", list(BOMBS))
def test_shape_bombs_are_refused_under_a_memory_cap(kind, tmp_path):
    path = _save(BOMBS[kind](), tmp_path / f"{kind}.onnx")
    assert path.stat().st_size < 300_000
    result = _load_capped(f"rmodel.from_onnx({str(path)!r})", tmp_path)
    assert result.startswith("RESULT LimitExceededError"), result


def _loop_model(trip: int | None) -> onnx.ModelProto:
    body = helper.make_graph(
        [helper.make_node("Add", ["v_in", "one"], ["v_out"]), helper.make_node("Identity", ["cond_in"], ["cond_out"])],
        "body",
        [
            helper.make_tensor_value_info("i", onnx.TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", onnx.TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_in", onnx.TensorProto.FLOAT, [1]),
        ],
        [
            helper.make_tensor_value_info("cond_out", onnx.TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_out", onnx.TensorProto.FLOAT, [1]),
        ],
        [numpy_helper.from_array(np.ones(1, np.float32), "one")],
    )
    consts = {"cond": np.array(True), "v0": np.zeros(1, np.float32)}
    if trip is not None:
        consts["M"] = np.array(trip, np.int64)
    loop = helper.make_node("Loop", ["M" if trip is not None else "", "cond", "v0"], ["v"], body=body)
    return make_model([loop, helper.make_node("Add", ["x", "v"], ["y"])], {"x": (np.float32, [1])}, ["y"], consts)


def test_folding_a_huge_loop_is_refused_quickly(tmp_path):
    path = _save(_loop_model(2**62), tmp_path / "loop.onnx")
    assert path.stat().st_size < 1000
    result = _load_capped(f"rmodel.from_onnx({str(path)!r})", tmp_path, timeout=30)
    assert result.startswith("RESULT LimitExceededError") and "max_fold_work" in result, result


def test_loop_without_trip_count_is_not_folded(tmp_path):
    result = _load_capped(f"rmodel.from_onnx({str(_save(_loop_model(None), tmp_path / 'l.onnx'))!r})", tmp_path)
    assert result.startswith("RESULT ModelLoadError") and "trip count" in result, result


def test_a_small_loop_still_folds():
    m = rmodel.from_onnx(_loop_model(5))
    net = m.compile(binding="ctypes")
    assert net.predict(np.array([1.0], np.float32))[0] == 6.0


def test_limits_can_be_raised_for_genuine_models():
    proto = _one_node("Tile", {"x": (np.float32, [1, 4])}, {"r": np.array([2**27, 1], np.int64)})
    with pytest.raises(LimitExceededError, match="max_tensor_elements=268,435,456.*rmodel.limits.using"):
        rmodel.from_onnx(proto)
    with limits.using(max_tensor_elements=2**29):
        m = rmodel.from_onnx(proto)
    assert m.outputs[0].shape == (2**27, 4)
    assert m.limits.max_tensor_elements == 2**29
    assert limits.current().max_tensor_elements == 2**28


def test_limit_names_are_checked():
    with pytest.raises(TypeError, match="unknown limit"), limits.using(max_tensors=3):
        pass
    with pytest.raises(ValueError, match="positive integer"), limits.using(max_arena_bytes=0):
        pass


def test_arena_header_and_weight_limits_apply_at_generation():
    m = rmodel.from_onnx(examples.mlp())
    with limits.using(max_arena_bytes=64):
        small = rmodel.from_onnx(examples.mlp())
    with pytest.raises(LimitExceededError, match="max_arena_bytes"):
        small.generate()
    with limits.using(max_header_bytes=5000):
        tiny = rmodel.from_onnx(examples.mlp())
    with pytest.raises(LimitExceededError, match="max_header_bytes"):
        tiny.generate()
    with limits.using(max_weight_bytes=1000), pytest.raises(LimitExceededError, match="max_weight_bytes"):
        rmodel.from_onnx(examples.mlp())
    assert m.generate()


def test_hls_table_size_bomb_is_refused(tmp_path):
    m = rmodel.from_onnx(examples.mlp())
    with pytest.raises(rmodel.RModelError, match="table_size"):
        m.generate(tmp_path / "prj", target="hls", table_size=10**9)


# ---- archives ------------------------------------------------------------------------------


def test_keras_zip_bomb_is_refused(tmp_path):
    good = ROOT / "examples" / "jet_tagger.keras"
    bomb = tmp_path / "bomb.keras"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
        dst.writestr("padding.bin", b"\0" * (64 << 20))
    assert bomb.stat().st_size < 1 << 20
    result = _load_capped(f"rmodel.from_keras({str(bomb)!r})", tmp_path)
    assert result.startswith("RESULT LimitExceededError") and "max_compression_ratio" in result, result


def test_h5_dataset_declaring_gigabytes_is_refused(tmp_path):
    import h5py

    good = ROOT / "examples" / "jet_tagger.keras"
    with zipfile.ZipFile(good) as src:
        members = {i.filename: src.read(i) for i in src.infolist()}
    weights = tmp_path / "w.h5"
    weights.write_bytes(members["model.weights.h5"])
    with h5py.File(weights, "r+") as h5:
        found = []
        h5.visititems(lambda name, obj: found.append(name) if isinstance(obj, h5py.Dataset) else None)
        victim = found[0]
        del h5[victim]
        h5.create_dataset(victim, shape=(2**20, 2**12), dtype="f8", chunks=(1, 16))  # 32 GiB declared, none stored
    members["model.weights.h5"] = weights.read_bytes()
    bomb = tmp_path / "bomb.keras"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_STORED) as dst:
        for name, data in members.items():
            dst.writestr(name, data)
    assert bomb.stat().st_size < 1 << 20
    result = _load_capped(f"rmodel.from_keras({str(bomb)!r})", tmp_path)
    assert result.startswith("RESULT LimitExceededError") and "max_weight_bytes" in result, result


# ---- external data -------------------------------------------------------------------------


def _external_model(tmp_path: Path, location: str | None = None) -> tuple[onnx.ModelProto, Path]:
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3)).astype(np.float32)
    proto = make_model([helper.make_node("MatMul", ["x", "w"], ["y"])], {"x": (np.float32, [1, 4])}, ["y"], {"w": w})
    path = tmp_path / "ext.onnx"
    onnx.save_model(
        proto, path, save_as_external_data=True, all_tensors_to_one_file=True, location="w.bin", size_threshold=0
    )
    loaded = onnx.load_model(path, load_external_data=False)
    if location is not None:
        for entry in loaded.graph.initializer[0].external_data:
            if entry.key == "location":
                entry.value = location
        onnx.save_model(loaded, path)
    return loaded, path


def test_external_data_beside_the_model_is_read(tmp_path):
    _, path = _external_model(tmp_path)
    m = rmodel.from_onnx(path)
    assert m.constants["w"].shape == (4, 3)


def test_external_data_of_bytes_or_proto_needs_an_explicit_directory(tmp_path, monkeypatch):
    proto, path = _external_model(tmp_path)
    monkeypatch.chdir(tmp_path)  # the data is in the current directory: it must still not be read
    for source in (proto, path.read_bytes()):
        with pytest.raises(ModelLoadError, match="base_dir"):
            rmodel.from_onnx(source)
    m = rmodel.from_onnx(proto, base_dir=tmp_path)
    assert m.constants["w"].shape == (4, 3)


@pytest.mark.parametrize("location", ["../secret.bin", "/etc/passwd", "sub/../../secret.bin", "link.bin"])
def test_external_data_outside_the_model_directory_is_refused(location, tmp_path):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (tmp_path / "secret.bin").write_bytes(np.zeros(12, np.float32).tobytes())
    (model_dir / "link.bin").symlink_to(tmp_path / "secret.bin")
    _, path = _external_model(model_dir, location)
    with pytest.raises(ModelLoadError, match="outside the model's directory"):
        rmodel.from_onnx(path)
