"""Emitters: assemble generated files (CPU header, Python binding, HLS project) from an RModel.

Emitters know the model's tensors, memory plan and operator order; the C++ of each operator comes
from the operator itself.
"""
