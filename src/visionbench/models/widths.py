"""Channel counts of networks built at a fraction of their published width (small CPU models)."""

from __future__ import annotations

__all__ = ["scaled"]


def scaled(channels: int, multiplier: float) -> int:
    """``channels`` times ``multiplier``, rounded, at least 1."""
    return max(1, round(channels * multiplier))
