"""Sparsity schedules: the target sparsity of each pruning iteration.

A schedule starts at ``initial_sparsity``; ``update_step()`` moves to the next target after a
successful iteration and ``repair_step()`` after a failed one (the model left the tolerance).
Both return ``(go_on, sparsity)``: ``go_on`` is False once the schedule has nothing left to try.
"""

from __future__ import annotations

from rmodel.errors import RModelError


class OptimizationScheduler:
    """Base schedule: holds the current sparsity; subclasses say how it moves."""

    def __init__(self, initial_sparsity: float = 0.0, final_sparsity: float = 1.0) -> None:
        if not 0.0 <= initial_sparsity <= final_sparsity <= 1.0:
            raise RModelError(
                f"scheduler: need 0 <= initial_sparsity <= final_sparsity <= 1, got {initial_sparsity}, {final_sparsity}"
            )
        self.initial_sparsity = float(initial_sparsity)
        self.final_sparsity = float(final_sparsity)
        self.sparsity = float(initial_sparsity)

    def get_sparsity(self) -> float:
        return self.sparsity

    def update_step(self) -> tuple[bool, float]:
        raise NotImplementedError

    def repair_step(self) -> tuple[bool, float]:
        raise NotImplementedError


class ConstantScheduler(OptimizationScheduler):
    """Sparsity grows by ``step`` after every success; a failure ends the schedule."""

    def __init__(self, initial_sparsity: float = 0.0, final_sparsity: float = 1.0, step: float = 0.05) -> None:
        super().__init__(initial_sparsity, final_sparsity)
        if step <= 0:
            raise RModelError(f"ConstantScheduler: step must be positive, got {step}")
        self.step = float(step)

    def update_step(self) -> tuple[bool, float]:
        if self.sparsity >= self.final_sparsity - 1e-12:
            return False, self.sparsity
        self.sparsity = min(self.sparsity + self.step, self.final_sparsity)
        return True, self.sparsity

    def repair_step(self) -> tuple[bool, float]:
        return False, self.sparsity


class BinaryScheduler(OptimizationScheduler):
    """Bisection between the last sparsity that worked and the last upper bound: a success moves
    halfway up, a failure makes the failed value the upper bound and moves halfway down. Stops
    when a move would be smaller than ``threshold``."""

    def __init__(self, initial_sparsity: float = 0.0, final_sparsity: float = 1.0, threshold: float = 0.01) -> None:
        super().__init__(initial_sparsity, final_sparsity)
        if threshold <= 0:
            raise RModelError(f"BinaryScheduler: threshold must be positive, got {threshold}")
        self.threshold = float(threshold)
        self.lower = float(initial_sparsity)
        self.upper = float(final_sparsity)

    def update_step(self) -> tuple[bool, float]:
        self.lower = self.sparsity
        return self._move()

    def repair_step(self) -> tuple[bool, float]:
        self.upper = self.sparsity
        return self._move()

    def _move(self) -> tuple[bool, float]:
        target = 0.5 * (self.lower + self.upper)
        if abs(target - self.sparsity) < self.threshold:
            return False, self.sparsity
        self.sparsity = target
        return True, self.sparsity


class PolynomialScheduler(OptimizationScheduler):
    """Polynomial decay over ``maximum_steps``: step t targets
    ``final - (final - initial) * (1 - t / maximum_steps) ** decay_power``; a failure ends it."""

    def __init__(
        self,
        maximum_steps: int,
        initial_sparsity: float = 0.0,
        final_sparsity: float = 1.0,
        decay_power: float = 3.0,
    ) -> None:
        super().__init__(initial_sparsity, final_sparsity)
        if maximum_steps < 1:
            raise RModelError(f"PolynomialScheduler: maximum_steps must be at least 1, got {maximum_steps}")
        self.maximum_steps = int(maximum_steps)
        self.decay_power = float(decay_power)
        self.current_step = 0

    def update_step(self) -> tuple[bool, float]:
        if self.current_step >= self.maximum_steps:
            return False, self.sparsity
        self.current_step += 1
        left = 1.0 - self.current_step / self.maximum_steps
        span = self.final_sparsity - self.initial_sparsity
        self.sparsity = self.final_sparsity - span * left**self.decay_power
        return True, self.sparsity

    def repair_step(self) -> tuple[bool, float]:
        return False, self.sparsity
