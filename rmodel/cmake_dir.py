"""Where rmodel's CMake package files are: ``python -m rmodel.cmake_dir`` prints the directory.

A CMake project finds rmodel with it when ``find_package(rmodel)`` alone does not::

    execute_process(COMMAND python3 -m rmodel.cmake_dir OUTPUT_VARIABLE rmodel_DIR
                    OUTPUT_STRIP_TRAILING_WHITESPACE)
    find_package(rmodel REQUIRED)

``--probe`` (used by the CMake files themselves) prints three lines: the version, the running
interpreter, and the directories of the generator's Python packages separated by '|'.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

_GENERATOR_PACKAGES = ("rmodel", "rmodel.operators", "rmodel.emitters")


def cmake_dir() -> Path:
    """The directory holding ``rmodelConfig.cmake`` (pass it as ``rmodel_DIR``)."""
    return Path(__file__).resolve().parent / "cmake"


def generator_dirs() -> list[Path]:
    """Directories of the Python packages that generate code (a change there regenerates headers)."""
    dirs: list[Path] = []
    for name in _GENERATOR_PACKAGES:
        module = importlib.import_module(name)
        path = Path(module.__file__ or "").resolve().parent
        if not any(path == d or d in path.parents for d in dirs):
            dirs.append(path)
    return dirs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rmodel.cmake_dir", description=__doc__.splitlines()[0])
    parser.add_argument("--probe", action="store_true", help="print the version and generator package directories")
    args = parser.parse_args(argv)
    if args.probe:
        from ._version import __version__

        print(__version__)
        print(sys.executable)
        print("|".join(str(d) for d in generator_dirs()))
    else:
        print(cmake_dir())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
