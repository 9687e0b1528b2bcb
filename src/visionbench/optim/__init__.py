"""Learning-rate schedules with one signature: ``(optimizer, total_steps) -> LRScheduler``, stepped per step."""

from visionbench.optim.schedules import constant, cosine, one_cycle, poly

__all__ = ["constant", "cosine", "one_cycle", "poly"]
