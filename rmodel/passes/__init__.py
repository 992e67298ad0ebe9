"""Passes: small functions over an RModel (memory planning, fusions, layout clean-ups)."""

from .memory import MemoryPlan, plan_memory

__all__ = ["MemoryPlan", "plan_memory"]
