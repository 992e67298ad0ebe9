"""Write jet_tagger.onnx, the small model the example application uses (deterministic).

    python examples/cpp_app/make_model.py

A dense network over 16 jet features: 16-32-32-5 with ReLU, softmax over 5 classes. The batch
axis is symbolic; rmodel_generate() fixes it (BATCH_SIZE, default 1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SIZES = (16, 32, 32, 5)


def build() -> onnx.ModelProto:
    rng = np.random.default_rng(2024)
    nodes, inits = [], []
    x = "features"
    for k, (n_in, n_out) in enumerate(zip(SIZES, SIZES[1:])):
        w = (rng.uniform(-1, 1, (n_in, n_out)) / np.sqrt(n_in)).astype(np.float32)
        b = (rng.uniform(-1, 1, n_out) / np.sqrt(n_in)).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"dense{k}_kernel"), numpy_helper.from_array(b, f"dense{k}_bias")]
        y = f"dense{k}"
        nodes.append(helper.make_node("Gemm", [x, f"dense{k}_kernel", f"dense{k}_bias"], [y], name=y))
        x = y
        if k < len(SIZES) - 2:
            nodes.append(helper.make_node("Relu", [y], [f"relu{k}"], name=f"relu{k}"))
            x = f"relu{k}"
    nodes.append(helper.make_node("Softmax", [x], ["probabilities"], name="softmax", axis=-1))
    graph = helper.make_graph(
        nodes,
        "jet_tagger",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", SIZES[0]])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", SIZES[-1]])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="rmodel example")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


if __name__ == "__main__":
    path = Path(__file__).with_name("jet_tagger.onnx")
    onnx.save(build(), path)
    print(f"wrote {path}")
