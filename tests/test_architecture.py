"""The tree reads as it imports: module names match file paths, a checkout imports with
``PYTHONPATH=.`` alone, and no two modules import each other (not even from inside a function)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: rmodel/operators and rmodel/emitters are links to these top-level folders
LINKED = ("operators", "emitters")


def _module_files() -> dict[str, Path]:
    """Every rmodel module and the file it is read from, walking the links once."""
    files: dict[str, Path] = {}
    for path in sorted(ROOT.joinpath("rmodel").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if len(parts) > 1 and parts[1] in LINKED:
            continue
        files[".".join(parts).removesuffix(".__init__")] = path
    for top in LINKED:
        for path in sorted(ROOT.joinpath(top).rglob("*.py")):
            parts = ("rmodel", *path.relative_to(ROOT).with_suffix("").parts)
            files[".".join(parts).removesuffix(".__init__")] = path
    return files


def _imports(module: str, path: Path, known: set[str]) -> set[str]:
    """rmodel modules ``module`` imports anywhere (function bodies included, TYPE_CHECKING blocks not)."""
    tree = ast.parse(path.read_text())
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.ImportFrom):
                base = package[: len(package) - child.level + 1] if child.level else []
                target = ".".join([*base, *([child.module] if child.module else [])])
                for alias in child.names:
                    name = f"{target}.{alias.name}"
                    found.add(name if name in known else target)
            elif isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            visit(child)

    visit(tree)
    return {name for name in found if name in known and name != module}


def test_a_checkout_imports_every_module_with_pythonpath_alone(tmp_path):
    """In a fresh process whose only path to rmodel is the checkout: every module imports, and
    each one's __file__ is the file its name points to (no mapping, no path tricks)."""
    code = (
        "import importlib, json, sys\n"
        f"names = {sorted(n for n in _module_files() if not n.endswith('__main__'))!r}\n"
        "out = {}\n"
        "for n in names:\n"
        "    out[n] = importlib.import_module(n).__file__\n"
        "print(json.dumps(out))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    for name, file in json.loads(proc.stdout).items():
        expected = ROOT.joinpath(*name.split("."))
        assert Path(file) in (expected.with_suffix(".py"), expected / "__init__.py"), (name, file)


def test_no_import_cycles():
    files = _module_files()
    assert "rmodel.operators.conv" in files and "rmodel.emitters.hls.csim" in files
    known = set(files)
    graph = {name: _imports(name, path, known) for name, path in files.items()}
    # a module that imports rmodel.a.b depends on rmodel.a too, except on its own ancestors
    for name in graph:
        for target in list(graph[name]):
            parts = target.split(".")
            for k in range(2, len(parts)):
                parent = ".".join(parts[:k])
                if parent in known and not name.startswith(parent + "."):
                    graph[name].add(parent)
    cycles = _cycles(graph)
    assert not cycles, "modules that import each other: " + "; ".join(" -> ".join(sorted(c)) for c in cycles)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            step = next(edges, None)
            if step is not None:
                if step not in index:
                    index[step] = low[step] = len(index)
                    stack.append(step)
                    on_stack.add(step)
                    work.append((step, iter(sorted(graph[step]))))
                elif step in on_stack:
                    low[node] = min(low[node], index[step])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def test_cycle_finder_finds_a_cycle():
    assert [sorted(c) for c in _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})] == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_targets_are_registered_by_import_rmodel():
    from rmodel.targets import target_names

    assert target_names() == ["cpu", "hls"]


# ---- operators: state decided by infer() lives in a frozen plan ------------------------------

#: methods that may give an operator its fields (everything after them reads only)
_FIELD_SETTERS = {"__init__", "setup"}


def _self_assignments(path: Path) -> list[str]:
    """'Class.method: self.x' for every assignment to an attribute of self outside __init__/setup."""
    found = []
    for cls in ast.walk(ast.parse(path.read_text())):
        if not isinstance(cls, ast.ClassDef):
            continue
        for method in cls.body:
            if not isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)) or method.name in _FIELD_SETTERS:
                continue
            for node in ast.walk(method):
                targets = (
                    node.targets
                    if isinstance(node, ast.Assign)
                    else [node.target]
                    if isinstance(node, (ast.AugAssign, ast.AnnAssign))
                    else []
                )
                for target in targets:
                    for leaf in ast.walk(target):
                        if (
                            isinstance(leaf, ast.Attribute)
                            and isinstance(leaf.value, ast.Name)
                            and leaf.value.id == "self"
                            and isinstance(leaf.ctx, ast.Store)
                        ):
                            found.append(f"{path.name}:{node.lineno} {cls.name}.{method.name}: self.{leaf.attr}")
    return found


def test_operators_set_fields_only_in_setup():
    """infer(), emit_cpu(), flops(), workspace() and the HLS implementations never set attributes:
    what infer() decides is returned in its plan (the base class's run_inference excepted)."""
    found = []
    for path in sorted(ROOT.joinpath("operators").rglob("*.py")):
        found += [f for f in _self_assignments(path) if not f.startswith("base.py")]
    assert not found, "\n".join(found)


def test_an_operator_refuses_attributes_after_setup():
    import numpy as np

    from rmodel.operators.base import NO_PLAN, Operator, ShapeContext
    from rmodel.tensor import TensorInfo

    class Stateful(Operator):
        def infer(self, ctx):
            self.extent = 4  # what the plan is for
            return self.inferred([self.out(0, np.float32, (4,))], NO_PLAN)

    op = Stateful("Relu", "n", ["x"], ["y"], {}, 13)
    try:
        op.run_inference(ShapeContext({"x": TensorInfo("x", np.dtype(np.float32), (4,))}, {}))
    except AttributeError as exc:
        assert "Stateful.extent" in str(exc) and "plan" in str(exc)
    else:
        raise AssertionError("an operator accepted an attribute set in infer()")


def test_plans_are_frozen():
    import dataclasses

    from rmodel.operators import REGISTRY  # noqa: F401  (registers every operator)
    from rmodel.operators.base import Plan

    plans = [cls for cls in _all_subclasses(Plan)]
    assert len(plans) > 10
    for cls in plans:
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen, cls  # type: ignore[attr-defined]


def _all_subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *_all_subclasses(sub)]
    return out


def test_one_place_builds_onnxruntime_sessions():
    """Every comparison runs onnxruntime the same way (CPU, one thread, quiet): through
    rmodel.verify.onnxruntime_session, the only code that constructs an InferenceSession."""
    folders = ("rmodel", *LINKED, "tests", "benchmarks", "examples")
    paths = {p.resolve() for top in folders for p in ROOT.joinpath(top).rglob("*.py")}
    call = "InferenceSession" + "("  # (not written whole, so this file does not find itself)
    found = [
        p.relative_to(ROOT).as_posix()
        for p in sorted(paths)
        if call in p.read_text() and p != ROOT / "rmodel" / "verify.py"
    ]
    assert not found, f"build sessions with rmodel.verify.onnxruntime_session instead: {found}"
