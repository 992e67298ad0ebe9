"""Documented limits on what a model file may ask for, checked with exact integers before anything
is allocated, evaluated or generated. Model files are untrusted: a 100-byte ONNX file can declare
a tensor of 2^64 elements, a zip member can inflate a thousandfold, a ``Loop`` can ask for 2^62
iterations. Every such request beyond a limit raises ``LimitExceededError`` naming the limit, the
value asked for and where.

The limits in force are ``current()``; raise them for a genuinely large model with::

    with rmodel.limits.using(max_tensor_elements=2**30, max_header_bytes=4 << 30):
        m = rmodel.from_onnx("big.onnx")
        m.generate("big.hxx")

A model remembers the limits in force when it was loaded (``RModel.limits``) and generation uses
those.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import math
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .errors import LimitExceededError

KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30


@dataclass(frozen=True)
class Limits:
    """Upper bounds on what a model may ask for (sizes in elements or bytes)."""

    #: elements of any one tensor (input, weight, intermediate, output): 2^28 is 1 GiB of float32
    max_tensor_elements: int = 1 << 28
    #: bytes of the scratch arena one Session holds
    max_arena_bytes: int = 2 * GIB
    #: bytes of all weights of a model, and of all weights a Keras/.rmodel file declares
    max_weight_bytes: int = 2 * GIB
    #: bytes of one generated file (header, weight file, HLS source)
    max_header_bytes: int = 1 * GIB
    #: elements of one tensor computed by load-time constant folding
    max_fold_elements: int = 1 << 26
    #: total work of load-time constant folding: elements produced plus Loop/Scan iterations x body size
    max_fold_work: int = 1 << 28
    #: declared uncompressed bytes of all members of a .keras/.rmodel archive
    max_archive_bytes: int = 4 * GIB
    #: declared uncompressed size / stored size of a compressed archive member (members under 1 MiB exempt)
    max_compression_ratio: int = 200

    def exceeded(self, what: str, value: int, limit_name: str, where: str = "") -> LimitExceededError:
        """The error for ``value`` over the limit ``limit_name`` (not raised here)."""
        limit = getattr(self, limit_name)
        place = f"{where}: " if where else ""
        return LimitExceededError(
            f"{place}{what} is {value:,}, over the limit {limit_name}={limit:,}. If the model is genuine, raise it: "
            f"`with rmodel.limits.using({limit_name}=...): ...` (see 'Limits' in README.md)"
        )

    def check(self, what: str, value: int, limit_name: str, where: str = "") -> int:
        """``value`` if it is within the limit ``limit_name``, else raise LimitExceededError."""
        if value > getattr(self, limit_name):
            raise self.exceeded(what, value, limit_name, where)
        return value


_CURRENT: contextvars.ContextVar[Limits] = contextvars.ContextVar("rmodel_limits", default=Limits())  # noqa: B039 (frozen)


def current() -> Limits:
    """The limits in force in this context."""
    return _CURRENT.get()


@contextlib.contextmanager
def using(limits: Limits | None = None, **changes: int) -> Iterator[Limits]:
    """Use ``limits`` (or the current ones with ``changes``) inside the ``with`` block."""
    base = limits if limits is not None else current()
    unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(Limits)})
    if unknown:
        raise TypeError(f"unknown limit(s) {', '.join(unknown)}; see rmodel.limits.Limits")
    for key, value in changes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"limit {key} must be a positive integer, got {value!r}")
    token = _CURRENT.set(dataclasses.replace(base, **changes))
    try:
        yield _CURRENT.get()
    finally:
        _CURRENT.reset(token)


def elements(shape: Iterable[Any]) -> int:
    """Exact element count of ``shape`` (Python integers: never wraps)."""
    return math.prod(int(d) for d in shape)


def check_shape(shape: Iterable[Any], where: str, limits: Limits | None = None) -> int:
    """Element count of a tensor shape, refused over ``max_tensor_elements``; negative dims refused."""
    limits = limits or current()
    dims = [int(d) for d in shape]
    if any(d < 0 for d in dims):
        raise LimitExceededError(f"{where}: shape {tuple(dims)} has a negative dimension")
    count = math.prod(dims)
    limits.check(f"the element count of shape {tuple(dims)}", count, "max_tensor_elements", where)
    return count


def check_archive(archive: zipfile.ZipFile, where: str, limits: Limits | None = None) -> None:
    """Refuse an archive whose members declare more than the limits (zip bombs) before reading any."""
    limits = limits or current()
    total = 0
    for info in archive.infolist():
        total += info.file_size
        stored = max(info.compress_size, 1)
        if info.compress_type != zipfile.ZIP_STORED and info.file_size > MIB:
            ratio = info.file_size // stored
            if ratio > limits.max_compression_ratio:
                raise limits.exceeded(
                    f"member '{info.filename}' inflates {ratio:,}-fold ({info.file_size:,} bytes from {stored:,}); "
                    "the compression ratio",
                    ratio,
                    "max_compression_ratio",
                    where,
                )
        elif info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
            raise LimitExceededError(
                f"{where}: member '{info.filename}' is stored uncompressed but declares {info.file_size:,} bytes "
                f"while holding {info.compress_size:,}; the archive is damaged or forged"
            )
    limits.check("the declared uncompressed size of the archive", total, "max_archive_bytes", where)


def check_dataset(shape: Iterable[Any], itemsize: int, where: str, limits: Limits | None = None) -> None:
    """Refuse an HDF5/npy array that declares more bytes than ``max_weight_bytes`` before reading it."""
    limits = limits or current()
    count = elements(shape)
    limits.check(
        f"an array of shape {tuple(int(d) for d in shape)} ({count * itemsize:,} bytes)",
        count * itemsize,
        "max_weight_bytes",
        where,
    )
