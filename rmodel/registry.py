"""The one kind of registry: a name -> implementation map filled by a decorator.

Used for ONNX operators (``rmodel.operators.REGISTRY``), their HLS implementations
(``rmodel.operators.hls.HLS_REGISTRY``), Keras layer converters (``rmodel.keras.registry``) and
code-generation targets (``rmodel.targets``). Registering a name twice is an error unless asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Registry(dict[str, T]):
    """``registry.register("A", "B")`` is a decorator adding the decorated object under each name."""

    def __init__(self, what: str):
        super().__init__()
        #: what the entries are, for error messages ("operator", "HLS implementation", ...)
        self.what = what

    def add(self, name: str, item: T, *, replace: bool = False) -> T:
        if name in self and not replace:
            raise ValueError(f"a {self.what} for '{name}' exists already ({self[name]!r}); pass replace=True")
        self[name] = item
        return item

    def register(self, *names: str) -> Callable[[T], T]:
        def wrap(item: T) -> T:
            for name in names:
                self.add(name, item)
            return item

        return wrap
