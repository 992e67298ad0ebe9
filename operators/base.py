"""The Operator base class, the operator registry and the contexts operators work in.

An operator is created from one ONNX node. It parses its attributes once (with ONNX defaults) into
fields, infers its output tensors from its inputs (``infer``), and writes the C++ statements that
compute it (``emit_cpu``). Emitters assemble those statements; they never look at attributes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
import onnx
from onnx import NodeProto, helper

from rmodel.cpp_writer import CppWriter
from rmodel.errors import RModelError, ShapeError
from rmodel.naming import comment_text
from rmodel.registry import Registry
from rmodel.tensor import TensorInfo, cpp_type, float_literal  # noqa: F401  (re-exported for operators)

REQUIRED = object()

#: the attributes run_inference sets; after __init__ an operator refuses every other assignment
_RUN_FIELDS = frozenset({"input_infos", "output_infos", "plan"})

#: ONNX op type -> Operator subclass
REGISTRY: Registry[type[Operator]] = Registry("operator")
#: class decorator: make the class the implementation of the given ONNX op types
register = REGISTRY.register


def _plain(value: Any) -> Any:
    """Attribute value from onnx.helper as plain Python data (bytes -> str, lists -> tuples)."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    return value


#: an attribute the ONNX schema leaves optional without a default value
_NO_DEFAULT = object()
#: defaults the ONNX schemas get wrong: (op type, since version, attribute) -> the documented value
_SCHEMA_ERRATA = {("GRU", 1, "direction"): "forward"}  # GRU-1's schema says 'foward'


@functools.cache
def _schema_attributes(op_type: str, opset: int) -> dict[str, Any] | None:
    """{attribute: default} of the ONNX schema of ``op_type`` at ``opset`` (REQUIRED for required
    attributes, _NO_DEFAULT for optional ones without a default); None for ops without a schema."""
    try:
        schema = onnx.defs.get_schema(op_type, opset)
    except onnx.defs.SchemaError:
        return None
    out: dict[str, Any] = {}
    for name, attribute in schema.attributes.items():
        if attribute.required:
            out[name] = REQUIRED
        elif (op_type, schema.since_version, name) in _SCHEMA_ERRATA:
            out[name] = _SCHEMA_ERRATA[(op_type, schema.since_version, name)]
        elif attribute.default_value.type != onnx.AttributeProto.UNDEFINED:
            out[name] = _plain(helper.get_attribute_value(attribute.default_value))
        else:
            out[name] = _NO_DEFAULT
    return out


def onnx_defaults(op_type: str, opset: int, declared: dict[str, Any]) -> dict[str, Any]:
    """The attributes an operator accepts at ``opset`` and their defaults, read from onnx.defs.

    ``declared`` names the attributes the implementation supports (over all opsets); those that the
    schema at ``opset`` does not have are dropped, defaults and required-ness come from the
    schema, and ``declared`` values fill in only where ONNX has no default. Ops without an ONNX
    schema (other domains) keep ``declared`` as it is.
    """
    schema = _schema_attributes(op_type, opset)
    if schema is None:
        return dict(declared)
    return {
        name: declared[name] if schema[name] is _NO_DEFAULT else schema[name] for name in declared if name in schema
    }


class ShapeContext:
    """What an operator may look at while inferring its outputs."""

    def __init__(self, tensors: Mapping[str, TensorInfo], constants: Mapping[str, np.ndarray]):
        self._tensors = tensors
        self._constants = constants

    def info(self, name: str) -> TensorInfo | None:
        return self._tensors.get(name) if name else None

    def const(self, name: str) -> np.ndarray | None:
        return self._constants.get(name) if name else None


class CpuContext:
    """What an operator may use while writing C++ for the CPU target (filled by the emitter)."""

    def __init__(
        self,
        pointer: Callable[[str], str],
        tensors: dict[str, TensorInfo],
        constants: dict[str, np.ndarray],
        scratch: dict[np.dtype, str],
        add_helper: Callable[[str, str], None],
        add_constant: Callable[[str, np.ndarray], str],
    ):
        self._pointer = pointer
        self._tensors = tensors
        self._constants = constants
        self._scratch = scratch
        self._add_helper = add_helper
        self._add_constant = add_constant

    def ptr(self, name: str) -> str:
        """C++ expression for a pointer to the first element of tensor ``name``."""
        return self._pointer(name)

    def info(self, name: str) -> TensorInfo:
        return self._tensors[name]

    def const(self, name: str) -> np.ndarray | None:
        return self._constants.get(name) if name else None

    def scratch(self, dtype: Any = np.float32) -> str:
        """Pointer to this operator's workspace (sized by ``Operator.workspace``)."""
        return self._scratch[np.dtype(dtype)]

    def helper(self, key: str, code: str) -> None:
        """Add a helper function (emitted once per header, in namespace ``detail``, in first-use
        order: register the helpers a helper calls before it)."""
        self._add_helper(key, code)

    def constant(self, hint: str, value: np.ndarray) -> str:
        """Pointer to a constant array derived at generation time (e.g. pre-transposed weights)."""
        return self._add_constant(hint, np.ascontiguousarray(value))


@dataclass(frozen=True)
class Plan:
    """What ``infer`` decided for one operator beyond its output tensors: loop extents, window
    geometry, kernel choice... Subclasses are frozen dataclasses; everything after ``infer``
    (``emit_cpu``, ``flops``, ``workspace``, the HLS implementations) reads ``op.plan`` and never
    sets attributes on the operator. Operators with nothing to decide use ``NO_PLAN``."""


#: the plan of an operator whose code follows from its tensor infos and attributes alone
NO_PLAN = Plan()

PlanT = TypeVar("PlanT", bound=Plan)


@dataclass(frozen=True)
class Inferred(Generic[PlanT]):
    """What ``Operator.infer`` returns: the output tensor infos (None for an output left unnamed)
    and the operator's plan."""

    outputs: list[TensorInfo | None]
    plan: PlanT


class Operator(Generic[PlanT]):
    """One ONNX node that rmodel knows how to compute.

    Life cycle: ``__init__`` parses the attributes (``setup`` turns them into typed fields);
    ``run_inference`` calls ``infer``, which returns the outputs and a frozen ``plan``; then
    ``emit_cpu`` / ``flops`` / ``workspace`` read fields, infos and plan without changing them.
    """

    #: what infer() decided (set by run_inference)
    plan: PlanT

    #: attribute name -> default value (REQUIRED if the attribute must be present)
    attributes: ClassVar[dict[str, Any]] = {}
    #: indices of inputs that must be constant (known when code is generated)
    constant_inputs: ClassVar[tuple[int, ...]] = ()

    def __init__(
        self,
        op_type: str,
        name: str,
        inputs: list[str],
        outputs: list[str],
        attrs: dict[str, Any],
        opset: int,
    ):
        self.op_type = op_type
        self.name = name
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.opset = opset
        self.attrs = {k: _plain(v) for k, v in attrs.items()}
        defaults = onnx_defaults(op_type, opset, self.attribute_defaults(op_type, opset))
        unknown = sorted(set(self.attrs) - set(defaults))
        if unknown:
            raise RModelError(
                f"node '{name}' ({op_type}) has attribute(s) {', '.join(unknown)} that rmodel does not "
                f"support; known: {', '.join(sorted(defaults)) or 'none'}"
            )
        self.attr: dict[str, Any] = {}
        for key, default in defaults.items():
            value = self.attrs.get(key, default)
            if value is REQUIRED:
                raise RModelError(f"node '{name}' ({op_type}) lacks its required attribute '{key}'")
            self.attr[key] = value
        self.setup()
        object.__setattr__(self, "_sealed", True)

    _sealed: bool = False

    def __setattr__(self, key: str, value: Any) -> None:
        if self._sealed and key not in _RUN_FIELDS:
            raise AttributeError(
                f"{type(self).__name__}.{key}: an operator is read-only after setup(); what infer() "
                "decides goes into the plan it returns"
            )
        object.__setattr__(self, key, value)

    # ---- hooks for subclasses -------------------------------------------------------------
    @classmethod
    def attribute_defaults(cls, op_type: str, opset: int) -> dict[str, Any]:
        """The attributes this class implements for ``op_type``, with values for the ones ONNX gives
        no default (``onnx_defaults`` takes every other default from the ONNX schema itself)."""
        return cls.attributes

    def setup(self) -> None:
        """Turn ``self.attr`` into typed fields and validate them (called once)."""

    def infer(self, ctx: ShapeContext) -> Inferred[PlanT]:
        """Output tensor infos (None for an output left unnamed) and the plan."""
        raise NotImplementedError

    def emit_cpu(self, ctx: CpuContext, w: CppWriter) -> None:
        """Write the C++ statements computing the outputs from the inputs (inside a scope of
        their own: locals do not leak into other operators' code)."""
        raise NotImplementedError

    def workspace(self) -> dict[np.dtype, int]:
        """Scratch elements this operator needs while it runs, per dtype."""
        return {}

    def flops(self) -> int:
        """Floating point operations per inference (multiply-add = 2)."""
        return sum(i.size for i in self.output_infos if i is not None)

    # ---- shared behaviour ----------------------------------------------------------------
    output_infos: list[TensorInfo | None]
    input_infos: list[TensorInfo | None]

    def run_inference(self, ctx: ShapeContext) -> list[TensorInfo | None]:
        self.input_infos = [ctx.info(n) for n in self.inputs]
        for idx in self.constant_inputs:
            if idx < len(self.inputs) and self.inputs[idx] and ctx.const(self.inputs[idx]) is None:
                raise RModelError(
                    f"node '{self.name}' ({self.op_type}): input {idx} ('{self.inputs[idx]}') must be a "
                    "constant known at generation time, but it is computed at run time"
                )
        result = self.infer(ctx)
        self.output_infos = list(result.outputs)
        self.plan = result.plan
        return self.output_infos

    def fail(self, message: str) -> ShapeError:
        return ShapeError(f"node '{self.name}' ({self.op_type}): {message}")

    def input_info(self, index: int) -> TensorInfo:
        info = self.input_infos[index] if index < len(self.input_infos) else None
        if info is None:
            raise self.fail(f"input {index} is missing")
        return info

    def output_info(self, index: int) -> TensorInfo:
        info = self.output_infos[index] if index < len(self.output_infos) else None
        if info is None:
            raise self.fail(f"output {index} is missing")
        return info

    def has_input(self, index: int) -> bool:
        return index < len(self.inputs) and bool(self.inputs[index])

    def inferred(self, outputs: list[TensorInfo | None], plan: PlanT) -> Inferred[PlanT]:
        """Shorthand for ``Inferred(outputs, plan)`` in ``infer``."""
        return Inferred(outputs, plan)

    def out(self, index: int, dtype: Any, shape: Iterable[int]) -> TensorInfo:
        return TensorInfo(self.outputs[index], np.dtype(dtype), tuple(int(d) for d in shape))

    def to_onnx(self) -> list[NodeProto]:
        """This operator as ONNX node(s) (used for verification and export)."""
        return [helper.make_node(self.op_type, self.inputs, self.outputs, name=self.name, **self.attrs)]

    def comment(self) -> str:
        ins = ", ".join(i.describe() for i in self.input_infos if i is not None)
        outs = ", ".join(o.describe() for o in self.output_infos if o is not None)
        return f"{comment_text(self.name)} ({comment_text(self.op_type)}): {ins} -> {outs}"

    def ctype(self, index: int = 0) -> str:
        """C++ element type of output ``index``."""
        info = self.output_infos[index]
        assert info is not None
        return cpp_type(info.dtype)


# ---- small helpers shared by operator modules ---------------------------------------------


def normalize_axis(axis: int, rank: int, op: Operator) -> int:
    if not -rank <= axis < max(rank, 1):
        raise op.fail(f"axis {axis} is out of range for a tensor of rank {rank}")
    return axis % rank if rank else 0


def strides_of(shape: Iterable[int]) -> list[int]:
    """Row-major element strides."""
    shape = list(shape)
    strides = [1] * len(shape)
    for i in range(len(shape) - 2, -1, -1):
        strides[i] = strides[i + 1] * shape[i + 1]
    return strides


def broadcast_shapes(op: Operator, *shapes: tuple[int, ...]) -> tuple[int, ...]:
    try:
        return tuple(int(d) for d in np.broadcast_shapes(*shapes))
    except ValueError as exc:
        raise op.fail(f"shapes {' and '.join(map(str, shapes))} do not broadcast") from exc
