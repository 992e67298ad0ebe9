"""Benchmark models built with onnx.helper (no training framework needed)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def mlp(sizes: tuple[int, ...] = (16, 64, 32, 32, 5), seed: int = 0, softmax: bool = True) -> onnx.ModelProto:
    """Dense ReLU network with a symbolic batch dimension, like a jet-tagging model."""
    rng = np.random.default_rng(seed)
    nodes, inits, prev = [], [], "x"
    for i, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:])):
        w = (rng.uniform(-1, 1, (fan_in, fan_out)) / np.sqrt(fan_in)).astype(np.float32)
        b = (rng.uniform(-1, 1, fan_out) * 0.1).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"dense_{i}/kernel"), numpy_helper.from_array(b, f"dense_{i}/bias")]
        nodes.append(
            helper.make_node("Gemm", [prev, f"dense_{i}/kernel", f"dense_{i}/bias"], [f"dense_{i}"], name=f"dense_{i}")
        )
        prev = f"dense_{i}"
        if i < len(sizes) - 2:
            nodes.append(helper.make_node("Relu", [prev], [f"relu_{i}"], name=f"relu_{i}"))
            prev = f"relu_{i}"
    if softmax:
        nodes.append(helper.make_node("Softmax", [prev], ["probabilities"], name="softmax", axis=-1))
        prev = "probabilities"
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", sizes[0]])],
        [helper.make_tensor_value_info(prev, TensorProto.FLOAT, ["batch", sizes[-1]])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model
