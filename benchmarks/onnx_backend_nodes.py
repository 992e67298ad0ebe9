"""Pass rate of rmodel on the ONNX backend node test cases, per operator.

    python benchmarks/onnx_backend_nodes.py [--jobs N] [--only SUBSTRING] [--json PATH]

Runs every case of ``onnx.backend.test.case.node`` whose operators rmodel loads (see
``tests/onnx_backend.py``: how cases are run, frozen and judged) and prints a table per operator:
cases, passed (of which with run-time arguments turned into constants), refused by design, failed.
Cases using operators rmodel does not support are counted in one line. Writes the outcome of every
case as JSON next to this file (``onnx_backend_nodes.json``); ``python -m rmodel.docs --update``
puts the summary table into README.md. ``pytest tests/test_onnx_backend_nodes.py`` is the test.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import onnx  # noqa: E402
import onnx_backend  # noqa: E402
from test_onnx_backend_nodes import EXPECTED_FAILURES, ONNXRUNTIME_REFERENCE  # noqa: E402

from rmodel.docs import backend_table  # noqa: E402
from rmodel.operators import REGISTRY  # noqa: E402


def summarize(outcomes: list[onnx_backend.Outcome]) -> dict:
    """Per-operator counts of the in-scope cases, refusal categories, and the unsupported cases."""
    table: dict[str, Counter] = defaultdict(Counter)
    refusals: Counter = Counter()
    unsupported: Counter = Counter()
    for o in outcomes:
        if o.status == "unsupported":
            unsupported[o.operator] += 1
            continue
        table[o.operator]["cases"] += 1
        table[o.operator][o.status] += 1
        if o.status == "passed" and o.frozen:
            table[o.operator]["frozen"] += 1
        if o.status == "refused":
            refusals[o.reason] += 1
    totals: Counter = Counter()
    for counts in table.values():
        totals.update({k: v for k, v in counts.items() if k != "expanded_only"})
    for op, counts in table.items():
        if op not in REGISTRY:
            counts["expanded_only"] = 1
    return {
        "operators": {op: dict(table[op]) for op in sorted(table)},
        "totals": dict(totals),
        "refusals": dict(refusals.most_common()),
        "unsupported": {"cases": sum(unsupported.values()), "operators": len(unsupported)},
    }


def to_json(summary: dict, outcomes: list[onnx_backend.Outcome]) -> str:
    """The summary, then the cases by outcome: passed, refused per reason, failed with what failed,
    the inputs frozen per case; cases of unsupported operators only counted."""
    cases: dict = {"passed": [], "refused": defaultdict(list), "failed": {}, "frozen": {}}
    for o in outcomes:
        if o.status == "passed":
            cases["passed"].append(o.name)
        elif o.status == "refused":
            cases["refused"][o.reason].append(o.name)
        elif o.status == "failed":
            cases["failed"][o.name] = f"{o.reason}: {o.detail[:300]}"
        if o.frozen and o.status != "unsupported":
            cases["frozen"][o.name] = o.frozen
    return json.dumps({"summary": summary, "cases": cases}, indent=1) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2, help="cases compiled at once (default 2)")
    parser.add_argument("--only", default="", help="run only cases whose name contains this")
    parser.add_argument("--json", default=str(Path(__file__).with_suffix(".json")), help="where to write the JSON")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    reference = frozenset(ONNXRUNTIME_REFERENCE)
    selected = [chunk for chunk in onnx_backend.chunks() if any(args.only in name for name in chunk)]
    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(lambda chunk: onnx_backend.run_chunk(chunk, reference), selected))
    outcomes = [onnx_backend.outcome(name, reference) for name in onnx_backend.cases() if args.only in name]
    summary = summarize(outcomes)
    summary["onnx"] = onnx.__version__
    print(backend_table(summary))
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        print(f"\nFailed ({len(failed)}):")
        for o in failed:
            known = f" (expected: {EXPECTED_FAILURES[o.name]})" if o.name in EXPECTED_FAILURES else ""
            print(f"  {o.name} [{o.operator}] {o.reason}{known}: {o.detail[:300]}")
    print(f"\n{len(outcomes)} cases in {time.perf_counter() - start:.0f} s")
    if not args.only:
        Path(args.json).write_text(to_json(summary, outcomes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
