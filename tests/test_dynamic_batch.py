"""Dynamic batch (``batch_size=None``): the batch is a run-time argument of the generated ``infer``,
computed by kernels for ``max_batch`` and every smaller power of two that share weights and scratch."""

from __future__ import annotations

import json
import subprocess
import zipfile

import numpy as np
import onnx
import pytest
from helpers import TEST_FLAGS, make_model, weights
from onnx import helper

import rmodel
from rmodel import examples
from rmodel.batching import batch_variants
from rmodel.cli import main
from rmodel.errors import ModelLoadError, RModelError, ShapeError
from rmodel.verify import batch_chunks, onnxruntime_run, verify


def reshape_chain() -> onnx.ModelProto:
    """x[n,3,4] -> Reshape to (Shape(x)[0], 12) through a Shape/Gather/Concat chain (folded at load
    time into a constant holding the batch size) -> MatMul -> Relu; the batch dim is named 'n'."""
    rng = np.random.default_rng(5)
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Gather", ["shape", "zero"], ["rows"], axis=0),
        helper.make_node("Unsqueeze", ["rows", "axes"], ["rows1"]),
        helper.make_node("Concat", ["rows1", "twelve"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["flat"]),
        helper.make_node("MatMul", ["flat", "w"], ["mm"]),
        helper.make_node("Relu", ["mm"], ["y"]),
    ]
    inits = {
        "zero": np.array(0, np.int64),
        "axes": np.array([0], np.int64),
        "twelve": np.array([12], np.int64),
        "w": weights(rng, 12, 5),
    }
    return make_model(nodes, {"x": (np.float32, ["n", 3, 4])}, ["y"], inits, name="reshape_chain")


def mixed_types() -> onnx.ModelProto:
    """A float and an int32 input; a float and a bool output (the bool one goes through the vector
    overload's plain buffer in C++)."""
    nodes = [
        helper.make_node("Cast", ["k"], ["kf"], to=onnx.TensorProto.FLOAT),
        helper.make_node("Add", ["x", "kf"], ["sum"]),
        helper.make_node("Tanh", ["sum"], ["y"]),
        helper.make_node("Greater", ["x", "kf"], ["flag"]),
    ]
    inputs = {"x": (np.float32, ["batch", 6]), "k": (np.int32, ["batch", 6])}
    return make_model(nodes, inputs, {"y": np.float32, "flag": np.bool_}, name="mixed_types")


MODELS = {
    "mlp": examples.mlp,
    "cnn": examples.cnn,
    "skip": examples.skip_model,
    "lstm": examples.lstm_model,
    "reshape_chain": reshape_chain,
    "mixed_types": mixed_types,
}


def _feeds(proto: onnx.ModelProto, count: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    feeds = {}
    for vi in proto.graph.input:
        dims = [count] + [d.dim_value for d in vi.type.tensor_type.shape.dim][1:]
        if vi.type.tensor_type.elem_type == onnx.TensorProto.INT32:
            feeds[vi.name] = rng.integers(-1, 2, dims).astype(np.int32)
        else:
            feeds[vi.name] = rng.uniform(-1, 1, dims).astype(np.float32)
    return feeds


@pytest.mark.parametrize(
    ("top", "sizes"),
    [(1, [1]), (2, [2, 1]), (6, [6, 4, 2, 1]), (8, [8, 4, 2, 1]), (16, [16, 8, 4, 2, 1]), (None, [16, 8, 4, 2, 1])],
)
def test_batch_variants(top, sizes):
    assert batch_variants(top) == sizes


@pytest.mark.parametrize("top", [0, -3, 2.5, "8", 1 << 17])
def test_batch_variants_refuse_bad_maxima(top):
    with pytest.raises(ShapeError, match="max_batch must be an integer from 1 to 65536"):
        batch_variants(top)


@pytest.mark.parametrize("count", [0, 1, 5, 6, 7, 13, 20])
def test_chunks_cover_every_sample_once(count):
    m = rmodel.from_onnx(examples.mlp(), batch_size=None, max_batch=6)
    chunks = batch_chunks(m, count)
    starts = [start for _, start in chunks]
    sizes = [kernel.batch_size for kernel, _ in chunks]
    assert sum(sizes) == count
    assert starts == [sum(sizes[:k]) for k in range(len(sizes))]
    assert sizes == sorted(sizes, reverse=True)


@pytest.mark.parametrize("binding", ["ctypes", "pybind11"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_any_count_matches_onnxruntime_on_the_source_model(name, binding):
    proto = MODELS[name]()
    m = rmodel.from_onnx(proto, batch_size=None, max_batch=4)
    assert m.dynamic_batch and m.batch_sizes == [4, 2, 1]
    net = m.compile(binding=binding, flags=TEST_FLAGS)
    for count in (*range(10), 1001):
        feeds = _feeds(proto, count, seed=count)
        got = net.predict(*[feeds[n] for n in m.input_names])
        got = [got] if len(m.outputs) == 1 else list(got)
        if count == 0:
            assert all(g.shape[0] == 0 for g in got)
            continue
        # the reference is the original graph run on all samples at once (symbolic batch)
        ref = onnxruntime_run(proto, feeds, m.output_names)
        for out, g, r in zip(m.output_names, got, ref):
            assert g.shape == r.shape and g.dtype == r.dtype, (out, count)
            if r.dtype == np.bool_:
                assert np.array_equal(g, r), (out, count)
            else:
                assert np.max(np.abs(g - r)) <= 1e-6 * max(1.0, float(np.max(np.abs(r)))), (out, count)


def test_verify_runs_every_kernel_and_all_at_once():
    m = rmodel.from_onnx(examples.skip_model(), batch_size=None, max_batch=4)
    report = verify(m, binding="ctypes", flags=TEST_FLAGS)
    assert report.ok, str(report)
    names = [c.name for c in report.checks]
    for count in (1, 2, 4, 7):
        assert f"score (n={count})" in names and f"aux (n={count})" in names
    text = str(report)
    assert "score (n=7)" in text and "FAIL" not in text


def test_weights_and_scratch_are_shared_between_kernels(tmp_path):
    static = rmodel.from_onnx(examples.cnn(), batch_size=8)
    dynamic = rmodel.from_onnx(examples.cnn(), batch_size=None, max_batch=8)
    static_code, dynamic_code = static.generate(), dynamic.generate()
    # every weight once: as many constant arrays as the batch-8 header has
    assert dynamic_code.count("// constant ") == static_code.count("// constant ")

    def arena(code: str) -> str:
        return [line for line in code.splitlines() if "arena_f32_[" in line][0].strip()

    assert arena(dynamic_code) == arena(static_code)  # the largest kernel's arena, used by all
    for size in (8, 4, 2, 1):
        assert f"void Session::run_batch{size}(" in dynamic_code
    static.generate(tmp_path / "s.hxx", weights="file")
    dynamic.generate(tmp_path / "d.hxx", weights="file")
    assert (tmp_path / "s.hxx.weights").read_bytes() == (tmp_path / "d.hxx.weights").read_bytes()


def test_batch_dependent_constants_get_one_array_per_kernel():
    m = rmodel.from_onnx(reshape_chain(), batch_size=None, max_batch=4)
    code = m.generate()
    assert code == m.generate()  # deterministic
    assert "namespace reshape_chain_dynbatch4 {" in code
    net = m.compile(binding="ctypes", flags=TEST_FLAGS)
    x = np.random.default_rng(0).uniform(-1, 1, (7, 3, 4)).astype(np.float32)
    ref = onnxruntime_run(reshape_chain(), {"x": x})[0]
    np.testing.assert_allclose(net.predict(x), ref, rtol=0, atol=1e-6)


def test_static_and_dynamic_headers_live_in_one_program(tmp_path):
    proto = mixed_types()
    rmodel.from_onnx(proto, batch_size=2).generate(tmp_path / "fixed.hxx")
    rmodel.from_onnx(proto, batch_size=None, max_batch=4).generate(tmp_path / "dyn.hxx")
    main_cpp = tmp_path / "main.cpp"
    main_cpp.write_text(
        """#include "fixed.hxx"
#include "dyn.hxx"
#include <cmath>
#include <cstdio>
#include <memory>
static_assert(mixed_types_dynbatch4::kMaxBatch == 4 && mixed_types_batch2::kBatchSize == 2, "both");
int main() {
  constexpr std::size_t n = 7;
  float x[n * 6];
  std::int32_t k[n * 6];
  for (std::size_t i = 0; i < n * 6; ++i) {
    x[i] = std::sin(0.7f * static_cast<float>(i));
    k[i] = static_cast<std::int32_t>(i % 3) - 1;
  }
  auto dyn = std::make_unique<mixed_types_dynbatch4::Session>();
  auto fixed = std::make_unique<mixed_types_batch2::Session>();
  auto [y, flag] = dyn->infer(n, x, k);  // the vector overload: n samples of each output
  int bad = y.size() != n * 6 || flag.size() != n * 6;
  for (std::size_t s = 0; s + 2 <= n; s += 2) {  // batch-2 runs of the same samples
    float y2[12];
    bool f2[12];
    fixed->infer(x + s * 6, k + s * 6, y2, f2);
    for (std::size_t j = 0; j < 12; ++j) bad += y2[j] != y[s * 6 + j] || f2[j] != flag[s * 6 + j];
  }
  std::printf("%d\\n", bad);
  return bad != 0;
}
"""
    )
    exe = tmp_path / "main"
    subprocess.run(
        ["g++", "-std=c++17", "-O2", "-Wall", "-Wextra", "-Werror", str(main_cpp), "-o", str(exe)],
        check=True,
        cwd=tmp_path,
    )
    assert subprocess.run([str(exe)], capture_output=True, text=True).stdout.strip() == "0"


def test_save_and_load_keep_the_dynamic_batch(tmp_path):
    m = rmodel.from_onnx(reshape_chain(), batch_size=None, max_batch=4)
    path = tmp_path / "m.rmodel"
    m.save(path)
    back = rmodel.load(path)
    assert back.dynamic_batch and back.batch_sizes == [4, 2, 1]
    assert back.generate() == m.generate()
    with zipfile.ZipFile(path) as archive:
        members = archive.namelist()
        description = json.loads(archive.read("model.json"))
    # the weight 'w' is stored once; the folded Reshape target differs per kernel
    assert sum(name.endswith("_w.npy") or name.endswith("w.npy") for name in members) == 1
    assert [v["batch_size"] for v in description["dynamic_batch"]["variants"]] == [2, 1]


def test_damaged_dynamic_manifest_is_refused(tmp_path):
    m = rmodel.from_onnx(examples.mlp(), batch_size=None, max_batch=4)
    path = tmp_path / "m.rmodel"
    m.save(path)
    with zipfile.ZipFile(path) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    description = json.loads(entries["model.json"])
    description["dynamic_batch"]["variants"] = description["dynamic_batch"]["variants"][:1]  # kernel 1 lost
    entries["model.json"] = json.dumps(description).encode()
    damaged = tmp_path / "damaged.rmodel"
    with zipfile.ZipFile(damaged, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    with pytest.raises(ModelLoadError, match=r"lists batch kernels \[4, 2\]"):
        rmodel.load(damaged)


def test_fixed_batch_in_the_file_is_refused():
    proto = make_model([helper.make_node("Relu", ["x"], ["y"])], {"x": (np.float32, [1, 4])}, ["y"])
    with pytest.raises(ShapeError, match=r"not every input and output has the batch as its first axis .*'x' \(1, 4\)"):
        rmodel.from_onnx(proto, batch_size=None, max_batch=2)


def test_outputs_without_the_batch_axis_are_refused():
    proto = make_model(
        [helper.make_node("ReduceSum", ["x", "axes"], ["y"], keepdims=0)],
        {"x": (np.float32, ["batch", 4])},
        ["y"],
        {"axes": np.array([0], np.int64)},
    )
    with pytest.raises(ShapeError, match="cannot have a dynamic batch"):
        rmodel.from_onnx(proto, batch_size=None)


def test_option_errors():
    with pytest.raises(ShapeError, match="max_batch applies to dynamic-batch models only"):
        rmodel.from_onnx(examples.mlp(), batch_size=4, max_batch=8)
    with pytest.raises(ShapeError, match="positive integer or None"):
        rmodel.from_onnx(examples.mlp(), batch_size=0)
    m = rmodel.from_onnx(examples.mlp(), batch_size=None, max_batch=2)
    with pytest.raises(RModelError, match="the HLS target has no dynamic batch"):
        m.hls_report()


def test_cli_dynamic_batch(tmp_path, capsys):
    model = tmp_path / "mlp.onnx"
    onnx.save(examples.mlp(), model)
    out = tmp_path / "mlp.hxx"
    assert main(["convert", str(model), "-o", str(out), "--batch-size", "dynamic", "--max-batch", "4", "--verify"]) == 0
    text = capsys.readouterr().out
    assert "probabilities (n=7)" in text and "FAIL" not in text
    assert "void infer(std::size_t batch, " in out.read_text()
    assert main(["inspect", str(model), "--batch-size", "dynamic"]) == 0
    assert "dynamic batch (kernels for 16, 8, 4, 2, 1; shapes shown for 16)" in capsys.readouterr().out
    for args, message in (
        (["--batch-size", "many"], "--batch-size must be a positive integer or 'dynamic', got 'many'"),
        (["--max-batch", "4"], "--max-batch applies to --batch-size dynamic only"),
        (["--batch-size", "dynamic", "--max-batch", "0"], "--max-batch must be a positive integer"),
        (["--batch-size", "dynamic", "--target", "hls"], "the HLS target has no dynamic batch"),
    ):
        target = tmp_path / "hls" if "hls" in args else out
        assert main(["convert", str(model), "-o", str(target), *args]) == 2
        assert message in capsys.readouterr().err
