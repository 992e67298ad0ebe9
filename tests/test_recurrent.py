"""LSTM, GRU and RNN against onnxruntime over directions, optional inputs/outputs, activations,
clip, input_forget, linear_before_reset, layouts, sequence lengths; and the errors."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
import pytest
from helpers import TEST_FLAGS, check_against_onnxruntime, make_model, random_feeds, vectorized_lines, weights
from onnx import helper

import rmodel
from rmodel.errors import RModelError, ShapeError
from rmodel.verify import compare, onnxruntime_run, onnxruntime_session

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
OUTPUTS = {"LSTM": ("Y", "Y_h", "Y_c"), "GRU": ("Y", "Y_h"), "RNN": ("Y", "Y_h")}
DIRECTIONS = ("forward", "reverse", "bidirectional")


@dataclass
class Case:
    """One recurrent node and the tensors around it."""

    op: str
    direction: str = "forward"
    seq: int = 3
    batch: int = 1
    input_size: int = 4
    hidden: int = 5
    layout: int = 0
    bias: bool = False
    #: initial states: None (absent), "input" (graph input) or "const" (initializer)
    initial: str | None = None
    peepholes: bool = False
    lengths: list[int] | None = None
    #: output names; "" omits an output
    outputs: tuple[str, ...] | None = None
    #: weights W, R, B, P as graph inputs instead of initializers
    runtime_weights: bool = False
    attrs: dict[str, Any] = field(default_factory=dict)
    seed: int = 0

    @property
    def directions(self) -> int:
        return 2 if self.direction == "bidirectional" else 1

    def model(self, layout: int | None = None, opset: int = 17) -> onnx.ModelProto:
        """The ONNX model; ``layout=0`` for a case built with layout 1 gives the equivalent
        time-major model wrapped in transposes (onnxruntime only runs layout 0)."""
        rng = np.random.default_rng(self.seed)
        layout = self.layout if layout is None else layout
        d, g, h, b, s = self.directions, GATES[self.op], self.hidden, self.batch, self.seq
        consts: dict[str, np.ndarray] = {
            "W": weights(rng, d, g * h, self.input_size),
            "R": weights(rng, d, g * h, h),
        }
        names = ["X", "W", "R", "", "", "", "", ""]
        if self.bias:
            consts["B"] = weights(rng, d, 2 * g * h, fan_in=h)
            names[3] = "B"
        if self.lengths is not None:
            consts["seq_lens"] = np.array(self.lengths, np.int32)
            names[4] = "seq_lens"
        state_shape = [d, b, h] if self.layout == 0 else [b, d, h]
        inputs: dict[str, tuple[Any, list[int]]] = {
            "X": (np.float32, [s, b, self.input_size] if self.layout == 0 else [b, s, self.input_size])
        }
        state_names = ["initial_h"] + (["initial_c"] if self.op == "LSTM" else [])
        for k, name in enumerate(state_names):
            if self.initial == "input":
                inputs[name] = (np.float32, state_shape)
            elif self.initial == "const":
                consts[name] = rng.uniform(-1, 1, state_shape).astype(np.float32)
            else:
                continue
            names[5 + k] = name
        if self.peepholes and self.op == "LSTM":
            consts["P"] = weights(rng, d, 3 * h, fan_in=h)
            names[7] = "P"
        if self.runtime_weights:
            for name in ("W", "R", "B", "P"):
                if name in consts:
                    inputs[name] = (np.float32, list(consts.pop(name).shape))
        while names and not names[-1]:
            names.pop()
        outs = list(self.outputs or OUTPUTS[self.op])
        attrs = {"hidden_size": h, "direction": self.direction, **self.attrs}
        nodes = []
        if layout == self.layout:
            if self.layout:
                attrs["layout"] = 1
            nodes.append(helper.make_node(self.op, names, outs, **attrs))
        else:  # the layout-1 case as transposes around a layout-0 node
            inner_in = list(names)
            for k, name in enumerate(names):
                if name and (k == 0 or k in (5, 6)):
                    nodes.append(helper.make_node("Transpose", [name], [name + "_tm"], perm=[1, 0, 2]))
                    inner_in[k] = name + "_tm"
            inner_out = [o + "_tm" if o else "" for o in outs]
            nodes.append(helper.make_node(self.op, inner_in, inner_out, **attrs))
            for k, name in enumerate(outs):
                if name:
                    perm = [2, 0, 1, 3] if k == 0 else [1, 0, 2]
                    nodes.append(helper.make_node("Transpose", [name + "_tm"], [name], perm=perm))
        return make_model(nodes, inputs, [o for o in outs if o], consts, opset=opset)


def check(case: Case) -> rmodel.RModel:
    """Compile the case and compare every output with onnxruntime."""
    if case.layout == 0:
        return check_against_onnxruntime(case.model(), seed=case.seed)
    return check_layout1(case)


def check_layout1(case: Case) -> rmodel.RModel:
    """Layout 1 (batch-major): onnxruntime runs the time-major model with explicit transposes."""

    m = rmodel.from_onnx(case.model())
    feeds = random_feeds(m, np.random.default_rng(case.seed))
    got = m.compile(binding="ctypes", flags=TEST_FLAGS).predict(*[feeds[n] for n in m.input_names])
    got = [got] if len(m.outputs) == 1 else list(got)
    ref = onnxruntime_session(case.model(layout=0)).run(m.output_names, feeds)
    for name, g, r in zip(m.output_names, got, ref):
        result = compare(name, g, r, 1e-6)
        assert result.passed, f"'{name}': max|d| {result.max_abs_diff:.3e} at {result.worst_index}"
    return m


# ---- every op x direction x optional inputs ----------------------------------------------------

VARIANTS = {
    # no optional input at all, one step, one row
    "minimal": dict(seq=1, batch=1),
    # bias, initial states fed at run time, peepholes; several steps and rows
    "full": dict(seq=4, batch=3, bias=True, initial="input", peepholes=True),
    # constant initial states; rows of different lengths, one of them empty
    "lengths": dict(seq=4, batch=3, bias=True, initial="const", lengths=[4, 0, 2]),
    # rows of different lengths, none full, and no bias
    "short": dict(seq=5, batch=2, initial="input", lengths=[3, 1], peepholes=True),
}


MATRIX = [(d, v) for d in DIRECTIONS for v in sorted(VARIANTS) if not (d == "reverse" and v == "minimal")]


@pytest.mark.parametrize(("direction", "variant"), MATRIX)
@pytest.mark.parametrize("op", sorted(GATES))
def test_directions_and_optional_inputs(op: str, direction: str, variant: str) -> None:
    options = dict(VARIANTS[variant])
    if op != "LSTM":
        options.pop("peepholes", None)
    check(Case(op, direction, **options))


@pytest.mark.parametrize("variant", ["full", "lengths"])
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_gru_linear_before_reset(direction: str, variant: str) -> None:
    """Keras GRU(reset_after=True) becomes linear_before_reset=1."""
    check(Case("GRU", direction, attrs={"linear_before_reset": 1}, **VARIANTS[variant]))


def test_gru_linear_before_reset_without_bias() -> None:
    check(Case("GRU", "bidirectional", seq=2, batch=2, initial="input", attrs={"linear_before_reset": 1}))


@pytest.mark.parametrize(("direction", "input_forget"), [("forward", 1), ("bidirectional", 1), ("reverse", 0)])
def test_lstm_input_forget_and_clip(direction: str, input_forget: int) -> None:
    case = Case(
        "LSTM",
        direction,
        seq=4,
        batch=2,
        bias=True,
        initial="input",
        peepholes=True,
        attrs={"input_forget": input_forget, "clip": 0.7},
    )
    check(case)


@pytest.mark.parametrize("op", sorted(GATES))
def test_clip(op: str) -> None:
    attrs = {"clip": 0.5} | ({"linear_before_reset": 1} if op == "GRU" else {})
    check(Case(op, "bidirectional", seq=3, batch=2, bias=True, lengths=[3, 2], attrs=attrs))


# ---- activations -------------------------------------------------------------------------------

ACTIVATIONS = [
    "Sigmoid",
    "Tanh",
    "Relu",
    "HardSigmoid",
    "LeakyRelu",
    "Affine",
    "ThresholdedRelu",
    "ScaledTanh",
    "Elu",
    "Softsign",
    "Softplus",
]
TAKES = {
    "HardSigmoid": (True, True),
    "LeakyRelu": (True, False),
    "Affine": (True, True),
    "ThresholdedRelu": (True, False),
    "ScaledTanh": (True, True),
    "Elu": (True, False),
}


def _alpha_beta(names: list[str], rng: np.random.Generator) -> dict[str, list[float]]:
    """activation_alpha/beta: one value for every function in the list that takes it."""
    alphas = [float(rng.uniform(0.1, 0.9)) for n in names if TAKES.get(n, (False, False))[0]]
    betas = [float(rng.uniform(0.1, 0.9)) for n in names if TAKES.get(n, (False, False))[1]]
    return ({"activation_alpha": alphas} if alphas else {}) | ({"activation_beta": betas} if betas else {})


@pytest.mark.parametrize("index", range(len(ACTIVATIONS)))
def test_lstm_activations(index: int) -> None:
    """Every function in every position (f, g, h) of a bidirectional LSTM, with alpha/beta."""
    rot = ACTIVATIONS[index:] + ACTIVATIONS[:index]
    names = [rot[0], rot[1], rot[2], rot[3], rot[4], rot[5]]
    attrs = {"activations": names} | _alpha_beta(names, np.random.default_rng(index))
    check(Case("LSTM", "bidirectional", seq=3, batch=2, bias=True, initial="input", attrs=attrs, seed=index))


@pytest.mark.parametrize(
    ("first", "second"), [("HardSigmoid", "LeakyRelu"), ("Affine", "ThresholdedRelu"), ("ScaledTanh", "Elu")]
)
def test_gru_activations_default_alpha_beta(first: str, second: str) -> None:
    """Functions taking alpha/beta, given none (onnxruntime's defaults), in GRU's f and g positions."""
    attrs = {"activations": [first, second, second, first], "linear_before_reset": 1}
    check(Case("GRU", "bidirectional", seq=2, batch=2, bias=True, attrs=attrs))


@pytest.mark.parametrize("pair", range(0, len(ACTIVATIONS), 4))
def test_rnn_activations(pair: int) -> None:
    names = [ACTIVATIONS[pair], ACTIVATIONS[(pair + 5) % len(ACTIVATIONS)]]
    attrs = {"activations": names} | _alpha_beta(names, np.random.default_rng(pair))
    check(Case("RNN", "bidirectional", seq=3, batch=2, bias=True, initial="input", lengths=[2, 3], attrs=attrs))


def test_rnn_two_activations_for_one_direction() -> None:
    """RNN's schema default lists two functions; a forward RNN uses the first."""
    check(Case("RNN", "forward", bias=True, attrs={"activations": ["Relu", "Tanh"]}))


def test_activation_names_are_case_insensitive() -> None:
    check(Case("GRU", "forward", bias=True, attrs={"activations": ["sigmoid", "TANH"]}))


@pytest.mark.parametrize("name", [n for n in ACTIVATIONS if n not in ("Affine", "ScaledTanh")])
def test_activations_are_the_elementwise_operators_code(name: str) -> None:
    """A recurrent activation that is also an ONNX operator computes it with the same C++ as the
    elementwise operator (one definition: operators/activations.py)."""
    alpha, beta = TAKES.get(name, (False, False))
    params = ({"alpha": 0.375} if alpha else {}) | ({"beta": 0.625} if beta else {})
    given = {f"activation_{k}": [v] for k, v in params.items()}
    rnn = rmodel.from_onnx(Case("RNN", "forward", bias=True, attrs={"activations": [name], **given}).model())
    (rnn_line,) = [line.strip() for line in rnn.generate().splitlines() if line.strip().startswith("h[j] = ")]
    unary = rmodel.from_onnx(
        make_model([helper.make_node(name, ["x"], ["y"], **params)], {"x": (np.float32, [4])}, ["y"])
    )
    (unary_line,) = [line.strip() for line in unary.generate().splitlines() if line.strip().startswith("y[i] = ")]
    expression = re.sub(r"\bv\b", "a", unary_line.removeprefix("y[i] = ").removesuffix(";"))
    assert rnn_line == f"h[j] = ({expression});"


# ---- layout 1 (batch-major, opset 14) -----------------------------------------------------------


@pytest.mark.parametrize("direction", ["forward", "bidirectional"])
@pytest.mark.parametrize("op", sorted(GATES))
def test_layout_batch_major(op: str, direction: str) -> None:
    lengths = [3, 1, 0] if direction == "bidirectional" else None
    attrs = {"linear_before_reset": 1} if op == "GRU" else {}
    check(
        Case(
            op,
            direction,
            seq=3,
            batch=3,
            bias=True,
            initial="input",
            peepholes=op == "LSTM",
            lengths=lengths,
            layout=1,
            attrs=attrs,
        )
    )


def test_layout_batch_major_exports_runnable_onnx() -> None:
    """to_onnx() of a layout-1 node is transposes around a layout-0 node, which onnxruntime runs."""
    m = rmodel.from_onnx(Case("LSTM", "bidirectional", seq=3, batch=2, bias=True, initial="input", layout=1).model())
    exported = m.to_onnx()
    assert [n.op_type for n in exported.graph.node].count("Transpose") == 6
    check_against_onnxruntime(m)


# ---- outputs omitted ---------------------------------------------------------------------------

OMITTED = [
    ("LSTM", ("Y",)),
    ("LSTM", ("", "Y_h")),
    ("LSTM", ("", "", "Y_c")),
    ("LSTM", ("Y", "", "Y_c")),
    ("LSTM", ("", "Y_h", "Y_c")),
    ("GRU", ("", "Y_h")),
    ("GRU", ("Y",)),
    ("RNN", ("", "Y_h")),
]


@pytest.mark.parametrize(("op", "outputs"), OMITTED)
def test_outputs_omitted(op: str, outputs: tuple[str, ...]) -> None:
    case = Case(op, "bidirectional", seq=3, batch=2, bias=True, initial="input", lengths=[3, 2], outputs=outputs)
    m = check(case)
    assert m.output_names == [o for o in outputs if o]


def test_outputs_omitted_layout1() -> None:
    check(Case("LSTM", "reverse", seq=3, batch=2, bias=True, layout=1, outputs=("", "", "Y_c")))


# ---- weights computed at run time --------------------------------------------------------------


@pytest.mark.parametrize("op", sorted(GATES))
def test_weights_at_run_time(op: str) -> None:
    attrs = {"linear_before_reset": 1} if op == "GRU" else {}
    check(
        Case(
            op,
            "bidirectional",
            seq=3,
            batch=2,
            bias=True,
            peepholes=op == "LSTM",
            runtime_weights=True,
            lengths=[1, 3],
            attrs=attrs,
        )
    )


def test_gru_weights_at_run_time_reset_before_linear() -> None:
    check(Case("GRU", "forward", seq=3, batch=2, bias=True, runtime_weights=True))


def test_opset_before_layout_attribute() -> None:
    """Opset 7..13 nodes (no layout attribute) load and run the same."""
    case = Case("GRU", "reverse", seq=2, batch=2, bias=True, initial="input")
    check_against_onnxruntime(case.model(opset=13))


def test_hidden_size_taken_from_r() -> None:
    case = Case("RNN", "forward", seq=2, bias=True)
    proto = case.model()
    node = proto.graph.node[0]
    del node.attribute[:]
    node.attribute.extend([helper.make_attribute("direction", "forward")])
    m = rmodel.from_onnx(proto)
    assert m.operators[0].plan.hidden == 5
    check_against_onnxruntime(m)  # the re-export spells hidden_size out, as onnxruntime needs


def test_generated_code_transposes_constant_weights_once() -> None:
    """Constant W and R are transposed and packed for the product kernel at generation time (one
    product for the input projection of all steps, one per step for the recurrent product);
    weights fed at run time are transposed into the workspace by the generated code."""
    # (the labels of the gemm template arguments, /*M=*/ and so on, are dropped for the comparison)
    const_code = re.sub(
        r"/\*[^*]*\*/ ?", "", rmodel.from_onnx(Case("LSTM", seq=2, batch=3, bias=True).model()).generate()
    )
    assert "detail::gemm<6, 4, 20, 4, 1, true, 20, 20, 2>(in_X, " in const_code  # X . W^T + bias
    assert "detail::gemm<3, 5, 20, 5, 1, true, 20, 20, 0>(hs, " in const_code  # H . R^T, whole batch
    assert "dst[k * 20 + n]" not in const_code
    assert "std::exp" not in const_code and "std::tanh" not in const_code  # vectorizable math only
    runtime_code = rmodel.from_onnx(Case("LSTM", seq=2, bias=True, runtime_weights=True).model()).generate()
    runtime_code = re.sub(r"/\*[^*]*\*/ ?", "", runtime_code)
    assert "dst[k * 20 + n]" in runtime_code
    assert "detail::gemm<1, 5, 20, 5, 1, false, 20, 20, 0>(hs, rt, nullptr, rec)" in runtime_code


# ---- errors ------------------------------------------------------------------------------------


def _with(
    case: Case,
    *,
    replace: dict[str, np.ndarray] | None = None,
    attrs: dict[str, Any] | None = None,
    drop_attr: str | None = None,
) -> onnx.ModelProto:
    proto = case.model()
    for init in proto.graph.initializer:
        if replace and init.name in replace:
            init.CopyFrom(onnx.numpy_helper.from_array(replace[init.name], init.name))
    node = proto.graph.node[0]
    for key, value in (attrs or {}).items():
        for a in list(node.attribute):
            if a.name == key:
                node.attribute.remove(a)
        node.attribute.append(helper.make_attribute(key, value))
    return proto


BAD_SHAPES = [
    ("LSTM", "W", (1, 20, 3), "W has shape"),
    ("LSTM", "R", (1, 20, 4), "R has shape"),
    ("GRU", "W", (2, 15, 4), "W has shape"),
    ("GRU", "B", (1, 15), "B has shape"),
    ("RNN", "R", (1, 5, 6), "R has shape"),
    ("LSTM", "P", (1, 12), "P has shape"),
    ("LSTM", "initial_c", (1, 3, 5), "initial_c has shape"),
]


@pytest.mark.parametrize(("op", "name", "shape", "message"), BAD_SHAPES)
def test_wrong_weight_shapes(op: str, name: str, shape: tuple[int, ...], message: str) -> None:
    case = Case(op, bias=True, batch=2, initial="const", peepholes=op == "LSTM")
    bad = np.zeros(shape, np.float32)
    with pytest.raises(ShapeError, match=message):
        rmodel.from_onnx(_with(case, replace={name: bad}))


def test_sequence_lens_at_run_time_is_rejected() -> None:
    node = helper.make_node("LSTM", ["X", "W", "R", "", "lens"], ["Y"], hidden_size=2)
    rng = np.random.default_rng(0)
    proto = make_model(
        [node],
        {"X": (np.float32, [3, 2, 4]), "lens": (np.int32, [2])},
        ["Y"],
        {"W": weights(rng, 1, 8, 4), "R": weights(rng, 1, 8, 2)},
    )
    with pytest.raises(ShapeError, match="sequence_lens .* computed at run time"):
        rmodel.from_onnx(proto)


def test_sequence_lens_out_of_range() -> None:
    case = Case("RNN", batch=2, lengths=[1, 2])
    with pytest.raises(ShapeError, match=r"must lie in \[0, 3\]"):
        rmodel.from_onnx(_with(case, replace={"seq_lens": np.array([4, 1], np.int32)}))


BAD_ATTRS = [
    ("RNN", {"direction": "sideways"}, "direction 'sideways'"),
    ("LSTM", {"activations": ["Sigmoid", "Tanh"]}, "needs 3"),
    ("GRU", {"activations": ["Sigmoid", "Swish"]}, "activation 'Swish' is not supported"),
    ("LSTM", {"clip": -1.0}, "clip must be a positive"),
    ("GRU", {"linear_before_reset": 2}, "linear_before_reset must be 0 or 1"),
    ("RNN", {"layout": 2}, "layout must be 0 or 1"),
    ("RNN", {"hidden_size": 0}, "hidden_size must be positive"),
    ("GRU", {"input_forget": 1}, "input_forget"),
]


@pytest.mark.parametrize(("op", "attrs", "message"), BAD_ATTRS)
def test_bad_attributes(op: str, attrs: dict[str, Any], message: str) -> None:
    with pytest.raises(RModelError, match=message):
        rmodel.from_onnx(_with(Case(op), attrs=attrs))


def test_bidirectional_needs_activations_for_both_directions() -> None:
    case = Case("LSTM", "bidirectional")
    with pytest.raises(RModelError, match="needs 6"):
        rmodel.from_onnx(_with(case, attrs={"activations": ["Sigmoid", "Tanh", "Tanh"]}))


def test_wrong_rank_and_dtype() -> None:
    node = helper.make_node("RNN", ["X", "W", "R"], ["Y"], hidden_size=2)
    rng = np.random.default_rng(0)
    proto = make_model(
        [node], {"X": (np.float32, [3, 4])}, ["Y"], {"W": weights(rng, 1, 2, 4), "R": weights(rng, 1, 2, 2)}
    )
    with pytest.raises(RModelError, match="X must have rank 3"):
        rmodel.from_onnx(proto)
    proto = make_model(
        [node],
        {"X": (np.float64, [3, 1, 4])},
        ["Y"],
        {"W": weights(rng, 1, 2, 4).astype(np.float64), "R": weights(rng, 1, 2, 2).astype(np.float64)},
    )
    with pytest.raises(RModelError, match="only float32"):
        rmodel.from_onnx(proto)


@pytest.mark.parametrize("op", sorted(GATES))
def test_every_row_empty(op: str) -> None:
    """sequence_lens all 0: Y and the final states are zeros (no time loop is generated)."""
    m = check(Case(op, "bidirectional", seq=2, batch=2, bias=True, initial="input", lengths=[0, 0]))
    assert "for (std::size_t s = 0;" not in m.generate()


# ---- Keras layers ------------------------------------------------------------------------------


def test_tf2onnx_keras_lstm_and_bidirectional_lstm() -> None:
    """tf2onnx turns Keras LSTM (and Bidirectional LSTM) into ONNX LSTM nodes around Shape/Expand
    initial states, which fold away once the batch size is fixed."""
    import tensorflow as tf
    import tf2onnx

    tf.keras.utils.set_random_seed(0)
    inp = tf.keras.Input((4, 3))
    hidden = tf.keras.layers.Bidirectional(tf.keras.layers.LSTM(5, return_sequences=True))(inp)
    out = tf.keras.layers.LSTM(6)(hidden)
    model = tf.keras.Model(inp, out)
    spec = (tf.TensorSpec((None, 4, 3), tf.float32, name="x"),)
    proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=17)
    assert [n.op_type for n in proto.graph.node].count("LSTM") == 2
    check_against_onnxruntime(proto, batch_size=2)


def _keras_as_onnx(layer: Any, op: str, attrs: dict[str, Any], seq: int, features: int) -> onnx.ModelProto:
    """A single-direction ONNX node with the Keras layer's weights (gate orders agree for GRU)."""
    kernel, recurrent, bias = (np.asarray(w, np.float32) for w in layer.get_weights())
    hidden = recurrent.shape[0]
    if bias.ndim == 1:  # one bias: all of it on the input side
        bias = np.stack([bias, np.zeros_like(bias)])
    consts = {"W": kernel.T[None].copy(), "R": recurrent.T[None].copy(), "B": bias.reshape(1, -1)}
    node = helper.make_node(op, ["X", "W", "R", "B"], ["Y", "Y_h"], hidden_size=hidden, layout=1, **attrs)
    return make_model([node], {"X": (np.float32, [2, seq, features])}, ["Y", "Y_h"], consts)


@pytest.mark.parametrize(
    ("kind", "op", "attrs"),
    [
        ("gru_reset_after", "GRU", {"linear_before_reset": 1}),
        ("gru_reset_before", "GRU", {}),
        ("simple_rnn", "RNN", {}),
    ],
)
def test_keras_layer_semantics(kind: str, op: str, attrs: dict[str, Any]) -> None:
    """Keras GRU(reset_after=True) is GRU linear_before_reset=1, reset_after=False is 0, SimpleRNN is
    RNN: the same weights give Keras' own outputs (batch-major, layout 1)."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    seq, features = 4, 3
    layer = {
        "gru_reset_after": lambda: tf.keras.layers.GRU(5, reset_after=True, return_sequences=True),
        "gru_reset_before": lambda: tf.keras.layers.GRU(5, reset_after=False, return_sequences=True),
        "simple_rnn": lambda: tf.keras.layers.SimpleRNN(5, return_sequences=True),
    }[kind]()
    inp = tf.keras.Input((seq, features))
    model = tf.keras.Model(inp, layer(inp))
    rng = np.random.default_rng(1)
    # non-zero biases so that where each bias goes matters
    layer.set_weights(
        [w if k < 2 else rng.uniform(-0.5, 0.5, w.shape).astype(np.float32) for k, w in enumerate(layer.get_weights())]
    )
    x = rng.uniform(-1, 1, (2, seq, features)).astype(np.float32)
    expected = model.predict(x, verbose=0)
    m = rmodel.from_onnx(_keras_as_onnx(layer, op, attrs, seq, features))
    y, y_h = m.compile(binding="ctypes", flags=TEST_FLAGS).predict(x)
    np.testing.assert_allclose(y[:, :, 0, :], expected, atol=1e-5)
    np.testing.assert_allclose(y_h[:, 0, :], expected[:, -1, :], atol=1e-5)


# ---- batch-wide products (register-blocked kernel) and vectorized gates ---------------------------
# batches and hidden sizes that leave partial row tiles and a narrow last column panel of the
# kernel (tiles of 6 or 8 rows x 16 columns), with every feature that changes the step code
WIDE = [
    (
        "LSTM",
        dict(batch=7, hidden=17, input_size=5, bias=True, initial="input", peepholes=True, direction="bidirectional"),
    ),
    ("LSTM", dict(batch=9, hidden=16, lengths=[3, 0, 1, 2, 3, 3, 2, 1, 3], layout=1, attrs={"clip": 0.8})),
    ("LSTM", dict(batch=13, hidden=24, bias=True, runtime_weights=True, attrs={"input_forget": 1})),
    ("GRU", dict(batch=9, hidden=17, bias=True, lengths=[3, 2, 0, 1, 3, 3, 2, 1, 3], direction="reverse")),
    ("GRU", dict(batch=7, hidden=33, bias=True, initial="const", layout=1, attrs={"linear_before_reset": 1})),
    ("GRU", dict(batch=6, hidden=17, bias=True, runtime_weights=True, direction="bidirectional")),
    ("GRU", dict(batch=8, hidden=20, bias=True, runtime_weights=True, attrs={"linear_before_reset": 1})),
    ("RNN", dict(batch=13, hidden=33, bias=True, initial="input", direction="bidirectional")),
]


@pytest.mark.parametrize(("op", "options"), WIDE, ids=[f"{op}-{i}" for i, (op, _) in enumerate(WIDE)])
def test_batched_products_over_tile_edges(op: str, options: dict[str, Any]) -> None:
    check(Case(op, seq=3, **options))


@pytest.mark.parametrize(("op", "attrs"), [("LSTM", {}), ("GRU", {}), ("GRU", {"linear_before_reset": 1}), ("RNN", {})])
def test_saturating_inputs(op: str, attrs: dict[str, Any]) -> None:
    """inf, -inf and huge inputs saturate the gates (exp overflow/underflow inside sigmoid and tanh)
    exactly as onnxruntime's."""
    case = Case(op, seq=3, batch=4, bias=True, attrs=attrs)
    x = np.random.default_rng(0).uniform(-1, 1, (3, 4, 4)).astype(np.float32)
    x[0, 0, 0], x[1, 1, 2], x[1, 2, :] = np.inf, -np.inf, 3e38
    x[:, 3, 0], x[0, 3, 1] = 1e30, -1e30
    check_against_onnxruntime(case.model(), {"X": x})


@pytest.mark.parametrize("op", sorted(GATES))
def test_nan_stays_in_its_row(op: str) -> None:
    """A NaN input makes its own batch row NaN from that step on (onnxruntime's LSTM/GRU clamp it
    away, so this is checked against onnxruntime on the other rows only)."""
    case = Case(op, seq=3, batch=3, bias=True)
    x = np.random.default_rng(1).uniform(-1, 1, (3, 3, 4)).astype(np.float32)
    x[1, 1, 2] = np.nan
    m = rmodel.from_onnx(case.model())
    y = m.compile(binding="ctypes", flags=TEST_FLAGS).predict(x)[0]  # (seq, 1, batch, hidden)
    assert np.isnan(y[1:, :, 1]).all() and not np.isnan(y[0]).any()
    ref = onnxruntime_run(case.model(), {"X": x}, ["Y"])[0]
    for row in (0, 2):
        assert compare("Y", y[:, :, row], ref[:, :, row], 1e-6).passed


def test_gate_loops_vectorize() -> None:
    """g++ -O3 -march=native reports every per-row gate loop (the loops over hidden units that call
    sigmoid/tanh) of LSTM, GRU (both resets) and RNN as vectorized."""

    cases = [
        Case("LSTM", batch=2, bias=True, peepholes=True, hidden=32),
        Case("GRU", batch=2, bias=True, hidden=32),
        Case("GRU", batch=2, bias=True, hidden=32, attrs={"linear_before_reset": 1}),
        Case("RNN", batch=2, bias=True, hidden=32, lengths=[3, 1]),
    ]
    for case in cases:
        code = rmodel.from_onnx(case.model()).generate()
        lines = code.splitlines()
        loops = [i for i, line in enumerate(lines) if "for (std::size_t j = 0; j < 32; ++j)" in line]
        assert len(loops) == (2 if case.op == "GRU" and not case.attrs else 1)
        outputs = ", ".join(f"float* o{k}" for k in range(len(OUTPUTS[case.op])))
        args = ", ".join(f"o{k}" for k in range(len(OUTPUTS[case.op])))
        vectorized = vectorized_lines(
            code,
            f'#include "model.h"\nvoid run(test_model::Session& s, const float* x, {outputs}) {{ s.infer(x, {args}); }}\n',
        )
        for i in loops:
            assert i + 1 in vectorized, f"{case.op}: gate loop at line {i + 1} not vectorized"
