"""HLS stages over their attribute spaces, in float mode (1e-6 criterion against onnxruntime).

Several variants of an operator share one model (branches reading the same input, one output
each), which also exercises fork stages, reorders and multi-output top functions.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import make_model, weights
from onnx import helper
from test_hls import assert_matches, hls_errors

import rmodel
from rmodel import examples
from rmodel.emitters.hls import compile_hls
from rmodel.emitters.hls.config import resolve_options
from rmodel.emitters.hls.csim import check_loop_trips
from rmodel.emitters.hls.firmware import build_firmware
from rmodel.errors import RModelError
from rmodel.operators.hls.activation import table_points

RNG = np.random.default_rng(7)


@pytest.fixture(autouse=True)
def _seeded():
    """Every test draws the same weights whatever ran before it in this worker."""
    global RNG
    RNG = np.random.default_rng(7)


def _branches(specs, inputs, opset=17):
    """specs: (op, inputs, attrs, initializers) per branch; output of branch k is y{k}."""
    nodes, inits = [], {}
    for k, (op, ins, attrs, consts) in enumerate(specs):
        names = []
        for name in ins:
            if name in consts:
                inits[f"{name}{k}"] = consts[name]
                names.append(f"{name}{k}")
            else:
                names.append(name)
        nodes.append(helper.make_node(op, names, [f"y{k}"], name=f"{op.lower()}_{k}", **attrs))
    return make_model(nodes, inputs, [f"y{k}" for k in range(len(specs))], inits, opset=opset)


def _conv(c, m, kernel, group=1, bias=True, **attrs):
    w = weights(RNG, m, c // group, *kernel, fan_in=c // group * int(np.prod(kernel)))
    consts = {"w": w}
    if bias:
        consts["b"] = weights(RNG, m, fan_in=10)
    return ("Conv", ["x", "w"] + (["b"] if bias else []), dict(kernel_shape=list(kernel), group=group, **attrs), consts)


# ---- dense --------------------------------------------------------------------------------------


@pytest.mark.parametrize("reuse", [1, 5])
def test_gemm_variants(reuse):
    b = weights(RNG, 6, 4)
    specs = [
        ("Gemm", ["x", "b"], {}, {"b": b}),
        (
            "Gemm",
            ["x", "b", "c"],
            {"transB": 1, "alpha": 0.5, "beta": 2.0},
            {"b": np.ascontiguousarray(b.T), "c": weights(RNG, 4)},
        ),
        ("Gemm", ["xt", "b", "c"], {"transA": 1}, {"b": b, "c": weights(RNG, 2, 4)}),  # per-row C
        ("Gemm", ["x", "b", "c"], {"beta": 0.0}, {"b": b, "c": weights(RNG, 1, 4)}),
        ("Gemm", ["x", "b", "c"], {}, {"b": b, "c": np.array(0.25, np.float32)}),
        ("MatMul", ["x", "b"], {}, {"b": b}),
    ]
    assert_matches(_branches(specs, {"x": (np.float32, [2, 6]), "xt": (np.float32, [6, 2])}), reuse_factor=reuse)


def test_matmul_on_rank3_and_transpose_relabel():
    w = weights(RNG, 5, 3)
    nodes = [
        helper.make_node("Transpose", ["x"], ["t"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["t", "w"], ["y"]),
        helper.make_node("Transpose", ["y"], ["z"], perm=[2, 1, 0]),
    ]
    assert_matches(make_model(nodes, {"x": (np.float32, [2, 5, 4])}, ["z", "t"], {"w": w}))


# ---- elementwise, softmax, shapes ------------------------------------------------------------------


def test_activations_and_arithmetic():
    c = weights(RNG, 4, fan_in=1)
    specs = [
        ("Relu", ["x"], {}, {}),
        ("LeakyRelu", ["x"], {"alpha": 0.2}, {}),
        ("LeakyRelu", ["x"], {}, {}),
        ("Sigmoid", ["x"], {}, {}),
        ("Tanh", ["x"], {}, {}),
        ("Add", ["x", "x2"], {}, {}),
        ("Sub", ["c", "x"], {}, {"c": c}),  # constant first, broadcast along the last axis
        ("Mul", ["x", "c"], {}, {"c": np.array(1.5, np.float32)}),
        ("Add", ["x", "c"], {}, {"c": weights(RNG, 3, 1, fan_in=1)}),
        ("Concat", ["x", "x2"], {"axis": 0}, {}),
        ("Concat", ["x", "x2", "x"], {"axis": 1}, {}),
        ("Concat", ["x", "x2"], {"axis": -1}, {}),
        ("Flatten", ["x"], {"axis": 2}, {}),
        ("Reshape", ["x", "s"], {}, {"s": np.array([4, -1], np.int64)}),
    ]
    assert_matches(_branches(specs, {"x": (np.float32, [2, 3, 4]), "x2": (np.float32, [2, 3, 4])}))


def test_softmax_axes():
    specs = [("Softmax", ["x"], {"axis": a}, {}) for a in (-1, 0, 1)]
    assert_matches(_branches(specs, {"x": (np.float32, [2, 3, 4])}))
    # opset 11: the input is coerced to 2-D at the axis
    old = [("Softmax", ["x"], {"axis": a}, {}) for a in (1, 2)]
    assert_matches(_branches(old, {"x": (np.float32, [2, 3, 4])}, opset=11))


@pytest.mark.parametrize("table_size,bound", [(256, 0.05), (4096, 0.01)])
def test_lookup_tables_in_fixed_point(table_size, bound):
    specs = [("Sigmoid", ["x"], {}, {}), ("Tanh", ["x"], {}, {}), ("Softmax", ["x"], {"axis": 1}, {})]
    model = _branches(specs, {"x": (np.float32, [2, 6])})
    errors = hls_errors(model, samples=4, precision="ap_fixed<18,6>", table_size=table_size, table_range=4.0)
    for name, (diff, scale) in errors.items():
        assert 0 < diff <= bound * scale, (name, diff)


@pytest.mark.parametrize(("table_size", "table_range", "shift"), [(1024, 8.0, 6), (256, 2.0, 6), (1000, 8.0, None)])
def test_lookup_table_points_and_index(table_size, table_range, shift):
    """Inputs on a table point, and just below and above half a step from it, read that point's value
    and its neighbour's: the index (a shift when the table has 2^k points per unit) and the points agree."""
    model = rmodel.from_onnx(
        _branches([("Sigmoid", ["x"], {}, {}), ("Tanh", ["x"], {}, {})], {"x": (np.float32, [1, 8])})
    )
    options = dict(precision="ap_fixed<24,6>", table_size=table_size, table_range=table_range, io_type="io_parallel")
    source = build_firmware(model, resolve_options(None, options, model), "top", weights_dir="").files["top.cpp"]
    assert ("a shift by" in source) == (shift is not None)
    assert ("t *= ap_fixed<48, 24>" in source) == (shift is None)
    points = table_points(-table_range, table_range, table_size, half_open=True)
    if shift is None:
        assert points[-1] == table_range
    else:
        assert np.array_equal(points, -table_range + np.arange(table_size) / 2.0**shift)
    step, ulp = points[1] - points[0], 2.0**-18  # ap_fixed<24,6>: 18 fractional bits
    i = np.arange(1, table_size - 1, 7)
    below = np.floor((points[i] + step / 2) / ulp - 1) * ulp  # the last input rounding down to point i
    x = np.concatenate([points[i], below, below + 2 * ulp]).astype(np.float32)
    want_i = np.concatenate([i, i, i + 1])
    x, want_i = x[: len(x) // 8 * 8], want_i[: len(x) // 8 * 8]
    sim = compile_hls(model, **options)
    got = sim.predict(x.reshape(-1, 8))
    for k, fn in enumerate((lambda v: 1.0 / (1.0 + np.exp(-v)), np.tanh)):
        table = np.floor(fn(points).astype(np.float32).astype(np.float64) / ulp) * ulp  # AP_TRN to the table type
        assert np.array_equal(got[k].reshape(-1), table[want_i].astype(np.float32)), fn


# ---- convolution and pooling -------------------------------------------------------------------------


@pytest.mark.parametrize("reuse", [1, 7])
def test_conv2d_variants(reuse):
    specs = [
        _conv(4, 6, (3, 3), pads=[1, 1, 1, 1]),
        _conv(4, 5, (3, 3), strides=[2, 2]),
        _conv(4, 3, (2, 3), dilations=[2, 1], pads=[0, 1, 1, 0]),
        _conv(4, 6, (3, 3), group=2, strides=[1, 2], pads=[1, 0, 1, 2]),
        _conv(4, 8, (3, 3), group=4, pads=[1, 1, 1, 1]),  # depthwise, channel multiplier 2
        _conv(4, 5, (1, 1)),
        _conv(4, 3, (3, 2), bias=False, auto_pad="SAME_UPPER"),
    ]
    assert_matches(_branches(specs, {"x": (np.float32, [1, 4, 7, 6])}), reuse_factor=reuse)


def test_conv1d_and_pools_1d():
    specs = [
        _conv(3, 4, (3,), strides=[2], pads=[1, 1]),
        _conv(3, 2, (3,), dilations=[2]),
        _conv(3, 3, (5,), group=3, pads=[2, 2]),
        ("MaxPool", ["x"], {"kernel_shape": [2], "strides": [2]}, {}),
        ("AveragePool", ["x"], {"kernel_shape": [3], "pads": [1, 1]}, {}),
        ("GlobalAveragePool", ["x"], {}, {}),
    ]
    assert_matches(_branches(specs, {"x": (np.float32, [1, 3, 9])}))


def test_pools_2d_batch_and_normalization():
    c = 3
    bn = {
        "s": RNG.uniform(0.5, 1.5, c).astype(np.float32),
        "b": weights(RNG, c, fan_in=4),
        "m": weights(RNG, c, fan_in=4),
        "v": RNG.uniform(0.5, 1.5, c).astype(np.float32),
    }
    specs = [
        ("MaxPool", ["x"], {"kernel_shape": [2, 2], "strides": [2, 2]}, {}),
        ("MaxPool", ["x"], {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}, {}),
        ("MaxPool", ["x"], {"kernel_shape": [2, 2], "ceil_mode": 1, "strides": [2, 2]}, {}),
        ("AveragePool", ["x"], {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}, {}),
        ("AveragePool", ["x"], {"kernel_shape": [3, 2], "pads": [1, 0, 1, 1], "count_include_pad": 1}, {}),
        ("GlobalAveragePool", ["x"], {}, {}),
        ("GlobalMaxPool", ["x"], {}, {}),
        ("BatchNormalization", ["x", "s", "b", "m", "v"], {"epsilon": 1e-3}, bn),
    ]
    assert_matches(_branches(specs, {"x": (np.float32, [2, c, 5, 6])}))


def _zeroed(spec, every=3):
    """``spec`` (a Conv) with every ``every``-th weight set to 0."""
    op, ins, attrs, consts = spec
    w = consts["w"].copy()
    w.reshape(-1)[::every] = 0.0
    return op, ins, attrs, {**consts, "w": w}


def _windowed_variants():
    """Conv and pool variants over one 2-D batch of two images and one 1-D input, each a branch."""
    two_d = [
        _conv(4, 6, (3, 3), pads=[1, 1, 1, 1]),
        _conv(4, 5, (3, 3), strides=[2, 2]),
        _conv(4, 3, (2, 3), dilations=[2, 1], pads=[0, 1, 1, 0]),
        _conv(4, 6, (3, 3), group=2, strides=[1, 2], pads=[1, 0, 1, 2]),
        _conv(4, 8, (3, 3), group=4, pads=[1, 1, 1, 1]),  # depthwise, channel multiplier 2
        _conv(4, 3, (3, 2), bias=False, auto_pad="SAME_UPPER"),
        _zeroed(_conv(4, 5, (1, 1))),
        ("MaxPool", ["x"], {"kernel_shape": [2, 2], "strides": [2, 2]}, {}),
        ("MaxPool", ["x"], {"kernel_shape": [3, 3], "pads": [1, 0, 2, 1], "strides": [2, 1]}, {}),
        ("MaxPool", ["x"], {"kernel_shape": [2, 2], "ceil_mode": 1, "strides": [2, 2]}, {}),
        ("AveragePool", ["x"], {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}, {}),
        ("AveragePool", ["x"], {"kernel_shape": [3, 2], "pads": [1, 0, 1, 1], "count_include_pad": 1}, {}),
        ("GlobalAveragePool", ["x"], {}, {}),
        ("GlobalMaxPool", ["x"], {}, {}),
    ]
    one_d = [
        ("Conv", ["x1", "w"], {"kernel_shape": [3], "strides": [2], "pads": [2, 1]}, {"w": weights(RNG, 4, 3, 3)}),
        ("Conv", ["x1", "w"], {"kernel_shape": [3], "dilations": [2], "group": 3}, {"w": weights(RNG, 3, 1, 3)}),
        ("MaxPool", ["x1"], {"kernel_shape": [3], "pads": [1, 1]}, {}),
        ("AveragePool", ["x1"], {"kernel_shape": [3], "strides": [2], "pads": [1, 1]}, {}),
        ("GlobalAveragePool", ["x1"], {}, {}),
    ]
    return _branches(two_d + one_d, {"x": (np.float32, [2, 4, 7, 6]), "x1": (np.float32, [1, 3, 9])})


@pytest.mark.parametrize("io_type,reuse", [("io_stream", 4), ("io_parallel", 1)])
def test_windowed_stages_packed_and_parallel(io_type, reuse):
    assert_matches(_windowed_variants(), io_type=io_type, reuse_factor=reuse)


@pytest.mark.parametrize("io_type", ["io_serial", "io_stream", "io_parallel"])
def test_windowed_stages_loop_trips_are_exact(io_type):
    checks = check_loop_trips(rmodel.from_onnx(_windowed_variants()), calls=1, io_type=io_type, reuse_factor=2)
    assert len(checks) >= 19
    assert all(c.estimated == c.measured for c in checks), [c for c in checks if c.estimated != c.measured]


@pytest.mark.parametrize("io_type", ["io_stream", "io_parallel"])
def test_channels_last_model_packed_and_parallel(io_type):
    """A Keras-like NHWC model: the Transposes only relabel the pixel stream the convolutions read."""
    bn = {"s": RNG.uniform(0.5, 1.5, 4).astype(np.float32), "b": weights(RNG, 4), "m": weights(RNG, 4)}
    nodes = [
        helper.make_node("Transpose", ["x"], ["t"], perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["t", "w"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("BatchNormalization", ["r", "s", "b", "m", "v"], ["n"]),
        helper.make_node("MaxPool", ["n"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p", "d"], ["q"], kernel_shape=[3, 3], group=4),
        helper.make_node("Transpose", ["q"], ["h"], perm=[0, 2, 3, 1]),
        helper.make_node("Flatten", ["h"], ["f"]),
        helper.make_node("Gemm", ["f", "g"], ["y"]),
    ]
    inits = {"w": weights(RNG, 4, 3, 3, 3, fan_in=27), "d": weights(RNG, 4, 1, 3, 3, fan_in=9)}
    inits.update(g=weights(RNG, 16, 5), v=np.ones(4, np.float32), **bn)
    assert_matches(make_model(nodes, {"x": (np.float32, [1, 8, 8, 3])}, ["y", "c"], inits), io_type=io_type)


def test_cnn_packed_and_parallel_in_fixed_point():
    errors = {
        io: hls_errors(examples.cnn(), samples=3, precision="ap_fixed<16,6>", io_type=io)
        for io in ("io_serial", "io_stream", "io_parallel")
    }
    serial = errors["io_serial"]["probabilities"][0]
    assert 0 < serial <= 0.02
    for io in ("io_stream", "io_parallel"):  # same arithmetic in another schedule
        assert errors[io]["probabilities"][0] == pytest.approx(serial, rel=1e-6), io


@pytest.mark.parametrize("io_type", ["io_serial", "io_stream", "io_parallel"])
@pytest.mark.parametrize("strategy,reuse", [("latency", 1), ("resource", 4)])
def test_cnn_loop_trips_are_exact(io_type, strategy, reuse):
    model = rmodel.from_onnx(examples.cnn())
    checks = check_loop_trips(
        model, calls=1, io_type=io_type, strategy=strategy, reuse_factor=reuse, precision="ap_fixed<16,6>"
    )
    assert {c.layer for c in checks} >= {"conv_0", "pool_0", "conv_1", "gap"}
    assert all(c.estimated == c.measured for c in checks), checks


@pytest.mark.parametrize("io_type", ["io_serial", "io_stream", "io_parallel"])
def test_conv_skips_zero_weights(io_type):
    dense = _conv(4, 6, (3, 3), pads=[1, 1, 1, 1])
    sparse = _zeroed(dense, every=4)
    costs = {}
    for name, spec in (("dense", dense), ("sparse", sparse)):
        model = rmodel.from_onnx(_branches([spec], {"x": (np.float32, [1, 4, 5, 5])}))
        fw = build_firmware(model, resolve_options(None, {"precision": "float", "io_type": io_type}, model), "top")
        (stage,) = [s for s in fw.stages if s.layer is not None]
        costs[name] = stage.cost
        if name == "sparse":
            assert "162 multipliers for 162 products (54 zero weights skipped)" in stage.body
    per_pixel = {"io_parallel": 25}.get(io_type, 1)  # every output pixel of io_parallel has its own
    assert costs["dense"].multipliers == 216 * per_pixel
    assert costs["sparse"].multipliers == 162 * per_pixel
    assert costs["sparse"].skipped == 54 * 25


def test_conv_flatten_dense_reads_permuted_rows():
    w = weights(RNG, 3, 2, 3, 3, fan_in=18)
    d = weights(RNG, 3 * 4 * 4, 5)
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("BatchNormalization", ["r", "s", "b", "m", "v"], ["n"]),
        helper.make_node("Flatten", ["n"], ["f"]),
        helper.make_node("Gemm", ["f", "d"], ["y"]),
    ]
    bn = {"s": np.ones(3, np.float32) * 1.5, "b": weights(RNG, 3), "m": weights(RNG, 3), "v": np.ones(3, np.float32)}
    model = make_model(nodes, {"x": (np.float32, [1, 2, 6, 6])}, ["y", "c"], {"w": w, "d": d, **bn})
    assert_matches(model)
    fw = compile_hls(rmodel.from_onnx(model), precision="float").firmware
    names = [s.func for s in fw.stages]
    assert not any(n.startswith("reorder_r") or n.startswith("reorder_n") for n in names), names
    assert any(n.startswith("reorder_c") for n in names)  # the conv output itself leaves in row-major order


# ---- recurrent --------------------------------------------------------------------------------------


def _recurrent(kind, layout=0, outputs=("y", "yh"), initial=False, **attrs):
    h, i, t, b = 5, 3, 4, 2
    g = 4 if kind == "LSTM" else 3
    consts = {"w": weights(RNG, 1, g * h, i), "r": weights(RNG, 1, g * h, h), "bias": weights(RNG, 1, 2 * g * h)}
    ins = ["x", "w", "r", "bias"]
    if initial:
        shape = (1, b, h) if layout == 0 else (b, 1, h)
        consts["h0"] = weights(RNG, *shape)
        ins += ["", "h0"]
        if kind == "LSTM":
            consts["c0"] = weights(RNG, *shape)
            ins.append("c0")
    x_shape = [t, b, i] if layout == 0 else [b, t, i]
    if layout:
        attrs["layout"] = 1
    node = helper.make_node(
        kind, [n if n in ("x", "") else n + "_" for n in ins], list(outputs), hidden_size=h, **attrs
    )
    return make_model(
        [node], {"x": (np.float32, x_shape)}, [o for o in outputs if o], {k + "_": v for k, v in consts.items()}
    )


@pytest.mark.parametrize(
    "kind,layout,outputs,initial,attrs",
    [
        ("LSTM", 0, ("y", "yh", "yc"), False, {}),
        ("LSTM", 1, ("y", "", "yc"), True, {}),
        ("GRU", 0, ("y", "yh"), True, {}),
        ("GRU", 1, ("", "yh"), False, {"linear_before_reset": 1}),
    ],
)
def test_recurrent_variants(kind, layout, outputs, initial, attrs):
    model = _recurrent(kind, layout, outputs, initial, **attrs)
    if layout == 0:
        assert_matches(model)
        return
    # onnxruntime has no batch-first (layout=1) recurrent kernels: compare with the CPU target
    m = rmodel.from_onnx(model)
    x = np.random.default_rng(3).uniform(-1, 1, m.inputs[0].shape).astype(np.float32)
    cpu = m.compile(binding="ctypes").predict(x)
    hls = compile_hls(m, precision="float").predict(x)
    for c, h in zip(cpu if isinstance(cpu, tuple) else (cpu,), hls if isinstance(hls, tuple) else (hls,)):
        assert c.shape == h.shape
        assert np.max(np.abs(c - h)) <= 1e-6 * max(1.0, float(np.max(np.abs(c))))


# ---- clear errors for what the HLS target does not build ---------------------------------------------


@pytest.mark.parametrize(
    "model,message",
    [
        (lambda: _recurrent("LSTM", direction="reverse"), "direction 'reverse'"),
        (lambda: _recurrent("GRU", clip=2.0), "clip"),
        (
            lambda: make_model(
                [helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[1, 1, 1])],
                {"x": (np.float32, [1, 2, 3, 3, 3])},
                ["y"],
                {"w": weights(RNG, 2, 2, 1, 1, 1)},
            ),
            "1-D and 2-D windows",
        ),
        (
            lambda: make_model(
                [helper.make_node("Add", ["x", "z"], ["y"])],
                {"x": (np.float32, [2, 3]), "z": (np.float32, [1, 3])},
                ["y"],
            ),
            "broadcasts only constant operands",
        ),
        (
            lambda: make_model(
                [helper.make_node("Concat", ["x", "c"], ["y"], axis=0)],
                {"x": (np.float32, [1, 3])},
                ["y"],
                {"c": weights(RNG, 1, 3)},
            ),
            "concatenates streamed tensors only",
        ),
    ],
)
def test_unsupported_configurations_are_clear_errors(model, message):
    with pytest.raises(RModelError, match=message):
        compile_hls(rmodel.from_onnx(model()), precision="float")


def test_reductions():
    specs = [
        ("ReduceMean", ["x"], {"axes": [1], "keepdims": 0}, {}),  # middle axis: index-table path
        ("ReduceMean", ["x"], {"axes": [2]}, {}),
        ("ReduceMax", ["x"], {"axes": [0, 2]}, {}),
        ("ReduceMin", ["x"], {"keepdims": 0}, {}),
        ("ReduceSum", ["x", "a"], {}, {"a": np.array([-1], np.int64)}),
    ]
    assert_matches(_branches(specs, {"x": (np.float32, [2, 3, 4])}))


@pytest.mark.parametrize("kind", ["cnn2d", "conv1d_lstm"])
def test_keras_models(kind, tmp_path):
    import keras
    from keras_models import randomize, seq

    layers = keras.layers
    if kind == "cnn2d":
        model = seq(
            (8, 8, 3),
            layers.Conv2D(4, 3, padding="same", activation="relu"),
            layers.BatchNormalization(),
            layers.MaxPooling2D(2),
            layers.DepthwiseConv2D(3),
            layers.Flatten(),
            layers.Dense(6, activation="tanh"),
            layers.Dense(3),
            layers.Softmax(),
        )
    else:
        model = seq(
            (10, 4), layers.Conv1D(5, 3, activation="relu"), layers.AveragePooling1D(2), layers.LSTM(6), layers.Dense(2)
        )
    path = tmp_path / f"{kind}.keras"
    randomize(model).save(path)
    m = rmodel.from_keras(str(path))
    x = np.random.default_rng(0).uniform(-1, 1, m.inputs[0].shape).astype(np.float32)
    want = model.predict(x, verbose=0)
    got = compile_hls(m, precision="float").predict(x)
    assert np.max(np.abs(got - want)) <= 1e-5 * max(1.0, float(np.max(np.abs(want))))
