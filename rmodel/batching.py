"""Dynamic batch: one model compiled for several batch sizes, the batch a run-time argument.

A dynamic-batch RModel is the graph loaded at ``max_batch`` (its ``batch_size``) with the same
graph loaded at every smaller power of two in ``batch_variants``; the generated ``infer(n, ...)``
runs n samples through the largest kernel as often as it fits, then each smaller one at most once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .errors import ShapeError
from .naming import comment_text

if TYPE_CHECKING:
    from .model import RModel

#: the largest batch a dynamic-batch model's kernels are compiled for, unless max_batch says otherwise
DEFAULT_MAX_BATCH = 16
#: the most kernels (batch variants) a dynamic-batch model may hold
MAX_BATCH_LIMIT = 1 << 16


def batch_variants(max_batch: int | None) -> list[int]:
    """The batch sizes a dynamic-batch model is compiled for: ``max_batch`` and every smaller power
    of two, largest first. ``infer(n, ...)`` runs n samples greedily through the largest that fit."""
    top = DEFAULT_MAX_BATCH if max_batch is None else max_batch
    if not isinstance(top, (int, np.integer)) or isinstance(top, bool) or not 1 <= int(top) <= MAX_BATCH_LIMIT:
        raise ShapeError(f"max_batch must be an integer from 1 to {MAX_BATCH_LIMIT}, got {top!r}")
    top = int(top)
    sizes = [top]
    power = 1 << (top.bit_length() - 1)
    if power == top:
        power >>= 1
    while power >= 1:
        sizes.append(power)
        power >>= 1
    return sizes


def make_dynamic(variants: Sequence[RModel]) -> RModel:
    """One dynamic-batch RModel from the same graph loaded at several batch sizes (largest first).

    Every input and output must carry the batch on its first axis and agree between the variants
    on everything else, so that any number of samples can be split into batches of these sizes.
    """
    main = variants[0]
    for variant in variants:
        infos = [*variant.inputs, *variant.outputs]
        off = [i for i in infos if i.rank < 1 or i.shape[0] != variant.batch_size]
        if off or not variant.inputs:
            what = ", ".join(f"'{comment_text(i.name)}' {i.shape}" for i in off) or "the model has no inputs"
            raise ShapeError(
                f"model '{comment_text(main.name)}' cannot have a dynamic batch: loaded with batch size "
                f"{variant.batch_size}, not every input and output has the batch as its first axis ({what}); "
                "give a fixed batch_size instead"
            )
        for mine, theirs in zip(infos, [*main.inputs, *main.outputs]):
            if mine.name != theirs.name or mine.dtype != theirs.dtype or mine.shape[1:] != theirs.shape[1:]:
                raise ShapeError(
                    f"model '{comment_text(main.name)}' cannot have a dynamic batch: tensor "
                    f"'{comment_text(theirs.name)}' is {theirs.shape} at batch {main.batch_size} but "
                    f"{mine.shape} at batch {variant.batch_size}; give a fixed batch_size instead"
                )
    main.dynamic_batch = True
    main.batch_variants = list(variants[1:])
    return main


def batch_chunks(model: RModel, count: int) -> list[tuple[RModel, int]]:
    """How a dynamic-batch model's ``infer(count, ...)`` splits the samples: (kernel, first sample)
    pairs, the largest kernel as often as it fits, then each smaller one at most once."""
    kernels = [model, *model.batch_variants]
    chunks: list[tuple[RModel, int]] = []
    done = 0
    while count - done >= model.batch_size:
        chunks.append((model, done))
        done += model.batch_size
    for kernel in kernels[1:]:
        if count - done >= kernel.batch_size:
            chunks.append((kernel, done))
            done += kernel.batch_size
    return chunks
