"""Compile generated C++ into something Python can call, with a content-addressed build cache."""

from __future__ import annotations

import ctypes
import functools
import hashlib
import importlib.machinery
import importlib.util
import json
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .emitters.cpu_header import batchable
from .errors import BuildError, RModelError, ShapeError
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


def _load_extension(name: str, path: Path) -> Any:
    if name in sys.modules:
        return sys.modules[name]
    loader = importlib.machinery.ExtensionFileLoader(name, str(path))
    spec = importlib.util.spec_from_file_location(name, str(path), loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    sys.modules[name] = module
    return module


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


class _CtypesRunner:
    """Calls the C ABI of a generated header through ctypes (checks shapes and dtypes in Python).

    ctypes releases the GIL during the call, so each thread gets a Session of its own (a Session's
    scratch arena must not be shared); they are all destroyed with the runner.
    """

    def __init__(self, model: RModel, library: Path, weights_path: str | None):
        self._lib = ctypes.CDLL(str(library))
        self._lib.rmodel_create.restype = ctypes.c_void_p
        self._lib.rmodel_create.argtypes = [ctypes.c_char_p]
        self._lib.rmodel_destroy.argtypes = [ctypes.c_void_p]
        self._lib.rmodel_infer.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        self._many = batchable(model)
        if self._many:
            self._lib.rmodel_infer_many.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_void_p]
        self._weights = weights_path.encode() if weights_path else None
        self._local = threading.local()
        self._sessions: list[int] = []
        self._lock = threading.Lock()
        self._session()  # fail now, not at the first call, if the weights cannot be loaded
        self._inputs = model.inputs
        self._outputs = model.outputs
        self._batch = model.batch_size

    def __call__(self, *inputs: Any) -> Any:
        arrays = []
        count: int | None = None
        for info, value in zip(self._inputs, inputs):
            arr = np.require(np.asarray(value, dtype=info.dtype), requirements="C")  # keeps 0-d arrays 0-d
            if self._many and arr.ndim == info.rank and arr.shape[1:] == info.shape[1:]:
                if count is not None and arr.shape[0] != count:
                    raise ShapeError("the inputs hold different numbers of samples (first axis)")
                count = arr.shape[0]
            elif arr.shape != info.shape:
                raise ShapeError(
                    f"input '{info.name}' has shape {arr.shape} but the model was generated for shape "
                    f"{info.shape} (batch size {self._batch}); pass an array of that shape or regenerate the model"
                )
            arrays.append(arr)
        if self._many and count is not None:
            outs = [np.empty((count, *o.shape[1:]), dtype=o.dtype) for o in self._outputs]
        else:
            outs = [np.empty(o.shape, dtype=o.dtype) for o in self._outputs]
        in_ptrs = (ctypes.c_void_p * max(len(arrays), 1))(*[a.ctypes.data for a in arrays])
        out_ptrs = (ctypes.c_void_p * len(outs))(*[o.ctypes.data for o in outs])
        if self._many and count is not None:
            self._lib.rmodel_infer_many(self._session(), count, in_ptrs, out_ptrs)
        else:
            self._lib.rmodel_infer(self._session(), in_ptrs, out_ptrs)
        return outs[0] if len(outs) == 1 else tuple(outs)

    def _session(self) -> int:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._lib.rmodel_create(self._weights)
            if not session:
                raise RModelError(f"the generated Session could not be created (weights file {self._weights!r})")
            with self._lock:
                self._sessions.append(session)
            self._local.session = session
        return session

    def __del__(self) -> None:
        for session in getattr(self, "_sessions", []):
            self._lib.rmodel_destroy(session)
        self._sessions = []


def compile_cpu(
    model: RModel,
    *,
    binding: str = "pybind11",
    namespace: str | None = None,
    weights: str = "embedded",
    flags: Sequence[str] = DEFAULT_FLAGS,
) -> CompiledModel:
    """Generate the CPU header and build it into a callable model.

    binding="pybind11" (default) gives the lowest call overhead; binding="ctypes" needs no
    pybind11 and compiles several times faster (used by the test-suite for small models).
    """
    from .emitters.bindings import c_abi_source, pybind11_source
    from .emitters.cpu_header import generate_header, header_layout

    code, blob = generate_header(model, namespace=namespace, weights=weights)
    layout = header_layout(model, namespace)
    header_name = f"{layout.namespace}.hxx"
    extra = {header_name + ".weights": blob} if blob is not None else None
    file_weights = blob is not None
    if binding == "pybind11":
        import pybind11

        stem = "rmodel_" + layout.namespace
        probe = hashlib.sha256((code + "\0".join(flags) + str(blob is not None)).encode()).hexdigest()[:12]
        module_name = f"{stem}_{probe}"
        source = pybind11_source(model, layout, header_name, module_name, file_weights)
        library = build_shared_library(
            {header_name: code, "binding.cpp": source},
            "binding.cpp",
            module_name,
            flags,
            include_dirs=[pybind11.get_include(), np.get_include(), sysconfig.get_paths()["include"]],
            extra_files=extra,
            suffix=sysconfig.get_config_var("EXT_SUFFIX") or ".so",
        )
        module = _load_extension(library.name.split(".")[0], library)
        try:
            run = module.make_runner(str(library.parent / (header_name + ".weights")) if file_weights else None)
        except RuntimeError as exc:
            raise RModelError(str(exc)) from exc
        compiled = CompiledModel(model, run, library)
        compiled.predict = run  # the C function handles every calling convention itself (fast path)
        return compiled
    if binding == "ctypes":
        source = c_abi_source(model, layout, header_name, file_weights)
        library = build_shared_library(
            {header_name: code, "c_abi.cpp": source},
            "c_abi.cpp",
            "rmodel_c_" + layout.namespace,
            flags,
            extra_files=extra,
        )
        weights_path = str(library.parent / (header_name + ".weights")) if file_weights else None
        runner = _CtypesRunner(model, library, weights_path)
        return CompiledModel(model, runner, library, keepalive=runner)
    raise RModelError(f"unknown binding '{binding}'; choose 'pybind11' or 'ctypes'")
