"""Hostile names: no string from a model file can become code in any generated file.

Every payload below, if it were pasted into generated C++/Tcl/shell text unescaped, would break
out of a comment or string literal and stop the build (``#error``/``static_assert``) or change the
numbers. Each is placed in every kind of name an ONNX file carries and the model must build and
match onnxruntime (CPU, both bindings; HLS C simulation), or fail with a clear rmodel error.
"""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import onnx
import pytest
from helpers import TEST_FLAGS, check_against_onnxruntime, make_model, weights
from onnx import helper

import rmodel
from rmodel.errors import RModelError
from rmodel.naming import UniqueNames, comment_text, cpp_string, identifier
from rmodel.verify import onnxruntime_session

PAYLOADS = {
    "newline": "x\n#error INJECTED_NEWLINE\n",
    "carriage_return": "x\r#error INJECTED_CR\r",
    "quote": 'x"; static_assert(false, "INJECTED_QUOTE"); const char* y = "',
    "block_comment": 'x*/ static_assert(false, "INJECTED_BLOCK"); /*',
    "trailing_backslash": "x\\",
    "trigraph": "x??/",
    "unicode": "modèle\u2028#error INJECTED_LS",
    "nul": "x\x00y",
    "long": "n" * 300,
    "tcl": "x]; exec touch INJECTED_TCL; #[",
}


def _mlp(names: dict[str, str], graph_name: str = "hostile") -> onnx.ModelProto:
    """Input -> MatMul -> Add -> Relu -> output, every name taken from ``names``."""
    rng = np.random.default_rng(0)
    nodes = [
        helper.make_node("MatMul", [names["input"], names["w"]], [names["mid"]], name=names["node"]),
        helper.make_node("Add", [names["mid"], names["b"]], [names["mid2"]], name=names["node"] + "_add"),
        helper.make_node("Relu", [names["mid2"]], [names["output"]], name=names["node"] + "_relu"),
    ]
    return make_model(
        nodes,
        {names["input"]: (np.float32, [1, 6])},
        [names["output"]],
        {names["w"]: weights(rng, 6, 4), names["b"]: weights(rng, 4)},
        name=graph_name,
    )


def _names(payload: str, slot: str | None) -> dict[str, str]:
    base = {"input": "x", "w": "w", "mid": "m", "b": "b", "mid2": "m2", "output": "y", "node": "dense"}
    if slot is None:  # the payload everywhere at once (made distinct per slot)
        return {k: f"{payload}{k}" for k in base}
    return {**base, slot: payload}


@pytest.mark.parametrize("payload", list(PAYLOADS), ids=list(PAYLOADS))
@pytest.mark.parametrize("slot", ["input", "w", "mid", "output", "node"])
def test_payload_in_one_name_builds_and_matches(payload, slot):
    proto = _mlp(_names(PAYLOADS[payload], slot))
    check_against_onnxruntime(proto)


@pytest.mark.parametrize("payload", list(PAYLOADS), ids=list(PAYLOADS))
def test_payload_in_every_name_and_graph_name(payload):
    text = PAYLOADS[payload]
    proto = _mlp(_names(text, None), graph_name=text)
    m = check_against_onnxruntime(proto)
    header = m.generate()
    _assert_no_breakout(header)
    # inputs are found by their exact names
    net = m.compile(binding="ctypes", flags=TEST_FLAGS)
    x = np.ones((1, 6), np.float32)
    assert np.array_equal(net.predict({m.input_names[0]: x}), net.predict(x))


def _assert_no_breakout(text: str) -> None:
    assert "\r" not in text
    for line in text.splitlines():
        assert not line.lstrip().startswith("#error"), line
        code = re.sub(r'"(?:[^"\\]|\\.)*"', '""', line)  # string literals are data
        code = code.split("//", 1)[0] if not code.lstrip().startswith("#") else ""
        assert "static_assert(false" not in code and "exec touch" not in code, line
        assert line.isascii(), line


def test_pybind11_binding_with_hostile_and_non_ascii_names():
    names = _names(PAYLOADS["quote"], None)
    names["input"] = "entrée\n"
    graph_name = 'modèle"; static_assert(false, "INJECTED_DOC"); //\n#error INJECTED'
    m = check_against_onnxruntime(_mlp(names, graph_name=graph_name), binding="pybind11")
    assert m.default_namespace.isascii()
    net = m.compile(flags=TEST_FLAGS)
    x = np.full((1, 6), 0.5, np.float32)
    assert np.array_equal(net.predict({"entrée\n": x}), net.predict(x))


def test_names_equal_after_sanitising_stay_distinct():
    # 'a.b' and 'a_b' map to the same identifier; 'dense'/'Dense' differ only in case
    names = {"input": "a.b", "w": "a_b", "mid": "a-b", "b": "A_B", "mid2": "a b", "output": "a__b", "node": "Dense"}
    check_against_onnxruntime(_mlp(names))


def test_two_outputs_differing_only_in_case_on_hls(tmp_path):
    rng = np.random.default_rng(1)
    nodes = [
        helper.make_node("MatMul", ["x", "dense"], ["h"], name="dense"),
        helper.make_node("MatMul", ["h", "Dense"], ["y"], name="Dense"),
    ]
    proto = make_model(
        nodes, {"x": (np.float32, [1, 4])}, ["y"], {"dense": weights(rng, 4, 3), "Dense": weights(rng, 3, 2)}
    )
    m = rmodel.from_onnx(proto, optimize=False)
    fw = m.generate(tmp_path / "prj", target="hls", precision="float")
    files = [p.name.lower() for p in (tmp_path / "prj" / "firmware" / "weights").iterdir()]
    assert len(files) == len(set(files)) == 2
    guards = re.findall(
        r"#ifndef (\w+_H_)", "".join(p.read_text() for p in (tmp_path / "prj/firmware/weights").iterdir())
    )
    assert len({g.lower() for g in guards}) == 2
    del fw


@pytest.mark.parametrize(
    "payload,io_type",
    [
        ("newline", "io_serial"),
        ("quote", "io_serial"),
        ("block_comment", "io_serial"),
        ("tcl", "io_serial"),
        ("unicode", "io_serial"),
        ("newline", "io_stream"),
        ("block_comment", "io_stream"),
        ("quote", "io_parallel"),
        ("tcl", "io_parallel"),
    ],
)
def test_hls_project_with_hostile_names_simulates(payload, io_type, tmp_path):
    from rmodel.emitters.hls import compile_hls

    text = PAYLOADS[payload]
    proto = _mlp(_names(text, None), graph_name=text)
    m = rmodel.from_onnx(proto)
    m.generate(tmp_path / "prj", target="hls", precision="float", io_type=io_type)
    for path in (tmp_path / "prj").rglob("*"):
        if path.is_file() and path.suffix in (".cpp", ".h", ".tcl", ".sh", ".md"):
            _assert_no_breakout(path.read_text())
    sim = compile_hls(m, precision="float", io_type=io_type)
    x = np.linspace(-1, 1, 6, dtype=np.float32).reshape(1, 6)
    ref = onnxruntime_session(proto).run(None, {m.input_names[0]: x})[0]
    assert np.max(np.abs(sim.predict(x) - ref)) <= 1e-6


def test_cli_convert_of_a_hostile_file_name(tmp_path):
    proto = _mlp(_names("y", None))
    path = tmp_path / "evil\n#error INJECTED\nname.onnx"
    onnx.save(proto, path)
    out = tmp_path / "out.hxx"
    run = subprocess.run(
        [sys.executable, "-m", "rmodel", "convert", str(path), "-o", str(out)], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    header = out.read_text()
    _assert_no_breakout(header)
    main = tmp_path / "main.cpp"
    main.write_text(f'#include "{out}"\nint main() {{ return 0; }}\n')
    build = subprocess.run(
        ["g++", "-std=c++17", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", str(main)], capture_output=True, text=True
    )
    assert build.returncode == 0, build.stderr[:2000]


def test_hostile_names_survive_a_rmodel_round_trip(tmp_path):
    proto = _mlp(_names(PAYLOADS["newline"], None), graph_name=PAYLOADS["quote"])
    m = rmodel.from_onnx(proto)
    m.save(tmp_path / "m.rmodel")
    again = rmodel.load(tmp_path / "m.rmodel")
    assert again.generate() == m.generate()
    check_against_onnxruntime(again)


@pytest.mark.parametrize(
    "options",
    [
        {"part": 'xcvu9p"; exec rm -rf /; #'},
        {"part": "xcvu9p\nexec touch x"},
        {"part": ""},
        {"clock_period": float("nan")},
        {"clock_period": float("inf")},
        {"table_size": 10**9},
        {"reuse_factor": 2**40},
        {"stream_depth": 2**40},
        {"precision": "ap_fixed<16,6>; int x"},
        {"precision": "ap_fixed<16,100000>"},
        {"precision": "ap_int<100000>"},
        {"precision": {"weight": "ap_fixed<16,6,AP_RND,EVIL>"}},
        {"tb_tolerance": float("nan")},
        {"io_type": "io_parallel\n#error INJECTED"},
        {"strategy": ["latency"]},
        {"layers": {"Gemm": {"strategy": "resource; system(x)"}}},
    ],
)
def test_hostile_hls_options_from_a_rmodel_are_refused(options, tmp_path):
    m = rmodel.from_onnx(_mlp(_names("v", None)))
    m.options["hls"] = dict(options)
    m.save(tmp_path / "m.rmodel")
    loaded = rmodel.load(tmp_path / "m.rmodel")
    with pytest.raises(RModelError):
        loaded.generate(tmp_path / "prj", target="hls")
    assert not (tmp_path / "prj" / "build_prj.tcl").exists()


# ---- the escapers themselves ---------------------------------------------------------------


@pytest.mark.parametrize("text", [*PAYLOADS.values(), "", "plain", "a\\", "\t", "\x7f", "𝔘"])
def test_comment_text_is_one_printable_ascii_line(text):
    safe = comment_text(text)
    assert safe.isascii() and safe.isprintable()
    assert "*/" not in safe and "/*" not in safe and "??" not in safe
    assert not safe.endswith("\\") or safe.endswith("\\\\")


@pytest.mark.parametrize("text", [*PAYLOADS.values(), "", "plain", "a\\", "é", "𝔘", "\x7f", "a?\"b'"])
def test_cpp_string_round_trips_through_the_compiler(text, tmp_path):
    literal = cpp_string(text)
    assert literal.isascii() and "\n" not in literal and "\r" not in literal
    src = tmp_path / "s.cpp"
    src.write_text(
        "#include <cstdio>\n#include <cstring>\n"
        f"static const char kText[] = {literal};\n"
        "int main() { std::fwrite(kText, 1, sizeof kText - 1, stdout); return 0; }\n"
    )
    exe = tmp_path / "s"
    subprocess.run(["g++", "-std=c++17", "-Wall", "-Wextra", "-Werror", str(src), "-o", str(exe)], check=True)
    out = subprocess.run([str(exe)], capture_output=True, check=True).stdout
    assert out == text.encode("utf-8")


@pytest.mark.parametrize("text", [*PAYLOADS.values(), "", "1abc", "class", "__x", "_Reserved", "a__b", "é"])
def test_identifier_is_a_short_ascii_identifier(text):
    ident = identifier(text)
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*|[a-z]_[A-Za-z0-9_]*", ident), ident
    assert "__" not in ident and len(ident) <= 64


def test_long_names_stay_distinct():
    names = UniqueNames()
    a, b = names("n" * 300 + "a"), names("n" * 300 + "b")
    assert a != b and len(a) <= 64 and len(b) <= 64


def test_case_folded_unique_names():
    names = UniqueNames(fold_case=True)
    assert names("dense").lower() != names("Dense").lower()


def test_two_inputs_equal_after_sanitising_get_their_own_parameters():
    rng = np.random.default_rng(2)
    nodes = [helper.make_node("Add", ["a.b", "a_b"], ["s"]), helper.make_node("MatMul", ["s", "w"], ["y"])]
    proto = make_model(
        nodes, {"a.b": (np.float32, [1, 4]), "a_b": (np.float32, [1, 4])}, ["y"], {"w": weights(rng, 4, 3)}
    )
    check_against_onnxruntime(proto)
    check_against_onnxruntime(proto, binding="pybind11")


@pytest.mark.parametrize("payload", ["newline", "tcl", "block_comment"])
def test_hls_fork_of_a_hostile_tensor_simulates(payload, tmp_path):
    """A tensor read twice gets a fork stage whose comment names it (and a reorder/drain may too)."""
    from rmodel.emitters.hls import compile_hls

    rng = np.random.default_rng(3)
    t = PAYLOADS[payload]
    nodes = [
        helper.make_node("MatMul", ["x", "w"], [t]),
        helper.make_node("Relu", [t], ["r"]),
        helper.make_node("Sigmoid", [t], ["s"]),
        helper.make_node("Add", ["r", "s"], ["y"]),
    ]
    proto = make_model(nodes, {"x": (np.float32, [1, 4])}, ["y"], {"w": weights(rng, 4, 3)})
    m = rmodel.from_onnx(proto)
    m.generate(tmp_path / "prj", target="hls", precision="float")
    for path in (tmp_path / "prj" / "firmware").rglob("*.cpp"):
        _assert_no_breakout(path.read_text())
    x = np.linspace(-1, 1, 4, dtype=np.float32).reshape(1, 4)
    ref = onnxruntime_session(proto).run(None, {"x": x})[0]
    assert np.max(np.abs(compile_hls(m, precision="float").predict(x) - ref)) <= 1e-6
