"""The README's two quick-start commands, run as a new user would: in a fresh clone, with the
distribution's own Python first on PATH (Debian's /usr/bin/python3, which refuses `pip install`
outside a virtual environment: PEP 668), and no virtual environment active.

The test command is the real `bash .ci/run`, given a small test selection (it passes its arguments
to pytest) so that it does not run this whole suite again inside itself. A non-editable install of
the package under its distribution name is checked the same way.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STOCK_PYTHON = Path("/usr/bin/python3")


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Quick start.*?```bash\n(.*?)```", text, re.S)
    assert block, "README.md has no quick-start bash block"
    commands = [line for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]
    assert len(commands) == 2, commands
    return commands


def _stock_env(tmp_path: Path) -> dict[str, str]:
    """PATH with the distribution's python3 first, as on a stock Debian/Ubuntu machine."""
    assert STOCK_PYTHON.is_file(), "this test needs the distribution's python3 (.ci/setup installs it)"
    marker = subprocess.run(
        [str(STOCK_PYTHON), "-c", "import sysconfig; print(sysconfig.get_path('stdlib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert (Path(marker) / "EXTERNALLY-MANAGED").is_file(), "the stock python3 should carry the PEP 668 marker"
    bin_dir = tmp_path / "stock-bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(STOCK_PYTHON)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "CONDA_PREFIX")}
    env["PATH"] = f"{bin_dir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    env["RMODEL_CACHE_DIR"] = str(tmp_path / "cache")
    return env


def _fresh_clone(tmp_path: Path) -> Path:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    return clone


@pytest.mark.slow
def test_main_job_command_on_a_stock_python(tmp_path):
    env = _stock_env(tmp_path)
    # pip refuses to install into the stock interpreter: the reason for the virtual environment
    refused = subprocess.run(
        ["python3", "-m", "pip", "install", "--dry-run", "numpy"], env=env, capture_output=True, text=True
    )
    assert refused.returncode != 0 and "externally-managed-environment" in refused.stdout + refused.stderr
    clone = _fresh_clone(tmp_path)
    main_job = _readme_commands()[0]
    run = subprocess.run(["bash", "-c", main_job], cwd=clone, env=env, capture_output=True, text=True, timeout=1500)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert (clone / "build" / "jet_tagger.hxx").is_file()
    # 3 numbers, then rmodel's and onnxruntime's errors against float64 ('-' for its basic level: not needed)
    assert re.search(r"output_softmax(\s+\S+){6}\s+ok\n", run.stdout), run.stdout
    # only the core and onnxruntime: no TensorFlow, no test tools in the main job's environment
    installed = subprocess.run(
        [str(clone / ".venv/bin/python"), "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True
    ).stdout.lower()
    assert "rmodel-codegen" in installed and "onnxruntime" in installed
    assert "tensorflow" not in installed and "pytest" not in installed


@pytest.mark.slow
def test_test_command_on_a_stock_python(tmp_path):
    env = _stock_env(tmp_path)
    clone = _fresh_clone(tmp_path)
    test_command = _readme_commands()[1]
    assert test_command.strip() == "bash .ci/run"
    selection = ["tests/test_cli.py", "tests/test_predict_many.py", "-k", "version or any_number and mlp and ctypes"]
    run = subprocess.run(
        ["bash", ".ci/run", *selection], cwd=clone, env=env, capture_output=True, text=True, timeout=2400
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert re.search(r"\b\d+ passed\b", run.stdout) and " failed" not in run.stdout, run.stdout[-2000:]


@pytest.mark.slow
def test_non_editable_install_under_its_distribution_name(tmp_path):
    env = _stock_env(tmp_path)
    clone = _fresh_clone(tmp_path)
    venv = tmp_path / "venv"
    subprocess.run(["python3", "-m", "venv", str(venv)], env=env, check=True)
    install = subprocess.run(
        [str(venv / "bin/pip"), "install", "--disable-pip-version-check", str(clone)],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    show = subprocess.run([str(venv / "bin/pip"), "show", "rmodel-codegen"], capture_output=True, text=True, env=env)
    assert show.returncode == 0 and "Name: rmodel-codegen" in show.stdout
    # from the repository root the checkout's rmodel/ shadows the installed package: it must still work
    for cwd in (clone, tmp_path):
        run = subprocess.run(
            [str(venv / "bin/python"), "-m", "rmodel", "convert", str(clone / "examples/jet_tagger.keras"),
             "-o", str(tmp_path / "out.hxx"), "-q"],
            cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert run.returncode == 0, (cwd, run.stderr[-2000:])
    shutil.rmtree(venv)
