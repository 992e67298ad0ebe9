"""Write jet_tagger.onnx, the model the example application uses: the bundled Keras jet tagger
(examples/jet_tagger.keras, the README's main example) as ONNX, so the C++ app and the Python quick
start run the same network (deterministic).

    python examples/cpp_app/make_model.py

The batch axis is symbolic; rmodel_generate() fixes it (BATCH_SIZE, default 1). rmodel_generate()
reads the .keras file just as well; the example keeps an .onnx file to show the ONNX path.
"""

from __future__ import annotations

from pathlib import Path

import onnx

import rmodel

KERAS_MODEL = Path(__file__).resolve().parents[1] / "jet_tagger.keras"


def build() -> onnx.ModelProto:
    model = rmodel.keras_to_onnx(KERAS_MODEL)
    onnx.checker.check_model(model)
    return model


if __name__ == "__main__":
    path = Path(__file__).with_name("jet_tagger.onnx")
    onnx.save(build(), path)
    print(f"wrote {path}")
