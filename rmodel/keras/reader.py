"""Read Keras model files with json, zipfile and h5py only (no TensorFlow, no Keras).

Three file forms are understood:

* ``.keras`` (Keras 3, and tf-keras 2.13+): a zip with ``config.json``, ``metadata.json`` and
  ``model.weights.h5``. The weight file does not use layer names: each container (a model's layer
  list) names its layers after their class in snake case with a counter in list order
  (``dense``, ``dense_1``, ...), each layer keeps its variables as ``vars/0``, ``vars/1``... in
  creation order, and sub-objects (an RNN's ``cell``, a wrapper's ``layer``) get their attribute
  name. Files written by TF 2.13-2.15 say ``_layer_checkpoint_dependencies`` where newer ones say
  ``layers``.
* legacy ``.h5``: the ``model_config`` attribute (JSON) plus the ``model_weights`` group, one
  group per layer name with a ``weight_names`` attribute (``dense/kernel:0`` style).
* architecture JSON (``model.to_json()``) plus a weights file from ``save_weights`` (either form).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelLoadError
from ..limits import check_archive, check_dataset


def to_snake_case(name: str) -> str:
    """Keras' name for a layer class inside weight files (``Conv2D`` -> ``conv2d``)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()
    return "private" + name if name.startswith("_") else name


@dataclass(frozen=True)
class WeightSpec:
    """One variable of a layer: the name a converter uses, where it lives in a ``.keras`` layer
    group (``vars/0``, ``cell/vars/1``), its name in legacy ``.h5`` files (``kernel``) and the shape
    the layer's config implies."""

    name: str
    path: str
    h5_name: str
    shape: tuple[int, ...]


def _h5py() -> Any:
    try:
        import h5py
    except ImportError as exc:  # pragma: no cover - h5py is a dependency
        raise ModelLoadError("reading Keras files needs h5py: pip install h5py") from exc
    return h5py


# ---- weights of one layer ---------------------------------------------------------------------


class LayerWeights:
    """The stored variables of one layer."""

    def __init__(self, where: str):
        self.where = where

    def fetch(self, specs: Sequence[WeightSpec], layer: str) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def all(self) -> list[np.ndarray]:
        raise NotImplementedError

    def _check(self, spec: WeightSpec, value: np.ndarray, layer: str) -> np.ndarray:
        if tuple(value.shape) != tuple(spec.shape):
            raise ModelLoadError(
                f"layer '{layer}': weight '{spec.name}' in the file has shape {tuple(value.shape)} but the "
                f"layer's config needs {tuple(spec.shape)} ({self.where}); the weights do not belong to this "
                "model configuration"
            )
        if value.dtype != np.float32 and value.dtype.kind == "f":
            value = value.astype(np.float32)
        return value


class NoWeights(LayerWeights):
    def __init__(self) -> None:
        super().__init__("no weight file")

    def fetch(self, specs: Sequence[WeightSpec], layer: str) -> dict[str, np.ndarray]:
        if specs:
            raise ModelLoadError(f"layer '{layer}' needs weights but the model was given without a weight file")
        return {}

    def all(self) -> list[np.ndarray]:
        return []


class V3LayerWeights(LayerWeights):
    """A layer group in a ``.keras`` weight file."""

    def __init__(self, root: Any, path: str):
        super().__init__(f"group '{path}' of model.weights.h5")
        self.root = root
        self.path = path

    def _get(self, sub: str) -> Any:
        subs = [sub]
        if "/" in sub.strip("/") and not sub.startswith("vars"):
            # a sub-layer's group: Keras 3 names it after the public property ("query_dense"),
            # tf-keras after the attribute ("_query_dense")
            subs.append(sub[1:] if sub.startswith("_") else f"_{sub}")
        for name in subs:
            full = f"{self.path}/{name}".strip("/")
            for candidate in (full, full.replace("layers/", "_layer_checkpoint_dependencies/")):
                if candidate in self.root:
                    return self.root[candidate]
        return None

    def _count(self) -> int:
        h5py = _h5py()
        group = self._get("")
        if group is None:
            return 0
        count = 0

        def visit(name: str, obj: Any) -> None:
            nonlocal count
            if isinstance(obj, h5py.Dataset) and "layers/" not in name and not name.startswith("layers"):
                count += 1

        group.visititems(visit)
        return count

    def fetch(self, specs: Sequence[WeightSpec], layer: str) -> dict[str, np.ndarray]:
        result = {}
        for spec in specs:
            data = self._get(spec.path)
            if data is None:
                raise ModelLoadError(
                    f"layer '{layer}': the weight file has no '{self.path}/{spec.path}' (its '{spec.name}'); the "
                    "weight file does not fit the model configuration"
                )
            check_dataset(
                data.shape or (), data.dtype.itemsize, f"{self.where}: weight '{spec.path}' of layer '{layer}'"
            )
            result[spec.name] = self._check(spec, np.asarray(data[()]), layer)
        stored = self._count()
        if stored != len(specs):
            raise ModelLoadError(
                f"layer '{layer}': the weight file holds {stored} variables in '{self.path}' but the layer's "
                f"config needs {len(specs)}; the weight file does not fit the model configuration"
            )
        return result

    def all(self) -> list[np.ndarray]:
        group = self._get("vars")
        if group is None:
            return []
        datasets = [group[str(i)] for i in range(len(group))]
        for d in datasets:
            check_dataset(d.shape or (), d.dtype.itemsize, f"{self.where}: weights under '{self.path}'")
        return [np.asarray(d[()]) for d in datasets]


class LegacyLayerWeights(LayerWeights):
    """The variables of one layer in a legacy h5 file: (name parts, dataset) in file order."""

    def __init__(self, entries: list[tuple[list[str], Any]], where: str):
        super().__init__(where)
        self.entries = entries

    def fetch(self, specs: Sequence[WeightSpec], layer: str) -> dict[str, np.ndarray]:
        used = [False] * len(self.entries)
        result = {}
        for spec in specs:
            for i, (parts, data) in enumerate(self.entries):
                if not used[i] and parts[-1].split(":")[0] in spec.h5_name.split("|"):
                    used[i] = True
                    check_dataset(data.shape or (), data.dtype.itemsize, f"{self.where}: a weight of layer '{layer}'")
                    result[spec.name] = self._check(spec, np.asarray(data[()]), layer)
                    break
            else:
                raise ModelLoadError(
                    f"layer '{layer}': the weight file has no '{spec.h5_name}' ({self.where}); the weight "
                    "file does not fit the model configuration"
                )
        if not all(used):
            extra = ["/".join(p) for (p, _), u in zip(self.entries, used) if not u]
            raise ModelLoadError(
                f"layer '{layer}': the weight file has weights the layer's config does not use: {extra} "
                f"({self.where}); the weight file does not fit the model configuration"
            )
        return result

    def all(self) -> list[np.ndarray]:
        for _, d in self.entries:
            check_dataset(d.shape or (), d.dtype.itemsize, f"{self.where}: a layer's weights")
        return [np.asarray(d[()]) for _, d in self.entries]


# ---- weights of a model (a container of layers) -----------------------------------------------


class WeightScope:
    """Where the layers of one (possibly nested) model keep their weights."""

    def layer(self, name: str, snake: str) -> LayerWeights:
        raise NotImplementedError

    def submodel(self, name: str, snake: str) -> WeightScope:
        raise NotImplementedError


class NoWeightScope(WeightScope):
    def layer(self, name: str, snake: str) -> LayerWeights:
        return NoWeights()

    def submodel(self, name: str, snake: str) -> WeightScope:
        return self


class V3Scope(WeightScope):
    def __init__(self, root: Any, prefix: str = ""):
        self.root = root
        self.prefix = prefix

    def layer(self, name: str, snake: str) -> LayerWeights:
        return V3LayerWeights(self.root, f"{self.prefix}/layers/{snake}".lstrip("/"))

    def submodel(self, name: str, snake: str) -> WeightScope:
        return V3Scope(self.root, f"{self.prefix}/layers/{snake}".lstrip("/"))


class LegacyScope(WeightScope):
    """Top level: one group per layer name. Nested models: the entries of the model's group, each
    picked by the sub-layer name appearing in its weight name."""

    def __init__(self, entries: list[tuple[list[str], Any]], anchored: bool, where: str):
        self.entries = entries
        self.anchored = anchored
        self.where = where

    def _select(self, name: str) -> list[tuple[list[str], Any]]:
        chosen = []
        for parts, data in self.entries:
            positions = [0] if self.anchored else range(len(parts) - 1)
            for i in positions:
                if parts[i] == name:
                    chosen.append((parts[i + 1 :], data))
                    break
        return chosen

    def layer(self, name: str, snake: str) -> LayerWeights:
        return LegacyLayerWeights(self._select(name), f"layer '{name}' of {self.where}")

    def submodel(self, name: str, snake: str) -> WeightScope:
        return LegacyScope(self._select(name), False, self.where)


def _legacy_scope(group: Any, where: str) -> LegacyScope:
    """Entries of a legacy weights group (``model_weights`` or a ``save_weights`` file root)."""
    names = _strings(group.attrs.get("layer_names", []))
    entries: list[tuple[list[str], Any]] = []
    for layer_name in names:
        if layer_name not in group:
            raise ModelLoadError(f"{where}: the weight file lists layer '{layer_name}' but has no group for it")
        layer_group = group[layer_name]
        for weight_name in _strings(layer_group.attrs.get("weight_names", [])):
            if weight_name not in layer_group:
                raise ModelLoadError(f"{where}: weight '{weight_name}' of layer '{layer_name}' is missing")
            entries.append(([layer_name, *weight_name.split("/")], layer_group[weight_name]))
    return LegacyScope(entries, True, where)


def _strings(values: Any) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in list(values)]


def weight_scope(h5: Any, where: str) -> WeightScope:
    """The scope of an open weight file of either form."""
    if "layer_names" in h5.attrs:
        return _legacy_scope(h5, where)
    if "model_weights" in h5 and "layer_names" in h5["model_weights"].attrs:
        return _legacy_scope(h5["model_weights"], where)
    if any(k in h5 for k in ("layers", "_layer_checkpoint_dependencies", "vars")):
        return V3Scope(h5)
    raise ModelLoadError(
        f"{where} is an HDF5 file but holds no Keras weights (neither 'layer_names' nor a 'layers' group); "
        "is it really a Keras model or weights file?"
    )


# ---- sources --------------------------------------------------------------------------------------


@dataclass
class KerasSource:
    """A Keras model as read from files: its config, where its weights are, and which Keras wrote it."""

    config: dict[str, Any]
    weights: WeightScope
    keras_version: str
    name: str
    origin: str
    #: open files to close when done
    handles: list[Any]

    @property
    def keras_major(self) -> int:
        try:
            return int(self.keras_version.split(".")[0])
        except ValueError:
            return 3

    def close(self) -> None:
        for h in self.handles:
            with contextlib.suppress(Exception):
                h.close()


def _json(text: str | bytes, where: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"{where} is not valid JSON: {exc}") from exc


def _check_config(config: Any, where: str) -> dict[str, Any]:
    if not isinstance(config, dict) or "class_name" not in config or "config" not in config:
        raise ModelLoadError(f"{where} does not hold a Keras model configuration (no 'class_name'/'config')")
    return config


def _open_h5(data: bytes | str | Path, where: str) -> Any:
    h5py = _h5py()
    try:
        return h5py.File(io.BytesIO(data) if isinstance(data, bytes) else str(data), "r")
    except OSError as exc:
        raise ModelLoadError(f"{where} is not a readable HDF5 file ({exc}); is the file complete?") from exc


def read_keras_zip(path: Path) -> KerasSource:
    where = str(path)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelLoadError(
            f"{where} is not a readable .keras archive ({exc}); is the file complete and really saved by "
            "model.save('....keras')?"
        ) from exc
    with archive:
        check_archive(archive, where)
        names = set(archive.namelist())
        missing = [n for n in ("config.json", "model.weights.h5") if n not in names]
        if missing:
            raise ModelLoadError(
                f"{where}: the .keras archive lacks {', '.join(missing)} (it holds {sorted(names)}); it is not a "
                "complete Keras model file"
            )
        try:
            config_text = archive.read("config.json")
            metadata = (
                _json(archive.read("metadata.json"), f"{where}:metadata.json") if "metadata.json" in names else {}
            )
            weights_bytes = archive.read("model.weights.h5")
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise ModelLoadError(f"{where}: the .keras archive is damaged ({exc}); is the file complete?") from exc
    config = _check_config(_json(config_text, f"{where}:config.json"), f"{where}:config.json")
    h5 = _open_h5(weights_bytes, f"{where}:model.weights.h5")
    scope = weight_scope(h5, f"{where}:model.weights.h5")
    version = str(metadata.get("keras_version", "3"))
    return KerasSource(config, scope, version, path.stem, where, [h5])


def read_keras_h5(path: Path) -> KerasSource:
    where = str(path)
    h5 = _open_h5(path, where)
    text = h5.attrs.get("model_config")
    if text is None:
        h5.close()
        raise ModelLoadError(
            f"{where} has no 'model_config' attribute: it is not a Keras model saved with model.save(); if it holds "
            "weights only (save_weights), give it together with its architecture JSON: "
            "from_keras(('model.json', 'weights.h5'))"
        )
    if isinstance(text, bytes):
        text = text.decode()
    config = _check_config(_json(text, f"{where}:model_config"), f"{where}:model_config")
    group = h5.get("model_weights", h5)
    scope = weight_scope(group, where)
    version = h5.attrs.get("keras_version", b"2")
    version = version.decode() if isinstance(version, bytes) else str(version)
    return KerasSource(config, scope, version, path.stem, where, [h5])


def read_json_and_weights(arch: str | os.PathLike, weights: str | os.PathLike | None) -> KerasSource:
    arch_text: str
    if isinstance(arch, (str, os.PathLike)) and Path(arch).is_file():
        where = str(arch)
        arch_text = Path(arch).read_text()
        name = Path(arch).stem
    elif isinstance(arch, str) and arch.lstrip().startswith("{"):
        where, arch_text, name = "<json>", arch, "keras_model"
    else:
        raise ModelLoadError(f"{arch}: no such architecture JSON file")
    config = _check_config(_json(arch_text, where), where)
    if weights is None:
        return KerasSource(config, NoWeightScope(), str(config.get("keras_version", "3")), name, where, [])
    wpath = Path(weights)
    if not wpath.is_file():
        raise ModelLoadError(f"{wpath}: no such weights file")
    h5 = _open_h5(wpath, str(wpath))
    scope = weight_scope(h5, str(wpath))
    version = config.get("keras_version") or h5.attrs.get("keras_version", b"3")
    version = version.decode() if isinstance(version, bytes) else str(version)
    return KerasSource(config, scope, version, name, f"{where} + {wpath}", [h5])


def read_path(path: Path) -> KerasSource:
    """A KerasSource from a ``.keras`` or ``.h5`` path."""
    if not path.exists():
        raise ModelLoadError(f"{path}: no such file")
    if zipfile.is_zipfile(path) or path.suffix.lower() == ".keras":
        return read_keras_zip(path)
    return read_keras_h5(path)
