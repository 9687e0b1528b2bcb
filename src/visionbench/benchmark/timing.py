"""Wall-clock timing of a callable: the first call apart (it includes compilation, caches, lazy initialisation),
then warm-up calls, then timed calls, with CUDA synchronised around every call so that a call's time is the time
of its work on the device and not of its launch."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass(frozen=True)
class Timings:
    """What :func:`time_calls` measured: the first call's duration (``first_call_s``; with ``torch.compile`` it
    includes compilation) and the duration of each timed call after warm-up (``latencies_s``, seconds)."""

    first_call_s: float
    latencies_s: list[float] = field(default_factory=list)

    @property
    def p50_s(self) -> float:
        """Median of the timed calls (NaN when none was timed)."""
        return percentile(self.latencies_s, 50)

    @property
    def p90_s(self) -> float:
        """90th percentile of the timed calls (linear interpolation; NaN when none was timed)."""
        return percentile(self.latencies_s, 90)

    @property
    def total_s(self) -> float:
        """Sum of the timed calls."""
        return sum(self.latencies_s)


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ``values``, linearly interpolated (numpy's default); NaN for no values."""
    return float(np.percentile(values, q)) if values else float("nan")


def synchronize(device: torch.device | str) -> None:
    """Wait for the queued work of a CUDA ``device`` (nothing to wait for on the CPU)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_call(call: Callable[[], object], device: torch.device | str) -> float:
    """Seconds one ``call()`` takes, the device synchronised before and after."""
    synchronize(device)
    start = time.perf_counter()
    call()
    synchronize(device)
    return time.perf_counter() - start


def time_calls(
    call: Callable[[], object],
    warmup: int,
    repeats: int,
    device: torch.device | str,
    budget_s: float | None = None,
    after_first: Callable[[], object] | None = None,
) -> Timings:
    """Call ``call()`` once (timed apart as the first call), ``warmup - 1`` more times untimed (the first call counts
    as a warm-up call), then ``repeats`` timed times.

    ``budget_s`` (None: no limit) bounds the whole measurement: when the next call, expected to last as long as the
    last one, would end after it, the remaining calls are not made and :class:`TimeBudgetExceeded` is raised carrying
    what was measured so far. ``after_first`` is called once after the first call (e.g. to start measuring memory
    past compilation).
    """
    if warmup < 1 or repeats < 1:
        raise ValueError(f"warmup and repeats must be >= 1 (the first call is a warm-up call), got {warmup}, {repeats}")
    start = time.perf_counter()
    first = last = timed_call(call, device)
    if after_first is not None:
        after_first()
    latencies: list[float] = []
    for index in range(warmup - 1 + repeats):
        if budget_s is not None and time.perf_counter() - start + last > budget_s:
            raise TimeBudgetExceeded(Timings(first, latencies), budget_s)
        last = timed_call(call, device)
        if index >= warmup - 1:
            latencies.append(last)
    return Timings(first, latencies)


class TimeBudgetExceeded(RuntimeError):
    """The calls of :func:`time_calls` would have run past its budget; ``timings`` holds what was measured."""

    def __init__(self, timings: Timings, budget_s: float) -> None:
        self.timings, self.budget_s = timings, budget_s
        super().__init__(f"over {budget_s:g} s")
