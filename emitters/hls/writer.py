"""HlsWriter: the CppWriter of HLS code, which keeps ``#pragma HLS`` lines at column 0 (where
Vitis HLS examples and hls4ml put them) whatever block they are written in."""

from __future__ import annotations

from rmodel.cpp_writer import CppWriter

PRAGMA = "#pragma"


class HlsWriter(CppWriter):
    """A CppWriter whose lines that start with ``#pragma`` are not indented."""

    def __call__(self, *lines: str) -> None:
        for text in lines:
            for line in text.split("\n"):
                if line.startswith(PRAGMA):
                    # (cpp_writer.py has no unindented line: this writer appends to the base's lines)
                    self._lines.append(line)
                else:
                    super().__call__(line)
