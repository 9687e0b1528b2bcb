"""A wrapper around any Hydra launcher that makes a sweep resumable and its failures isolated.

Each job runs in ``<sweep dir>/<name>``, ``name`` derived from its overrides (:func:`~visionbench.sweeps.names.
job_dir_name`). Launching into a sweep folder that already holds the job:

- ``status.json`` says ``done`` or ``pruned``: the job is not launched again; its stored result is returned;
- otherwise (``failed``, ``running`` left by a killed run, no status): the folder is moved whole to
  ``<sweep dir>/failed_attempts/<name>/<n>/`` (n = 1, 2 ...: never reused, nothing overwritten) and the job runs again.

Failures come back as FAILED job returns, never as exceptions, so one job cannot end the sweep. One line per job is
printed, and the outcomes are kept in ``<sweep dir>/sweep.json`` (:mod:`visionbench.sweeps.record`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from visionbench.runner.status import DONE, FINISHED, is_pruned, one_line, read_status
from visionbench.sweeps.names import FAILED_ATTEMPTS, hash_of_name, job_dir_name, overrides_hash, varying_keys
from visionbench.sweeps.record import SweepRecord

log = logging.getLogger(__name__)


@dataclass
class Job:
    """One job of a batch: its overrides, its folder name and what an earlier invocation left there."""

    overrides: list[str]
    name: str
    earlier: dict[str, Any] | None
    """status.json of an earlier attempt (``{"status": ..., "reason": ...}`` made up when unreadable or absent)."""


def say(name: str, message: str) -> None:
    """The one console line about a job."""
    print(f"[sweep] {name}: {message}", flush=True)


def pruned_error(status: dict[str, Any]) -> Exception:
    """Optuna's ``TrialPruned`` for a job that status.json records as pruned (its reason, epoch and step)."""
    from optuna.exceptions import TrialPruned

    error = TrialPruned(status.get("reason") or "pruned")
    error.epoch, error.step = status.get("epoch"), status.get("step")
    return error


def job_return(job: Job, status: JobStatus, value: Any, job_dir: Path) -> JobReturn:
    """A Hydra job return for ``job`` (the value, or the exception of a FAILED job)."""
    result = JobReturn(overrides=job.overrides, working_dir=str(job_dir), status=status)
    result.return_value = value
    return result


def move_aside(sweep_dir: Path, name: str) -> Path:
    """Move ``<sweep_dir>/<name>`` to ``<sweep_dir>/failed_attempts/<name>/<n>`` with the next unused ``n``."""
    attempts = sweep_dir / FAILED_ATTEMPTS / name
    attempts.mkdir(parents=True, exist_ok=True)
    used = [int(path.name) for path in attempts.iterdir() if path.name.isdigit()]
    target = attempts / str(max(used, default=0) + 1)
    target.mkdir()  # reserves the number; os.replace then swaps the empty folder for the attempt
    os.replace(sweep_dir / name, target)
    return target


class ResumableLauncher(Launcher):
    """Wrap ``launcher`` so that its jobs run in override-named folders of ``sweep_dir``, finished jobs are skipped,
    unfinished ones re-run (earlier attempts moved aside) and failures returned, not raised.

    Args:
        launcher: any Hydra launcher (basic, joblib, submitit), already set up or set up through :meth:`setup`.
        sweep_dir: the sweep folder (``hydra.sweep.dir``).
        varying: keys whose values tell jobs apart in their folder names; None: the keys whose values differ within
            each launched batch.
    """

    def __init__(self, launcher: Launcher, sweep_dir: Path, varying: Sequence[str] | None = None) -> None:
        self.launcher = launcher
        self.sweep_dir = Path(sweep_dir)
        self.varying = None if varying is None else list(varying)
        self.record: SweepRecord | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.launcher.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def _open_record(self) -> SweepRecord:
        """The sweep record, read and counted as one more invocation on the first launch of this launcher."""
        if self.record is None:
            self.sweep_dir.mkdir(parents=True, exist_ok=True)
            self.record = SweepRecord.read(self.sweep_dir)
            self.record.invocations += 1
        return self.record

    def _plan(self, overrides: Sequence[str], varying: Sequence[str], existing: dict[str, str]) -> Job:
        """The job of ``overrides``: its folder (an existing one with the same hash, else a new name) and the status
        an earlier attempt left there."""
        name = existing.get(overrides_hash(overrides)) or job_dir_name(overrides, varying)
        job_dir = self.sweep_dir / name
        if not job_dir.exists():
            return Job(list(overrides), name, None)
        try:
            earlier = read_status(job_dir) or {"status": "incomplete", "reason": "no status.json"}
        except ValueError as error:
            earlier = {"status": "incomplete", "reason": str(error)}
        return Job(list(overrides), name, earlier)

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        """Launch the jobs of ``job_overrides`` that are not finished in the sweep folder; a job return for every
        job, in order."""
        record = self._open_record()
        record.add_varying(self.varying if self.varying is not None else varying_keys(job_overrides))
        existing = {
            digest: path.name
            for path in sorted(self.sweep_dir.iterdir())
            if path.is_dir() and (digest := hash_of_name(path.name))
        }
        jobs = [self._plan(overrides, record.varying, existing) for overrides in job_overrides]
        results: dict[int, JobReturn] = {}
        to_run: list[int] = []
        for index, job in enumerate(jobs):
            status = (job.earlier or {}).get("status")
            if status in FINISHED:
                say(job.name, f"skip ({status})")
                value = job.earlier["return_value"] if status == DONE else pruned_error(job.earlier)
                state = JobStatus.COMPLETED if status == DONE else JobStatus.FAILED
                results[index] = job_return(job, state, value, self.sweep_dir / job.name)
                record.set_job(job.name, "skipped", job.overrides, status, launched=False)
                continue
            if job.earlier is not None:
                moved = move_aside(self.sweep_dir, job.name)
                reason = job.earlier.get("reason") or "killed before it finished"
                say(job.name, f"re-run ({job.earlier['status']}: {reason}; earlier attempt kept in {moved})")
            else:
                say(job.name, "run")
            record.set_job(job.name, "running", job.overrides, None, launched=True)
            to_run.append(index)
        record.write()
        launched = self._launch([jobs[index] for index in to_run], initial_job_idx)
        for index, result in zip(to_run, launched, strict=True):
            results[index] = result
            self._report(jobs[index], result)
        record.write()
        return [results[index] for index in range(len(jobs))]

    def _launch(self, jobs: list[Job], initial_job_idx: int) -> list[JobReturn]:
        """Run ``jobs`` through the wrapped launcher, each in its own folder; if the launcher itself fails, each job
        is judged by its status.json (done, or failed with the launcher's error)."""
        if not jobs:
            return []
        batch = [[*job.overrides, f"hydra.sweep.subdir='{job.name}'"] for job in jobs]
        try:
            results = list(self.launcher.launch(batch, initial_job_idx=initial_job_idx))
            if len(results) != len(jobs):
                raise RuntimeError(f"the launcher returned {len(results)} results for {len(jobs)} jobs")
            return results
        except Exception as error:
            log.exception("the launcher failed; judging its jobs by their status.json")
            returns = []
            for job in jobs:
                job_dir = self.sweep_dir / job.name
                status = read_status(job_dir) if job_dir.is_dir() else None
                if status is not None and status["status"] == DONE:
                    returns.append(job_return(job, JobStatus.COMPLETED, status["return_value"], job_dir))
                else:
                    returns.append(job_return(job, JobStatus.FAILED, error, job_dir))
            return returns

    def _report(self, job: Job, result: JobReturn) -> None:
        """Print and record the outcome of a launched job."""
        assert self.record is not None
        job_dir = self.sweep_dir / job.name
        if result.status == JobStatus.COMPLETED:
            say(job.name, "done")
            self.record.set_job(job.name, "done", job.overrides, None, launched=False)
            return
        error = result._return_value
        if isinstance(error, BaseException) and is_pruned(error):
            say(job.name, f"pruned ({error}) -> {job_dir}")
            self.record.set_job(job.name, "pruned", job.overrides, str(error), launched=False)
            return
        reason = one_line(error) if isinstance(error, BaseException) else "the job returned no result"
        say(job.name, f"FAILED: {reason} -> {job_dir}")
        self.record.set_job(job.name, "failed", job.overrides, reason, launched=False)
