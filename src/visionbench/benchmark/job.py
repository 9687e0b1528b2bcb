"""One model's share of a benchmark run (:class:`Job`), run in this process (:func:`run_job`) or, so that each
model's peak memory and crashes are its own, in a fresh Python process (:func:`run_isolated`, the worker being
``python -m visionbench.benchmark.job``), which is stopped when a record runs far past the time cap."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from omegaconf import OmegaConf

from visionbench.benchmark.measure import Options, measure_model, over_cap_reason
from visionbench.benchmark.records import FAILED, SKIPPED, Record, error_reason, unmeasured_record
from visionbench.benchmark.settings import Setting
from visionbench.benchmark.workloads import workload_for
from visionbench.runner.builders import build_model
from visionbench.tasks.contract import problem_contract

RECORD_PREFIX, START_LINE = "BENCHMARK-RECORD ", "BENCHMARK-START"
"""The worker's stdout lines that carry a record, and that announce the start of a setting's measurement (anything
else a model prints is ignored)."""
STOP_GRACE_S = 20.0
"""Seconds past the time cap after which a worker still measuring one setting (e.g. compiling) is stopped."""
PREPARE_LIMIT_S = 600.0
"""Seconds a worker may spend building the model and counting its FLOPs before a setting starts."""


@dataclass(frozen=True)
class Job:
    """``name``: the model config as ``model=`` takes it; ``model``: its resolved config node; ``task``: the task's
    ``_target_`` (whose class carries the problem contract); ``facts``: dataset facts the model is built with (e.g.
    ``num_classes``); the ``settings`` to measure, the measurement ``options`` and the CPU ``threads`` (None:
    torch's default)."""

    name: str
    model: dict[str, Any]
    task: str
    facts: dict[str, Any] = field(default_factory=dict)
    settings: list[Setting] = field(default_factory=list)
    options: Options = field(default_factory=Options)
    threads: int | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Job:
        data = json.loads(text)
        settings = [Setting(**setting) for setting in data.pop("settings")]
        return cls(settings=settings, options=Options(**data.pop("options")), **data)


def run_job(job: Job, on_start: Callable[[Setting], object] | None = None) -> Iterator[Record]:
    """The record of each of the job's settings, measured in this process (``on_start(setting)`` when a setting's
    measurement starts); a model that cannot be built gives a ``failed`` row per setting."""
    device = torch.device(job.options.device)
    if job.threads:
        torch.set_num_threads(job.threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # the fastest kernels for each input shape, chosen on the first call
    try:
        contract = problem_contract(OmegaConf.create({"task": {"_target_": job.task}}))
        model = build_model(OmegaConf.create(job.model), **job.facts)
        workload = workload_for(model, contract, device)
    except Exception as error:  # noqa: BLE001 (every setting of an unbuildable model is a failed row)
        for setting in job.settings:
            yield unmeasured_record(job.name, setting, device, FAILED, f"building the model: {error_reason(error)}")
        return
    yield from measure_model(job.name, workload, job.settings, job.options, on_start)


def _lines(stream: Any, lines: queue.Queue) -> None:
    for line in stream:
        if line.startswith(RECORD_PREFIX):
            lines.put(line[len(RECORD_PREFIX) :])
        elif line.startswith(START_LINE):
            lines.put(START_LINE)
    lines.put(None)


def _stderr_tail(errors: Any) -> str:
    errors.seek(0)
    return ([text for text in errors.read().splitlines() if text.strip()] or [""])[-1][-300:]


def run_isolated(job: Job) -> Iterator[Record]:
    """:func:`run_job` in a fresh worker process per model. A worker that dies fails its current setting (with the
    last line it wrote on stderr); one still measuring a setting ``STOP_GRACE_S`` past the time cap (a first call
    that does not end, e.g. a long compilation) or still preparing after ``PREPARE_LIMIT_S`` is stopped and the
    setting ``skipped``; a new worker takes the remaining settings."""
    device = torch.device(job.options.device)
    cap = job.options.time_cap_s
    remaining, over_cap = list(job.settings), []
    while remaining:
        for slower in over_cap:  # what an earlier worker learnt: larger batches of a setting over the cap
            for setting in [setting for setting in remaining if setting.follows(slower)]:
                remaining.remove(setting)
                yield unmeasured_record(job.name, setting, device, SKIPPED, over_cap_reason(slower))
        if not remaining:
            break
        with tempfile.TemporaryFile("w+") as errors:
            worker = subprocess.Popen(
                [sys.executable, "-m", "visionbench.benchmark.job"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
            )
            worker.stdin.write(Job(**{**asdict(job), "settings": remaining, "options": job.options}).to_json())
            worker.stdin.close()
            lines: queue.Queue = queue.Queue()
            threading.Thread(target=_lines, args=(worker.stdout, lines), daemon=True).start()
            limit, started = PREPARE_LIMIT_S, False
            while remaining:
                try:
                    line = lines.get(timeout=limit)
                except queue.Empty:
                    worker.kill()
                    worker.wait()
                    phase = f"over {cap:g} s" if started and cap is not None else f"not started in {limit:g} s"
                    over_cap.append(remaining.pop(0))
                    yield unmeasured_record(job.name, over_cap[-1], device, SKIPPED, f"{phase} (worker stopped)")
                    break
                if line is None:
                    reason = f"worker exit {worker.wait()}: {_stderr_tail(errors)}"
                    yield unmeasured_record(job.name, remaining.pop(0), device, FAILED, reason)
                    break
                if line == START_LINE:
                    limit, started = (None if cap is None else cap + STOP_GRACE_S), True
                    continue
                limit, started = PREPARE_LIMIT_S, False
                record = json.loads(line)
                if record["status"] == SKIPPED and str(record["reason"]).startswith("over "):
                    over_cap.append(remaining[0])
                remaining.pop(0)
                yield record
            else:
                worker.wait()


def main() -> None:
    """The worker: a :class:`Job` as JSON on stdin, one JSON record per line on stdout as each is measured."""
    for record in run_job(Job.from_json(sys.stdin.read()), lambda _: print(START_LINE, flush=True)):
        print(RECORD_PREFIX + json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
