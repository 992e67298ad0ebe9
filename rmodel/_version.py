"""The version of rmodel (one place: the package, pyproject.toml and CMake read it from here)."""

__version__ = "0.1.0"
