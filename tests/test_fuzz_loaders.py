"""Property-based fuzzing of every loader: ONNX bytes, ONNX structure, Keras configurations and
.rmodel manifests. Whatever the input, loading (and generating code for what loads) either works
or raises an rmodel error class -- never another exception, never a hang.

CI runs about 10,000 generated inputs (deterministically: ``derandomize=True``); set
``RMODEL_FUZZ_SCALE=10`` (or more) to run that many times more by hand.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rmodel
from rmodel import examples
from rmodel.errors import RModelError

ROOT = Path(__file__).resolve().parents[1]
SCALE = int(os.environ.get("RMODEL_FUZZ_SCALE", "1"))
#: per-example time limit: a loader that takes longer on a tiny input is treated as hanging
EXAMPLE_SECONDS = 20


def _settings(examples_in_ci: int) -> Callable:
    return settings(
        max_examples=examples_in_ci * SCALE,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )


@contextmanager
def _time_limit(seconds: int) -> Iterator[None]:
    def on_alarm(signum: int, frame: Any) -> None:
        raise TimeoutError(f"a loader ran longer than {seconds} s on a tiny input (a hang)")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _must_load_or_refuse(load: Callable[[], rmodel.RModel]) -> None:
    """``load()`` and generating a header for its result either work or raise an RModelError."""
    with _time_limit(EXAMPLE_SECONDS):
        try:
            model = load()
            model.generate()
        except RModelError:
            pass


# ---- seed models -----------------------------------------------------------------------------

SEEDS = {
    "mlp": examples.mlp(),
    "cnn": examples.cnn(),
    "skip": examples.skip_model(),
    "lstm": examples.lstm_model(),
}
SEED_BYTES = {k: v.SerializeToString() for k, v in SEEDS.items()}
WEIRD_INTS = [0, 1, -1, 2, 3, 7, -7, 2**31 - 1, -(2**31), 2**62, -(2**62), 2**63 - 1]
WEIRD_FLOATS = [0.0, -0.0, 1e-45, 1e38, -1e38, float("nan"), float("inf"), -float("inf")]
WEIRD_STRINGS = ["", "x", "a\nb", 'q"', "x\\", "é", "\x00", "NOTSET", "SAME_UPPER", "linear", "Tanh"]


@given(seed=st.sampled_from(sorted(SEED_BYTES)), data=st.data())
@_settings(2500)
def test_onnx_bytes(seed: str, data: st.DataObject) -> None:
    raw = bytearray(SEED_BYTES[seed])
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(["flip", "set", "truncate", "insert", "delete"]))
        pos = data.draw(st.integers(0, max(len(raw) - 1, 0)))
        if kind == "flip" and raw:
            raw[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "set" and raw:
            raw[pos] = data.draw(st.integers(0, 255))
        elif kind == "truncate":
            del raw[pos:]
        elif kind == "insert":
            raw[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
        elif raw:
            del raw[pos : pos + data.draw(st.integers(1, 8))]
    _must_load_or_refuse(lambda: rmodel.from_onnx(bytes(raw)))


def _mutate_proto(model: onnx.ModelProto, data: st.DataObject) -> None:
    graph = model.graph
    tensor_names = sorted(
        {n for node in graph.node for n in [*node.input, *node.output]} | {i.name for i in graph.input}
    )
    kind = data.draw(
        st.sampled_from(
            [
                "op_type",
                "attr_int",
                "attr_float",
                "attr_ints",
                "attr_string",
                "rename",
                "rewire",
                "drop_node",
                "dim",
                "elem_type",
                "init_dims",
                "init_type",
                "opset",
                "output_name",
                "drop_attr",
            ]
        )
    )
    node = graph.node[data.draw(st.integers(0, len(graph.node) - 1))] if graph.node else None
    if kind == "op_type" and node is not None:
        node.op_type = data.draw(
            st.sampled_from(
                [
                    "Relu",
                    "Add",
                    "MatMul",
                    "Gemm",
                    "Conv",
                    "Reshape",
                    "Transpose",
                    "Concat",
                    "Softmax",
                    "LSTM",
                    "Tile",
                    "Expand",
                    "Slice",
                    "Gather",
                    "Cast",
                    "Loop",
                    "Resize",
                    "Pad",
                    "Nope",
                ]
            )
        )
    elif kind.startswith("attr_") and node is not None and node.attribute:
        attr = node.attribute[data.draw(st.integers(0, len(node.attribute) - 1))]
        if kind == "attr_int":
            attr.type, attr.i = onnx.AttributeProto.INT, data.draw(st.sampled_from(WEIRD_INTS))
        elif kind == "attr_float":
            attr.type, attr.f = onnx.AttributeProto.FLOAT, data.draw(st.sampled_from(WEIRD_FLOATS))
        elif kind == "attr_ints":
            del attr.ints[:]
            attr.type = onnx.AttributeProto.INTS
            attr.ints.extend(data.draw(st.lists(st.sampled_from(WEIRD_INTS), max_size=6)))
        else:
            attr.type, attr.s = onnx.AttributeProto.STRING, data.draw(st.sampled_from(WEIRD_STRINGS)).encode()
    elif kind == "drop_attr" and node is not None and node.attribute:
        del node.attribute[data.draw(st.integers(0, len(node.attribute) - 1))]
    elif kind == "rename" and node is not None and node.output:
        node.output[0] = data.draw(st.sampled_from([*tensor_names, "", "fresh"]))
    elif kind == "rewire" and node is not None and node.input:
        node.input[data.draw(st.integers(0, len(node.input) - 1))] = data.draw(st.sampled_from([*tensor_names, ""]))
    elif kind == "drop_node" and node is not None:
        graph.node.remove(node)
    elif kind == "dim" and graph.input:
        dims = graph.input[0].type.tensor_type.shape.dim
        if dims:
            dim = dims[data.draw(st.integers(0, len(dims) - 1))]
            choice = data.draw(st.sampled_from([0, -3, 1, 5, 2**40, "sym"]))
            if choice == "sym":
                dim.dim_param = "sym"
            else:
                dim.dim_value = choice
    elif kind == "elem_type" and graph.input:
        graph.input[0].type.tensor_type.elem_type = data.draw(st.integers(0, 25))
    elif kind == "init_dims" and graph.initializer:
        init = graph.initializer[data.draw(st.integers(0, len(graph.initializer) - 1))]
        del init.dims[:]
        init.dims.extend(data.draw(st.lists(st.sampled_from([0, 1, 2, 3, 64, 2**31, -1]), max_size=4)))
    elif kind == "init_type" and graph.initializer:
        graph.initializer[data.draw(st.integers(0, len(graph.initializer) - 1))].data_type = data.draw(
            st.integers(0, 25)
        )
    elif kind == "opset":
        model.opset_import[0].version = data.draw(st.sampled_from([1, 6, 9, 11, 13, 17, 21, 99]))
    elif kind == "output_name" and graph.output:
        graph.output[0].name = data.draw(st.sampled_from([*tensor_names, "", "nowhere"]))


@given(seed=st.sampled_from(sorted(SEEDS)), data=st.data())
@_settings(3000)
def test_onnx_structure(seed: str, data: st.DataObject) -> None:
    model = copy.deepcopy(SEEDS[seed])
    for _ in range(data.draw(st.integers(1, 3))):
        _mutate_proto(model, data)
    _must_load_or_refuse(lambda: rmodel.from_onnx(model))


# ---- JSON configurations (Keras, .rmodel) ------------------------------------------------------


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value inside nested dicts/lists."""
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


WEIRD_JSON = [
    None,
    True,
    0,
    -1,
    3,
    2**40,
    -(2**40),
    1.5,
    1e308,
    -1e308,
    "",
    "x",
    "relu",
    "channels_first",
    "float64",
    "same",
    [],
    [0],
    [None, 4],
    [2**40, 2**40],
    {},
    {"class_name": "Dense", "config": {}},
]


def _mutate_json(doc: Any, data: st.DataObject) -> Any:
    doc = copy.deepcopy(doc)
    paths = [p for p in _paths(doc) if p]
    for _ in range(data.draw(st.integers(1, 3))):
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        parent = doc
        try:
            for key in path[:-1]:
                parent = parent[key]
            action = data.draw(st.sampled_from(["replace", "delete", "replace"]))
            if action == "delete" and isinstance(parent, dict):
                del parent[path[-1]]
            elif action == "delete" and isinstance(parent, list):
                parent.pop(path[-1])
            else:
                parent[path[-1]] = copy.deepcopy(data.draw(st.sampled_from(WEIRD_JSON)))
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed the path
    return doc


def _keras_members() -> dict[str, bytes]:
    with zipfile.ZipFile(ROOT / "examples" / "jet_tagger.keras") as archive:
        return {i.filename: archive.read(i) for i in archive.infolist()}


KERAS = _keras_members()
KERAS_CONFIG = json.loads(KERAS["config.json"])


@given(data=st.data())
@_settings(3000)
def test_keras_config(data: st.DataObject, tmp_path_factory: pytest.TempPathFactory) -> None:
    path = tmp_path_factory.mktemp("k", numbered=True) / "fuzz.keras"
    _write_zip(path, KERAS, "config.json", _mutate_json(KERAS_CONFIG, data))
    _must_load_or_refuse(lambda: rmodel.from_keras(path))


def _write_zip(path: Path, members: dict[str, bytes], json_member: str, document: Any) -> None:
    """``members`` as a zip archive at ``path``, with ``json_member`` replaced by ``document``."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, member in members.items():
            archive.writestr(name, json.dumps(document) if name == json_member else member)


def _rmodel_members() -> dict[str, bytes]:
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"rmodel-fuzz-seed-{os.getpid()}.rmodel"
    rmodel.from_onnx(examples.cnn()).save(path)
    try:
        with zipfile.ZipFile(path) as archive:
            return {i.filename: archive.read(i) for i in archive.infolist()}
    finally:
        path.unlink()


RMODEL = _rmodel_members()
RMODEL_MANIFEST = json.loads(RMODEL["model.json"])


@given(data=st.data())
@_settings(2000)
def test_rmodel_manifest(data: st.DataObject, tmp_path_factory: pytest.TempPathFactory) -> None:
    path = tmp_path_factory.mktemp("r", numbered=True) / "fuzz.rmodel"
    _write_zip(path, RMODEL, "model.json", _mutate_json(RMODEL_MANIFEST, data))
    _must_load_or_refuse(lambda: rmodel.load(path))


def test_the_fuzz_targets_accept_their_unmutated_seeds(tmp_path: Path) -> None:
    """The properties above are only meaningful if the seeds themselves load."""
    for seed in SEEDS.values():
        assert rmodel.from_onnx(seed.SerializeToString()).generate()
    (tmp_path / "k.keras").write_bytes((ROOT / "examples" / "jet_tagger.keras").read_bytes())
    assert rmodel.from_keras(tmp_path / "k.keras").generate()
