"""Load an RModel from an ``.rmodel`` file (written by ``rmodel.saving``), safely.

The file is a zip archive (readable with any unzip tool) holding:

* ``model.json`` -- the version record (``format``, ``format_version``, ``rmodel_version``) and the
  whole description: model name, batch size, opset, inputs, outputs, every tensor's dtype and
  shape, the operators in order (op type, name, inputs, outputs, attributes, opset), the weights
  index (name, dtype, shape, member, sha256) and ``options`` (everything else that affects
  generated code, e.g. ``options["hls"]``);
* ``weights/NNNN_<name>.npy`` -- one ``.npy`` array per weight.

Loading never unpickles, never executes anything from the file and never writes to disk: members
are read into memory with bounded reads, arrays with ``np.load(..., allow_pickle=False)``. Each
operator is rebuilt through the operator registry and its shapes are inferred again, so the
description cannot smuggle in inconsistent shapes. Anything wrong is a ``ModelLoadError``.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from ._version import __version__
from .batching import batch_variants, make_dynamic
from .errors import ModelLoadError, RModelError, UnsupportedOperatorError
from .limits import check_archive, check_shape
from .limits import current as limits_current
from .model import RModel
from .operators import REGISTRY, build_operator
from .saving import (
    _WEIGHT_KINDS,
    FORMAT_NAME,
    FORMAT_VERSION,
    MANIFEST,
    MAX_MANIFEST_BYTES,
    NPY_HEADER_MAX,
    _decode,
    _little_endian,
    describe,
    save,
)
from .tensor import TensorInfo


class UnsupportedSavedOperatorError(ModelLoadError, UnsupportedOperatorError):
    """A saved model uses operator types this rmodel does not implement."""


# ---- loading ----------------------------------------------------------------------------------


class _Reader:
    """Checks of the archive's members; every failure is a ModelLoadError naming the file."""

    def __init__(self, path: Path, archive: zipfile.ZipFile, max_bytes: int):
        self.path = path
        self.archive = archive
        self.max_bytes = max_bytes
        self.budget = max_bytes  # bytes of weights still allowed (each member counted once)
        self.arrays: dict[tuple[str, str], np.ndarray] = {}  # weights read, by (member, sha256)
        self.members: dict[str, zipfile.ZipInfo] = {}
        check_archive(archive, str(path))  # declared sizes against stored sizes and the limits
        total = 0
        for info in archive.infolist():
            name = info.filename
            if not _safe_member_name(name):
                raise self.error(
                    f"member name '{name}' is unsafe (absolute, '..', backslash or drive); rmodel refuses such archives"
                )
            if name in self.members:
                raise self.error(f"member '{name}' appears twice")
            if info.flag_bits & 0x1:
                raise self.error(f"member '{name}' is encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise self.error(
                    f"member '{name}' uses compression method {info.compress_type}; .rmodel files use "
                    "only stored or deflated members"
                )
            if info.file_size > max_bytes:
                raise self.error(
                    f"member '{name}' declares {info.file_size} uncompressed bytes, more than the limit of "
                    f"{max_bytes} (a damaged file or a zip bomb; pass max_bytes= to load() if it is genuine)"
                )
            total += info.file_size
            self.members[name] = info
        if total > max_bytes:
            raise self.error(
                f"members declare {total} uncompressed bytes in all, more than the limit of {max_bytes} "
                "(a damaged file or a zip bomb; pass max_bytes= to load() if it is genuine)"
            )

    def error(self, message: str) -> ModelLoadError:
        return ModelLoadError(f"{self.path}: {message}")

    def read(self, name: str, what: str, limit: int) -> bytes:
        info = self.members.get(name)
        if info is None:
            raise self.error(f"member '{name}' ({what}) is missing from the archive")
        if info.file_size > limit:
            raise self.error(
                f"member '{name}' ({what}) declares {info.file_size} uncompressed bytes, more than the "
                f"{limit} it can need (a damaged file or a zip bomb)"
            )
        try:
            with self.archive.open(info) as handle:
                data = handle.read(info.file_size + 1)
        except Exception as exc:  # BadZipFile (bad CRC, header), EOFError, zlib.error, ...
            raise self.error(
                f"member '{name}' ({what}) cannot be read ({type(exc).__name__}: {exc}); the file is "
                "truncated or damaged"
            ) from exc
        if len(data) != info.file_size:
            raise self.error(
                f"member '{name}' ({what}) holds {len(data)} bytes but declares {info.file_size}; the file is damaged"
            )
        return data


def _safe_member_name(name: str) -> bool:
    if not name or "\\" in name or "\0" in name or name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return False
    return ".." not in PurePosixPath(name).parts


# small validators for the JSON description


def _field(obj: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(obj, dict):
        raise ValueError(f"{where} must be a JSON object")
    if key not in obj:
        raise ValueError(f"{where} lacks '{key}'")
    value = obj[key]
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise ValueError(f"{where}.{key} must be {_kind_name(kind)}, got {json.dumps(value)}")
    if not isinstance(value, kind):
        raise ValueError(f"{where}.{key} must be {_kind_name(kind)}, got {json.dumps(value)[:80]}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", list: "a list", dict: "an object", bool: "a boolean"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _dtype(text: str, where: str) -> np.dtype:
    try:
        dtype = np.dtype(text)
    except TypeError as exc:
        raise ValueError(f"{where}: unknown dtype '{text}'") from exc
    if dtype.kind not in _WEIGHT_KINDS or dtype.name != text:
        raise ValueError(f"{where}: dtype '{text}' is not allowed")
    return dtype


def _shape(value: Any, where: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(type(d) is int and d >= 0 for d in value):
        raise ValueError(f"{where}: shape must be a list of integers >= 0, got {json.dumps(value)[:60]}")
    if len(value) > 32:
        raise ValueError(f"{where}: rank {len(value)} is not plausible")
    return tuple(value)


def _info(obj: Any, where: str) -> TensorInfo:
    name = _field(obj, "name", str, where)
    where = f"{where} '{name}'"
    dtype = _dtype(_field(obj, "dtype", str, where), where)
    shape = _shape(_field(obj, "shape", list, where), where)
    check_shape(shape, f"model.json: {where}")  # before anything is allocated for it
    return TensorInfo(name, dtype, shape)


def _check_version(description: Any, reader: _Reader) -> None:
    if not isinstance(description, dict) or description.get("format") != FORMAT_NAME:
        raise reader.error(f'\'{MANIFEST}\' is not an rmodel description (no "format": "rmodel" record)')
    version = description.get("format_version")
    match = re.fullmatch(r"(\d{1,6})\.(\d{1,6})", version) if isinstance(version, str) else None
    if match is None:
        raise reader.error(f"'{MANIFEST}' has no readable format_version (got {json.dumps(version)[:40]})")
    major = int(match.group(1))
    writer = description.get("rmodel_version")
    writer_text = f"rmodel {writer}" if isinstance(writer, str) else "an unknown rmodel"
    if major > FORMAT_VERSION[0]:
        raise reader.error(
            f"was written by {writer_text} in .rmodel format {version}, newer than the format "
            f"{FORMAT_VERSION[0]}.x this rmodel {__version__} reads; upgrade rmodel to load it"
        )
    if major < FORMAT_VERSION[0]:
        raise reader.error(
            f"uses .rmodel format {version} (from {writer_text}), which this rmodel {__version__} no longer "
            f"reads (it reads format {FORMAT_VERSION[0]}.x); load the original model and save it again"
        )


def _read_weights(description: dict[str, Any], reader: _Reader) -> dict[str, np.ndarray]:
    entries = _field(description, "weights", list, "model.json")
    constants: dict[str, np.ndarray] = {}
    seen_members: set[str] = set()
    for index, entry in enumerate(entries):
        where = f"weights[{index}]"
        try:
            info = _info(entry, where)
            member = _field(entry, "file", str, where)
            digest = _field(entry, "sha256", str, where)
        except ValueError as exc:
            raise reader.error(f"'{MANIFEST}' is invalid: {exc}") from exc
        name = info.name
        if name in constants:
            raise reader.error(f"weight '{name}' is listed twice")
        if member in seen_members:
            raise reader.error(f"member '{member}' is used by two weights")
        seen_members.add(member)
        if (member, digest.lower()) in reader.arrays:  # a dynamic-batch kernel's weight stored once
            known = reader.arrays[(member, digest.lower())]
            if known.dtype.name != info.dtype.name or known.shape != info.shape:
                raise reader.error(f"weight '{name}' ('{member}') is listed with two different shapes or types")
            constants[name] = known
            continue
        nbytes = math.prod(info.shape) * info.dtype.itemsize
        reader.budget -= nbytes
        if reader.budget < 0:
            raise reader.error(
                f"the weights declare more than the limit of {reader.max_bytes} bytes (at weight '{name}'); "
                "pass max_bytes= to load() if the model is genuinely that large"
            )
        data = reader.read(member, f"weight '{name}'", nbytes + NPY_HEADER_MAX)
        try:
            array = np.load(io.BytesIO(data), allow_pickle=False)
        except Exception as exc:
            raise reader.error(f"weight '{name}' ('{member}') is not a readable .npy array: {exc}") from exc
        if not isinstance(array, np.ndarray) or array.dtype.kind not in _WEIGHT_KINDS:
            raise reader.error(f"weight '{name}' ('{member}') has data type {array.dtype}, which is refused")
        if array.dtype.name != info.dtype.name or array.shape != info.shape:
            raise reader.error(
                f"weight '{name}' is {array.dtype.name}{list(array.shape)} in '{member}' but "
                f"{info.dtype.name}{list(info.shape)} in '{MANIFEST}'; the file is inconsistent"
            )
        array = _little_endian(array)
        if hashlib.sha256(array.data).hexdigest() != digest.lower():
            raise reader.error(f"checksum mismatch for weight '{name}' ('{member}'): its data is corrupt")
        if array.dtype.byteorder == "<" and not np.little_endian:  # pragma: no cover - big-endian hosts
            array = array.astype(array.dtype.newbyteorder("="))
        constants[name] = array if array.flags.writeable else array.copy()
        reader.arrays[(member, digest.lower())] = constants[name]
    return constants


def _rebuild(description: dict[str, Any], constants: dict[str, np.ndarray], reader: _Reader) -> RModel:
    def invalid(exc: Exception) -> ModelLoadError:
        return reader.error(f"'{MANIFEST}' is invalid: {exc}")

    try:
        name = _field(description, "name", str, "model.json")
        batch_size = _field(description, "batch_size", int, "model.json")
        opset = _field(description, "opset", int, "model.json")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        inputs, outputs, stored = (
            [_info(t, f"{key}[{k}]") for k, t in enumerate(_field(description, key, list, "model.json"))]
            for key in ("inputs", "outputs", "tensors")
        )
        if not outputs:
            raise ValueError("the model has no outputs")
        for kind, infos in (("input", inputs), ("output", outputs)):
            names = [i.name for i in infos]
            if len(set(names)) != len(names):
                raise ValueError(f"an {kind} name is listed twice: {names}")
        op_entries = _field(description, "operators", list, "model.json")
        ops = []
        for index, entry in enumerate(op_entries):
            where = f"operators[{index}]"
            op_type = _field(entry, "op_type", str, where)
            op_name = _field(entry, "name", str, where)
            op_inputs = _field(entry, "inputs", list, where)
            op_outputs = _field(entry, "outputs", list, where)
            if not all(isinstance(n, str) for n in op_inputs + op_outputs):
                raise ValueError(f"{where} '{op_name}': inputs and outputs must be lists of strings")
            attrs = {k: _decode(v) for k, v in _field(entry, "attrs", dict, where).items()}
            ops.append((op_type, op_name, op_inputs, op_outputs, _field(entry, "opset", int, where), attrs))
        options = _decode(_field(description, "options", dict, "model.json"))
    except (ValueError, RecursionError) as exc:
        raise invalid(exc) from exc

    unknown: dict[str, list[str]] = {}
    for op_type, op_name, *_ in ops:
        if op_type not in REGISTRY:
            unknown.setdefault(op_type, []).append(op_name)
    if unknown:
        listing = "; ".join(f"{t} (operator{'s' if len(n) > 1 else ''} {', '.join(n[:5])})" for t, n in unknown.items())
        raise UnsupportedSavedOperatorError(
            f"{reader.path}: uses operator type(s) this rmodel {__version__} does not implement: {listing}. "
            "It may have been saved by a newer rmodel; see rmodel.supported_operators().",
            unknown,
        )

    tensors: dict[str, TensorInfo] = {}
    for info in inputs:
        if info.name in tensors:
            raise reader.error(f"input '{info.name}' is listed twice")
        tensors[info.name] = info
    for cname, value in constants.items():
        if cname in tensors:
            raise reader.error(f"weight '{cname}' has the name of an input")
        tensors[cname] = TensorInfo(cname, value.dtype, value.shape)
    operators = []
    for index, (op_type, op_name, op_inputs, op_outputs, op_opset, attrs) in enumerate(ops):
        where = f"operator {index} '{op_name}' ({op_type})"
        for tensor in op_inputs:
            if tensor and tensor not in tensors:
                raise reader.error(
                    f"{where} reads tensor '{tensor}', which is not an input, a weight or an output of an "
                    "earlier operator"
                )
        for tensor in op_outputs:
            if tensor and tensor in tensors:
                raise reader.error(f"{where} writes tensor '{tensor}', which already exists")
        try:
            op, out_infos = build_operator(op_type, op_name, op_inputs, op_outputs, attrs, op_opset, tensors, constants)
        except Exception as exc:  # a bad attribute can fail in any way inside an operator's setup
            raise reader.error(f"{where} cannot be rebuilt: {exc}") from exc
        for tensor, out_info in zip(op_outputs, out_infos, strict=False):
            if tensor and out_info is not None:
                check_shape(out_info.shape, f"{where} output '{tensor}'")
                tensors[tensor] = out_info
        operators.append(op)

    for out in outputs:
        if out.name not in tensors:
            raise reader.error(f"output '{out.name}' is produced by no operator, input or weight")
        if tensors[out.name] != out:
            raise reader.error(
                f"output '{out.name}' is {_text(out)} in '{MANIFEST}' but its operators compute "
                f"{_text(tensors[out.name])}; the file is inconsistent"
            )
    stored_names = [t.name for t in stored]
    if len(set(stored_names)) != len(stored_names) or set(stored_names) != set(tensors):
        extra = sorted(set(stored_names) - set(tensors))
        missing = sorted(set(tensors) - set(stored_names))
        raise reader.error(
            f"the tensor list in '{MANIFEST}' does not match the graph (unknown: {extra[:5]}, "
            f"missing: {missing[:5]}); the file is inconsistent"
        )
    for info in stored:
        if tensors[info.name] != info:
            raise reader.error(
                f"tensor '{info.name}' is {_text(info)} in '{MANIFEST}' but the rebuilt model has "
                f"{_text(tensors[info.name])}; the file is inconsistent"
            )
    model = RModel(
        name=name,
        inputs=inputs,
        outputs=[tensors[o.name] for o in outputs],
        operators=operators,
        constants=constants,
        tensors={info.name: tensors[info.name] for info in stored},
        batch_size=batch_size,
        opset=opset,
        options=options,
    )
    return model


def _text(info: TensorInfo) -> str:
    return f"{np.dtype(info.dtype).name}{list(info.shape)}"


def _strict_constant(token: str) -> Any:
    raise ValueError(f"'{token}' is not valid JSON")


def load(path: str | os.PathLike, *, max_bytes: int | None = None) -> RModel:
    """Read a model written by ``save``; every problem with the file is a ModelLoadError.

    ``max_bytes`` bounds the uncompressed size of the archive (a guard against zip bombs); by
    default ``rmodel.limits.current().max_archive_bytes``.
    """
    if max_bytes is None:
        max_bytes = limits_current().max_archive_bytes
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"{path}: no such file")
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise ModelLoadError(f"{path}: cannot be read: {exc}") from exc
    if magic not in (b"PK\x03\x04", b"PK\x05\x06"):
        raise ModelLoadError(
            f"{path} is not an .rmodel file (it is not a zip archive); .rmodel files are written by "
            "RModel.save() -- to read an ONNX or Keras model use rmodel.from_onnx / rmodel.from_keras"
        )
    try:
        archive = zipfile.ZipFile(path)
    except Exception as exc:  # BadZipFile, EOFError, NotImplementedError (bad version fields), ...
        raise ModelLoadError(
            f"{path}: cannot be read as an .rmodel archive ({type(exc).__name__}: {exc}); the file is "
            "truncated or damaged -- save the model again"
        ) from exc
    try:
        with archive:
            return _load_archive(path, archive, max_bytes)
    except RModelError:
        raise
    except Exception as exc:  # a damaged file must never surface as a crash
        raise ModelLoadError(
            f"{path}: cannot be loaded ({type(exc).__name__}: {exc}); the file is damaged or was not written by rmodel"
        ) from exc


def _load_archive(path: Path, archive: zipfile.ZipFile, max_bytes: int) -> RModel:
    reader = _Reader(path, archive, max_bytes)
    if MANIFEST not in reader.members:
        raise reader.error(f"is a zip archive but not an .rmodel file: member '{MANIFEST}' is missing")
    data = reader.read(MANIFEST, "the model description", MAX_MANIFEST_BYTES)
    try:
        description = json.loads(data.decode("utf-8"), parse_constant=_strict_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise reader.error(f"'{MANIFEST}' is not valid JSON: {exc}") from exc
    _check_version(description, reader)
    constants = _read_weights(description, reader)
    model = _rebuild(description, constants, reader)
    if "dynamic_batch" not in description:
        return model
    try:
        variants = _field(_field(description, "dynamic_batch", dict, "model.json"), "variants", list, "dynamic_batch")
        if not all(isinstance(v, dict) for v in variants):
            raise ValueError("dynamic_batch.variants must be a list of model descriptions")
    except ValueError as exc:
        raise reader.error(f"'{MANIFEST}' is invalid: {exc}") from exc
    kernels = [model]
    for variant in variants:
        kernels.append(_rebuild(variant, _read_weights(variant, reader), reader))
    sizes = [k.batch_size for k in kernels]
    if sizes != batch_variants(model.batch_size):
        raise reader.error(
            f"'{MANIFEST}' lists batch kernels {sizes}, which is not a dynamic-batch set; the file is damaged"
        )
    try:
        return make_dynamic(kernels)
    except RModelError as exc:
        raise reader.error(f"the batch kernels do not agree: {exc}") from exc


__all__ = ["FORMAT_VERSION", "UnsupportedSavedOperatorError", "describe", "load", "save"]
