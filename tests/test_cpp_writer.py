"""CppWriter: indentation follows the open blocks, names are unique, text is append-only."""

from __future__ import annotations

import pytest

from rmodel.cpp_writer import CppWriter


def test_blocks_loops_and_else_are_indented_and_closed():
    w = CppWriter()
    with w.block("void f(float* y)"):
        with w.loop("i", 4):
            with w.block("if (i == 0)"):
                w("y[i] = 0.0f;")
            with w.orelse("else if (i == 1)"):
                w("y[i] = 1.0f;")
            with w.orelse():
                w("y[i] = 2.0f;")
        with w.block(tail=";"):
            w("")
    assert w.text() == (
        "void f(float* y) {\n"
        "  for (std::size_t i = 0; i < 4; ++i) {\n"
        "    if (i == 0) {\n"
        "      y[i] = 0.0f;\n"
        "    } else if (i == 1) {\n"
        "      y[i] = 1.0f;\n"
        "    } else {\n"
        "      y[i] = 2.0f;\n"
        "    }\n"
        "  }\n"
        "  {\n"
        "\n"
        "  };\n"
        "}"
    )


def test_multi_line_snippets_keep_their_relative_indentation():
    inner = CppWriter()
    inner("a();\nif (b) {\n  c();\n}")
    w = CppWriter()
    with w.block("void g()"):
        w.extend(inner)
    assert w.text() == "void g() {\n  a();\n  if (b) {\n    c();\n  }\n}"


def test_preprocessor_lines_start_at_column_0():
    w = CppWriter()
    with w.loop("i", 8, type_="int"):
        w("#pragma HLS PIPELINE II=1", "y[i] = x[i];")
    assert w.text() == "for (int i = 0; i < 8; ++i) {\n#pragma HLS PIPELINE II=1\n  y[i] = x[i];\n}"


def test_labels_and_access_specifiers_are_outdented():
    w = CppWriter()
    w.outdented("top:")
    with w.block("class S"):
        w.access("public")
        w("void f();")
        with w.block("void g()"):
            w.outdented("apply:")
            w("x();")
    assert w.text() == "top:\nclass S {\n public:\n  void f();\n  void g() {\n  apply:\n    x();\n  }\n}"


def test_names_are_unique_identifiers():
    w = CppWriter(reserved=("x",))
    assert w.name("x") == "x_2"
    assert w.name("x") == "x_3"
    assert w.name("row sum") == "row_sum"
    assert w.name("for").isidentifier() and w.name("for") != "for"


def test_misuse_is_refused():
    w = CppWriter()
    w("a();")
    with pytest.raises(RuntimeError, match="must follow the end of a block"), w.orelse():
        pass
    open_block = w.block("if (c)")
    open_block.__enter__()
    with pytest.raises(RuntimeError, match="block still open"):
        w.text()
