"""Human-readable summary of an RModel: operators, shapes, parameters, FLOPs, memory."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .passes.memory import plan_memory

if TYPE_CHECKING:
    from .model import RModel


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape)) or "scalar"


def summary(model: RModel) -> str:

    rows = [("#", "node", "op", "inputs", "outputs", "params", "FLOPs")]
    for index, op in enumerate(model.operators):
        runtime = [
            _shape(i.shape) for n, i in zip(op.inputs, op.input_infos) if i is not None and n not in model.constants
        ]
        params = sum(model.constants[n].size for n in set(op.inputs) if n in model.constants)
        outs = [_shape(o.shape) for o in op.output_infos if o is not None]
        rows.append(
            (str(index), op.name, op.op_type, ", ".join(runtime), ", ".join(outs), f"{params:,}", f"{op.flops():,}")
        )
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    numeric = {0, 5, 6}

    def fmt(row: tuple[str, ...]) -> str:
        return "  ".join(
            cell.rjust(w) if c in numeric else cell.ljust(w) for c, (cell, w) in enumerate(zip(row, widths))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    plan = plan_memory(model)
    arena_bytes = sum(size * dtype.itemsize for dtype, size in plan.arena_sizes.items())
    weight_bytes = sum(v.nbytes for v in model.constants.values())
    lines = [
        f"model '{model.name}'  ({model.describe_batch()}, opset {model.opset})",
        "inputs:  " + ", ".join(str(i) for i in model.inputs),
        "outputs: " + ", ".join(str(o) for o in model.outputs),
        "",
        fmt(rows[0]),
        rule,
        *(fmt(r) for r in rows[1:]),
        rule,
        f"{len(model.operators)} operators, {model.parameter_count():,} parameters ({weight_bytes / 1024:.1f} KiB), "
        f"{model.flops():,} FLOPs per inference, scratch arena {arena_bytes / 1024:.1f} KiB",
    ]
    return "\n".join(lines)
