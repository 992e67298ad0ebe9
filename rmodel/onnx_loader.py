"""ONNX front end: read an ONNX model into an RModel with every shape concrete.

Loading does four things, in one walk over the (topologically sorted) nodes:
fix symbolic input dims (batch and named dims) to numbers, fold every node whose inputs are all
known at generation time (any ONNX op, evaluated by onnx's reference evaluator; ``Shape``/``Size``
of tensors with known shapes included), build an Operator for every other node and infer its
outputs, and collect every unsupported op so that one error can list them all.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import ModelProto, helper, numpy_helper

from . import limits as limits_module
from . import quantmath
from .batching import batch_variants, make_dynamic
from .errors import LimitExceededError, ModelLoadError, RModelError, ShapeError, UnsupportedOperatorError
from .graph_checks import check_graph
from .model import RModel
from .naming import comment_text
from .operators import REGISTRY, build_operator
from .qdq import fuse_qdq
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


def _itemsize(data_type: int) -> int:
    """Bytes per element of an ONNX tensor type (4 for types numpy has no size for)."""
    try:
        return int(np.dtype(helper.tensor_dtype_to_np_dtype(data_type)).itemsize)
    except Exception:  # unknown or exotic type: loading it fails later with a clear message
        return 4


def _external_tensors(model: ModelProto) -> list[onnx.TensorProto]:
    """Every tensor of the model (initializers, Constant attributes, subgraphs) stored outside it."""
    from onnx.external_data_helper import _get_all_tensors, uses_external_data

    return [t for t in _get_all_tensors(model) if uses_external_data(t)]


def _load_external_data(model: ModelProto, base_dir: Path, where: str) -> None:
    """Read external weight data from files inside ``base_dir`` only (no absolute paths, no '..',
    no symbolic links leading out of it); sizes are checked against the limits first."""
    base = base_dir.resolve()
    lim = limits_module.current()
    total = 0
    for tensor in _external_tensors(model):
        info = {e.key: e.value for e in tensor.external_data}
        location = info.get("location", "")
        rel = Path(location)
        target = (base / rel).resolve()
        if not location or rel.is_absolute() or ".." in rel.parts or not target.is_relative_to(base):
            raise ModelLoadError(
                f"{where}: tensor '{tensor.name}' names external data {location!r} outside the model's directory "
                f"{str(base)!r}; rmodel reads external data only from files beside the model"
            )
        if not target.is_file():
            raise ModelLoadError(f"{where}: tensor '{tensor.name}': external data file {location!r} is missing")
        count = limits_module.check_shape(tensor.dims, f"{where}: tensor '{tensor.name}'", lim)
        total += count * _itemsize(tensor.data_type)
        lim.check("the external weight data", total, "max_weight_bytes", where)
    try:
        onnx.load_external_data_for_model(model, str(base))
    except Exception as exc:
        raise ModelLoadError(f"{where}: cannot load its external weight data: {exc}") from exc


def read_onnx(
    source: str | os.PathLike | ModelProto | bytes, base_dir: str | os.PathLike | None = None
) -> tuple[ModelProto, str]:
    """Return the ModelProto and a name for it; raise ModelLoadError for anything unreadable.

    External weight data is read from the model file's directory, or for bytes and a ModelProto
    from ``base_dir`` only (never from the current directory).
    """
    if isinstance(source, ModelProto):
        model = ModelProto()
        model.CopyFrom(source)
        path_text = "<ModelProto>"
    else:
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
    if _external_tensors(model):
        directory = Path(source).parent if not isinstance(source, (bytes, ModelProto)) else base_dir
        if directory is None:
            raise ModelLoadError(
                f"{path_text}: the model keeps weights in external data files, and a model given as bytes or a "
                "ModelProto has no directory to read them from; pass base_dir='...' (the directory holding them) "
                "or load the model from its file path"
            )
        _load_external_data(model, Path(directory), path_text)
    if isinstance(source, ModelProto):
        return model, model.graph.name or "model"
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
    symbolic = {
        (d.dim_param, axis)
        for vi in model.graph.input
        if vi.name not in initializer_names and vi.type.tensor_type.HasField("shape")
        for axis, d in enumerate(vi.type.tensor_type.shape.dim)
        if d.dim_param and not d.HasField("dim_value")
    }
    known_dims = sorted({name for name, _ in symbolic})
    unknown = sorted(set(dim_values) - set(known_dims))
    if unknown:
        raise ShapeError(
            f"dim_values names {', '.join(repr(u) for u in unknown)}, which no input of the model uses; "
            f"its symbolic dims are: {', '.join(repr(k) for k in known_dims) or 'none'}"
        )
    for dim_name, axis in sorted(symbolic):
        if axis == 0 and int(dim_values.get(dim_name, batch_size)) != batch_size:
            raise ShapeError(
                f"dim '{dim_name}' is the batch axis (the first axis of an input); set it with batch_size "
                f"(--batch-size on the command line), not dim_values (--dim)"
            )
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
                elif axis == 0:  # symbolic, unknown or 0: the batch
                    dims.append(batch_size)
                elif dim.HasField("dim_value"):
                    raise ShapeError(
                        f"input '{vi.name}' has size 0 on axis {axis}; rmodel does not support empty tensors"
                    )
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
            + ". Give their values with dim_values={'name': value} (--dim NAME=VALUE on the command line) "
            "or input_shapes=...; "
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


#: constant inputs up to this many elements are given to shape inference as values (shape data)
_SHAPE_DATA_ELEMENTS = 4096


def _predicted_output_elements(node: onnx.NodeProto, values: list[np.ndarray | None], opset: int) -> list[int]:
    """Element counts of a node's outputs as onnx's shape inference predicts them from its constant
    inputs (without evaluating it); outputs whose shape is not known are left out."""
    inits, infos = [], []
    for name, value in zip(node.input, values):
        if not name or value is None:
            continue
        if value.size <= _SHAPE_DATA_ELEMENTS:
            inits.append(numpy_helper.from_array(value, name))
        infos.append(helper.make_tensor_value_info(name, numpy_to_onnx_dtype(value.dtype), value.shape))
    outputs = [helper.make_empty_tensor_value_info(n) for n in node.output if n]
    probe = helper.make_model(
        helper.make_graph([node], "probe", infos, outputs, inits), opset_imports=[helper.make_opsetid("", opset)]
    )
    try:
        inferred = onnx.shape_inference.infer_shapes(probe, strict_mode=False, data_prop=True)
    except Exception:  # inference failing is not an error here: evaluation will say what is wrong
        return []
    counts = []
    for out in inferred.graph.output:
        ttype = out.type.tensor_type
        if ttype.HasField("shape") and all(d.HasField("dim_value") for d in ttype.shape.dim):
            counts.append(limits_module.elements(d.dim_value for d in ttype.shape.dim))
    if node.op_type in ("Resize", "Upsample") and len(values) > 1 and values[0] is not None:
        for scales in values[1:]:
            if scales is not None and scales.dtype.kind == "f" and scales.size == values[0].ndim:
                dims = [int(d) * float(f) for d, f in zip(values[0].shape, scales.ravel())]
                counts.append(int(min(math.prod(dims), 1e30)))
            elif scales is not None and scales.dtype.kind in "iu" and scales.size == values[0].ndim:
                counts.append(limits_module.elements(scales.ravel()))
    return counts


def _fold_work(
    node: onnx.NodeProto, values: list[np.ndarray | None], node_name: str, lim: limits_module.Limits, opset: int
) -> int:
    """Work units folding ``node`` will take (refused over the limits before it starts)."""
    where = f"node '{node_name}' ({node.op_type}), folded at load time"
    work = 0
    if node.op_type == "Loop":
        trip = values[0] if values and node.input and node.input[0] else None
        if trip is None:
            raise ModelLoadError(
                f"{where}: a Loop without a constant trip count cannot be evaluated at load time (it may never end)"
            )
        body = next((a.g for a in node.attribute if a.name == "body"), None)
        body_size = len(body.node) + 1 if body is not None else 1
        work += lim.check(
            "the Loop's work (trip count x body nodes)", int(trip.ravel()[0]) * body_size, "max_fold_work", where
        )
    for count in _predicted_output_elements(node, values, opset):
        lim.check("the element count of an output", count, "max_fold_elements", where)
        work += count
    return work


def _evaluate(node: onnx.NodeProto, values: list[np.ndarray | None], model: ModelProto) -> list[np.ndarray]:
    """Run one node with onnx's reference evaluator."""
    from onnx.reference import ReferenceEvaluator

    inputs = []
    feeds = {}
    for name, value in zip(node.input, values):
        if not name or value is None:  # an optional input left out
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
    batch_size: int | None = 1,
    *,
    max_batch: int | None = None,
    dim_values: Mapping[str, int] | None = None,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    name: str | None = None,
    optimize: bool = True,
    base_dir: str | os.PathLike | None = None,
) -> RModel:
    """Load an ONNX model (path, bytes or ModelProto) into an RModel with concrete shapes.

    ``batch_size`` fixes the first axis of every input whose first dim is symbolic;
    ``batch_size=None`` gives a dynamic-batch model: the batch becomes a run-time argument of the
    generated ``infer`` (any number of samples), computed by kernels compiled for the batch sizes
    ``batch_variants(max_batch)`` (``max_batch`` defaults to ``DEFAULT_MAX_BATCH``);
    ``dim_values`` fixes other named dims; ``input_shapes`` overrides whole input shapes.
    ``optimize`` runs the graph passes of ``rmodel.passes.optimize`` (fuse MatMul+Add into Gemm,
    fold BatchNormalization/Mul/Add into Conv and Gemm, merge Transposes, drop Identity/Dropout);
    ``optimize=False`` keeps one operator per ONNX node.
    ``base_dir`` is where external weight data of a model given as bytes or a ModelProto lives
    (a path's own directory is used for a file); without it such a model may not use external data.
    Sizes are checked against ``rmodel.limits.current()`` before anything is allocated or folded.
    """
    if batch_size is not None and max_batch is not None:
        raise ShapeError("max_batch applies to dynamic-batch models only: pass batch_size=None with it")
    if batch_size is not None and (not isinstance(batch_size, (int, np.integer)) or int(batch_size) < 1):
        raise ShapeError(f"batch_size must be a positive integer or None (dynamic batch), got {batch_size!r}")
    sizes = batch_variants(max_batch) if batch_size is None else [int(batch_size)]
    source_model, default_name = read_onnx(source, base_dir=base_dir)
    loaded = []
    for size in sizes:
        model = ModelProto()
        model.CopyFrom(source_model)
        loaded.append(_load_graph(model, default_name, size, dim_values, input_shapes, name=name, optimize=optimize))
    if batch_size is not None:
        return loaded[0]
    return make_dynamic(loaded)


def _load_graph(
    model: ModelProto,
    default_name: str,
    batch_size: int,
    dim_values: Mapping[str, int] | None,
    input_shapes: Mapping[str, Sequence[int]] | None,
    *,
    name: str | None,
    optimize: bool,
) -> RModel:
    """The RModel of ``model`` (which this modifies) with the batch axis set to ``batch_size``."""
    lim = limits_module.current()
    opset = _default_opset(model)
    graph = model.graph
    check_graph(graph, f"model '{comment_text(name or default_name)}'")
    fuse_qdq(model)  # integer operators where onnxruntime runs a QDQ group as one
    inputs = _fix_input_shapes(model, int(batch_size), dict(dim_values or {}), dict(input_shapes or {}))
    for info in inputs:
        limits_module.check_shape(info.shape, f"input '{info.name}'", lim)

    constants: dict[str, np.ndarray] = {}
    weight_bytes = 0
    for init in graph.initializer:
        count = limits_module.check_shape(init.dims, f"initializer '{init.name}'", lim)
        weight_bytes += count * _itemsize(init.data_type)
        lim.check("the weights' size in bytes", weight_bytes, "max_weight_bytes", f"initializer '{init.name}'")
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
    fold_work = 0
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
            fold_work += _fold_work(node, values, node_name, lim, opset)
            lim.check("the total work of load-time folding", fold_work, "max_fold_work", f"node '{node_name}'")
            try:
                results = quantmath.fold(node, values) or _evaluate(node, values, model)
            except LimitExceededError:
                raise
            except Exception as exc:
                raise ModelLoadError(
                    f"node '{node_name}' ({node.op_type}) has only constant inputs but could not be "
                    f"evaluated at load time: {exc}"
                ) from exc
            for out_name, value in zip([o for o in node.output if o], results):
                value = np.require(value, requirements="C")  # (ascontiguousarray would make 0-d arrays 1-d)
                lim.check(
                    f"folded tensor '{out_name}' ({value.size:,} elements)",
                    value.size,
                    "max_fold_elements",
                    f"node '{node_name}' ({node.op_type})",
                )
                constants[out_name] = value
                tensors[out_name] = TensorInfo(out_name, value.dtype, value.shape)
            continue
        cls = REGISTRY.get(op_key)
        if cls is None:
            unsupported[op_key].append(node_name)
            unknown.update(o for o in node.output if o)
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        try:
            op, outs = build_operator(  # (op type domain::name outside the default domain)
                op_key, node_name, node.input, node.output, attrs, opset, tensors, constants, cls=cls
            )
        except RModelError:
            raise
        except Exception as exc:  # wrong arity, attribute types, ... of a damaged or forged node
            raise ModelLoadError(
                f"node '{comment_text(node_name)}' ({comment_text(node.op_type)}) is malformed and cannot be loaded "
                f"({type(exc).__name__}: {exc}); check the model against onnx.checker.check_model"
            ) from exc
        for out_name, out_info in zip(op.outputs, outs):
            if not out_name or out_info is None:
                continue
            limits_module.check_shape(out_info.shape, f"node '{node_name}' ({node.op_type}) output '{out_name}'", lim)
            tensors[out_name] = out_info
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
