"""Compile generated C++ into something Python can call, with a content-addressed build cache."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import BuildError, RModelError

if TYPE_CHECKING:
    from .model import RModel

DEFAULT_FLAGS = ("-O3", "-march=native", "-std=c++17", "-Wall", "-Wextra")


MANIFEST_NAME = "rmodel-build.json"


def cache_dir() -> Path:
    """Where compiled modules are kept: $RMODEL_CACHE_DIR, else ~/.cache/rmodel."""
    env = os.environ.get("RMODEL_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "rmodel"


def _private_dir(path: Path) -> Path:
    """``path`` created with mode 0700 if missing; refused unless it is a directory owned by this user
    that nobody else can write to (a library planted there would run inside this process)."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = path.lstat()
    except OSError as exc:
        raise BuildError(f"cannot create the build cache directory {path}: {exc}; set RMODEL_CACHE_DIR") from exc
    if not stat.S_ISDIR(info.st_mode):
        raise BuildError(f"the build cache {path} is not a directory (a symbolic link?); set RMODEL_CACHE_DIR")
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise BuildError(
            f"the build cache {path} belongs to user id {info.st_uid}, not to you ({os.getuid()}); rmodel loads "
            "compiled code from it, so it must be your own: set RMODEL_CACHE_DIR to a directory of yours"
        )
    if info.st_mode & 0o022:
        raise BuildError(
            f"the build cache {path} is writable by other users (mode {stat.S_IMODE(info.st_mode):o}); rmodel loads "
            f"compiled code from it: run `chmod go-w {path}` or set RMODEL_CACHE_DIR to a private directory"
        )
    return path


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _entry_is_intact(target_dir: Path) -> bool:
    """True if every file a cache entry's manifest lists is present with the recorded sha256."""
    try:
        recorded = json.loads((target_dir / MANIFEST_NAME).read_text())
        files = recorded["files"]
        return bool(files) and all(_file_digest(target_dir / name) == digest for name, digest in files.items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def compiler() -> str:
    cxx = os.environ.get("CXX", "g++")
    if shutil.which(cxx) is None:
        raise BuildError(f"C++ compiler '{cxx}' not found; install g++ or set CXX")
    return cxx


@functools.cache
def _compiler_identity(cxx: str) -> str:
    try:
        return subprocess.run([cxx, "--version"], capture_output=True, text=True, check=False).stdout
    except OSError as exc:
        raise BuildError(f"cannot run C++ compiler '{cxx}': {exc}") from exc


@functools.cache
def _native_target(cxx: str) -> str:
    """What ``-march=native`` means on this machine (the compiler's resolved target options), so
    that a cache shared between machines never hands out a library built for another processor."""
    try:
        run = subprocess.run([cxx, "-march=native", "-Q", "--help=target"], capture_output=True, text=True)
    except OSError as exc:
        raise BuildError(f"cannot run C++ compiler '{cxx}': {exc}") from exc
    return run.stdout + platform.machine()


def build_shared_library(
    sources: Mapping[str, str],
    main: str,
    output_stem: str,
    flags: Sequence[str],
    include_dirs: Sequence[str] = (),
    extra_files: Mapping[str, bytes] | None = None,
    suffix: str = ".so",
) -> Path:
    """Compile ``sources[main]`` (other sources are headers next to it) into a cached shared library.

    Returns the library path; a build with the same sources, flags and compiler is reused.
    """
    cxx = compiler()
    cmd_flags = [*flags, "-shared", "-fPIC", "-fvisibility=hidden", *(f"-I{d}" for d in include_dirs)]
    digest = hashlib.sha256()
    for key in sorted(sources):
        digest.update(key.encode() + b"\0" + sources[key].encode() + b"\0")
    for key in sorted(extra_files or {}):
        digest.update(key.encode() + b"\0" + hashlib.sha256((extra_files or {})[key]).digest())
    digest.update("\0".join([cxx, *cmd_flags, _compiler_identity(cxx), sys.version]).encode())
    if "-march=native" in cmd_flags:
        digest.update(_native_target(cxx).encode())
    key = digest.hexdigest()[:24]
    build_root = _private_dir(_private_dir(cache_dir()) / "build")
    target_dir = build_root / key
    library = target_dir / f"{output_stem}{suffix}"
    if target_dir.exists():
        if library.exists() and _entry_is_intact(target_dir):
            return library
        # truncated, damaged or not written by rmodel: never load it, build it again
        shutil.rmtree(target_dir, ignore_errors=True)
    work = Path(tempfile.mkdtemp(dir=build_root, prefix=f".{key}."))
    try:
        for name, text in sources.items():
            (work / name).write_text(text)
        for name, data in (extra_files or {}).items():
            (work / name).write_bytes(data)
        out = work / library.name
        cmd = [cxx, *cmd_flags, str(work / main), "-o", str(out)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            keep = Path(tempfile.mkdtemp(prefix="rmodel-failed-build-"))
            for item in work.iterdir():
                shutil.copy2(item, keep / item.name)
            errors = "\n".join(proc.stderr.splitlines()[:60])
            raise BuildError(
                f"compiling generated code failed (sources kept in {keep}); this is a bug in rmodel, "
                f"please report it.\ncommand: {' '.join(cmd)}\n{errors}"
            )
        files = {p.name: _file_digest(p) for p in sorted(work.iterdir())}
        (work / MANIFEST_NAME).write_text(json.dumps({"files": files}, indent=1, sort_keys=True))
        try:
            os.replace(work, target_dir)
        except OSError:
            if not (library.exists() and _entry_is_intact(target_dir)):  # another process won the race
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return library


class CompiledModel:
    """A generated model built for this machine: ``predict`` takes and returns numpy arrays."""

    def __init__(self, model: RModel, run: Any, library: Path, keepalive: Any = None):
        self.model = model
        self.library = library
        self.input_names = model.input_names
        self.output_names = model.output_names
        self._run = run
        self._keepalive = keepalive

    def predict(self, *inputs: Any, **named: Any) -> Any:
        """Run the model. Inputs positionally, as one list/tuple, or by name; outputs as an array
        (one output) or a tuple of arrays in the model's output order."""
        if named:
            if inputs:
                raise RModelError("give inputs either positionally or by name, not both")
            missing = [n for n in self.input_names if n not in named]
            extra = [n for n in named if n not in self.input_names]
            if missing or extra:
                raise RModelError(f"inputs by name: missing {missing}, unknown {extra}; inputs are {self.input_names}")
            inputs = tuple(named[n] for n in self.input_names)
        elif len(inputs) == 1 and len(self.input_names) > 1 and isinstance(inputs[0], (list, tuple)):
            inputs = tuple(inputs[0])
        elif len(inputs) == 1 and isinstance(inputs[0], Mapping):
            return self.predict(**inputs[0])
        if len(inputs) != len(self.input_names):
            raise RModelError(f"the model takes {len(self.input_names)} input(s) {self.input_names}, got {len(inputs)}")
        return self._run(*inputs)

    def __call__(self, *inputs: Any, **named: Any) -> Any:
        return self.predict(*inputs, **named)
