"""Shared test helpers: build ONNX models in a line, and check rmodel against onnxruntime."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

import rmodel
from rmodel.build import DEFAULT_FLAGS
from rmodel.tensor import numpy_to_onnx_dtype
from rmodel.verify import compare, onnxruntime_run, random_inputs, run_onnxruntime

OPSET = 17
#: tests build with the shipping flags and fail on any compiler warning; with RMODEL_TEST_SANITIZE=1
#: (see tests/test_sanitizers.py) also under AddressSanitizer and UndefinedBehaviorSanitizer, any
#: finding aborting the run, at -O0 (the operator tests compile a third faster than at -O1)
SANITIZE_FLAGS = ("-O0", "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer")
TEST_FLAGS = (*DEFAULT_FLAGS, "-Werror", *(SANITIZE_FLAGS if os.environ.get("RMODEL_TEST_SANITIZE") == "1" else ()))


def make_model(
    nodes: Sequence[onnx.NodeProto],
    inputs: Mapping[str, tuple[Any, Sequence[Any]]],
    outputs: Sequence[str] | Mapping[str, Any],
    initializers: Mapping[str, np.ndarray] | None = None,
    opset: int = OPSET,
    name: str = "test_model",
) -> onnx.ModelProto:
    """A model from nodes; inputs as {name: (dtype, shape)}; outputs by name (types left to inference)
    or {name: dtype}."""
    graph_inputs = [
        helper.make_tensor_value_info(n, numpy_to_onnx_dtype(np.dtype(dt)), list(shape))
        for n, (dt, shape) in inputs.items()
    ]
    if isinstance(outputs, Mapping):
        graph_outputs = [
            helper.make_tensor_value_info(n, numpy_to_onnx_dtype(np.dtype(dt)), None) for n, dt in outputs.items()
        ]
    else:
        graph_outputs = [helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None) for n in outputs]
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in (initializers or {}).items()]
    graph = helper.make_graph(list(nodes), name, graph_inputs, graph_outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def weights(rng: np.random.Generator, *shape: int, fan_in: int | None = None) -> np.ndarray:
    """Weights scaled like a trained layer (uniform, 1/sqrt(fan_in))."""
    fan = fan_in or (shape[-1] if len(shape) else 1)
    return (rng.uniform(-1, 1, shape) / np.sqrt(max(fan, 1))).astype(np.float32)


def random_feeds(model: rmodel.RModel, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Floats uniform in [-1, 1), integers in [0, 3), booleans at random, for every model input."""
    return random_inputs(model, rng=rng, int_high=3)


def check_against_onnxruntime(
    model: onnx.ModelProto | rmodel.RModel,
    feeds: Mapping[str, np.ndarray] | None = None,
    *,
    batch_size: int = 1,
    binding: str = "ctypes",
    seed: int = 0,
    rtol: float = 1e-6,
    **load_options: Any,
) -> rmodel.RModel:
    """Load, compile and run ``model``; assert every output matches onnxruntime within the criterion.

    The reference runs the *original* ONNX model (not rmodel's re-export), so loading, folding and
    shape fixing are checked too. Returns the RModel.
    """
    rng = np.random.default_rng(seed)
    if isinstance(model, rmodel.RModel):
        m = model
        proto = m.to_onnx()
    else:
        proto = model
        m = rmodel.from_onnx(proto, batch_size=batch_size, **load_options)
    if feeds is None:
        feeds = random_feeds(m, rng)
    net = m.compile(binding=binding, flags=TEST_FLAGS)
    got = net.predict(*[feeds[n] for n in m.input_names])
    got = [got] if len(m.outputs) == 1 else list(got)
    ref = onnxruntime_run(proto, feeds, m.output_names)
    failures = []
    for name, g, r in zip(m.output_names, got, ref):
        assert g.shape == r.shape, f"output '{name}': shape {g.shape} vs onnxruntime {r.shape}"
        assert g.dtype == r.dtype, f"output '{name}': dtype {g.dtype} vs onnxruntime {r.dtype}"
        check = compare(name, g, r, rtol)
        if not check.passed:
            failures.append(check)
    if failures:
        from rmodel.verify import first_divergence

        where = first_divergence(m, feeds)
        lines = [
            f"'{c.name}': max|d| {c.max_abs_diff:.3e} > {c.tolerance:.3e} at {c.worst_index} "
            f"(got {c.got:.9g}, ref {c.ref:.9g})"
            for c in failures
        ]
        raise AssertionError("mismatch against onnxruntime: " + "; ".join(lines) + f"; first diverging op: {where}")
    return m


def vectorized_lines(header: str, use_source: str) -> set[int]:
    """Line numbers of ``header`` whose loops g++ -O3 -march=native reports as vectorized, when
    compiled through ``use_source`` (a .cpp that includes "model.h" and calls into it)."""
    import subprocess
    import tempfile
    from pathlib import Path

    from rmodel.build import compiler

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "model.h").write_text(header)
        (Path(tmp) / "use.cpp").write_text(use_source)
        result = subprocess.run(
            [compiler(), "-O3", "-march=native", "-std=c++17", "-fopt-info-vec-optimized", "-c", "use.cpp"],
            cwd=tmp,
            capture_output=True,
            text=True,
            check=True,
        )
    found = set()
    for line in (result.stdout + result.stderr).splitlines():
        if line.startswith("model.h:") and "loop vectorized" in line:
            found.add(int(line.split(":")[1]))
    return found


__all__ = [
    "OPSET",
    "check_against_onnxruntime",
    "make_model",
    "random_feeds",
    "run_onnxruntime",
    "vectorized_lines",
    "weights",
]
