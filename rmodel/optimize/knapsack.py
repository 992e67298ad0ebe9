"""0/1 knapsack solvers: choose the groups of weights to keep.

Every solver maximises the summed ``values`` of the chosen items while their summed ``weights``
stay within ``capacity``; weights are nonnegative (an item of weight 0 is always chosen). Three
methods: ``"dp"`` (exact dynamic programming over integer weights, after dividing them by their greatest
common divisor), ``"greedy"`` (value per
weight order, at least half the optimum) and ``"milp"`` (exact, scipy.optimize.milp).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from rmodel.errors import RModelError

SOLVERS = ("dp", "greedy", "milp")
#: largest dynamic-programming table (items x capacity cells) ``"dp"`` builds
DP_MAX_CELLS = 50_000_000


@dataclass(frozen=True)
class KnapsackResult:
    """The chosen items (sorted indices), their total value and total weight."""

    selected: tuple[int, ...]
    value: float
    weight: float


def solve_knapsack(
    values: Sequence[float] | np.ndarray,
    weights: Sequence[float] | np.ndarray,
    capacity: float,
    solver: str = "dp",
) -> KnapsackResult:
    """Items to keep: the largest total value whose total weight is at most ``capacity``."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if v.shape != w.shape:
        raise RModelError(f"knapsack: {v.size} values but {w.size} weights")
    if np.any(w < 0) or not np.all(np.isfinite(w)) or not np.all(np.isfinite(v)):
        raise RModelError("knapsack: weights must be finite and nonnegative, values finite")
    if solver == "dp":
        chosen = _dp(v, w, capacity)
    elif solver == "greedy":
        chosen = _greedy(v, w, capacity)
    elif solver == "milp":
        chosen = _milp(v, w, capacity)
    else:
        raise RModelError(f"knapsack: unknown solver {solver!r}; choose one of {', '.join(SOLVERS)}")
    selected = tuple(int(i) for i in np.flatnonzero(chosen))
    return KnapsackResult(selected, float(v[chosen].sum()), float(w[chosen].sum()))


def _free_and_useful(v: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Items taken whatever happens (no weight, value >= 0) and items worth deciding on (weight, value > 0)."""
    return (w == 0) & (v >= 0), (w > 0) & (v > 0)


def _integer_scale(w: np.ndarray) -> int:
    """The smallest factor that makes every weight an integer (weights are rounded to 1/1000 first)."""
    scale = 1
    for x in np.unique(w):
        scale = math.lcm(scale, Fraction(float(x)).limit_denominator(1000).denominator)
    return scale


def _dp(v: np.ndarray, w: np.ndarray, capacity: float) -> np.ndarray:
    chosen, useful = _free_and_useful(v, w)
    items = np.flatnonzero(useful)
    if capacity < 0 or items.size == 0:
        return chosen
    scale = _integer_scale(w[items])
    iw = np.rint(w[items] * scale).astype(np.int64)
    unit = int(np.gcd.reduce(iw))  # sums of multiples of ``unit`` fit exactly when their quotients do
    iw //= unit
    cap = int(math.floor(capacity * scale / unit + 1e-9))
    cap = min(cap, int(iw.sum()))
    if items.size * (cap + 1) > DP_MAX_CELLS:
        raise RModelError(
            f"knapsack 'dp': {items.size} items x capacity {cap} is too large a table; use 'greedy' or 'milp'"
        )
    best = np.zeros(cap + 1)
    took = np.zeros((items.size, cap + 1), dtype=bool)
    for k, (value, weight) in enumerate(zip(v[items], iw)):
        if weight > cap:
            continue
        candidate = best[: cap + 1 - weight] + value
        better = candidate > best[weight:]
        took[k, weight:] = better
        best[weight:] = np.where(better, candidate, best[weight:])
    c = cap
    for k in range(items.size - 1, -1, -1):
        if took[k, c]:
            chosen[items[k]] = True
            c -= int(iw[k])
    return chosen


def _greedy(v: np.ndarray, w: np.ndarray, capacity: float) -> np.ndarray:
    chosen, useful = _free_and_useful(v, w)
    items = np.flatnonzero(useful)
    if capacity < 0 or items.size == 0:
        return chosen
    order = items[np.argsort(-(v[items] / w[items]), kind="stable")]
    by_ratio = np.zeros_like(chosen)
    room = capacity
    for i in order:
        if w[i] <= room:
            by_ratio[i] = True
            room -= w[i]
    # the best single item alone guarantees at least half the optimum
    fitting = items[w[items] <= capacity]
    if fitting.size and v[fitting].max() > v[by_ratio].sum():
        by_ratio[:] = False
        by_ratio[fitting[np.argmax(v[fitting])]] = True
    return chosen | by_ratio


def _milp(v: np.ndarray, w: np.ndarray, capacity: float) -> np.ndarray:
    try:
        from scipy.optimize import Bounds, LinearConstraint, milp
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RModelError("knapsack 'milp' needs scipy>=1.9: pip install rmodel-codegen[optimize]") from exc
    chosen, useful = _free_and_useful(v, w)
    items = np.flatnonzero(useful)
    if capacity < 0 or items.size == 0:
        return chosen
    result = milp(
        -v[items],
        constraints=LinearConstraint(w[items][None, :], -np.inf, capacity),
        integrality=np.ones(items.size),
        bounds=Bounds(0, 1),
        options={"mip_rel_gap": 0.0},
    )
    if result.x is None:
        raise RModelError(f"knapsack 'milp': {result.message}")
    chosen[items[np.rint(result.x) > 0.5]] = True
    return chosen
