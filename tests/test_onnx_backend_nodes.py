"""The ONNX backend node test cases as a second oracle: every case whose operators rmodel loads is
compiled, run on the case's inputs and compared with the outputs onnx expects (criterion 1e-6, exact
for integers and booleans), or refused at load time with a clear rmodel error (a documented limit).

How cases are loaded, frozen and judged: ``tests/onnx_backend.py``. The pass rate per operator:
``python benchmarks/onnx_backend_nodes.py`` (README.md, "Supported operators"). About 1,180 cases,
840 of them compiled, 16 to a library: about a minute on 2 cores with a cold build cache
(``pytest -n 2``, 25 s warm), so slow; under ``-m "not slow"`` the cases are not even collected.
"""

from __future__ import annotations

import json
from collections import defaultdict

import onnx
import onnx_backend
import pytest
from _pytest.mark.expression import Expression

from rmodel.docs import BACKEND_RESULTS

pytestmark = pytest.mark.slow

#: Cases whose expected outputs are not what onnxruntime computes: rmodel is compared with
#: onnxruntime on the case's inputs instead (the same criterion). Case -> why.
ONNXRUNTIME_REFERENCE = {
    # onnx/backend/test/case/node/averagepool.py writes these expected outputs with 4 decimals
    # (0.1511, 0.2841, 0.3572), which the case's own rtol 1e-3 accepts and 1e-6 does not; rmodel's
    # outputs are onnxruntime's (0.15105554, 0.2840444, 0.35722223) to the bit.
    "test_averagepool_2d_ceil_last_window_starts_on_pad": "expected outputs rounded to 4 decimals",
    # align_corners maps x_out * (in - 1) / (out - 1); onnx's reference takes the output length
    # unrounded (4 * 0.6 = 2.4) and expects 3.142857, onnxruntime (and rmodel) the output size 2: 4.
    "test_resize_downsample_scales_linear_align_corners": "onnx's reference uses the unrounded output length",
}

#: Genuine bugs found by these cases and not yet fixed: case -> where and why (none today). The
#: test fails when a listed case passes (remove it from the list) and when an unlisted case fails.
EXPECTED_FAILURES: dict[str, str] = {}


def _slow_tests_deselected(config: pytest.Config) -> bool:
    """True under ``-m "not slow"`` (and the like): then the 1,300 cases are not even collected."""
    expression = config.getoption("markexpr") or ""
    try:
        return bool(expression) and not Expression.compile(expression).evaluate(lambda mark: mark == "slow")
    except Exception:  # another pytest: collect them
        return False


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "case_name" in metafunc.fixturenames:
        names = ["(deselected)"] if _slow_tests_deselected(metafunc.config) else onnx_backend.in_scope()
        metafunc.parametrize("case_name", names)


def test_case(case_name):
    outcome = onnx_backend.outcome(case_name, frozenset(ONNXRUNTIME_REFERENCE))
    if case_name in EXPECTED_FAILURES:
        if outcome.status == "failed":
            pytest.xfail(EXPECTED_FAILURES[case_name])
        pytest.fail(f"'{case_name}' is listed in EXPECTED_FAILURES but it {outcome.status}: remove it from the list")
    assert outcome.status in ("passed", "refused"), (
        f"{case_name} ({outcome.operator}) {outcome.reason}: {outcome.detail}"
    )


def test_the_lists_name_cases_in_scope():
    names = set(onnx_backend.in_scope())
    assert set(EXPECTED_FAILURES) <= names, set(EXPECTED_FAILURES) - names
    assert set(ONNXRUNTIME_REFERENCE) <= names, set(ONNXRUNTIME_REFERENCE) - names
    assert not set(EXPECTED_FAILURES) & set(ONNXRUNTIME_REFERENCE)


def test_the_saved_pass_rates_are_current():
    """benchmarks/onnx_backend_nodes.json (and so README.md) says what these tests find: which cases
    pass, which are refused and why, which fail; with the per-case tests passing, that is the truth."""
    saved = json.loads(BACKEND_RESULTS.read_text())
    rerun = "run `python benchmarks/onnx_backend_nodes.py` and `python -m rmodel.docs --update`"
    assert saved["summary"]["onnx"] == onnx.__version__, rerun
    runnable = {name for chunk in onnx_backend.chunks() for name in chunk}
    refused = defaultdict(set)
    for name in onnx_backend.in_scope():
        outcome = onnx_backend.prepare(name).outcome
        if outcome.status == "refused":
            refused[outcome.reason].add(name)
    cases = saved["cases"]
    assert set(cases["passed"]) == runnable - set(EXPECTED_FAILURES), rerun
    assert {reason: set(names) for reason, names in cases["refused"].items()} == refused, rerun
    assert set(cases["failed"]) == set(EXPECTED_FAILURES), rerun
