"""Timing helpers shared by the benchmark scripts (run them as `python benchmarks/<name>.py`)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np
import onnx
import onnxruntime as ort

from rmodel.verify import onnxruntime_session as reference_session


def per_call_seconds(fn: Callable, x: np.ndarray, calls: int, rounds: int = 7) -> float:
    """Median over ``rounds`` of the mean time of ``calls`` calls (after one warm-up call)."""
    fn(x)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            fn(x)
        times.append((time.perf_counter() - start) / calls)
    return statistics.median(times)


def onnxruntime_session(proto: onnx.ModelProto) -> ort.InferenceSession:
    """onnxruntime on the CPU with one thread, like the generated code (rmodel's reference session)."""
    return reference_session(proto)
