"""The CMake side: examples/cpp_app, rmodel_generate() through add_subdirectory, and the GTest suite
in cpp_tests run by ctest (plain and under -fsanitize=address,undefined).

Every test configures and builds in its own temporary directory (Ninja when installed).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import rmodel.cli
from rmodel.verify import onnxruntime_session

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "cpp_app"
MODEL = EXAMPLE / "jet_tagger.onnx"
GENERATOR = ["-G", "Ninja"] if shutil.which("ninja") else []


def run(*cmd: str | Path, cwd: Path | None = None, stdin: str | None = None, check: bool = True):
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, input=stdin, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def configure(source: Path, build: Path, *options: str, check: bool = True):
    # the Python running the tests is the one that has rmodel: give it to CMake explicitly
    return run(
        "cmake", "-S", source, "-B", build, *GENERATOR, f"-DPython3_EXECUTABLE={sys.executable}", *options, check=check
    )


def build(build_dir: Path) -> str:
    return run("cmake", "--build", build_dir, "--parallel", "2").stdout


def reference(features: np.ndarray) -> np.ndarray:
    return onnxruntime_session(MODEL).run(None, {"features": features})[0]


def parse_floats(text: str) -> np.ndarray:
    return np.array(
        [float(v) for line in text.splitlines() if not line.startswith("#") for v in line.split()], dtype=np.float32
    )


def assert_close(got: np.ndarray, ref: np.ndarray) -> None:
    assert got.shape == ref.shape, (got.shape, ref.shape)
    tolerance = 1e-6 * max(1.0, float(np.max(np.abs(ref))))
    assert float(np.max(np.abs(got - ref))) <= tolerance, (got, ref)


def build_rules(build_dir: Path) -> str:
    """The build system's rule files (Ninja or Makefiles), to see what the header depends on."""
    files = [build_dir / "build.ninja", *build_dir.glob("CMakeFiles/*/build.make")]
    return "\n".join(f.read_text() for f in files if f.is_file())


GENERATOR_SOURCE = str(Path(rmodel.cli.__file__).resolve())


def test_example_app_matches_onnxruntime(tmp_path: Path) -> None:
    """`cmake -S examples/cpp_app -B <dir> && cmake --build <dir>`: no flags needed to find rmodel."""
    out = tmp_path / "build"
    run("cmake", "-S", EXAMPLE, "-B", out, *GENERATOR)
    assert "rmodel: generating jet_model.hxx" in build(out)
    # by default the header is also regenerated when the generator itself changes
    assert GENERATOR_SOURCE in build_rules(out)
    rng = np.random.default_rng(7)
    for k in range(3):
        features = rng.uniform(-2, 2, (1, 16)).astype(np.float32)
        text = " ".join(f"{v:.9g}" for v in features.ravel())
        if k == 0:  # from a file
            (tmp_path / "input.txt").write_text(text + "\n")
            printed = run(out / "jet_app", tmp_path / "input.txt").stdout
        else:  # from standard input
            printed = run(out / "jet_app", stdin=text).stdout
        assert printed.startswith("# output_softmax\n")
        assert_close(parse_floats(printed), reference(features).ravel())
    short = run(out / "jet_app", stdin="1 2 3", check=False)
    assert short.returncode == 1 and "expected 16 input values, could read only 3" in short.stderr


def test_python3_on_path_without_rmodel_is_not_a_problem(tmp_path: Path) -> None:
    """With `python3` and `python` on PATH failing, -DPython3_EXECUTABLE is enough for both the
    example's package lookup and rmodel_generate(): one interpreter, found the same way by both."""
    fake = tmp_path / "bin"
    fake.mkdir()
    for name in ("python3", "python"):
        (fake / name).write_text("#!/bin/sh\nexit 1\n")
        (fake / name).chmod(0o755)
    env = {**os.environ, "PATH": os.pathsep.join([str(fake), os.environ.get("PATH", "")])}
    out = tmp_path / "build"
    command = ["cmake", "-S", str(EXAMPLE), "-B", str(out), *GENERATOR, f"-DPython3_EXECUTABLE={sys.executable}"]
    configured = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert configured.returncode == 0, configured.stdout + configured.stderr
    assert "rmodel 0.1" in configured.stdout and "generator runs with" in configured.stdout
    assert str(fake) not in configured.stdout
    built = subprocess.run(["cmake", "--build", str(out)], capture_output=True, text=True, env=env, check=False)
    assert built.returncode == 0, built.stdout + built.stderr
    features = np.linspace(-1, 1, 16, dtype=np.float32)
    printed = run(out / "jet_app", stdin=" ".join(f"{v:.9g}" for v in features)).stdout
    assert_close(parse_floats(printed), reference(features[None]).ravel())


def test_touching_the_model_regenerates_the_header(tmp_path: Path) -> None:
    source = tmp_path / "app"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build*"))
    out = tmp_path / "build"
    # headers depend on the model file only: other edits of the generator in this checkout must
    # not regenerate it while the test runs (RMODEL_TRACK_GENERATOR is tested separately)
    configure(source, out, "-DRMODEL_TRACK_GENERATOR=OFF")
    assert "rmodel: generating" in build(out)
    assert GENERATOR_SOURCE not in build_rules(out)
    header = out / "rmodel_generated" / "jet_model" / "jet_model.hxx"
    first = header.stat().st_mtime_ns
    # nothing changed: nothing is regenerated
    assert "rmodel: generating" not in build(out)
    assert header.stat().st_mtime_ns == first
    # a newer model file: regenerated (and the app relinked) on the next build
    model = source / "jet_tagger.onnx"
    newer = max(time.time_ns(), first + 1_000_000)
    os.utime(model, ns=(newer, newer))
    rebuilt = build(out)
    assert "rmodel: generating jet_model.hxx" in rebuilt
    assert "jet_app" in rebuilt
    assert header.stat().st_mtime_ns > first


def test_add_subdirectory_batch_and_weights_file(tmp_path: Path) -> None:
    """rmodel as a subproject: BATCH_SIZE, NAMESPACE and WEIGHTS file (compile definition with the path)."""
    project = tmp_path / "consumer"
    project.mkdir()
    (project / "CMakeLists.txt").write_text(f"""
cmake_minimum_required(VERSION 3.16)
project(consumer LANGUAGES CXX)
add_subdirectory("{ROOT.as_posix()}" rmodel)
if(TARGET rmodel_cpp_tests)
  message(FATAL_ERROR "the C++ tests must not be built in a parent project")
endif()
rmodel_generate(TARGET tagger_2 MODEL "{MODEL.as_posix()}" BATCH_SIZE 2 NAMESPACE tagger WEIGHTS file)
get_target_property(_weights tagger_2 RMODEL_WEIGHTS_FILE)
message(STATUS "weights at ${{_weights}}")
add_executable(consumer main.cpp)
target_link_libraries(consumer PRIVATE tagger_2)
target_compile_options(consumer PRIVATE -Wall -Wextra -Werror)
""")
    (project / "main.cpp").write_text("""
#include <cstdio>
#include <iostream>
#include "tagger_2.hxx"
int main() {
  static_assert(tagger::kBatchSize == 2 && tagger::kInputSize == 32, "batch 2 of 16 features");
  tagger::Session session(TAGGER_2_WEIGHTS_FILE);
  float x[tagger::kInputSize], y[tagger::kOutputSize];
  for (float& v : x) std::cin >> v;
  session.infer(x, y);
  for (float v : y) std::printf("%.9g\\n", static_cast<double>(v));
}
""")
    out = tmp_path / "build"
    configured = configure(project, out).stdout
    weights = out / "rmodel_generated" / "tagger_2" / "tagger_2.hxx.weights"
    assert f"weights at {weights}" in configured
    build(out)
    assert weights.is_file()
    features = np.random.default_rng(3).uniform(-1, 1, (2, 16)).astype(np.float32)
    printed = run(out / "consumer", stdin=" ".join(f"{v:.9g}" for v in features.ravel())).stdout
    assert_close(parse_floats(printed), reference(features).ravel())


@pytest.mark.parametrize(
    ("call", "options", "message"),
    [
        ("rmodel_generate(TARGET m MODEL no_such_model.onnx)", [], "model file '.*no_such_model.onnx' does not exist"),
        (
            f'rmodel_generate(TARGET m MODEL "{MODEL.as_posix()}" WEIGHTS packed)',
            [],
            "WEIGHTS must be 'embedded' or 'file', got 'packed'",
        ),
        (
            f'rmodel_generate(TARGET m MODEL "{MODEL.as_posix()}" BATCH_SIZE 0)',
            [],
            "BATCH_SIZE must be a positive integer or 'dynamic', got '0'",
        ),
        (
            f'rmodel_generate(TARGET m MODEL "{MODEL.as_posix()}" BATCH_SIZE 4 MAX_BATCH 8)',
            [],
            "MAX_BATCH applies to BATCH_SIZE dynamic only",
        ),
        (
            f'rmodel_generate(TARGET m MODEL "{MODEL.as_posix()}" BATCH_SIZE dynamic MAX_BATCH 0)',
            [],
            "MAX_BATCH must be a positive integer, got '0'",
        ),
        (f'rmodel_generate(MODEL "{MODEL.as_posix()}")', [], r"TARGET <name> is required"),
        (
            f'rmodel_generate(TARGET m MODEL "{MODEL.as_posix()}")',
            ["-DRMODEL_PYTHON=/bin/false"],
            "no Python interpreter that can import rmodel was found",
        ),
    ],
    ids=[
        "missing-model",
        "bad-weights",
        "bad-batch",
        "max-batch-static",
        "bad-max-batch",
        "no-target",
        "python-without-rmodel",
    ],
)
def test_rmodel_generate_errors(tmp_path: Path, call: str, options: list[str], message: str) -> None:
    project = tmp_path / "p"
    project.mkdir()
    (project / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.16)\nproject(p LANGUAGES NONE)\n"
        f'include("{(ROOT / "rmodel" / "cmake" / "RModelGenerate.cmake").as_posix()}")\n{call}\n'
    )
    proc = run("cmake", "-S", project, "-B", tmp_path / "b", *options, check=False)
    assert proc.returncode != 0
    assert re.search(message, " ".join(proc.stderr.split())), proc.stderr


def expected_ctest_count() -> int:
    """3 tests per enabled rmodel_test_model() line, +1 per weight-file case, + the TEST()s of the
    hand-written sources (batch variants, dynamic batch, kernels)."""
    lines = [l.strip() for l in (ROOT / "cpp_tests" / "CMakeLists.txt").read_text().splitlines()]
    cases = [l for l in lines if l.startswith("rmodel_test_model(")]
    assert len(cases) >= 5
    written = sum(len(re.findall(r"^TEST\(", f.read_text(), re.MULTILINE)) for f in (ROOT / "cpp_tests").glob("*.cpp"))
    assert written >= 3
    return 3 * len(cases) + sum("WEIGHTS file" in l for l in cases) + written


@pytest.mark.parametrize("sanitize", [False, True], ids=["plain", "asan-ubsan"])
def test_cpp_tests_pass_under_ctest(tmp_path: Path, sanitize: bool) -> None:
    out = tmp_path / "build"
    options = ["-DRMODEL_SANITIZE=ON", "-DCMAKE_BUILD_TYPE=Debug"] if sanitize else []
    configure(ROOT, out, *options)
    build(out)
    proc = run("ctest", "--test-dir", out, "--output-on-failure", "--parallel", "2", check=False)
    summary = re.search(r"(\d+)% tests passed, (\d+) tests failed out of (\d+)", proc.stdout)
    assert summary and proc.returncode == 0, proc.stdout + proc.stderr
    assert int(summary.group(3)) == expected_ctest_count()
    assert "runtime error" not in proc.stdout and "AddressSanitizer" not in proc.stdout
