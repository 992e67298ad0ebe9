"""ONNX front end: read an ONNX model into an RModel with every shape concrete.

Loading does four things, in one walk over the (topologically sorted) nodes:
fix symbolic input dims (batch and named dims) to numbers, fold every node whose inputs are all
known at generation time (any ONNX op, evaluated by onnx's reference evaluator; ``Shape``/``Size``
of tensors with known shapes included), build an Operator for every other node and infer its
outputs, and collect every unsupported op so that one error can list them all.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import ModelProto, helper, numpy_helper

from .errors import ModelLoadError, ShapeError, UnsupportedOperatorError
from .model import RModel
from .tensor import TensorInfo, numpy_to_onnx_dtype, onnx_to_numpy_dtype

#: ops that must never be folded even when their inputs are constant
_NONDETERMINISTIC = {
    "RandomNormal",
    "RandomUniform",
    "RandomNormalLike",
    "RandomUniformLike",
    "Multinomial",
    "Bernoulli",
}


def read_onnx(source: str | os.PathLike | ModelProto | bytes) -> tuple[ModelProto, str]:
    """Return the ModelProto and a name for it; raise ModelLoadError for anything unreadable."""
    if isinstance(source, ModelProto):
        model = ModelProto()
        model.CopyFrom(source)
        return model, model.graph.name or "model"
    if isinstance(source, bytes):
        path_text, data = "<bytes>", source
    else:
        path = Path(source)
        path_text = str(path)
        if not path.is_file():
            raise ModelLoadError(f"{path_text}: no such file")
        data = path.read_bytes()
    try:
        model = ModelProto()
        model.ParseFromString(data)
    except Exception as exc:  # protobuf raises DecodeError and friends
        raise ModelLoadError(
            f"{path_text} is not a readable ONNX model ({type(exc).__name__}: {exc}); "
            "is the file complete and really an .onnx file?"
        ) from exc
    if model.ir_version <= 0 or not model.graph.output:
        raise ModelLoadError(
            f"{path_text} does not contain an ONNX model (no IR version or no graph outputs); "
            "is the file complete and really an .onnx file?"
        )
    if not isinstance(source, bytes):
        try:
            onnx.load_external_data_for_model(model, str(Path(source).parent))
        except Exception as exc:
            raise ModelLoadError(f"{path_text}: cannot load its external weight data: {exc}") from exc
    name = Path(path_text).stem if not isinstance(source, bytes) else (model.graph.name or "model")
    return model, name


def _default_opset(model: ModelProto) -> int:
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return imp.version
    return 1


def _fix_input_shapes(
    model: ModelProto,
    batch_size: int,
    dim_values: Mapping[str, int],
    input_shapes: Mapping[str, Sequence[int]],
) -> list[TensorInfo]:
    """Concrete TensorInfos for the graph inputs; also writes them back into ``model``."""
    initializer_names = {t.name for t in model.graph.initializer}
    graph_inputs = [vi.name for vi in model.graph.input if vi.name not in initializer_names]
    missing = sorted(set(input_shapes) - set(graph_inputs))
    if missing:
        raise ShapeError(f"input_shapes names {missing}, which are not inputs of the model; inputs: {graph_inputs}")
    infos: list[TensorInfo] = []
    unresolved: list[str] = []
    for vi in model.graph.input:
        if vi.name in initializer_names:
            continue
        if not vi.type.HasField("tensor_type"):
            raise ModelLoadError(f"input '{vi.name}' is not a tensor (sequences and maps are not supported)")
        tensor_type = vi.type.tensor_type
        dtype = onnx_to_numpy_dtype(tensor_type.elem_type, f"input '{vi.name}'")
        if vi.name in input_shapes:
            dims = [int(d) for d in input_shapes[vi.name]]
        elif not tensor_type.HasField("shape"):
            raise ShapeError(f"input '{vi.name}' has no shape in the model; pass input_shapes={{'{vi.name}': (...)}}")
        else:
            dims = []
            for axis, dim in enumerate(tensor_type.shape.dim):
                if dim.HasField("dim_value") and dim.dim_value > 0:
                    dims.append(dim.dim_value)
                elif dim.dim_param and dim.dim_param in dim_values:
                    dims.append(int(dim_values[dim.dim_param]))
                elif axis == 0:
                    dims.append(batch_size)
                else:
                    dims.append(-1)
                    unresolved.append(f"'{vi.name}' axis {axis} ('{dim.dim_param or '?'}')")
        if any(d <= 0 for d in dims) and vi.name in input_shapes:
            raise ShapeError(f"input_shapes['{vi.name}'] = {tuple(dims)} must be all positive")
        infos.append(TensorInfo(vi.name, dtype, tuple(dims)))
        shape_proto = tensor_type.shape
        del shape_proto.dim[:]
        for d in dims:
            shape_proto.dim.add().dim_value = max(d, 0)
    if unresolved:
        raise ShapeError(
            "the model has symbolic input dimensions rmodel cannot fix by itself: "
            + ", ".join(unresolved)
            + ". Give their values with dim_values={'name': value} (or input_shapes=...); "
            "the first axis of every input is taken as the batch axis and set to batch_size."
        )
    return infos


def _outer_references(node: onnx.NodeProto) -> set[str]:
    """Names a node's subgraphs (If/Loop/Scan bodies) read from the enclosing graph."""
    names: set[str] = set()
    for attr in node.attribute:
        graphs = list(attr.graphs) + ([attr.g] if attr.HasField("g") else [])
        for graph in graphs:
            defined = {i.name for i in graph.input} | {t.name for t in graph.initializer}
            for inner in graph.node:
                names.update(n for n in inner.input if n and n not in defined)
                names.update(_outer_references(inner) - defined)
                defined.update(inner.output)
    return names


def _evaluate(node: onnx.NodeProto, values: list[np.ndarray | None], model: ModelProto) -> list[np.ndarray]:
    """Run one node with onnx's reference evaluator."""
    from onnx.reference import ReferenceEvaluator

    inputs = []
    feeds = {}
    for name, value in zip(node.input, values):
        if not name:
            continue
        inputs.append(helper.make_tensor_value_info(name, numpy_to_onnx_dtype(value.dtype), value.shape))
        feeds[name] = value
    outputs = [helper.make_empty_tensor_value_info(n) for n in node.output if n]
    graph = helper.make_graph([node], "fold", inputs, outputs)
    single = helper.make_model(graph, opset_imports=model.opset_import, ir_version=model.ir_version)
    for func in model.functions:
        single.functions.append(func)
    results = ReferenceEvaluator(single).run(None, feeds)
    return [np.asarray(r) for r in results]


def from_onnx(
    source: str | os.PathLike | ModelProto | bytes,
    batch_size: int = 1,
    *,
    dim_values: Mapping[str, int] | None = None,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    name: str | None = None,
    optimize: bool = True,
) -> RModel:
    """Load an ONNX model (path, bytes or ModelProto) into an RModel with concrete shapes.

    ``batch_size`` fixes the first axis of every input whose first dim is symbolic;
    ``dim_values`` fixes other named dims; ``input_shapes`` overrides whole input shapes.
    ``optimize`` runs the graph passes of ``rmodel.passes.optimize`` (fuse MatMul+Add into Gemm,
    fold BatchNormalization/Mul/Add into Conv and Gemm, merge Transposes, drop Identity/Dropout);
    ``optimize=False`` keeps one operator per ONNX node.
    """
    from .operators import REGISTRY
    from .operators.base import ShapeContext

    if int(batch_size) < 1:
        raise ShapeError(f"batch_size must be a positive integer, got {batch_size}")
    model, default_name = read_onnx(source)
    opset = _default_opset(model)
    graph = model.graph
    inputs = _fix_input_shapes(model, int(batch_size), dict(dim_values or {}), dict(input_shapes or {}))

    constants: dict[str, np.ndarray] = {}
    for init in graph.initializer:
        try:
            constants[init.name] = numpy_helper.to_array(init)
        except Exception as exc:
            raise ModelLoadError(f"initializer '{init.name}' cannot be read: {exc}") from exc
    for init in graph.sparse_initializer:
        raise ModelLoadError(f"sparse initializer '{init.values.name}' is not supported; densify the model")
    tensors: dict[str, TensorInfo] = {i.name: i for i in inputs}
    for cname, value in constants.items():
        tensors[cname] = TensorInfo(cname, value.dtype, value.shape)

    operators = []
    unsupported: dict[str, list[str]] = defaultdict(list)
    unknown: set[str] = set()
    used_names: set[str] = set()
    for index, node in enumerate(graph.node):
        node_name = node.name or f"{node.op_type.lower()}_{index}"
        if node_name in used_names:
            node_name = f"{node_name}_{index}"
        used_names.add(node_name)
        op_key = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}::{node.op_type}"
        for inp in node.input:
            if inp and inp not in tensors and inp not in unknown:
                raise ModelLoadError(
                    f"node '{node_name}' ({node.op_type}) reads tensor '{inp}', which is neither a graph "
                    "input, an initializer nor the output of an earlier node; the graph is broken or not "
                    "topologically sorted"
                )
        if any(inp in unknown for inp in node.input):
            if op_key not in REGISTRY:
                unsupported[op_key].append(node_name)
            unknown.update(o for o in node.output if o)
            continue
        values = [constants.get(i) if i else None for i in node.input]
        is_constant = all(v is not None for i, v in zip(node.input, values) if i) and all(
            name in constants for name in _outer_references(node)
        )
        shape_query = node.op_type in ("Shape", "Size") and node.input and node.input[0] in tensors
        if node.domain in ("", "ai.onnx") and node.op_type not in _NONDETERMINISTIC and (is_constant or shape_query):
            if shape_query and not is_constant:
                info = tensors[node.input[0]]
                values = [np.broadcast_to(np.zeros((), dtype=info.dtype), info.shape)]
            try:
                results = _evaluate(node, values, model)
            except Exception as exc:
                raise ModelLoadError(
                    f"node '{node_name}' ({node.op_type}) has only constant inputs but could not be "
                    f"evaluated at load time: {exc}"
                ) from exc
            for out_name, value in zip([o for o in node.output if o], results):
                value = np.require(value, requirements="C")  # (ascontiguousarray would make 0-d arrays 1-d)
                constants[out_name] = value
                tensors[out_name] = TensorInfo(out_name, value.dtype, value.shape)
            continue
        cls = REGISTRY.get(op_key)
        if cls is None:
            unsupported[op_key].append(node_name)
            unknown.update(o for o in node.output if o)
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        op = cls(node.op_type, node_name, list(node.input), list(node.output), attrs, opset)
        outs = op.run_inference(ShapeContext(tensors, constants))
        for out_name, info in zip(op.outputs, outs):
            if not out_name or info is None:
                continue
            tensors[out_name] = info
        operators.append(op)

    if unsupported:
        lines = [
            f"  - {op_type}: node{'s' if len(nodes) > 1 else ''} {', '.join(nodes[:10])}"
            + (f" (+{len(nodes) - 10} more)" if len(nodes) > 10 else "")
            for op_type, nodes in sorted(unsupported.items())
        ]
        raise UnsupportedOperatorError(
            f"the model uses {len(unsupported)} operator type(s) rmodel cannot generate code for:\n"
            + "\n".join(lines)
            + "\nSee rmodel.supported_operators() or the 'Supported operators' table in README.md.",
            dict(unsupported),
        )

    output_names = [o.name for o in graph.output]
    for out in output_names:
        if out not in tensors:
            raise ModelLoadError(f"graph output '{out}' is produced by no node")
    model_name = name or default_name
    rmodel = RModel(
        name=model_name,
        inputs=inputs,
        outputs=[tensors[o] for o in output_names],
        operators=operators,
        constants=constants,
        tensors=tensors,
        batch_size=int(batch_size),
        opset=opset,
    )
    rmodel.remove_dead_operators()
    if optimize:
        from .passes import optimize as run_passes

        run_passes(rmodel)
    return rmodel
