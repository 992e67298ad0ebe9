"""Elementwise operators against onnxruntime: every unary op with its attributes, every
broadcasting op over scalar/row/column/two-sided broadcasts, variadic ops with 1-4 inputs,
comparisons with bool outputs, Where, PRelu and Clip (attributes and inputs)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import TEST_FLAGS, check_against_onnxruntime, make_model, vectorized_lines
from onnx import helper

import rmodel
from rmodel.errors import RModelError, ShapeError
from rmodel.verify import compare, onnxruntime_run

OPSET = 20  # Gelu needs 20; every other op here exists unchanged at 20
RNG = np.random.default_rng(99)

# ---- unary ---------------------------------------------------------------------------------
# op -> attribute sets (one node each, all in one model); {} means the ONNX defaults
UNARY_FLOAT_CASES: dict[str, list[dict]] = {
    "Relu": [{}],
    "LeakyRelu": [{}, {"alpha": 0.3}],
    "Elu": [{}, {"alpha": 0.5}],
    "Celu": [{}, {"alpha": 2.0}],
    "Selu": [{}, {"alpha": 1.5, "gamma": 2.0}],
    "ThresholdedRelu": [{}, {"alpha": 0.5}, {"alpha": -1.0}],
    "Sigmoid": [{}],
    "HardSigmoid": [{}, {"alpha": 0.3, "beta": 0.4}],
    "HardSwish": [{}],
    "Tanh": [{}],
    "Softplus": [{}],
    "Softsign": [{}],
    "Mish": [{}],
    "Exp": [{}],
    "Log": [{}],
    "Sqrt": [{}],
    "Reciprocal": [{}],
    "Erf": [{}],
    "Sin": [{}],
    "Cos": [{}],
    "Floor": [{}],
    "Ceil": [{}],
    "Round": [{}],
    "Gelu": [{}, {"approximate": "none"}, {"approximate": "tanh"}],
    "Neg": [{}],
    "Abs": [{}],
    "Sign": [{}],
    "Identity": [{}],
}
#: values where activations switch branches and exact halves (Round: to even)
SPECIAL_VALUES = [0.0, -0.0, 0.5, -0.5, 1.5, 2.5, -2.5, 1.0, -1.0, 6.0, -3.0, 3.0, 1e-4, -1e-4, 0.4999999]
#: large magnitudes (overflowing exp, past Softplus' cut-over) in an input of their own, so that the
#: criterion's tolerance (relative to the output's largest value) stays tight for the moderate one
LARGE_VALUES = [19.5, 20.0, 20.5, 25.0, -25.0, 88.0, 100.5, -100.5]


def _domain(op: str, x: np.ndarray) -> np.ndarray:
    if op in ("Log", "Sqrt"):
        return (np.abs(x) + np.float32(1e-3)).astype(np.float32)
    if op == "Reciprocal":
        return np.where(x < 0, x - 0.05, x + 0.05).astype(np.float32)
    return x


@pytest.mark.parametrize("op", list(UNARY_FLOAT_CASES))
def test_unary_float(op: str) -> None:
    feeds = {
        "X": _domain(op, np.concatenate([RNG.uniform(-6, 6, 105), SPECIAL_VALUES]).astype(np.float32).reshape(3, 40)),
        "X_large": _domain(op, np.array(LARGE_VALUES, dtype=np.float32)),
    }
    nodes, outputs = [], []
    for attrs in UNARY_FLOAT_CASES[op]:
        name = f"{op}_" + ("_".join(f"{k}_{v}" for k, v in attrs.items()) or "defaults")
        for source in feeds:
            nodes.append(helper.make_node(op, [source], [f"{name}_{source}"], **attrs))
            outputs.append(f"{name}_{source}")
    model = make_model(nodes, {k: (np.float32, v.shape) for k, v in feeds.items()}, outputs, opset=OPSET)
    check_against_onnxruntime(model, feeds)


@pytest.mark.parametrize(
    ("dtype", "ops"),
    [
        (np.int8, ("Neg", "Abs", "Sign", "Identity")),
        (np.int32, ("Neg", "Abs", "Sign", "Identity")),
        (np.int64, ("Neg", "Abs", "Sign", "Identity")),
        (np.uint8, ("Abs", "Sign", "Identity")),
    ],
)
def test_unary_integer(dtype, ops) -> None:
    info = np.iinfo(dtype)
    x = RNG.integers(max(info.min + 1, -100), min(info.max, 100), (3, 7)).astype(dtype)
    x[0, :3] = [0, 1, 0] if info.min == 0 else [0, -1, 1]
    nodes = [helper.make_node(op, ["X"], [op]) for op in ops]
    model = make_model(nodes, {"X": (dtype, x.shape)}, {op: dtype for op in ops}, opset=OPSET)
    check_against_onnxruntime(model, {"X": x})


def test_unary_errors() -> None:
    model = make_model([helper.make_node("Sigmoid", ["X"], ["Y"])], {"X": (np.int32, (3,))}, {"Y": np.int32})
    with pytest.raises(ShapeError, match="must be float32, got int32"):
        rmodel.from_onnx(model)
    model = make_model([helper.make_node("Relu", ["X"], ["Y"], alpha=0.1)], {"X": (np.float32, (3,))}, ["Y"])
    with pytest.raises(RModelError, match="alpha"):
        rmodel.from_onnx(model)
    model = make_model(
        [helper.make_node("Gelu", ["X"], ["Y"], approximate="fast")], {"X": (np.float32, (3,))}, ["Y"], opset=OPSET
    )
    with pytest.raises(ShapeError, match="approximate must be 'none' or 'tanh', got 'fast'"):
        rmodel.from_onnx(model)


# ---- broadcasting binary ops ---------------------------------------------------------------
ARITHMETIC = ("Add", "Sub", "Mul", "Div")
COMPARISONS = ("Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual")
VARIADIC = ("Max", "Min", "Sum", "Mean")
BROADCAST_PAIRS = [
    ((2, 3, 4), (2, 3, 4)),  # same shape
    ((2, 3, 4), ()),  # scalar
    ((2, 3, 4), (4,)),  # row
    ((2, 3, 4), (2, 3, 1)),  # column
    ((2, 1, 4), (3, 1)),  # both sides broadcast
    ((), (2, 3)),  # scalar first
    ((4,), (2, 3, 4)),  # lower rank first
    ((1, 5), (3, 1)),  # outer product
]


def _halves(shape: tuple[int, ...], nonzero: bool = False) -> np.ndarray:
    """Multiples of 0.5 in [-1.5, 1.5]: comparisons meet ties, Div never meets 0 when nonzero."""
    values = np.array([-1.5, -1.0, -0.5, 0.5, 1.0, 1.5] if nonzero else [-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5])
    return RNG.choice(values, size=shape).astype(np.float32)


@pytest.mark.parametrize(("a_shape", "b_shape"), BROADCAST_PAIRS, ids=lambda s: "x".join(map(str, s)) or "scalar")
def test_binary_float(a_shape, b_shape) -> None:
    nodes = [helper.make_node(op, ["A", "B"], [op]) for op in ARITHMETIC + COMPARISONS + VARIADIC]
    nodes.append(helper.make_node("Pow", ["P", "B"], ["Pow"]))  # positive base
    outputs = {op: np.float32 for op in ARITHMETIC + VARIADIC + ("Pow",)}
    outputs.update({op: np.bool_ for op in COMPARISONS})
    inputs = {"A": (np.float32, a_shape), "B": (np.float32, b_shape), "P": (np.float32, a_shape)}
    feeds = {
        "A": _halves(a_shape),
        "B": _halves(b_shape, nonzero=True),
        "P": RNG.uniform(0.1, 2.0, a_shape).astype(np.float32),
    }
    check_against_onnxruntime(make_model(nodes, inputs, outputs, opset=OPSET), feeds)


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
@pytest.mark.parametrize(("a_shape", "b_shape"), [((2, 3, 4), (4,)), ((3, 1), (2, 1, 4))])
def test_binary_integer(dtype, a_shape, b_shape) -> None:
    ops = ("Add", "Sub", "Mul", "Pow", "Max", "Min") + COMPARISONS  # Sum and Mean are float-only in ONNX
    nodes = [helper.make_node(op, ["A", "B"], [op]) for op in ops]
    outputs = {op: (np.bool_ if op in COMPARISONS else dtype) for op in ops}
    feeds = {"A": RNG.integers(-3, 4, a_shape).astype(dtype), "B": RNG.integers(0, 4, b_shape).astype(dtype)}
    model = make_model(nodes, {"A": (dtype, a_shape), "B": (dtype, b_shape)}, outputs, opset=OPSET)
    check_against_onnxruntime(model, feeds)


def test_logical() -> None:
    nodes = [helper.make_node(op, ["A", "B"], [op]) for op in ("And", "Or", "Xor")]
    nodes.append(helper.make_node("Equal", ["A", "B"], ["Equal"]))
    outputs = {op: np.bool_ for op in ("And", "Or", "Xor", "Equal")}
    model = make_model(nodes, {"A": (np.bool_, (2, 3, 4)), "B": (np.bool_, (3, 1))}, outputs, opset=OPSET)
    feeds = {"A": RNG.integers(0, 2, (2, 3, 4)).astype(bool), "B": np.array([[True], [False], [True]])}
    check_against_onnxruntime(model, feeds)


@pytest.mark.parametrize("count", [1, 2, 3, 4])
def test_variadic(count: int) -> None:
    shapes = [(2, 3, 4), (4,), (3, 1), ()][:count]
    names = [f"X{i}" for i in range(count)]
    nodes = [helper.make_node(op, names, [op]) for op in VARIADIC]
    model = make_model(
        nodes, {n: (np.float32, s) for n, s in zip(names, shapes, strict=True)}, list(VARIADIC), opset=OPSET
    )
    check_against_onnxruntime(model)


def test_variadic_integer() -> None:
    shapes = [(3, 1), (2, 3, 4), (4,)]
    nodes = [helper.make_node(op, ["X0", "X1", "X2"], [op]) for op in ("Max", "Min")]
    inputs = {f"X{i}": (np.int32, s) for i, s in enumerate(shapes)}
    feeds = {f"X{i}": RNG.integers(-50, 50, s).astype(np.int32) for i, s in enumerate(shapes)}
    model = make_model(nodes, inputs, {op: np.int32 for op in ("Max", "Min")}, opset=OPSET)
    check_against_onnxruntime(model, feeds)


@pytest.mark.parametrize(
    ("cond", "x", "y", "dtype"),
    [
        ((2, 3, 4), (2, 3, 4), (2, 3, 4), np.float32),
        ((2, 1, 4), (3, 1), (), np.float32),
        ((4,), (3, 4), (3, 1), np.int64),
    ],
)
def test_where(cond, x, y, dtype) -> None:
    node = helper.make_node("Where", ["C", "X", "Y"], ["Z"])
    model = make_model([node], {"C": (np.bool_, cond), "X": (dtype, x), "Y": (dtype, y)}, {"Z": dtype}, opset=OPSET)
    check_against_onnxruntime(model)


def test_prelu() -> None:
    slopes = {"channel": (3, 1, 1), "last_axis": (5,), "single": (1,), "full": (2, 3, 4, 5)}
    nodes = [helper.make_node("PRelu", ["X", f"S_{k}"], [f"Y_{k}"]) for k in slopes]
    inits = {f"S_{k}": RNG.uniform(-0.5, 0.5, s).astype(np.float32) for k, s in slopes.items()}
    model = make_model(nodes, {"X": (np.float32, (2, 3, 4, 5))}, [f"Y_{k}" for k in slopes], inits, opset=OPSET)
    check_against_onnxruntime(model)
    # a runtime slope
    model = make_model(
        [helper.make_node("PRelu", ["X", "S"], ["Y"])],
        {"X": (np.float32, (2, 3, 4)), "S": (np.float32, (3, 1))},
        ["Y"],
        opset=OPSET,
    )
    check_against_onnxruntime(model)


def test_broadcasting_errors() -> None:
    def load(op, inputs, outputs=("Y",)):
        node = helper.make_node(op, list(inputs), list(outputs))
        rmodel.from_onnx(make_model([node], inputs, {o: np.float32 for o in outputs}, opset=OPSET))

    with pytest.raises(ShapeError, match=r"\(2, 3\) and \(4,\) do not broadcast"):
        load("Add", {"A": (np.float32, (2, 3)), "B": (np.float32, (4,))})
    with pytest.raises(ShapeError, match="different dtypes"):
        load("Mul", {"A": (np.float32, (2, 3)), "B": (np.int32, (3,))})
    with pytest.raises(ShapeError, match="integer Div is not supported"):
        node = helper.make_node("Div", ["A", "B"], ["Y"])
        rmodel.from_onnx(make_model([node], {"A": (np.int32, (3,)), "B": (np.int32, (3,))}, {"Y": np.int32}))
    with pytest.raises(ShapeError, match="condition must be bool"):
        load("Where", {"C": (np.float32, (3,)), "A": (np.float32, (3,)), "B": (np.float32, (3,))})
    with pytest.raises(ShapeError, match="must broadcast to X's shape"):
        load("PRelu", {"X": (np.float32, (3, 4)), "S": (np.float32, (2, 1, 4))})


# ---- Clip ----------------------------------------------------------------------------------
CLIP_BOUNDS = {"none": (None, None), "min": (-0.3, None), "max": (None, 0.6), "both": (-0.5, 0.25)}


def test_clip_opset6_attributes() -> None:
    nodes = []
    for name, (low, high) in CLIP_BOUNDS.items():
        attrs = {k: v for k, v in (("min", low), ("max", high)) if v is not None}
        nodes.append(helper.make_node("Clip", ["X"], [f"Y_{name}"], **attrs))
    model = make_model(nodes, {"X": (np.float32, (3, 8))}, [f"Y_{n}" for n in CLIP_BOUNDS], opset=6)
    check_against_onnxruntime(model)


@pytest.mark.parametrize(("opset", "dtype"), [(11, np.float32), (13, np.float32), (13, np.int32), (13, np.int64)])
def test_clip_inputs(opset: int, dtype) -> None:
    scale = 1 if dtype == np.float32 else 10
    nodes, inits = [], {}
    for name, (low, high) in CLIP_BOUNDS.items():
        inputs = ["X"]
        if low is not None or high is not None:
            inputs.append(f"lo_{name}" if low is not None else "")
            if low is not None:
                inits[f"lo_{name}"] = np.array(low * scale, dtype=dtype)
        if high is not None:
            inputs.append(f"hi_{name}")
            inits[f"hi_{name}"] = np.array(high * scale, dtype=dtype)
        nodes.append(helper.make_node("Clip", inputs, [f"Y_{name}"]))
    x = (RNG.uniform(-1, 1, (3, 8)) * scale).astype(dtype)
    model = make_model(nodes, {"X": (dtype, (3, 8))}, {f"Y_{n}": dtype for n in CLIP_BOUNDS}, inits, opset=opset)
    m = check_against_onnxruntime(model, {"X": x})
    # the plans hold the bounds read from the constant inputs (None: that side is not clipped)
    read = [tuple(None if v is None else np.array(v * scale, dtype).item() for v in b) for b in CLIP_BOUNDS.values()]
    assert [(op.plan.low, op.plan.high) for op in m.operators] == read


def test_clip_errors() -> None:
    node = helper.make_node("Clip", ["X", "lo"], ["Y"])
    model = make_model([node], {"X": (np.float32, (3,)), "lo": (np.float32, ())}, ["Y"], opset=13)
    with pytest.raises(RModelError, match="must be a constant known at generation time"):
        rmodel.from_onnx(model)
    node = helper.make_node("Clip", ["X"], ["Y"], min=0.0)
    with pytest.raises(RModelError, match="min"):
        rmodel.from_onnx(make_model([node], {"X": (np.float32, (3,))}, ["Y"], opset=13))


def test_pow_with_integer_exponent_and_not():
    model = make_model(
        [
            helper.make_node("Pow", ["x", "e"], ["p"]),
            helper.make_node("Greater", ["x", "zero"], ["positive"]),
            helper.make_node("Not", ["positive"], ["not_positive"]),
        ],
        {"x": (np.float32, [3, 4]), "e": (np.int64, [4])},
        {"p": np.float32, "not_positive": np.bool_},
        {"zero": np.array(0.0, np.float32)},
        opset=15,
    )
    check_against_onnxruntime(model)


# ---- exp, tanh, sigmoid of operators/mathfn.py: special values, accuracy, vectorization ----------
def _float_run(bits: int, count: int) -> np.ndarray:
    """``count`` consecutive float32 values on each side of the one with these bits."""
    return (np.arange(bits - count, bits + count, dtype=np.int64).astype(np.uint32)).view(np.float32)


F32 = np.finfo(np.float32)
MATH_SPECIALS = np.concatenate(
    [
        [np.inf, -np.inf, np.nan, -np.nan, 0.0, -0.0, F32.max, -F32.max, F32.tiny, -F32.tiny, F32.smallest_subnormal],
        [-F32.smallest_subnormal, 1e-30, -1e-30, 1e-8, -1e-8, 0.625, -0.625, 9.0, 9.01, 10.0, -10.0, 1e10, -1e10],
        [89.0, 100.0, -87.33, -88.0, -103.5, -104.0, -104.5, -1000.0, 44.36, -44.36, 17.0, -17.0, 0.3466, -0.3466],
        _float_run(0x42B17218, 8),  # exp overflows to inf from 88.72283935546875 on
        _float_run(0xC2CFF1B5, 8),  # exp underflows to 0 below about -103.972
        _float_run(0xC2AEAC50, 8),  # exp(x) leaves the normal range near -87.336
        _float_run(0x3F200000, 8),  # tanh switches formula at |x| = 0.625
    ]
).astype(np.float32)


def _math_reference(op: str, x: np.ndarray) -> np.ndarray:
    """The exact function in double precision (then rounded to float32)."""
    v = x.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        if op == "Exp":
            r = np.exp(v)
        elif op == "Tanh":
            r = np.tanh(v)
        elif op == "Sigmoid":
            r = 1.0 / (1.0 + np.exp(-v))
        elif op == "Elu":
            r = np.where(v >= 0, v, np.expm1(v))
        elif op == "Selu":
            alpha, gamma = 1.67326319217681884765625, 1.05070102214813232421875
            r = np.where(v > 0, gamma * v, gamma * alpha * np.expm1(v))
        else:  # Celu, alpha 2
            r = np.maximum(v, 0.0) + np.minimum(0.0, 2.0 * np.expm1(v / 2.0))
    return r


def _run_unary(ops: tuple[str, ...], x: np.ndarray, attrs: dict | None = None) -> dict[str, np.ndarray]:
    nodes = [helper.make_node(op, ["X"], [op], **(attrs or {}).get(op, {})) for op in ops]
    model = make_model(nodes, {"X": (np.float32, x.shape)}, list(ops), opset=OPSET)
    m = rmodel.from_onnx(model)
    got = m.compile(binding="ctypes", flags=TEST_FLAGS).predict(x)
    return dict(zip(ops, got))


def _ulps(got: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """|got - exact| in units of the float32 spacing at the exact value (subnormal spacing at least)."""
    spacing = np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)
    return np.abs(got.astype(np.float64) - exact) / np.maximum(spacing, float(F32.smallest_subnormal))


def test_exp_tanh_sigmoid_special_values() -> None:
    """inf, -inf, NaN, huge, tiny and subnormal inputs and every overflow/underflow/formula threshold,
    elementwise against the exact functions; and against onnxruntime wherever it agrees with them."""
    ops = ("Exp", "Tanh", "Sigmoid", "Elu", "Selu", "Celu")
    x = MATH_SPECIALS
    got = _run_unary(ops, x, {"Celu": {"alpha": 2.0}})
    ort = dict(zip(ops, run_onnxruntime_nodes(ops, x)))
    for op in ops:
        exact = _math_reference(op, x)
        with np.errstate(over="ignore"):
            ref = exact.astype(np.float32)
        g = got[op]
        nan = np.isnan(x)
        assert np.isnan(g[nan]).all(), f"{op}: NaN in, {g[nan]} out"
        ok = ~nan
        # infinities and zeros exactly where the float32 result is one (with the sign of zero)
        special = ok & (np.isinf(ref) | (ref == 0))
        assert np.array_equal(g[special], ref[special]), f"{op}: {x[special]} -> {g[special]}, expected {ref[special]}"
        if op in ("Exp", "Tanh", "Sigmoid"):  # (Elu/Selu/Celu of -0 follow their own formulas)
            assert np.array_equal(np.signbit(g[special]), np.signbit(ref[special])), f"{op}: sign of zero"
        infinite = np.isinf(x)  # saturated exactly: tanh(+-inf) = +-1, Elu(-inf) = -alpha...
        assert np.array_equal(g[infinite], ref[infinite]), f"{op}: {x[infinite]} -> {g[infinite]}"
        finite = ok & ~special
        if op == "Exp":
            err = _ulps(g[finite], exact[finite])
            assert err.max() <= 2.0, f"exp({x[finite][err.argmax()]!r}): {err.max():.2f} ulp"
        else:
            err = np.abs(g[finite] - exact[finite]) / np.maximum(1.0, np.abs(exact[finite]))
            bound = 2e-7 if op in ("Tanh", "Sigmoid") else 1e-6
            assert err.max() <= bound, f"{op}({x[finite][err.argmax()]!r}): error {err.max():.3e}"
        # onnxruntime, wherever it gives the exact result's class (NaN/inf/zero/finite) and value
        o = ort[op].astype(np.float64)
        same_class = (np.isnan(o) == np.isnan(ref)) & (np.isinf(o) == np.isinf(ref)) & ((o == 0) == (ref == 0))
        with np.errstate(invalid="ignore"):
            agrees = same_class & (
                (o == ref) | np.isnan(o) | (np.abs(o - exact) <= 1e-6 * np.maximum(1, np.abs(exact)))
            )
        check = compare(op, g[agrees], ort[op][agrees], 1e-6)
        assert check.passed, f"{op}: max|d| {check.max_abs_diff:.3e} against onnxruntime"


def run_onnxruntime_nodes(ops: tuple[str, ...], x: np.ndarray) -> list[np.ndarray]:
    """onnxruntime's results of the same one-node-per-op model."""
    nodes = [helper.make_node(op, ["X"], [op], **({"alpha": 2.0} if op == "Celu" else {})) for op in ops]
    model = make_model(nodes, {"X": (np.float32, x.shape)}, list(ops), opset=OPSET)
    return onnxruntime_run(model, {"X": x}, list(ops))


def test_exp_tanh_sigmoid_accuracy() -> None:
    """Measured bounds on 2^17 inputs spread over each function's whole range (in ulp for exp, absolute
    for tanh and sigmoid): exp within 2 ulp of the exact value (1 ulp measured over every float32), tanh
    and sigmoid within 2e-7 (1.2e-7 measured)."""
    rng = np.random.default_rng(5)
    magnitudes = np.exp(rng.uniform(np.log(1e-12), np.log(104.0), 1 << 16))
    x = np.concatenate([rng.uniform(-104.0, 89.0, 1 << 15), rng.uniform(-12.0, 12.0, 1 << 15)])
    x = np.concatenate([x, magnitudes * rng.choice([-1.0, 1.0], magnitudes.size)]).astype(np.float32)
    got = _run_unary(("Exp", "Tanh", "Sigmoid"), x)
    exact = _math_reference("Exp", x)
    normal = (exact >= F32.tiny) & (exact <= F32.max)
    assert _ulps(got["Exp"][normal], exact[normal]).max() <= 2.0
    assert _ulps(got["Exp"][~normal & (exact < 1)], exact[~normal & (exact < 1)]).max() <= 1.0  # subnormal
    for op in ("Tanh", "Sigmoid"):
        assert np.abs(got[op] - _math_reference(op, x)).max() <= 2e-7, op
    small = np.abs(x) < 0.625
    tanh_rel = np.abs(got["Tanh"][small] - np.tanh(x[small].astype(np.float64))) / np.abs(np.tanh(x[small]))
    assert tanh_rel.max() <= 2.5e-7  # the polynomial keeps tiny inputs accurate relatively too


def test_math_loops_vectorize() -> None:
    """g++ -O3 -march=native reports the loops calling exp/tanh/sigmoid as vectorized."""

    ops = ("Exp", "Tanh", "Sigmoid", "Elu")
    nodes = [helper.make_node(op, ["X"], [op]) for op in ops]
    code = rmodel.from_onnx(make_model(nodes, {"X": (np.float32, (4, 64))}, list(ops), opset=OPSET)).generate()
    lines = code.splitlines()
    loops = [i for i, line in enumerate(lines) if "for (std::size_t i = 0;" in line and "detail::" in lines[i + 2]]
    assert len(loops) == len(ops)
    vectorized = vectorized_lines(
        code,
        '#include "model.h"\nvoid run(test_model::Session& s, const float* x, float* a, float* b, float* c, '
        "float* d) { s.infer(x, a, b, c, d); }\n",
    )
    for i in loops:
        assert i + 1 in vectorized, f"loop at line {i + 1} ({lines[i + 2].strip()}) not vectorized"
