"""Packaging and docs stay in sync with the tree: every package is installed under `rmodel`, and the
generated README sections match the registries."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_directory_is_listed_in_pyproject():
    import warnings

    from setuptools.config.pyprojecttoml import read_configuration  # works on every supported Python

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = read_configuration(ROOT / "pyproject.toml")["tool"]["setuptools"]
    assert not config.get("package-dir"), "import paths must match file paths: no package-dir mapping"
    listed = set(config["packages"])
    # rmodel/operators and rmodel/emitters are links to the top-level folders: followed here
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "rmodel").glob("**/__init__.py")
        if "__pycache__" not in init.parts
    }
    for linked in ("operators", "emitters"):
        found |= {
            ".".join(("rmodel", *init.parent.relative_to(ROOT).parts)) for init in (ROOT / linked).rglob("__init__.py")
        }
    assert found == listed, f"pyproject packages differ from the tree: missing {found - listed}, extra {listed - found}"


def test_readme_generated_sections_are_current():
    """Checked in a fresh process: other tests register extra converters in this one."""
    run = subprocess.run([sys.executable, "-m", "rmodel.docs", "--check"], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    text = (ROOT / "README.md").read_text()
    assert "<!-- BEGIN operators -->\n|" in text and "<!-- BEGIN keras-layers -->\n|" in text


def test_readme_commands_exist():
    text = (ROOT / "README.md").read_text()
    assert "bash .ci/setup core && .venv/bin/rmodel convert examples/jet_tagger.keras" in text
    assert "bash .ci/run" in text
    assert (ROOT / "examples" / "jet_tagger.keras").is_file()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash .ci/setup" in ci and ".venv/bin/python -m pytest" in ci and "-n 2" in ci


def test_import_has_no_heavy_dependencies():
    """`import rmodel` must not pull in TensorFlow, Keras, onnxruntime or h5py."""
    code = "import sys, rmodel; print(sorted(m for m in ('tensorflow', 'keras', 'onnxruntime', 'h5py') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
