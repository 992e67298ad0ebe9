"""Exceptions raised by rmodel. Every message says what went wrong, where, and what to do."""

from __future__ import annotations


class RModelError(Exception):
    """Base class of every error rmodel raises on purpose."""


class ModelLoadError(RModelError):
    """A model file or object could not be read (missing, corrupt, wrong format)."""


class UnsupportedOperatorError(RModelError):
    """The model uses operators (or layers) that rmodel cannot generate code for."""

    def __init__(self, message: str, unsupported: dict[str, list[str]]):
        super().__init__(message)
        #: op type -> names of the nodes using it
        self.unsupported = unsupported


class ShapeError(RModelError):
    """Shapes do not fit: a wrong input shape, or an operator whose inputs are incompatible."""


class DTypeError(RModelError):
    """A tensor has a data type that rmodel (or this operator) does not handle."""


class BuildError(RModelError):
    """The C++ compiler rejected generated code (this is a bug in rmodel: please report it)."""


class LimitExceededError(ModelLoadError):
    """A model asks for more than a documented limit allows (tensor size, arena, folding work,
    file size). The message names the limit, the value asked for, and how to raise the limit."""
