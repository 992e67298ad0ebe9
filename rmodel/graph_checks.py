"""Structural checks of an ONNX graph before it is loaded: every tensor name defined once (SSA),
no duplicated graph inputs or outputs, names where ONNX requires them. What onnx's checker or
onnxruntime refuses, rmodel refuses too, with a message naming the tensor and the nodes."""

from __future__ import annotations

from collections import Counter

from onnx import GraphProto

from .errors import ModelLoadError
from .naming import comment_text


def _node_label(index: int, name: str, op_type: str) -> str:
    return f"node '{comment_text(name or f'#{index}')}' ({comment_text(op_type)})"


def check_graph(graph: GraphProto, where: str) -> None:
    """Raise ModelLoadError if ``graph`` is not a valid single-assignment ONNX graph."""
    _check_text(graph, where)
    problems: list[str] = []
    inputs = Counter(vi.name for vi in graph.input)
    initializers = Counter(t.name for t in graph.initializer)
    for kind, names in (
        ("graph input", inputs),
        ("graph output", Counter(vi.name for vi in graph.output)),
        ("initializer", initializers),
    ):
        for name, count in sorted(names.items()):
            if count > 1:
                problems.append(f"{kind} '{comment_text(name)}' is listed {count} times")
            if not name:
                problems.append(f"a {kind} has an empty name")
    defined: dict[str, str] = {name: "a graph input" for name in inputs}
    defined.update({name: "an initializer" for name in initializers})
    for index, node in enumerate(graph.node):
        label = _node_label(index, node.name, node.op_type)
        for out in node.output:
            if not out:
                continue
            if out in defined:
                problems.append(
                    f"{label} writes tensor '{comment_text(out)}', which is already {defined[out]}; "
                    "ONNX graphs assign every tensor once"
                )
            else:
                defined[out] = f"the output of {label}"
    if problems:
        shown = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
        raise ModelLoadError(f"{where}: the graph is not valid ONNX: {shown}")


def _check_text(graph: GraphProto, where: str) -> None:
    """Every name is text: protobuf hands out bytes for a string field that is not valid UTF-8."""
    fields: list[object] = [graph.name]
    fields += [vi.name for vi in [*graph.input, *graph.output, *graph.value_info]]
    fields += [
        dim.dim_param
        for vi in [*graph.input, *graph.output]
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.HasField("shape")
        for dim in vi.type.tensor_type.shape.dim
    ]
    fields += [t.name for t in graph.initializer]
    for node in graph.node:
        fields += [node.name, node.op_type, node.domain, *node.input, *node.output]
        fields += [a.name for a in node.attribute]
    bad = [f for f in fields if not isinstance(f, str)]
    if bad:
        raise ModelLoadError(
            f"{where}: {len(bad)} name(s) in the graph are not valid UTF-8 text (such as {bad[0]!r}); "
            "the file is damaged"
        )
