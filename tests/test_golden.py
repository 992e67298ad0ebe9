"""Golden files: the code generated for the example models, pinned byte for byte.

Refactorings of the generator must leave these unchanged; a change of the generated code on
purpose updates them in the same commit (review the diff):

    python tests/test_golden.py --update
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

import rmodel
from rmodel import examples

GOLDEN = Path(__file__).with_name("golden")
ROOT = Path(__file__).resolve().parents[1]


def _cpu(make: Callable[[], rmodel.RModel], **options) -> Callable[[], dict[str, bytes]]:
    def files() -> dict[str, bytes]:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.hxx"
            make().generate(path, **options)
            return {p.name: p.read_bytes() for p in sorted(Path(tmp).iterdir())}

    return files


def _hls(make: Callable[[], rmodel.RModel], **options) -> Callable[[], dict[str, bytes]]:
    def files() -> dict[str, bytes]:
        with tempfile.TemporaryDirectory() as tmp:
            make().generate(Path(tmp) / "prj", target="hls", **options)
            root = Path(tmp) / "prj"
            return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    return files


CASES: dict[str, Callable[[], dict[str, bytes]]] = {
    "jet_tagger": _cpu(lambda: rmodel.from_keras(ROOT / "examples" / "jet_tagger.keras")),
    "mlp_batch4": _cpu(lambda: rmodel.from_onnx(examples.mlp(), batch_size=4)),
    "mlp_weights_file": _cpu(lambda: rmodel.from_onnx(examples.mlp()), weights="file"),
    "mlp_dynamic": _cpu(lambda: rmodel.from_onnx(examples.mlp(), batch_size=None, max_batch=4)),
    "cnn": _cpu(lambda: rmodel.from_onnx(examples.cnn())),
    "lstm": _cpu(lambda: rmodel.from_onnx(examples.lstm_model())),
    "gru": _cpu(lambda: rmodel.from_onnx(examples.gru_model())),
    "skip": _cpu(lambda: rmodel.from_onnx(examples.skip_model())),
    "hls_mlp": _hls(lambda: rmodel.from_onnx(examples.mlp())),
    "hls_cnn": _hls(lambda: rmodel.from_onnx(examples.cnn()), precision="ap_fixed<18,8>", reuse_factor=2),
    "hls_mlp_parallel": _hls(
        lambda: rmodel.from_onnx(examples.mlp()), io_type="io_parallel", strategy="resource", reuse_factor=4
    ),
    "hls_cnn_serial": _hls(lambda: rmodel.from_onnx(examples.cnn()), io_type="io_serial"),
}


def _stored(case: str) -> dict[str, bytes]:
    folder = GOLDEN / case
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case", sorted(CASES))
def test_generated_code_is_unchanged(case: str) -> None:
    stored = _stored(case)
    assert stored, f"no golden files for '{case}': run python tests/test_golden.py --update"
    fresh = CASES[case]()
    assert sorted(fresh) == sorted(stored), "the set of generated files changed"
    for name, data in fresh.items():
        if data != stored[name]:
            old, new = stored[name].decode().splitlines(), data.decode().splitlines()
            first = next((k for k, (a, b) in enumerate(zip(old, new)) if a != b), min(len(old), len(new)))
            pytest.fail(
                f"{case}/{name} changed at line {first + 1}:\n"
                f"  golden:    {old[first] if first < len(old) else '<end>'}\n"
                f"  generated: {new[first] if first < len(new) else '<end>'}\n"
                "if the change is intended, run python tests/test_golden.py --update and review the diff"
            )


def update() -> None:
    import shutil

    for case, make in sorted(CASES.items()):
        folder = GOLDEN / case
        shutil.rmtree(folder, ignore_errors=True)
        for name, data in make().items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
        print(f"updated {folder.relative_to(ROOT)}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit(__doc__)
    update()
