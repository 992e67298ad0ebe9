"""The operator tests again, with every generated model built under AddressSanitizer and
UndefinedBehaviorSanitizer (-fno-sanitize-recover: the first finding aborts the run). Covers out of
bounds reads/writes, signed overflow, misaligned access, bad shifts, ... in the C++ of every
operator family, on the inputs of its tests plus the special values and integer extremes of
tests/test_special_values.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: longest first (they are started first: see LONG_FIRST in conftest.py)
OPERATOR_TESTS = [
    "test_conv_pool.py",
    "test_recurrent.py",
    "test_special_values.py",
    "test_tensor_ops.py",
    "test_softmax_norm_reduce.py",
    "test_gemm.py",
    "test_elementwise.py",
]


def _runtime(name: str) -> str:
    path = subprocess.run(
        ["g++", f"-print-file-name={name}"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert os.path.isabs(path), f"g++ has no {name}: install the compiler's sanitizer runtime (libasan, libubsan)"
    return path


@pytest.mark.slow
@pytest.mark.parametrize("test_file", OPERATOR_TESTS)
def test_operator_tests_pass_under_asan_and_ubsan(test_file, tmp_path):
    env = {
        **os.environ,
        "RMODEL_TEST_SANITIZE": "1",
        # the sanitizer runtimes must come first into a Python process that loads the models
        "LD_PRELOAD": f"{_runtime('libasan.so')}:{_runtime('libubsan.so')}",
        "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1",
        "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
        "RMODEL_CACHE_DIR": str(tmp_path / "cache"),
    }
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-n", "0", f"tests/{test_file}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    output = run.stdout[-4000:] + run.stderr[-4000:]
    assert run.returncode == 0, output
    assert "runtime error" not in run.stderr and "AddressSanitizer" not in run.stderr, output
    assert " passed" in run.stdout and " failed" not in run.stdout, output
