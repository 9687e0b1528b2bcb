"""Measuring one model under each setting, in the current process: a generator of records."""

from __future__ import annotations

import contextlib
import math
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch._inductor.runtime.cache_dir_utils import temporary_cache_dir

from visionbench.benchmark.environment import environment_columns
from visionbench.benchmark.flops import FlopCount, count_flops
from visionbench.benchmark.memory import PeakMemory
from visionbench.benchmark.records import FAILED, OK, SKIPPED, Record, error_reason, unmeasured_record
from visionbench.benchmark.settings import Setting
from visionbench.benchmark.timing import TimeBudgetExceeded, Timings, time_calls
from visionbench.benchmark.workloads import Workload


@dataclass(frozen=True)
class Options:
    """How each record is measured: on ``device``, ``warmup`` untimed calls (the first one timed apart as the first
    call) then ``repeats`` timed ones, each record within ``time_cap_s`` seconds (None: no cap) or skipped."""

    device: str = "cpu"
    warmup: int = 1
    repeats: int = 3
    time_cap_s: float | None = None


def flop_count(workload: Workload, height: int, width: int) -> FlopCount | str:
    """FLOPs of one sample (one call of batch 1, fp32, eager; a tracker: the mean over its sequence's frames) at
    ``height`` x ``width``, or why they could not be counted."""
    try:
        call, _ = workload.prepare(Setting("fp32", "contiguous", "eager", 1, height, width))
        calls = workload.calls_per_repeat
        count = count_flops(lambda: [call() for _ in range(calls)])
    except Exception as error:  # noqa: BLE001 (any failure of the model is reported in its rows)
        return f"not counted: {error_reason(error)}"
    if count.flops is None:
        return count
    uncounted = {name: max(1, round(n / calls)) for name, n in count.uncounted.items()}
    return FlopCount(count.flops // calls, uncounted)


@contextlib.contextmanager
def cold_compilation(setting: Setting) -> Iterator[None]:
    """For a compiled setting, an empty inductor cache (a fresh directory, in-memory caches cleared), so that its first
    call compiles from nothing instead of reusing kernels an earlier run left in the shared cache directory."""
    if setting.mode != "compile":
        yield
        return
    with tempfile.TemporaryDirectory(prefix="visionbench-inductor-") as directory, temporary_cache_dir(directory):
        yield


def _timing_columns(timings: Timings, samples: int) -> Record:
    total = timings.total_s
    return {
        "first_call_s": timings.first_call_s,
        "latency_p50_ms": timings.p50_s * 1e3,
        "latency_p90_ms": timings.p90_s * 1e3,
        "samples_per_s": samples * len(timings.latencies_s) / total if total > 0 else math.nan,
        "timed_calls": len(timings.latencies_s),
    }


def measure_setting(
    name: str, workload: Workload, setting: Setting, count: FlopCount | str, options: Options
) -> Record:
    """One record: the setting's call timed (:func:`~visionbench.benchmark.timing.time_calls`), its peak memory over
    the calls after the first, FLOPs of the batch (one sample's x the samples per call). A setting that does not
    apply, or that runs past ``options.time_cap_s``, is ``skipped``; one that raises is ``failed``, with the
    reason."""
    device = torch.device(options.device)
    outside_torch = isinstance(count, FlopCount) and count.flops is None
    reason = workload.unsupported(setting, outside_torch)
    if reason:
        return unmeasured_record(name, setting, device, SKIPPED, reason)
    record = unmeasured_record(name, setting, device, OK, "")
    samples = workload.samples(setting)
    record["parameters"] = workload.parameters
    if isinstance(count, FlopCount):
        record["flops"] = None if count.flops is None else count.flops * samples
        record["macs"] = None if count.macs is None else count.macs * samples
        record["uncounted_ops"] = count.uncounted_text()
    else:
        record["uncounted_ops"] = count
    memory = PeakMemory(device)
    calls = workload.calls_per_repeat
    try:
        if device.type == "cuda":
            torch.cuda.empty_cache()
        with cold_compilation(setting):
            call, (record["height"], record["width"]) = workload.prepare(setting)
            record.update(environment_columns(device))
            timings = time_calls(
                call, options.warmup * calls, options.repeats * calls, device, options.time_cap_s, memory.start
            )
    except TimeBudgetExceeded as error:
        record.update(status=SKIPPED, reason=f"over {error.budget_s:g} s", first_call_s=error.timings.first_call_s)
        return record
    except Exception as error:  # noqa: BLE001 (a failing cell is a row; the others go on)
        record.update(status=FAILED, reason=error_reason(error))
        return record
    finally:
        if setting.mode == "compile":
            torch._dynamo.reset()
    peak = memory.stop()
    record.update(_timing_columns(timings, samples), peak_memory_mb=None if peak is None else peak / 2**20)
    return record


def measure_model(
    name: str,
    workload: Workload,
    settings: Sequence[Setting],
    options: Options,
    on_start: Callable[[Setting], object] | None = None,
) -> Iterator[Record]:
    """The record of each setting, in order; FLOPs are counted once per resolution. ``on_start(setting)`` is called
    when a setting's measurement starts (after the FLOP count)."""
    counts: dict[tuple[int, int], FlopCount | str] = {}
    over_cap: list[Setting] = []
    for setting in settings:
        size = (setting.height, setting.width)
        if size not in counts:
            counts[size] = flop_count(workload, *size)
        if on_start is not None:
            on_start(setting)
        slower = next((smaller for smaller in over_cap if setting.follows(smaller)), None)
        if slower is not None:
            yield unmeasured_record(name, setting, torch.device(options.device), SKIPPED, over_cap_reason(slower))
            continue
        record = measure_setting(name, workload, setting, counts[size], options)
        if record["status"] == SKIPPED and str(record["reason"]).startswith("over "):
            over_cap.append(setting)
        yield record


def over_cap_reason(smaller: Setting) -> str:
    """Why a setting is not run: the same setting at a smaller batch ran over the time cap."""
    return f"not run: batch {smaller.batch} of this setting was over the time cap"
