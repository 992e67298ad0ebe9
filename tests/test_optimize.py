"""rmodel.optimize: pruning Keras 3 models against parameter, FLOP and DSP objectives.

Tiny seeded tasks (a Dense 16-32-5 classifier of a sparse linear rule, a Conv2D 8x8 bar
orientation classifier) trained once per module; each pruning run is a few short iterations."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from rmodel.errors import RModelError  # noqa: E402
from rmodel.optimize import (  # noqa: E402
    BinaryScheduler,
    ConstantScheduler,
    ConvRegularizer,
    DenseRegularizer,
    DSPEstimator,
    FLOPEstimator,
    MaskConstraint,
    ParameterEstimator,
    PolynomialScheduler,
    StructureType,
    apply_masks,
    get_attributes_from_keras_model,
    get_model_gradients,
    get_model_hessians,
    get_model_masks,
    get_model_sparsity,
    group_indices,
    hessian_vector_products,
    optimize_model,
    remove_custom_regularizers,
    solve_knapsack,
)

RTOL = 0.97


def _dense_model() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((16,)),
            keras.layers.Dense(32, activation="relu", name="fc1"),
            keras.layers.Dense(5, activation="softmax", name="out"),
        ]
    )


@pytest.fixture(scope="module")
def dense_task():
    """(model, X_train, y_train, X_val, y_val): a trained 16-32-5 classifier of argmax(x @ W), W
    using 6 of the 16 inputs."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2500, 16)).astype("float32")
    w = rng.normal(size=(16, 5)) * (np.arange(16) % 8 < 3)[:, None]
    y = keras.utils.to_categorical(np.argmax(x @ w, axis=1), 5)
    model = _dense_model()
    model.compile(keras.optimizers.Adam(3e-3), "categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:2000], y[:2000], epochs=25, batch_size=64, verbose=0)
    return model, x[:2000], y[:2000], x[2000:], y[2000:]


@pytest.fixture(scope="module")
def conv_task():
    """A trained Conv2D 8x8 model telling horizontal from vertical bars in noise."""
    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(1)
    n = 1200
    labels = rng.integers(0, 2, n)
    x = rng.normal(scale=0.3, size=(n, 8, 8, 1)).astype("float32")
    where = rng.integers(1, 7, n)
    for k in range(n):
        if labels[k]:
            x[k, where[k], 1:7, 0] += 1.0
        else:
            x[k, 1:7, where[k], 0] += 1.0
    y = keras.utils.to_categorical(labels, 2)
    inputs = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(8, 3, activation="relu", name="conv1")(inputs)
    h = keras.layers.Conv2D(8, 3, activation="relu", name="conv2")(h)
    h = keras.layers.GlobalMaxPooling2D()(h)
    outputs = keras.layers.Dense(2, activation="softmax", name="head")(h)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(1e-2), "categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:1000], y[:1000], epochs=8, batch_size=50, verbose=0)
    return model, x[:1000], y[:1000], x[1000:], y[1000:]


def _accuracy(model, x, y) -> float:
    return float(np.mean(np.argmax(model.predict(x, verbose=0), axis=1) == np.argmax(y, axis=1)))


def _prune(task, attrs, objective, scheduler, tmp_path, **options):
    model, xt, yt, xv, yv = task
    settings = dict(batch_size=64, epochs=3, optimizer=keras.optimizers.Adam(2e-3))
    settings.update(options)
    return optimize_model(
        model,
        attrs,
        objective,
        scheduler,
        xt,
        yt,
        xv,
        yv,
        loss_fn="categorical_crossentropy",
        validation_metric="accuracy",
        increasing=True,
        rtol=RTOL,
        directory=tmp_path,
        **settings,
    )


# ---- pruning runs ---------------------------------------------------------------------------


def test_unstructured_parameter_pruning_reaches_the_schedule_within_tolerance(dense_task, tmp_path, capsys):
    model, _, _, xv, yv = dense_task
    attrs = get_attributes_from_keras_model(model)
    objective = ParameterEstimator()
    baseline = _accuracy(model, xv, yv)
    assert objective.model_resources(model, attrs) == 16 * 32 + 32 + 32 * 5 + 5
    pruned = _prune(dense_task, attrs, objective, PolynomialScheduler(3, final_sparsity=0.75), tmp_path, verbose=True)
    reached = 1 - objective.model_resources(pruned, attrs) / objective.baseline_resources(attrs)
    out = capsys.readouterr().out
    print(
        out
        + f"unstructured parameters: reached {reached:.3f}, accuracy {_accuracy(pruned, xv, yv):.3f} / {baseline:.3f}"
    )
    assert reached >= 0.7
    assert _accuracy(pruned, xv, yv) >= RTOL * baseline
    assert get_model_sparsity(pruned)[0] >= 0.7
    assert get_model_sparsity(model)[0] == 0.0  # the given model is left alone
    assert (tmp_path / "best.weights.h5").exists()
    assert "iteration 3: target sparsity 0.750" in out and "accuracy" in out and "kept" in out


def test_loss_gradients_match_finite_differences(dense_task):
    model, xt, yt, _, _ = dense_task
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    x, y = xt[:300].astype("float64"), yt[:300]
    grads = get_model_gradients(copy, "categorical_crossentropy", xt[:300], y, ["fc1", "out"], batch_size=128)
    assert grads["fc1"].shape == (16, 32) and grads["out"].shape == (32, 5)

    def loss() -> float:
        p = np.clip(copy.predict(x, verbose=0).astype("float64"), 1e-7, 1)
        return float(np.mean(-np.sum(y * np.log(p), axis=1)))

    checked = 0
    for name in ("fc1", "out"):
        kernel = np.asarray(copy.get_layer(name).kernel)
        for index in np.argsort(-np.abs(grads[name]).reshape(-1))[:2]:
            where = np.unravel_index(index, kernel.shape)
            slopes = []
            for step in (0.02, -0.02):
                moved = kernel.copy()
                moved[where] += step
                copy.get_layer(name).kernel.assign(moved)
                slopes.append(loss())
            copy.get_layer(name).kernel.assign(kernel)
            numeric = (slopes[0] - slopes[1]) / 0.04
            assert grads[name][where] == pytest.approx(numeric, rel=0.05, abs=1e-4), (name, where)
            checked += abs(numeric) > 1e-3
    assert checked >= 2


def test_hessian_products_and_diagonal_estimate():
    """H v against finite differences of gradients, and Hutchinson's diagonal against the exact
    one of a softmax layer (d2L/dW_jk2 = mean h_j^2 p_k (1 - p_k))."""
    keras.utils.set_random_seed(5)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(200, 4)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, 3, 200), 3)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax", name="out")])
    kernel = np.asarray(model.get_layer("out").kernel)
    loss = keras.losses.get("categorical_crossentropy")
    v = rng.normal(size=(4, 3)).astype("float32")
    (hv,) = hessian_vector_products(model, loss, [model.get_layer("out").kernel], x, y, [v])
    grads = []
    for step in (1e-2, -1e-2):
        model.get_layer("out").kernel.assign(kernel + step * v)
        grads.append(get_model_gradients(model, loss, x, y, ["out"])["out"])
    model.get_layer("out").kernel.assign(kernel)
    assert hv == pytest.approx((grads[0] - grads[1]) / 2e-2, rel=2e-2, abs=1e-4)
    p = model.predict(x, verbose=0).astype("float64")
    exact = np.einsum("nj,nk->jk", x.astype("float64") ** 2, p * (1 - p)) / len(x)
    estimate = get_model_hessians(model, loss, x, y, ["out"], batch_size=200, probes=150)["out"]
    assert np.abs(estimate - exact).max() <= 0.25 * exact.max()
    assert np.abs(estimate - exact).mean() <= 0.1 * exact.mean()


def test_structured_pruning_removes_whole_neurons(dense_task, tmp_path):
    model, _, _, xv, yv = dense_task
    attrs = get_attributes_from_keras_model(model)
    attrs["fc1"].structure_type = StructureType.STRUCTURED
    objective = FLOPEstimator()
    pruned = _prune(
        dense_task, attrs, objective, ConstantScheduler(0.0, 0.4, step=0.2), tmp_path, ranking_metric="oracle"
    )
    kernel, bias = (np.asarray(v) for v in pruned.get_layer("fc1").weights)
    dead = np.all(kernel == 0, axis=0)
    partly = np.any(kernel == 0, axis=0) & ~dead
    assert not partly.any() and np.all(bias[dead] == 0)
    flops = objective.model_resources(pruned, attrs)
    print(
        f"structured FLOPs: {int(dead.sum())} of 32 neurons removed, FLOPs {flops:g} of {objective.baseline_resources(attrs):g}"
    )
    assert dead.sum() >= 8
    assert flops <= 0.62 * objective.baseline_resources(attrs)
    assert _accuracy(pruned, xv, yv) >= RTOL * _accuracy(model, xv, yv)


def test_pattern_pruning_lowers_the_hls_dsp_estimate(dense_task, tmp_path):
    import rmodel
    from rmodel.emitters.hls import estimate

    model, _, _, xv, yv = dense_task
    attrs = get_attributes_from_keras_model(model)
    for a in attrs.values():
        a.reuse_factor, a.structure_type = 4, StructureType.PATTERN
    objective = DSPEstimator("ap_fixed<16,6>")
    assert objective.baseline_resources(attrs) == (16 * 32 + 32 * 5) / 4
    pruned = _prune(
        dense_task, attrs, objective, ConstantScheduler(0.0, 0.5, step=0.25), tmp_path, knapsack_solver="milp", epochs=4
    )
    removed = {}
    for name in ("fc1", "out"):
        kernel = np.asarray(pruned.get_layer(name).kernel).reshape(-1)
        patterns = kernel[group_indices(attrs[name].weight_shape, "pattern", **attrs[name].structure_options())]
        assert patterns.shape[1] == 4
        zero = np.all(patterns == 0, axis=1)
        assert not (np.any(patterns == 0, axis=1) & ~zero).any(), name
        removed[name] = int(zero.sum())
    assert removed["fc1"] + removed["out"] >= 0.45 * (512 + 160) / 4
    dsp = objective.model_resources(pruned, attrs)
    hls = estimate(rmodel.from_keras(pruned), precision="ap_fixed<16,6>", reuse_factor=4)
    print(f"pattern DSP: {dsp:g} of {objective.baseline_resources(attrs):g} (HLS estimate {hls.dsp}); {removed}")
    assert dsp == hls.dsp <= 0.55 * objective.baseline_resources(attrs)
    assert _accuracy(pruned, xv, yv) >= RTOL * _accuracy(model, xv, yv)


def test_conv_filter_pruning_and_dsp_rule_match_the_hls_estimate(conv_task, tmp_path):
    import rmodel
    from rmodel.emitters.hls import estimate

    model, _, _, xv, yv = conv_task
    attrs = get_attributes_from_keras_model(model)
    assert attrs["conv1"].output_shape == (6, 6, 8) and attrs["conv2"].output_positions == 16
    assert attrs["head"].output_positions == 1
    assert StructureType.STRUCTURED not in attrs["head"].allowed_structures  # the outputs stay
    attrs["conv2"].structure_type = StructureType.STRUCTURED
    attrs["head"].optimizable = False
    baseline = _accuracy(model, xv, yv)
    pruned = _prune(
        conv_task,
        attrs,
        ParameterEstimator(),
        ConstantScheduler(0.0, 0.5, step=0.5),
        tmp_path,
        batch_size=50,
        ranking_metric="saliency",
    )
    kernel = np.asarray(pruned.get_layer("conv2").kernel)
    filters = kernel.reshape(-1, 8)
    dead = np.all(filters == 0, axis=0)
    assert dead.any() and not (np.any(filters == 0, axis=0) & ~dead).any()
    assert np.all(np.asarray(pruned.get_layer("head").kernel) != 0)
    print(f"conv: {int(dead.sum())} of 8 filters removed, conv1 sparsity {get_model_sparsity(pruned)[1]['conv1']:.2f}")
    assert _accuracy(pruned, xv, yv) >= RTOL * baseline
    for a in attrs.values():
        a.reuse_factor = 2
    for io_type in ("io_stream", "io_parallel"):
        objective = DSPEstimator("ap_fixed<16,6>", io_type=io_type)
        hls = estimate(rmodel.from_keras(pruned), precision="ap_fixed<16,6>", reuse_factor=2, io_type=io_type)
        convs = sum(layer.dsp for layer in hls.layers if layer.op_type == "Conv")
        assert objective.model_resources(pruned, attrs) == convs, io_type


def test_regression_with_a_decreasing_metric_follows_the_bisection(tmp_path, capsys):
    """MSE (lower is better) on a small regression; the targets the loop tries are the ones a
    BinaryScheduler gives for the kept/rejected outcomes it printed, and failures stop it after
    ``cutoff_bad_trials``."""
    import re

    keras.utils.set_random_seed(6)
    rng = np.random.default_rng(6)
    x = rng.normal(size=(1200, 8)).astype("float32")
    y = (x[:, :2] @ np.array([[1.0], [-2.0]])).astype("float32")
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    model.fit(x[:1000], y[:1000], epochs=15, batch_size=50, verbose=0)
    baseline = float(model.evaluate(x[1000:], y[1000:], verbose=0))
    attrs = get_attributes_from_keras_model(model)
    pruned = optimize_model(
        model,
        attrs,
        ParameterEstimator(),
        BinaryScheduler(0.0, 0.9, threshold=0.05),
        x[:1000],
        y[:1000],
        x[1000:],
        y[1000:],
        batch_size=50,
        epochs=3,
        optimizer=keras.optimizers.Adam(3e-3),
        loss_fn=keras.losses.MeanSquaredError(),
        validation_metric=keras.metrics.MeanSquaredError(),
        increasing=False,
        rtol=2.0,
        verbose=True,
        cutoff_bad_trials=3,
        knapsack_solver="greedy",
        directory=tmp_path,
    )
    out = capsys.readouterr().out
    tried = re.findall(r"target sparsity ([0-9.]+),.* mean_squared_error ([0-9.]+) .*: (kept|rejected)", out)
    assert tried, out
    targets, outcomes = [float(t) for t, _, _ in tried], [o == "kept" for _, _, o in tried]
    expected, _ = _run(BinaryScheduler(0.0, 0.9, threshold=0.05), outcomes)
    assert targets == pytest.approx(expected, abs=1e-3)
    assert outcomes.count(False) < 3 or not outcomes[-1]
    kept = [t for t, ok in zip(targets, outcomes) if ok]
    mse = float(
        keras.ops.convert_to_numpy(keras.losses.MeanSquaredError()(y[1000:], pruned.predict(x[1000:], verbose=0)))
    )
    print(out + f"regression: kept {kept}, MSE {mse:.4f} (baseline {baseline:.4f})")
    assert kept and mse <= 2.0 * baseline
    # the model returned is the one last kept, and the metric printed for it is its own (a metric
    # object reused across compiles once kept stale totals)
    last = [float(m) for _, m, o in tried if o == "kept"][-1]
    assert mse == pytest.approx(last, abs=6e-5)
    assert get_model_sparsity(pruned)[0] >= 0.9 * max(kept) * 161 / (8 * 16 + 16)  # biases stay


def test_masks_hold_weights_at_zero_through_training(dense_task):
    model, xt, yt, _, _ = dense_task
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    attrs = get_attributes_from_keras_model(copy)
    masks = get_model_masks(copy, attrs, 0.6, ParameterEstimator(), metric="l2", local=True)
    # each layer keeps 40% of its parameters, biases (never pruned without structure) included
    assert masks["fc1"].kernel.sum() == int(0.4 * (512 + 32) - 32)
    assert masks["out"].kernel.sum() == int(0.4 * (160 + 5) - 5)
    apply_masks(copy, masks)
    zeros = np.asarray(copy.get_layer("fc1").kernel) == 0
    copy.get_layer("fc1").kernel.constraint = MaskConstraint(masks["fc1"].kernel)
    copy.compile(keras.optimizers.Adam(1e-2), "categorical_crossentropy")
    copy.fit(xt, yt, epochs=1, batch_size=64, verbose=0)
    assert np.all(np.asarray(copy.get_layer("fc1").kernel)[zeros] == 0)
    # without the constraint the same training moves them (so the check above can fail)
    copy.get_layer("fc1").kernel.constraint = None
    copy.compile(keras.optimizers.Adam(1e-2), "categorical_crossentropy")
    copy.fit(xt, yt, epochs=1, batch_size=64, verbose=0)
    assert np.count_nonzero(np.asarray(copy.get_layer("fc1").kernel)[zeros]) > 0.5 * zeros.sum()


def test_regularization_range_keeps_a_strength_within_tolerance(dense_task, tmp_path, capsys):
    model, *_ = dense_task
    attrs = get_attributes_from_keras_model(model)
    attrs["fc1"].structure_type = StructureType.STRUCTURED
    pruned = _prune(
        dense_task,
        attrs,
        ParameterEstimator(),
        ConstantScheduler(0.0, 0.3, step=0.3),
        tmp_path,
        epochs=2,
        verbose=True,
        regularization_range=[1e-4, 10.0],
    )
    out = capsys.readouterr().out
    assert "regularization 0.0001" in out and "regularization 10" in out
    assert not pruned.losses  # the regularizers are gone from the result
    assert pruned.get_layer("fc1").kernel_regularizer is None


# ---- regularizers ---------------------------------------------------------------------------


def _numpy_penalty(kernel, structure, alpha, beta, norm, **options):
    groups = kernel.reshape(-1)[group_indices(kernel.shape, structure, **options)].astype(np.float64)
    norms = np.abs(groups).sum(axis=1) if norm == 1 else np.sqrt((groups**2).sum(axis=1))
    return alpha * norms.sum() + beta * groups.var(axis=1).sum()


@pytest.mark.parametrize(
    "shape, structure, options",
    [
        ((4, 6), "unstructured", {}),
        ((4, 6), "structured", {}),
        ((4, 6), "pattern", {"pattern_offset": 6, "consecutive_patterns": 2}),
        ((4, 6), "block", {"block_shape": (2, 3)}),
        ((3, 3, 2, 4), "structured", {}),
        ((3, 2, 4), "pattern", {"pattern_offset": 12}),
    ],
)
def test_regularizer_penalty_matches_its_groups(shape, structure, options):
    kernel = np.random.default_rng(2).normal(size=shape).astype("float32")
    kind = DenseRegularizer if len(shape) == 2 else ConvRegularizer
    for norm in (1, 2):
        reg = kind(0.01, beta=0.5, norm=norm, structure_type=structure, **options)
        got = float(keras.ops.convert_to_numpy(reg(keras.ops.convert_to_tensor(kernel))))
        assert got == pytest.approx(_numpy_penalty(kernel, structure, 0.01, 0.5, norm, **options), rel=1e-5)
        assert kind.from_config(reg.get_config()).get_config() == reg.get_config()


def test_group_layouts():
    assert group_indices((4, 3), "structured")[0].tolist() == [0, 3, 6, 9]  # neuron 0: column 0
    assert group_indices((4, 6), "pattern", pattern_offset=6)[1].tolist() == [1, 7, 13, 19]
    assert group_indices((4, 6), "pattern", pattern_offset=6, consecutive_patterns=2)[0].tolist() == [
        0,
        1,
        6,
        7,
        12,
        13,
        18,
        19,
    ]
    assert group_indices((4, 6), "block", block_shape=(2, 3))[1].tolist() == [3, 4, 5, 9, 10, 11]
    for shape, structure, options in [((4, 6), "block", {"block_shape": (2, 3)}), ((3, 3, 2, 4), "structured", {})]:
        flat = np.sort(group_indices(shape, structure, **options).reshape(-1))
        assert flat.tolist() == list(range(int(np.prod(shape))))  # a partition of the kernel
    with pytest.raises(RModelError, match="does not tile"):
        group_indices((4, 6), "block", block_shape=(3, 3))
    with pytest.raises(ValueError, match="not one of"):
        ConvRegularizer(0.1, structure_type="block")


def test_model_with_regularizers_saves_and_loads(tmp_path):
    keras.utils.set_random_seed(3)
    inputs = keras.Input((6, 6, 2))
    h = keras.layers.Conv2D(4, 3, kernel_regularizer=ConvRegularizer(1e-3, norm=2, structure_type="structured"))(inputs)
    h = keras.layers.Flatten()(h)
    dense = DenseRegularizer(1e-2, beta=1e-3, structure_type="pattern", pattern_offset=16, consecutive_patterns=2)
    outputs = keras.layers.Dense(2, kernel_regularizer=dense)(h)
    model = keras.Model(inputs, outputs)
    path = tmp_path / "reg.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.layers[-1].kernel_regularizer, DenseRegularizer)
    assert loaded.layers[-1].kernel_regularizer.get_config() == dense.get_config()
    before = sorted(float(keras.ops.convert_to_numpy(v)) for v in model.losses)
    after = sorted(float(keras.ops.convert_to_numpy(v)) for v in loaded.losses)
    assert len(before) == 2 and before == pytest.approx(after) and min(before) > 0
    remove_custom_regularizers(loaded)
    assert not loaded.losses
    loaded.save(tmp_path / "plain.keras")
    assert "rmodel>" not in str(keras.saving.load_model(tmp_path / "plain.keras").get_config())


# ---- knapsack -------------------------------------------------------------------------------


def _brute_force(values, weights, capacity):
    best = 0.0
    for chosen in itertools.product((0, 1), repeat=len(values)):
        c = np.array(chosen, dtype=bool)
        if weights[c].sum() <= capacity + 1e-9:
            best = max(best, float(values[c].sum()))
    return best


@pytest.mark.parametrize("fractional", [False, True])
def test_knapsack_solvers_against_brute_force(fractional):
    pytest.importorskip("scipy")
    rng = np.random.default_rng(4 + fractional)
    greedy_worse = 0
    for _ in range(40):
        n = int(rng.integers(1, 11))
        values = rng.random(n)
        weights = rng.integers(0, 9, n).astype(float)
        if fractional:
            weights = weights / 4  # quarters: 'dp' scales them to integers
        capacity = float(rng.uniform(0, weights.sum() + 1))
        best = _brute_force(values, weights, capacity)
        for solver in ("dp", "milp", "greedy"):
            result = solve_knapsack(values, weights, capacity, solver)
            chosen = list(result.selected)
            assert result.weight == pytest.approx(weights[chosen].sum()) and result.weight <= capacity + 1e-9
            assert result.value == pytest.approx(values[chosen].sum())
            if solver == "greedy":
                assert result.value >= best / 2 - 1e-9
                greedy_worse += result.value < best - 1e-9
            else:
                assert result.value == pytest.approx(best), (solver, values, weights, capacity)
    assert greedy_worse > 0  # the instances are hard enough for greedy to miss the optimum sometimes


def test_knapsack_dp_divides_weights_by_their_common_factor():
    """Weights of 3e8..5e8 (a FLOP count, say) would need a table of 2e9 cells undivided."""
    result = solve_knapsack([5.0, 4.0, 3.0], [3e8, 4e8, 5e8], 7e8, "dp")
    assert result.selected == (0, 1) and result.value == 9.0


def test_knapsack_errors():
    with pytest.raises(RModelError, match="dp, greedy, milp"):
        solve_knapsack([1.0], [1.0], 1.0, "CBC")
    with pytest.raises(RModelError, match="nonnegative"):
        solve_knapsack([1.0], [-1.0], 1.0)


# ---- schedulers and options -----------------------------------------------------------------


def _run(scheduler, outcomes):
    """Targets a scheduler proposes when iterations succeed or fail as ``outcomes`` say."""
    seen = []
    go_on, s = scheduler.update_step()
    for ok in outcomes:
        if not go_on:
            break
        seen.append(round(s, 6))
        go_on, s = scheduler.update_step() if ok else scheduler.repair_step()
    return seen, go_on


def test_schedulers():
    assert _run(ConstantScheduler(0.0, 0.3, step=0.1), [True] * 9) == ([0.1, 0.2, 0.3], False)
    assert _run(ConstantScheduler(0.0, 1.0, step=0.25), [True, False, True]) == ([0.25, 0.5], False)
    poly = [round(0.8 - 0.8 * (1 - t / 4) ** 3, 6) for t in (1, 2, 3, 4)]
    assert _run(PolynomialScheduler(4, 0.0, 0.8), [True] * 9) == (poly, False)
    # bisection: success moves halfway up, failure halfway down between the bounds
    outcomes = [True, False, True, False, True, True]
    assert _run(BinaryScheduler(0.0, 1.0, threshold=0.01), outcomes) == (
        [0.5, 0.75, 0.625, 0.6875, 0.65625, 0.671875],
        False,
    )
    # steps below the threshold end it: 0.6875 failed, and 0.65625 is closer than 0.05
    assert _run(BinaryScheduler(0.0, 1.0, threshold=0.05), outcomes) == ([0.5, 0.75, 0.625, 0.6875], False)
    with pytest.raises(RModelError):
        ConstantScheduler(0.5, 0.2)


def test_unsupported_options_are_refused_clearly(dense_task, tmp_path):
    model, *_ = dense_task
    attrs = get_attributes_from_keras_model(model)
    with pytest.raises(RModelError, match="tuner=None"):
        _prune(dense_task, attrs, ParameterEstimator(), ConstantScheduler(), tmp_path, tuner="Bayesian")
    with pytest.raises(RModelError, match="l1, l2, oracle, saliency"):
        _prune(dense_task, attrs, ParameterEstimator(), ConstantScheduler(), tmp_path, ranking_metric="taylor")
    attrs["out"].structure_type = StructureType.STRUCTURED
    with pytest.raises(RModelError, match="not one of"):
        _prune(dense_task, attrs, ParameterEstimator(), ConstantScheduler(), tmp_path)
    attrs = get_attributes_from_keras_model(model)
    assert not DSPEstimator("ap_fixed<8,3>").is_layer_optimizable(attrs["fc1"])[0]  # LUT multipliers: no DSPs


def test_readme_example_runs(tmp_path, monkeypatch, capsys):
    """The README's pruning example, as written: it reaches its DSP target within tolerance."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = text.split("## Pruning (rmodel.optimize)", 1)[1].split("\n## ", 1)[0]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    keras.utils.set_random_seed(0)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    out = capsys.readouterr().out
    attrs, objective = scope["attrs"], scope["objective"]
    assert objective.baseline_resources(attrs) == (16 * 32 + 32 * 5) / 4
    assert objective.model_resources(scope["pruned"], attrs) <= 0.55 * objective.baseline_resources(attrs)
    assert "iteration 3: target sparsity 0.500" in out and "kept" in out and (tmp_path / "pruning").is_dir()
    assert "DSP" in out
