"""Generated documentation: the supported-operator table in README.md, kept in sync by a test.

python -m rmodel.docs            # print the tables
python -m rmodel.docs --update   # rewrite the marked sections of README.md
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def operator_table() -> str:
    """Markdown table: operator family (module) -> ONNX op types, from the registry."""
    from .operators import REGISTRY

    families: dict[str, list[str]] = defaultdict(list)
    for op_type, cls in REGISTRY.items():
        families[cls.__module__.rsplit(".", 1)[-1]].append(op_type)
    lines = ["| module (`operators/`) | ONNX operators |", "|---|---|"]
    for module in sorted(families):
        lines.append(f"| `{module}.py` | {', '.join(sorted(families[module]))} |")
    lines.append(
        f"\n{len(REGISTRY)} ONNX operators in all. Any other operator whose inputs are all constant is "
        "folded at load time, whatever its type."
    )
    return "\n".join(lines)


def _sections() -> dict[str, Callable[[], str]]:
    sections: dict[str, Callable[[], str]] = {"operators": operator_table}
    try:
        from .keras import layer_table  # type: ignore[attr-defined]

        sections["keras-layers"] = layer_table
    except ImportError:
        pass
    return sections


def render(text: str) -> str:
    """``text`` with every ``<!-- BEGIN name -->...<!-- END name -->`` section regenerated."""
    for name, make in _sections().items():
        pattern = re.compile(rf"(<!-- BEGIN {name} -->\n)(?:.*?\n)?(<!-- END {name} -->)", re.S)
        text = pattern.sub(lambda m, make=make: m.group(1) + make() + "\n" + m.group(2), text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--update", action="store_true", help=f"rewrite {README.name} in place")
    parser.add_argument("--check", action="store_true", help=f"exit 1 if {README.name} is out of date")
    args = parser.parse_args(argv)
    if args.check:
        current = README.read_text()
        if render(current) != current:
            print(f"{README} is out of date: run `python -m rmodel.docs --update`")
            return 1
        return 0
    if args.update:
        README.write_text(render(README.read_text()))
        return 0
    for name, make in _sections().items():
        print(f"## {name}\n{make()}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
