"""RModel: the intermediate representation every front end produces and every emitter reads."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from onnx import ModelProto, helper, numpy_helper

from .inspect import summary
from .limits import Limits
from .limits import current as limits_current
from .naming import identifier
from .saving import save
from .targets import get_target
from .tensor import TensorInfo, numpy_to_onnx_dtype

if TYPE_CHECKING:
    from .operators.base import Operator


@dataclass
class RModel:
    """A model with concrete shapes: inputs, constants (weights), operators in order, outputs."""

    name: str
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    operators: list[Operator]
    constants: dict[str, np.ndarray]
    tensors: dict[str, TensorInfo]
    batch_size: int = 1
    opset: int = 17
    #: options that affect generated code (recorded so a saved model regenerates identically)
    options: dict[str, Any] = field(default_factory=dict)
    #: the limits in force when the model was loaded; generation checks against them
    limits: Limits = field(default_factory=limits_current, repr=False, compare=False)
    #: dynamic batch: the batch is a run-time argument of ``infer``; this model is the kernel for
    #: the largest batch (``batch_size``), ``batch_variants`` the same graph at smaller batches
    dynamic_batch: bool = False
    batch_variants: list[RModel] = field(default_factory=list, repr=False, compare=False)

    # ---- structure ------------------------------------------------------------------------
    @property
    def input_names(self) -> list[str]:
        return [i.name for i in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [o.name for o in self.outputs]

    def used_constants(self) -> list[str]:
        """Constants read by an operator or returned as an output, in first-use order."""
        seen: dict[str, None] = {}
        for op in self.operators:
            for name in op.inputs:
                if name in self.constants:
                    seen.setdefault(name)
        for out in self.outputs:
            if out.name in self.constants:
                seen.setdefault(out.name)
        return list(seen)

    def remove_dead_operators(self) -> None:
        """Drop operators whose outputs no graph output depends on, and unused constants."""
        needed = set(self.output_names)
        kept = []
        for op in reversed(self.operators):
            if any(o in needed for o in op.outputs if o):
                kept.append(op)
                needed.update(i for i in op.inputs if i)
        self.operators = kept[::-1]
        used = set(self.used_constants())
        self.constants = {k: v for k, v in self.constants.items() if k in used}
        live = set(self.input_names) | used | {o for op in self.operators for o in op.outputs if o}
        self.tensors = {k: v for k, v in self.tensors.items() if k in live}

    def parameter_count(self) -> int:
        return int(sum(v.size for v in self.constants.values()))

    def flops(self) -> int:
        return int(sum(op.flops() for op in self.operators))

    @property
    def batch_sizes(self) -> list[int]:
        """The batch sizes code is generated for: one, or for a dynamic batch every kernel's."""
        return [self.batch_size] + [v.batch_size for v in self.batch_variants]

    def describe_batch(self) -> str:
        if self.dynamic_batch:
            return f"dynamic batch (kernels for {', '.join(map(str, self.batch_sizes))}; shapes shown for {self.batch_size})"
        return f"batch size {self.batch_size}"

    @property
    def default_namespace(self) -> str:
        base = identifier(self.name, "model")
        if self.dynamic_batch:
            return f"{base}_dynbatch{self.batch_size}"
        return base if self.batch_size == 1 else f"{base}_batch{self.batch_size}"

    # ---- outputs of the tool (each target registers itself in rmodel.targets) ---------------
    def generate(
        self,
        path: str | os.PathLike | None = None,
        *,
        target: str = "cpu",
        namespace: str | None = None,
        **options: Any,
    ) -> str:
        """Write generated code to ``path`` and return it.

        target="cpu": one self-contained C++17 header. ``weights="file"`` writes the weights to
        ``<path>.weights`` next to it (the Session constructor then takes that file's path).
        target="hls": a Vitis HLS project in directory ``path`` (options in rmodel.emitters.hls.config).
        """
        return get_target(target).generate(self, path, namespace=namespace, **options)

    def compile(self, *, target: str = "cpu", **options: Any) -> Any:
        """Build generated code into a Python-callable model (cached by content hash)."""
        return get_target(target).compile(self, **options)

    def save(self, path: str | os.PathLike) -> None:
        """Write this model to one .rmodel file; ``rmodel.load`` reads it back (no TensorFlow needed)."""
        save(self, path)

    def hls_report(self, **options: Any) -> str:
        """Per-layer multipliers, latency/interval estimates and numeric types of the HLS design."""
        return get_target("hls").report(self, **options)

    def summary(self) -> str:
        return summary(self)

    def to_onnx(self) -> ModelProto:
        """This model as an ONNX model with concrete shapes (the reference for verification)."""
        nodes = [n for op in self.operators for n in op.to_onnx()]
        inputs = [helper.make_tensor_value_info(i.name, numpy_to_onnx_dtype(i.dtype), i.shape) for i in self.inputs]
        outputs = [helper.make_tensor_value_info(o.name, numpy_to_onnx_dtype(o.dtype), o.shape) for o in self.outputs]
        inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in self.constants.items()]
        graph = helper.make_graph(nodes, identifier(self.name, "model"), inputs, outputs, inits)
        domains = sorted({n.domain for n in nodes} - {"", "ai.onnx"})  # e.g. com.microsoft (version 1)
        opsets = [helper.make_opsetid("", self.opset)] + [helper.make_opsetid(d, 1) for d in domains]
        model = helper.make_model(graph, opset_imports=opsets)
        model.ir_version = min(model.ir_version, 10)
        return model

    def __repr__(self) -> str:
        ins = ", ".join(map(str, self.inputs))
        outs = ", ".join(map(str, self.outputs))
        return f"RModel('{self.name}', inputs=[{ins}], outputs=[{outs}], {len(self.operators)} operators)"
