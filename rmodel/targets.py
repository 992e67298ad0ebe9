"""Code-generation targets, looked up by name: ``RModel.generate/compile/verify(target=...)``.

A target package registers itself when it is imported (``rmodel.emitters`` imports them all), so
the IR never imports an emitter: ``rmodel.emitters.cpu`` and ``rmodel.emitters.hls`` each define
a ``Target`` and call ``register_target``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Protocol

from .errors import RModelError
from .registry import Registry

if TYPE_CHECKING:
    from .model import RModel


class Target(Protocol):
    """What a target provides. ``generate`` writes files and returns the main generated source."""

    name: str

    def generate(self, model: RModel, path: str | os.PathLike | None, **options: Any) -> str: ...

    def compile(self, model: RModel, **options: Any) -> Any: ...

    def verify(self, model: RModel, **options: Any) -> Any: ...

    def report(self, model: RModel, **options: Any) -> str: ...


_TARGETS: Registry[Target] = Registry("code-generation target")


def register_target(target: Target) -> Target:
    return _TARGETS.add(target.name, target)


def get_target(name: str) -> Target:
    if name not in _TARGETS:
        known = ", ".join(f"'{n}'" for n in sorted(_TARGETS)) or "none (import rmodel registers them)"
        raise RModelError(f"unknown target '{name}'; choose {known}")
    return _TARGETS[name]


def target_names() -> list[str]:
    return sorted(_TARGETS)
