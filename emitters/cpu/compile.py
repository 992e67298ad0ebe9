"""Build a generated CPU header into a Python-callable model (pybind11 module or ctypes library)."""

from __future__ import annotations

import ctypes
import hashlib
import importlib.machinery
import importlib.util
import sys
import sysconfig
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rmodel.build import DEFAULT_FLAGS, CompiledModel, build_shared_library
from rmodel.errors import RModelError, ShapeError
from rmodel.model import RModel

from .bindings import c_abi_source, pybind11_source
from .header import batchable, generate_header, header_layout


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
    weights: str = "auto",
    flags: Sequence[str] = DEFAULT_FLAGS,
) -> CompiledModel:
    """Generate the CPU header and build it into a callable model.

    binding="pybind11" (default) gives the lowest call overhead; binding="ctypes" needs no
    pybind11 and compiles several times faster (used by the test-suite for small models).
    weights: "auto" (embedded up to header.AUTO_EMBED_MAX_BYTES, else a side file next to the
    built library), "embedded" or "file".
    """
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
        return _DirectModel(model, run, library)
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


class _DirectModel(CompiledModel):
    """A CompiledModel whose ``predict`` is the extension's own function, which handles every
    calling convention itself (positional, one list, by name): no Python frame in between."""

    predict: Callable[..., Any]

    def __init__(self, model: RModel, run: Callable[..., Any], library: Path):
        super().__init__(model, run, library)
        self.predict = run
