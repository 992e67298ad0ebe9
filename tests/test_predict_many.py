"""predict and infer_many take any number of samples: full batches run straight through, a last
partial batch through zero-padded staging buffers, all in C++."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from helpers import TEST_FLAGS

import rmodel
from rmodel import examples
from rmodel.errors import RModelError
from rmodel.verify import onnxruntime_run


def _feeds(proto, count: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    feeds = {}
    for vi in proto.graph.input:
        dims = [count] + [d.dim_value for d in vi.type.tensor_type.shape.dim][1:]
        feeds[vi.name] = rng.uniform(-1, 1, dims).astype(np.float32)
    return feeds


@pytest.mark.parametrize("binding", ["ctypes", "pybind11"])
@pytest.mark.parametrize("batch", [1, 4])
@pytest.mark.parametrize("make", [examples.mlp, examples.skip_model], ids=["mlp", "skip"])
def test_any_number_of_samples_matches_onnxruntime(make, batch, binding):
    proto = make()
    m = rmodel.from_onnx(proto, batch_size=batch)
    net = m.compile(binding=binding, flags=TEST_FLAGS)
    for count in (0, 1, 3, batch, batch + 1, 2 * batch + 3, 1001):
        feeds = _feeds(proto, count, seed=count)
        got = net.predict(*[feeds[n] for n in m.input_names])
        got = [got] if len(m.outputs) == 1 else list(got)
        if count == 0:
            assert all(g.shape[0] == 0 for g in got)
            continue
        ref = onnxruntime_run(proto, feeds, m.output_names)
        for name, g, r in zip(m.output_names, got, ref):
            assert g.shape == r.shape, (name, count)
            assert np.max(np.abs(g - r)) <= 1e-6 * max(1.0, float(np.max(np.abs(r)))), (name, count)


@pytest.mark.parametrize("binding", ["ctypes", "pybind11"])
def test_sample_count_and_shape_errors(binding):
    m = rmodel.from_onnx(examples.skip_model(), batch_size=2)
    net = m.compile(binding=binding, flags=TEST_FLAGS)
    x, gate = np.zeros((5, 6), np.float32), np.zeros((4, 8), np.float32)
    with pytest.raises((ValueError, RModelError), match="different numbers of samples"):
        net.predict(x, gate)
    with pytest.raises((ValueError, RModelError), match="shape"):
        net.predict(np.zeros((5, 7), np.float32), np.zeros((5, 8), np.float32))


def test_infer_many_in_cpp(tmp_path):
    m = rmodel.from_onnx(examples.mlp(), batch_size=4)
    m.generate(tmp_path / "mlp.hxx")
    main = tmp_path / "main.cpp"
    main.write_text(
        """#include "mlp.hxx"
#include <cmath>
#include <cstdio>
#include <memory>
int main() {
  constexpr std::size_t n = 11, in = mlp_batch4::kInputSize / 4, out = mlp_batch4::kOutputSize / 4;
  float x[n * in], many[n * out], one[mlp_batch4::kOutputSize];
  for (std::size_t i = 0; i < n * in; ++i) x[i] = std::sin(0.37f * static_cast<float>(i));
  auto s = std::make_unique<mlp_batch4::Session>();
  s->infer_many(n, x, many);
  int bad = 0;
  for (std::size_t k = 0; k + 4 <= n; k += 4) {  // full batches: bit-identical to infer()
    s->infer(x + k * in, one);
    for (std::size_t j = 0; j < 4 * out; ++j) bad += one[j] != many[k * out + j];
  }
  float padded[4 * in] = {};
  for (std::size_t j = 0; j < 3 * in; ++j) padded[j] = x[8 * in + j];
  s->infer(padded, one);  // the last 3 samples, padded with zeros
  for (std::size_t j = 0; j < 3 * out; ++j) bad += one[j] != many[8 * out + j];
  std::printf("%d\\n", bad);
  return bad != 0;
}
"""
    )
    exe = tmp_path / "main"
    subprocess.run(["g++", "-std=c++17", "-O2", "-Wall", "-Wextra", "-Werror", str(main), "-o", str(exe)], check=True)
    assert subprocess.run([str(exe)], capture_output=True, text=True).stdout.strip() == "0"


def test_models_without_a_batch_axis_keep_exact_shapes():
    from helpers import make_model
    from onnx import helper

    proto = make_model([helper.make_node("ReduceSum", ["x"], ["y"], keepdims=0)], {"x": (np.float32, [3, 4])}, ["y"])
    m = rmodel.from_onnx(proto)
    assert "infer_many" not in m.generate()
    net = m.compile(binding="ctypes", flags=TEST_FLAGS)
    assert net.predict(np.ones((3, 4), np.float32)) == 12.0
    with pytest.raises(RModelError, match="shape"):
        net.predict(np.ones((6, 4), np.float32))
