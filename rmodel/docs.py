"""Generated documentation, kept in sync by a test: the supported-operator and Keras-layer tables
in README.md, the ONNX backend test pass rates (from benchmarks/onnx_backend_nodes.json), and
source files quoted in CONTRIBUTING.md (``<!-- BEGIN file <path> -->``).

python -m rmodel.docs            # print the tables
python -m rmodel.docs --update   # rewrite the marked sections of README.md and CONTRIBUTING.md
python -m rmodel.docs --check    # exit 1 if one is out of date
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
#: the documents whose marked sections are generated
DOCUMENTS = (README, ROOT / "CONTRIBUTING.md")
_LANGUAGES = {".py": "python", ".cpp": "cpp", ".hpp": "cpp", ".h": "cpp", ".cmake": "cmake", ".sh": "bash"}


def operator_table() -> str:
    """Markdown table: operator family (module) -> ONNX op types, from the registry."""
    from .operators import REGISTRY

    families: dict[str, list[str]] = defaultdict(list)
    for op_type, cls in REGISTRY.items():
        # the module under operators/, or the package for operators in one (operators/conv/)
        families[cls.__module__.removeprefix("rmodel.operators.").split(".")[0]].append(op_type)
    lines = ["| module (`operators/`) | ONNX operators |", "|---|---|"]
    for module in sorted(families):
        package = hasattr(sys.modules[f"rmodel.operators.{module}"], "__path__")
        lines.append(f"| `{module}{'/' if package else '.py'}` | {', '.join(sorted(families[module]))} |")
    lines.append(
        f"\n{len(REGISTRY)} ONNX operators in all. Any other operator whose inputs are all constant is "
        "folded at load time, whatever its type."
    )
    return "\n".join(lines)


#: pass rates on the ONNX backend node test cases, written by benchmarks/onnx_backend_nodes.py
BACKEND_RESULTS = ROOT / "benchmarks" / "onnx_backend_nodes.json"


def backend_table(summary: dict | None = None) -> str:
    """Markdown: the ONNX backend node test cases per operator (``summary`` of
    benchmarks/onnx_backend_nodes.py; by default the one saved in BACKEND_RESULTS)."""
    if summary is None:
        summary = json.loads(BACKEND_RESULTS.read_text())["summary"]

    def row(name: str, c: dict) -> str:
        frozen = f" ({c['frozen']})" if c.get("frozen") else ""
        return (
            f"| {name} | {c.get('cases', 0)} | {c.get('passed', 0)}{frozen} | {c.get('refused', 0)} "
            f"| {c.get('failed', 0)} |"
        )

    header = ["| operator | cases | passed (frozen) | refused | failed |", "|---|---:|---:|---:|---:|"]
    totals, unsupported = summary["totals"], summary["unsupported"]
    failed = totals.get("failed", 0)
    lines = [
        f"With onnx {summary['onnx']}: **{totals.get('passed', 0)} of {totals.get('cases', 0)} cases pass** "
        f"({totals.get('frozen', 0)} of them with frozen arguments), {totals.get('refused', 0)} are refused by "
        f"design, {failed} fail{' (known bugs)' if failed else ''}; {unsupported['cases']} more cases test "
        f"{unsupported['operators']} operators rmodel does not implement. Refused, by reason: "
        + "; ".join(f"{reason} ({count})" for reason, count in summary["refusals"].items())
        + ".",
        "",
        "<details><summary>Per operator: cases, passed (of which frozen), refused, failed; † only through its ONNX "
        "function expansion</summary>",
        "",
        *header,
        *(row(op + ("†" if c.get("expanded_only") else ""), c) for op, c in summary["operators"].items()),
        row("**all**", totals),
        "",
        "</details>",
    ]
    return "\n".join(lines)


def _sections() -> dict[str, Callable[[], str]]:
    sections: dict[str, Callable[[], str]] = {"operators": operator_table}
    if BACKEND_RESULTS.is_file():
        sections["onnx-backend"] = backend_table
    try:
        from .keras import layer_table

        sections["keras-layers"] = layer_table
    except ImportError:
        pass
    return sections


def quoted_file(relative: str) -> str:
    """A repository file as a fenced code block."""
    path = (ROOT / relative).resolve()
    if ROOT not in path.parents or not path.is_file():
        raise SystemExit(f"rmodel.docs: '{relative}' is not a file of the repository")
    return f"```{_LANGUAGES.get(path.suffix, '')}\n{path.read_text().rstrip()}\n```"


def _filled(text: str, name: str, content: str) -> str:
    """``text`` with section ``name`` holding ``content``."""
    pattern = re.compile(rf"(<!-- BEGIN {name} -->\n)(?:.*?\n)?(<!-- END {name} -->)", re.S)
    return pattern.sub(lambda m: m.group(1) + content + "\n" + m.group(2), text)


def render(text: str) -> str:
    """``text`` with every ``<!-- BEGIN name -->...<!-- END name -->`` section regenerated."""
    for name, make in _sections().items():
        text = _filled(text, name, make())
    files = re.compile(r"(<!-- BEGIN file ([\w./-]+) -->\n)(?:.*?\n)?(<!-- END file \2 -->)", re.S)
    return files.sub(lambda m: m.group(1) + quoted_file(m.group(2)) + "\n" + m.group(3), text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--update", action="store_true", help="rewrite the generated sections in place")
    parser.add_argument("--check", action="store_true", help="exit 1 if a generated section is out of date")
    args = parser.parse_args(argv)
    documents = [d for d in DOCUMENTS if d.is_file()]
    if args.check:
        stale = [d for d in documents if render(d.read_text()) != d.read_text()]
        for document in stale:
            print(f"{document} is out of date: run `python -m rmodel.docs --update`")
        return 1 if stale else 0
    if args.update:
        for document in documents:
            document.write_text(render(document.read_text()))
        return 0
    for name, make in _sections().items():
        print(f"## {name}\n{make()}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
