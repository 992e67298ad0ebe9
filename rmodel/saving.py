"""Write an RModel to one ``.rmodel`` file (the format is described in ``rmodel.serialize``,
which reads it back)."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import zipfile
from typing import TYPE_CHECKING, Any

import numpy as np

from ._version import __version__
from .errors import RModelError
from .fileio import open_atomic
from .operators.base import _plain
from .tensor import TensorInfo

if TYPE_CHECKING:
    from .model import RModel

FORMAT_NAME = "rmodel"
#: (major, minor): a reader accepts its own major and any minor; a new major means old readers refuse
FORMAT_VERSION = (1, 1)  # 1.1: dynamic-batch models (a 'dynamic_batch' record)
MANIFEST = "model.json"
#: limit on the size of model.json
MAX_MANIFEST_BYTES = 64 << 20
#: a .npy member may exceed its array's data by at most this much (its header)
NPY_HEADER_MAX = 64 << 10
#: kinds of numpy dtypes a weight may have (bool, signed, unsigned, float)
_WEIGHT_KINDS = "biuf"
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


# ---- JSON values: exact round trip or a clear refusal -----------------------------------------


def _encode(value: Any, where: str, tuples_as_lists: bool) -> Any:
    """Plain JSON data for ``value``; tuples and non-finite floats are tagged (``{"$tuple": ...}``)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$float": repr(value)}
    if isinstance(value, list):
        return [_encode(v, where, tuples_as_lists) for v in value]
    if isinstance(value, tuple):
        items = [_encode(v, where, tuples_as_lists) for v in value]
        return items if tuples_as_lists else {"$tuple": items}
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str) or key.startswith("$"):
                raise RModelError(f"{where}: key {key!r} cannot be saved (keys must be strings not starting with '$')")
            out[key] = _encode(item, f"{where}[{key!r}]", tuples_as_lists)
        return out
    raise RModelError(
        f"{where} has a value of type {type(value).__module__}.{type(value).__qualname__}, which an "
        ".rmodel file cannot store exactly; use plain Python values (str, int, float, bool, None, lists, "
        "tuples, dicts)"
    )


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        if set(value) == {"$tuple"} and isinstance(value["$tuple"], list):
            return tuple(_decode(v) for v in value["$tuple"])
        if set(value) == {"$float"} and value["$float"] in ("nan", "inf", "-inf"):
            return float(value["$float"])
        if any(k.startswith("$") for k in value):
            raise ValueError(f"unknown tagged value {json.dumps(value)[:80]}")
        return {k: _decode(v) for k, v in value.items()}
    return value


def _same(a: Any, b: Any) -> bool:
    """Equal, with equal types all the way down (NaN equals NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


def _plain_attr(value: Any) -> Any:
    """What Operator.__init__ makes of a decoded attribute (lists become tuples)."""
    return _plain(value)


# ---- saving -----------------------------------------------------------------------------------


def _info_json(info: TensorInfo) -> dict[str, Any]:
    return {"name": info.name, "dtype": np.dtype(info.dtype).name, "shape": [int(d) for d in info.shape]}


def _little_endian(array: np.ndarray) -> np.ndarray:
    if not array.flags.c_contiguous:
        array = array.copy(order="C")  # (np.ascontiguousarray would turn a 0-d array into 1-d)
    if array.dtype.byteorder not in ("<", "|") and not (array.dtype.byteorder == "=" and np.little_endian):
        array = array.astype(array.dtype.newbyteorder("<"))
    return array


def _member_name(index: int, name: str) -> str:
    return f"weights/{index:04d}_{re.sub(r'[^A-Za-z0-9_-]', '_', name)[:48]}.npy"


def describe(model: RModel) -> tuple[dict[str, Any], list[tuple[str, np.ndarray]]]:
    """The JSON description of ``model`` and its weights as (member name, array) pairs.

    A dynamic-batch model also describes its smaller batch kernels (``dynamic_batch.variants``);
    their weights share the members of equal weights. Raises RModelError for anything that would
    not load back exactly (values JSON cannot hold).
    """
    description, arrays = _describe_one(model, "", {})
    if model.dynamic_batch:
        stored = {(w["name"], w["sha256"]): w["file"] for w in description["weights"]}
        variants = []
        for variant in model.batch_variants:
            part, more = _describe_one(variant, f"batch{variant.batch_size}/", stored)
            for key in ("format", "format_version", "rmodel_version"):
                del part[key]
            variants.append(part)
            arrays += more
        description["dynamic_batch"] = {"variants": variants}
    return description, arrays


def _describe_one(
    model: RModel, prefix: str, stored: dict[tuple[str, str], str]
) -> tuple[dict[str, Any], list[tuple[str, np.ndarray]]]:
    """``describe`` for one batch size; weights equal to one in ``stored`` reuse its member."""
    operators = []
    for index, op in enumerate(model.operators):
        where = f"operator {index} '{op.name}' ({op.op_type}) attribute"
        attrs = {}
        for key, value in op.attrs.items():
            encoded = _encode(value, f"{where} '{key}'", tuples_as_lists=True)
            if not _same(_plain_attr(_decode(encoded)), value):
                raise RModelError(f"{where} '{key}' = {value!r} would not load back exactly; cannot save it")
            attrs[key] = encoded
        operators.append(
            {
                "op_type": op.op_type,
                "name": op.name,
                "inputs": list(op.inputs),
                "outputs": list(op.outputs),
                "opset": int(op.opset),
                "attrs": attrs,
            }
        )
    options = _encode(model.options, "model.options", tuples_as_lists=False)
    if not _same(_decode(options), model.options):
        raise RModelError("model.options would not load back exactly; use plain Python values")
    weights = []
    arrays = []
    for index, (name, value) in enumerate(model.constants.items()):
        array = _little_endian(np.asarray(value))
        if array.dtype.kind not in _WEIGHT_KINDS:
            raise RModelError(f"constant '{name}' has dtype {array.dtype}, which .rmodel files cannot store")
        digest = hashlib.sha256(array.data).hexdigest()
        member = stored.get((name, digest))
        if member is None:
            member = prefix + _member_name(index, name)
            arrays.append((member, array))
        weights.append(
            {
                "name": name,
                "dtype": array.dtype.name,
                "shape": list(array.shape),
                "file": member,
                "sha256": digest,
            }
        )
    description = {
        "format": FORMAT_NAME,
        "format_version": f"{FORMAT_VERSION[0]}.{FORMAT_VERSION[1]}",
        "rmodel_version": __version__,
        "name": model.name,
        "batch_size": int(model.batch_size),
        "opset": int(model.opset),
        "inputs": [_info_json(i) for i in model.inputs],
        "outputs": [_info_json(o) for o in model.outputs],
        "tensors": [_info_json(t) for t in model.tensors.values()],
        "operators": operators,
        "weights": weights,
        "options": options,
    }
    return description, arrays


def _zip_info(name: str, compress: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
    info.compress_type = compress
    info.external_attr = 0o644 << 16
    return info


def _dumps(description: dict[str, Any]) -> str:
    """JSON with one line per top-level field and per list entry (easy to read and to diff)."""

    def one(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)

    lines = []
    for key, value in description.items():
        if isinstance(value, list) and value:
            items = ",\n".join(f"  {one(v)}" for v in value)
            lines.append(f" {one(key)}: [\n{items}\n ]")
        else:
            lines.append(f" {one(key)}: {one(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def save(model: RModel, path: str | os.PathLike) -> None:
    """Write ``model`` to ``path`` as one .rmodel file (atomically: readers never see half a file).

    Saving the same model twice gives byte-identical files.
    """
    description, arrays = describe(model)
    text = _dumps(description)
    with open_atomic(path) as handle, zipfile.ZipFile(handle, "w", allowZip64=True) as archive:
        archive.writestr(_zip_info(MANIFEST, zipfile.ZIP_DEFLATED), text.encode())
        for member, array in arrays:
            large = array.nbytes > (1 << 31)
            with archive.open(_zip_info(member, zipfile.ZIP_STORED), "w", force_zip64=large) as out:
                np.lib.format.write_array(out, array, allow_pickle=False)
