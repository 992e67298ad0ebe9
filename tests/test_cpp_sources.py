"""The fixed C++ shipped with rmodel (operators/cpp, operators/hls/cpp, emitters/*/cpp): every file
compiles on its own, is clang-formatted (as are cpp_tests/), ships in the wheel, and is read only
through well-formed regions (rmodel/cpp_sources.py). No fixed C++ is left in Python constants.
"""

from __future__ import annotations

import ast
import fnmatch
import re
import shutil
import subprocess
import sysconfig
import warnings
from pathlib import Path

import numpy as np
import pybind11
import pytest

from rmodel.build import compiler
from rmodel.cpp_sources import cpp_source, select_sections
from rmodel.operators.conv import DEPTHWISE_FLAT_TILE
from rmodel.operators.kernels import GEMM_NR

ROOT = Path(__file__).resolve().parents[1]
#: folder of fixed C++ -> the package it belongs to
CPP_DIRS = {
    "operators/cpp": "rmodel.operators",
    "emitters/cpu/cpp": "rmodel.emitters.cpu",
    "emitters/hls/cpp": "rmodel.emitters.hls",
}
SOURCES = sorted(path for folder in CPP_DIRS for path in (ROOT / folder).iterdir() if path.is_file())
CPP_TESTS = sorted([*(ROOT / "cpp_tests").glob("*.cpp"), *(ROOT / "cpp_tests").glob("*.hpp")])
MARKER = re.compile(r"^// rmodel:(begin|end) (\w+)$", re.MULTILINE)


def _name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _package_and_file(path: Path) -> tuple[str, str]:
    return CPP_DIRS[path.parent.relative_to(ROOT).as_posix()], path.name


def _region_names(path: Path) -> list[str]:
    return [name for kind, name in MARKER.findall(path.read_text()) if kind == "begin"]


def _clang_format() -> str:
    """The binary of the clang-format wheel (a test dependency), else one on PATH."""
    try:
        import clang_format

        return clang_format.get_executable("clang-format")
    except ImportError:
        found = shutil.which("clang-format")
        assert found, "clang-format is missing: pip install 'clang-format>=18' (part of the test extra)"
        return found


def test_the_cpp_folders_hold_sources():
    assert len(SOURCES) >= 10 and all(p.suffix in (".h", ".hpp", ".cpp") for p in SOURCES)


@pytest.mark.parametrize("path", SOURCES + CPP_TESTS, ids=_name)
def test_clang_format_is_clean(path: Path) -> None:
    proc = subprocess.run(
        [_clang_format(), "--dry-run", "--Werror", "--style=file", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, f"run clang-format -i {_name(path)}:\n{proc.stderr[:3000]}"


@pytest.mark.parametrize("path", SOURCES, ids=_name)
def test_compiles_on_its_own(path: Path) -> None:
    """A header in a translation unit of its own, a .cpp as it is. HLS code is also C++14 (as the
    firmware) and carries pragmas that only Vitis HLS knows."""
    hls = "hls" in path.relative_to(ROOT).parts
    flags = ["-fsyntax-only", "-Wall", "-Wextra", "-Werror", *(["-Wno-unknown-pragmas"] if hls else [])]
    if path.name == "pybind_runner.cpp":
        flags += [f"-I{d}" for d in (pybind11.get_include(), np.get_include(), sysconfig.get_paths()["include"])]
    unit = ["-x", "c++", "-"] if path.suffix in (".h", ".hpp") else [str(path)]
    for std in ["-std=c++17", *(["-std=c++14"] if hls else [])]:
        proc = subprocess.run(
            [compiler(), std, *flags, *unit],
            input=f'#include "{path}"\n',
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, f"{_name(path)} ({std}):\n{proc.stderr[:3000]}"


@pytest.mark.parametrize("path", SOURCES, ids=_name)
def test_regions_load(path: Path) -> None:
    names = _region_names(path)
    assert names, f"{_name(path)} has no '// rmodel:begin NAME' region"
    package, filename = _package_and_file(path)
    for name in names:
        text = cpp_source(package, filename, name)
        assert text.strip() and not MARKER.search(text)
        assert "rmodel:" not in select_sections(text, "")


def test_every_region_is_used():
    """Each region's name appears as a string in the Python code that copies it."""
    python = "\n".join(p.read_text() for top in ("operators", "emitters") for p in (ROOT / top).rglob("*.py"))
    unused = [f"{_name(p)}:{n}" for p in SOURCES for n in _region_names(p) if f'"{n}"' not in python]
    assert not unused, f"regions no generator copies: {unused}"


def test_tuning_constants_match_the_cpp():
    """Python sizes data for the kernels with these values: they must be the ones the C++ uses."""
    gemm = cpp_source("rmodel.operators", "gemm.hpp", "gemm")
    assert f"constexpr std::size_t MR = RMODEL_GEMM_MR, NR = {GEMM_NR};" in gemm
    flat = cpp_source("rmodel.operators", "conv.hpp", "depthwise_flat")
    assert f"constexpr std::size_t TILE = {DEPTHWISE_FLAT_TILE};" in flat


def _write(folder: Path, text: str) -> None:
    (folder / "cpp").mkdir(parents=True, exist_ok=True)
    (folder / "cpp" / "x.hpp").write_text(text)


@pytest.mark.parametrize(
    "case, text, region, message",
    [
        ("missing", "// rmodel:begin a\nint a;\n// rmodel:end a\n", "b", "has no region 'b' \\(it has a\\)"),
        ("unclosed", "// rmodel:begin a\nint a;\n", "a", "region 'a' is not closed"),
        (
            "nested",
            "// rmodel:begin a\n// rmodel:begin b\n// rmodel:end b\n// rmodel:end a\n",
            "a",
            "inside region 'a'",
        ),
        ("twice", "// rmodel:begin a\n// rmodel:end a\n// rmodel:begin a\n// rmodel:end a\n", "a", "defined twice"),
        ("mismatched", "// rmodel:begin a\n// rmodel:end b\n", "a", "'end b' closes no open region"),
        ("section_outside", "// rmodel:section s\n// rmodel:begin a\n// rmodel:end a\n", "a", "'s' outside a region"),
        (
            "section_nested",
            "// rmodel:begin a\n// rmodel:section s\n// rmodel:section t\n",
            "a",
            "section 't' starts inside section 's'",
        ),
        (
            "section_twice",
            "// rmodel:begin a\n// rmodel:section s\n// rmodel:end-section s\n// rmodel:section s\n",
            "a",
            "section 's' defined twice",
        ),
        (
            "section_mismatched",
            "// rmodel:begin a\n// rmodel:section s\n// rmodel:end-section t\n",
            "a",
            "'end-section t' closes no open section",
        ),
        (
            "section_unclosed",
            "// rmodel:begin a\n// rmodel:section s\n// rmodel:end a\n",
            "a",
            "region 'a' ends inside section 's'",
        ),
    ],
)
def test_malformed_files_are_reported(tmp_path, monkeypatch, case: str, text: str, region: str, message: str) -> None:
    package = f"cpp_sources_{case}"
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("")
    _write(tmp_path / package, text)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(RuntimeError, match=message):
        cpp_source(package, "x.hpp", region)


def test_region_text_is_copied_verbatim(tmp_path, monkeypatch):
    (tmp_path / "cpp_sources_verbatim").mkdir()
    (tmp_path / "cpp_sources_verbatim" / "__init__.py").write_text("")
    _write(
        tmp_path / "cpp_sources_verbatim",
        "#include <cstddef>\n// clang-format off\n// rmodel:begin a\n  int a;  \n\n// x\n// rmodel:end a\n",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert cpp_source("cpp_sources_verbatim", "x.hpp", "a") == "  int a;  \n\n// x"


SECTIONED = """\
#define RMODEL_X 1

// rmodel:section square
inline float square(float x) { return x * x; }
// rmodel:end-section square

// rmodel:section fourth
inline float fourth(float x) { return square(square(x)); }
// rmodel:end-section fourth

// rmodel:section cube
inline float cube(float x) { return x * x * x; }
// rmodel:end-section cube

// rmodel:section tile_2
template <> struct tile<2> {};
// rmodel:end-section tile_2
"""


@pytest.mark.parametrize(
    "used, roots, kept",
    [
        ("", (), []),
        ("y = cube(x);", (), ["cube"]),
        # a kept section keeps what it calls
        ("y = fourth(x);", (), ["square", "fourth"]),
        # roots name sections no word of the calls names
        ("y = cube(x);", ("tile_2",), ["cube", "tile<2>"]),
        # a word inside another word is no use
        ("y = cubed(x);", (), []),
    ],
)
def test_select_sections_keeps_what_is_used(used: str, roots: tuple[str, ...], kept: list[str]) -> None:
    text = select_sections(SECTIONED, used, roots)
    assert "rmodel:" not in text and text.startswith("#define RMODEL_X 1\n")
    definitions = {"square": "float square(", "fourth": "float fourth(", "cube": "float cube(", "tile<2>": "tile<2>"}
    assert [name for name, definition in definitions.items() if definition in text] == kept
    assert "\n\n\n" not in text and not text.endswith("\n\n")


def test_select_sections_keeps_everything_used_verbatim() -> None:
    text = select_sections(SECTIONED, "square fourth cube", ("tile_2",))
    assert text == "\n".join(line for line in SECTIONED.split("\n") if "rmodel:" not in line)


def test_package_data_ships_every_cpp_file():
    from setuptools.config.pyprojecttoml import read_configuration

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = read_configuration(ROOT / "pyproject.toml")["tool"]["setuptools"]["package-data"]
    for path in SOURCES:
        package, filename = _package_and_file(path)
        patterns = data.get(package, [])
        assert any(fnmatch.fnmatch(f"cpp/{filename}", p) for p in patterns), f"{_name(path)} not in {package}'s data"


def test_no_fixed_cpp_left_in_python_constants():
    """Module-level strings of several lines in operators/ and emitters/ were fixed C++: they live
    in the cpp folders now (code generated per model is written by functions)."""
    found = []
    for path in sorted([*(ROOT / "operators").rglob("*.py"), *(ROOT / "emitters").rglob("*.py")]):
        for node in ast.parse(path.read_text()).body[1:]:
            value = node.value if isinstance(node, (ast.Assign, ast.AnnAssign)) else None
            strings = [n for n in ast.walk(value) if isinstance(n, ast.Constant)] if value is not None else []
            if any(isinstance(n.value, str) and n.value.count("\n") >= 4 for n in strings):
                found.append(f"{_name(path)}:{node.lineno}")
    assert not found, f"multi-line string constants (move fixed C++ to a cpp folder): {found}"


def test_clang_format_is_recent_enough():
    out = subprocess.run([_clang_format(), "--version"], capture_output=True, text=True, check=True).stdout
    major = int(re.search(r"version (\d+)", out).group(1))
    assert major >= 18, out
