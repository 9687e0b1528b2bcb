"""Pre-emption on SLURM: a requeued job continues its own run instead of being refused.

SLURM restarts a requeued job with the same job id and ``SLURM_RESTART_COUNT`` incremented, whether Lightning requeued
it (``SLURMEnvironment(auto_requeue=True)``: on the signal sent before the time limit it saves
``<run dir>/hpc_ckpt_<n>.ckpt`` and calls ``scontrol requeue``) or the cluster did (pre-emption with
``PreemptMode=REQUEUE``, a node failure). submitit then runs the same Hydra job, which lands in the same job directory:
a folder that already holds the run's outputs, which a new run refuses
(:func:`~visionbench.runner.run_dir.ensure_fresh`).

It is accepted only when this process is such a restart of the very job that started the run: the first attempt records
its job id in ``<run dir>/slurm.json``; a restart (``SLURM_RESTART_COUNT >= 1``) with the same ``SLURM_JOB_ID``
continues from the run's newest checkpoint, and the earlier attempt's ``status.json`` and ``env.json`` (and results,
if it got that far) are kept in ``<run dir>/requeued/<attempt>/``. Anything else is a new run and must start in an
empty folder.
"""

import functools
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from omegaconf import DictConfig
from pytorch_lightning.utilities import rank_zero_only

from visionbench.runner.reporting import write_json
from visionbench.runner.run_dir import ensure_fresh
from visionbench.runner.status import STATUS_FILE

Result = TypeVar("Result")

SLURM_RECORD = "slurm.json"
ATTEMPTS_DIR = "requeued"
ATTEMPT_FILES = (STATUS_FILE, "env.json", "metrics.json", "run.json", "scores.npz")
"""Files written once per attempt (at its start, or at its end if it got there): a restart writes them again, so the
earlier attempt's are moved aside, never replaced."""


@dataclass(frozen=True)
class SlurmJob:
    """The SLURM job this process belongs to: its id and how many times SLURM restarted it."""

    job_id: str
    restart_count: int

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> "SlurmJob | None":
        """From ``SLURM_JOB_ID`` and ``SLURM_RESTART_COUNT`` (absent: 0); None outside SLURM."""
        job_id = environ.get("SLURM_JOB_ID")
        if not job_id:
            return None
        return cls(job_id=job_id, restart_count=int(environ.get("SLURM_RESTART_COUNT") or 0))


def recorded_job_id(run_dir: Path) -> str | None:
    """The SLURM job id recorded by the run's first attempt (None when it recorded none)."""
    path = run_dir / SLURM_RECORD
    if not path.is_file():
        return None
    try:
        return str(json.loads(path.read_text())["job_id"])
    except (json.JSONDecodeError, KeyError) as error:
        raise ValueError(f"{path}: expected JSON with a 'job_id' key ({error})") from error


def is_requeued_run(run_dir: Path, environ: Mapping[str, str]) -> bool:
    """Whether this process is a SLURM restart of the job that started the run in ``run_dir``."""
    job = SlurmJob.from_environment(environ)
    return job is not None and job.restart_count > 0 and recorded_job_id(run_dir) == job.job_id


def newest_checkpoint(run_dir: Path) -> Path | None:
    """The most recently written checkpoint of the run: Lightning's ``hpc_ckpt_<n>.ckpt`` or one in ``checkpoints/``."""
    candidates = [*run_dir.glob("hpc_ckpt_*.ckpt"), *(run_dir / "checkpoints").glob("*.ckpt")]
    return max(candidates, key=lambda path: path.stat().st_mtime_ns, default=None)


def keep_earlier_attempt(run_dir: Path, environ: Mapping[str, str] = os.environ) -> None:
    """In a requeued SLURM job of the run in ``run_dir`` (:func:`is_requeued_run`), move the earlier attempt's
    per-attempt files (:data:`ATTEMPT_FILES`) to ``<run dir>/requeued/<attempt>/`` so that this attempt writes its own;
    nothing otherwise. Call it once, on the main process, before the run records its status."""
    if not is_requeued_run(run_dir, environ):
        return
    files = [run_dir / name for name in ATTEMPT_FILES if (run_dir / name).exists()]
    if not files:
        return
    destination = run_dir / ATTEMPTS_DIR / str(SlurmJob.from_environment(environ).restart_count - 1)
    destination.mkdir(parents=True)  # an existing folder is an error: nothing of an earlier attempt is replaced
    for path in files:
        path.rename(destination / path.name)


def continues_requeued_run(run: Callable[[DictConfig], Result]) -> Callable[[DictConfig], Result]:
    """Decorate a ``run(cfg)`` (outside :func:`~visionbench.runner.errors.reports_run_dir`, which records a new
    status): a requeued SLURM job first keeps its earlier attempt's files aside (:func:`keep_earlier_attempt`)."""

    @functools.wraps(run)
    def wrapper(cfg: DictConfig) -> Result:
        if rank_zero_only.rank == 0:
            keep_earlier_attempt(Path(cfg.paths.output_dir))
        return run(cfg)

    return wrapper


def start_or_continue(
    run_dir: Path, ckpt_path: str | None, is_main: bool, environ: Mapping[str, str] = os.environ
) -> str | None:
    """Prepare ``run_dir`` for this process's run and return the checkpoint to start from.

    A new run: the folder must hold no earlier run (:func:`ensure_fresh`, on the main process), the SLURM job id is
    recorded when under SLURM, and ``ckpt_path`` (the configured one) is returned. A requeued SLURM job of this run
    (:func:`is_requeued_run`, the same answer on every rank): the run's newest checkpoint (``ckpt_path`` when it had
    written none yet).
    """
    if is_requeued_run(run_dir, environ):
        checkpoint = newest_checkpoint(run_dir)
        return str(checkpoint) if checkpoint else ckpt_path
    if is_main:
        ensure_fresh(run_dir)
        job = SlurmJob.from_environment(environ)
        if job is not None:
            write_json({"job_id": job.job_id}, run_dir / SLURM_RECORD)
    return ckpt_path
