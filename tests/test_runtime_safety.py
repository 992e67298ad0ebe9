"""The build cache is private and checked before anything in it is loaded; compiled models are safe
to call from several threads; written files honour the umask."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import numpy as np
import pytest
from helpers import TEST_FLAGS, make_model, weights
from onnx import helper

import rmodel
from rmodel import build, examples
from rmodel.errors import BuildError


def _model(scale: float = 1.0) -> rmodel.RModel:
    rng = np.random.default_rng(3)
    w = weights(rng, 8, 4) * scale
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Tanh", ["h"], ["y"])]
    return rmodel.from_onnx(make_model(nodes, {"x": (np.float32, [2, 8])}, ["y"], {"w": w}))


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "cache"
    monkeypatch.setenv("RMODEL_CACHE_DIR", str(path))
    return path


def _entry(library: Path) -> Path:
    return library.parent


def _replace(path: Path, data: bytes) -> None:
    """Put ``data`` at ``path`` as a new file (the old one may be mapped by this process)."""
    tmp = path.with_name(path.name + ".new")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def test_cache_is_created_private(cache):
    _model().compile(binding="ctypes", flags=TEST_FLAGS)
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    assert stat.S_IMODE((cache / "build").stat().st_mode) == 0o700


def test_group_or_world_writable_cache_is_refused(cache):
    cache.mkdir(mode=0o700)
    cache.chmod(0o777)
    with pytest.raises(BuildError, match="writable by other users"):
        _model().compile(binding="ctypes", flags=TEST_FLAGS)
    cache.chmod(0o720)
    with pytest.raises(BuildError, match="writable by other users"):
        _model().compile(binding="ctypes", flags=TEST_FLAGS)


def test_cache_owned_by_someone_else_is_refused(cache, monkeypatch):
    cache.mkdir(mode=0o700)
    monkeypatch.setattr(os, "getuid", lambda: cache.stat().st_uid + 1)
    with pytest.raises(BuildError, match="belongs to user id"):
        _model().compile(binding="ctypes", flags=TEST_FLAGS)


def test_cache_that_is_a_symlink_is_refused(cache, tmp_path):
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    cache.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(BuildError, match="not a directory"):
        _model().compile(binding="ctypes", flags=TEST_FLAGS)


def _expected(m: rmodel.RModel, x: np.ndarray) -> np.ndarray:
    return np.tanh(x @ m.constants["w"])


@pytest.mark.parametrize("binding", ["ctypes", "pybind11"])
def test_planted_library_is_never_loaded(cache, binding):
    good, evil = _model(), _model(scale=-3.0)  # same structure and names, other numbers
    x = np.linspace(-1, 1, 16, dtype=np.float32).reshape(2, 8)
    library = good.compile(binding=binding, flags=TEST_FLAGS).library
    planted = evil.compile(binding=binding, flags=TEST_FLAGS).library
    # an attacker (or a broken disk) puts another library at the expected path, with and without
    # also replacing the manifest
    for keep_manifest in (True, False):
        _replace(library, planted.read_bytes())
        if not keep_manifest:
            (_entry(library) / build.MANIFEST_NAME).unlink()
        if binding == "pybind11":  # a fresh module name each time, so the planted file would be imported
            import sys

            sys.modules.pop(library.name.split(".")[0], None)
        net = good.compile(binding=binding, flags=TEST_FLAGS)
        np.testing.assert_allclose(net.predict(x), _expected(good, x), rtol=1e-5, atol=1e-6)
        assert build._entry_is_intact(_entry(library))


def test_truncated_and_half_written_entries_are_rebuilt(cache):
    m = _model()
    x = np.ones((2, 8), np.float32)
    library = m.compile(binding="ctypes", flags=TEST_FLAGS).library
    data = library.read_bytes()
    _replace(library, data[: len(data) // 2])
    np.testing.assert_allclose(m.compile(binding="ctypes", flags=TEST_FLAGS).predict(x), _expected(m, x), rtol=1e-5)
    # an entry directory without its library (killed mid-copy) or with a garbage manifest
    library.unlink()
    np.testing.assert_allclose(m.compile(binding="ctypes", flags=TEST_FLAGS).predict(x), _expected(m, x), rtol=1e-5)
    (_entry(library) / build.MANIFEST_NAME).write_text("{not json")
    np.testing.assert_allclose(m.compile(binding="ctypes", flags=TEST_FLAGS).predict(x), _expected(m, x), rtol=1e-5)


@pytest.mark.parametrize("binding", ["ctypes", "pybind11"])
def test_predict_from_several_threads(binding):
    m = rmodel.from_onnx(examples.mlp())
    net = m.compile(binding=binding, flags=TEST_FLAGS)
    rng = np.random.default_rng(0)
    inputs = [rng.standard_normal(m.inputs[0].shape).astype(np.float32) for _ in range(400)]
    expected = [net.predict(x) for x in inputs]
    wrong: list[int] = []
    barrier = threading.Barrier(4)

    def work(offset: int) -> None:
        barrier.wait()
        for k in range(offset, offset + 4 * len(inputs), 4):
            i = k % len(inputs)
            if not np.array_equal(net.predict(inputs[i]), expected[i]):
                wrong.append(i)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not wrong, f"{len(wrong)} wrong results out of {4 * len(inputs)}"


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_honour_the_umask(umask, mode, tmp_path):
    m = rmodel.from_onnx(examples.mlp())
    old = os.umask(umask)
    try:
        m.generate(tmp_path / "m.hxx", weights="file")
        m.save(tmp_path / "m.rmodel")
        m.generate(tmp_path / "prj", target="hls", precision="float", tb_samples=1)
    finally:
        os.umask(old)
    for path in [
        tmp_path / "m.hxx",
        tmp_path / "m.hxx.weights",
        tmp_path / "m.rmodel",
        tmp_path / "prj" / "build_prj.tcl",
        tmp_path / "prj" / "firmware" / "defines.h",
    ]:
        assert stat.S_IMODE(path.stat().st_mode) == mode, path
    assert stat.S_IMODE((tmp_path / "prj" / "build_csim.sh").stat().st_mode) == 0o777 & ~umask


def test_failed_generation_leaves_no_file(tmp_path):
    m = rmodel.from_onnx(examples.mlp())
    with rmodel.limits.using(max_header_bytes=100):
        small = rmodel.from_onnx(examples.mlp())
    with pytest.raises(rmodel.LimitExceededError):
        small.generate(tmp_path / "m.hxx")
    assert list(tmp_path.iterdir()) == []
    assert m.generate(tmp_path / "m.hxx")
