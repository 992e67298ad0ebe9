"""Train the bundled example model: a small jet tagger (16 features -> 5 classes) in Keras.

    python examples/make_jet_tagger.py [-o examples/jet_tagger.keras]

The data are synthetic (five Gaussian classes in 16 dimensions, seeded) so the script runs in a
few seconds anywhere TensorFlow/Keras are installed; the committed file was made by it.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")


def synthetic_jets(n: int, seed: int = 0):
    import numpy as np

    centres = np.random.default_rng(12345).normal(0.0, 1.0, (5, 16))  # the same classes for every sample set
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 5, n)
    features = centres[labels] + rng.normal(0.0, 0.8, (n, 16))
    return features.astype("float32"), labels


def build():
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(16,), name="features")
    x = keras.layers.Dense(64, name="dense_1")(inputs)
    x = keras.layers.BatchNormalization(name="batchnorm_1")(x)
    x = keras.layers.Activation("relu", name="relu_1")(x)
    x = keras.layers.Dense(32, activation="relu", name="dense_2")(x)
    x = keras.layers.Dense(32, activation="relu", name="dense_3")(x)
    outputs = keras.layers.Dense(5, activation="softmax", name="output_softmax")(x)
    return keras.Model(inputs, outputs, name="jet_tagger")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-o", "--output", default=str(Path(__file__).with_name("jet_tagger.keras")))
    args = parser.parse_args()
    model = build()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = synthetic_jets(4000)
    model.fit(x, y, epochs=3, batch_size=64, verbose=0)
    x_test, y_test = synthetic_jets(1000, seed=1)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    model.save(args.output)
    print(f"wrote {args.output} (test accuracy {accuracy:.3f})")


if __name__ == "__main__":
    main()
