"""A picture of a model: its operator graph (shapes, parameters, FLOPs per operator) beside the
scratch arena's memory plan over time. ``rmodel inspect MODEL --graph out.svg`` (or ``.png``);
needs matplotlib (``pip install rmodel-codegen[graph]``)."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from .errors import RModelError
from .fileio import write_atomic
from .model import RModel
from .passes.memory import plan_memory

SUFFIXES = (".svg", ".png", ".pdf")


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise RModelError("drawing the graph needs matplotlib: pip install rmodel-codegen[graph]") from exc
    return plt


def _shape(info: Any) -> str:
    return "x".join(map(str, info.shape)) or "scalar"


def _lanes(model: RModel) -> list[int]:
    """A column per operator: an operator goes in its first input producer's column unless an
    operator already claimed that column's continuation (then the next free column)."""
    producer = {o: i for i, op in enumerate(model.operators) for o in op.outputs if o}
    lanes: list[int] = []
    continued: set[tuple[int, int]] = set()  # (lane, producer index) already continued
    for index, op in enumerate(model.operators):
        sources = [producer[n] for n in op.inputs if n in producer]
        lane = None
        for src in sources:
            if (lanes[src], src) not in continued:
                lane = lanes[src]
                continued.add((lane, src))
                break
        if lane is None:
            busy = {lanes[s] for s in sources}
            lane = 0 if not sources else max(busy) + 1
            while any(lanes[k] == lane and k > max(sources, default=-1) for k in range(index)):
                lane += 1
        lanes.append(lane)
    return lanes


def lifetimes(model: RModel) -> dict[str, tuple[int, int]]:
    """(first, last) operator index at which each arena tensor is alive."""
    spans: dict[str, list[int]] = {}
    for index, op in enumerate(model.operators):
        for name in [*op.inputs, *op.outputs]:
            if name:
                spans.setdefault(name, [index, index])[1] = index
    return {name: (first, last) for name, (first, last) in spans.items()}


def draw(model: RModel, path: str | os.PathLike) -> Path:
    """Write the picture to ``path`` (.svg, .png or .pdf) and return the path."""
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise RModelError(f"--graph writes {', '.join(SUFFIXES)} files, not '{path.suffix or path.name}'")
    plt = _pyplot()
    ops = model.operators
    count = max(len(ops), 1)
    lanes = _lanes(model)
    plan = plan_memory(model)
    height = min(max(4.0, 0.55 * count + 1.5), 120.0)
    fig, (graph_ax, memory_ax) = plt.subplots(
        1, 2, figsize=(15, height), gridspec_kw={"width_ratios": [3, 2]}, constrained_layout=True
    )
    # ---- operator graph: one box per operator, top to bottom in execution order
    producer = {o: i for i, op in enumerate(ops) for o in op.outputs if o}
    input_x = {info.name: k * 3.2 for k, info in enumerate(model.inputs)}
    for index, op in enumerate(ops):
        x, y = lanes[index] * 3.2, -index
        outs = [model.tensors[o] for o in op.outputs if o in model.tensors]
        params = sum(int(np.size(model.constants[n])) for n in op.inputs if n in model.constants)
        text = (
            f"[{index}] {op.name[:28]}  ({op.op_type})\n"
            f"-> {', '.join(_shape(o) for o in outs)[:40]}   {params:,} params   {op.flops():,} FLOPs"
        )
        graph_ax.text(
            x, y, text, ha="center", va="center", fontsize=7, family="monospace",
            bbox={"boxstyle": "round,pad=0.3", "facecolor": "#dce9f7", "edgecolor": "#4a6fa5"},
        )  # fmt: skip
        for name in op.inputs:
            if name in input_x:
                graph_ax.annotate(
                    "", xy=(x, y + 0.3), xytext=(input_x[name], 0.9),
                    arrowprops={"arrowstyle": "->", "color": "#4a8a4a", "lw": 0.8},
                )  # fmt: skip
            if name in producer:
                src = producer[name]
                graph_ax.annotate(
                    "", xy=(x, y + 0.3), xytext=(lanes[src] * 3.2, -src - 0.3),
                    arrowprops={"arrowstyle": "->", "color": "#4a6fa5", "lw": 0.8},
                )  # fmt: skip
    for k, info in enumerate(model.inputs):
        graph_ax.text(
            k * 3.2, 1.1, f"input {info.name[:24]}: {_shape(info)}", ha="center", fontsize=7, family="monospace",
            bbox={"boxstyle": "round,pad=0.3", "facecolor": "#e6f4e6", "edgecolor": "#4a8a4a"},
        )  # fmt: skip
    width = max([*lanes, len(model.inputs) - 1], default=0) * 3.2
    graph_ax.set_xlim(-2.6, width + 2.6)
    graph_ax.set_ylim(-count, 1.8)
    graph_ax.axis("off")
    graph_ax.set_title(
        f"{model.name}: {len(ops)} operators, {model.parameter_count():,} parameters, "
        f"{model.flops():,} FLOPs per inference (batch {model.batch_size}{', dynamic' if model.dynamic_batch else ''})",
        fontsize=9,
    )
    # ---- memory plan: each arena tensor as a bar over the operators during which it is alive
    spans = lifetimes(model)
    colors = plt.get_cmap("tab20")
    total = 0
    for k, (name, (dtype, offset)) in enumerate(sorted(plan.offsets.items(), key=lambda kv: kv[1][1])):
        first, last = spans.get(name, (0, 0))
        size = model.tensors[name].size * np.dtype(dtype).itemsize
        start = offset * np.dtype(dtype).itemsize
        total = max(total, start + size)
        memory_ax.add_patch(
            plt.Rectangle(
                (first - 0.4, start / 1024), last - first + 0.8, size / 1024,
                facecolor=colors(k % 20), edgecolor="black", lw=0.4,
            )
        )  # fmt: skip
        memory_ax.text(first - 0.3, (start + size / 2) / 1024, name[:20], fontsize=6, va="center")
    memory_ax.set_xlim(-1, count)
    memory_ax.set_ylim(0, max(total / 1024, 0.001) * 1.05)
    memory_ax.set_xlabel("operator index (execution order)")
    memory_ax.set_ylabel("arena offset (KiB)")
    memory_ax.set_title(
        f"scratch arena: {sum(s * np.dtype(d).itemsize for d, s in plan.arena_sizes.items()) / 1024:.1f} KiB "
        "(tensors alive at the same time never overlap)",
        fontsize=9,
    )
    buffer = io.BytesIO()
    fig.savefig(buffer, format=path.suffix.lower()[1:], dpi=110)
    plt.close(fig)
    write_atomic(path, buffer.getvalue())
    return path
