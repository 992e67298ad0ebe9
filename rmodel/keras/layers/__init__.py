"""Built-in converters from Keras layers to ONNX, one module per layer family."""

from . import attention, conv, core, merge, recurrent  # noqa: F401

__all__ = ["attention", "conv", "core", "merge", "recurrent"]
