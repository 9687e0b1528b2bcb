"""A Hydra callback that ends a multirun with the outcome of its jobs (from ``<sweep dir>/sweep.json``) and a
non-zero exit status when one of them failed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from visionbench.sweeps.record import SWEEP_FILE, SweepRecord

ORDER = ("done", "skipped", "pruned", "failed", "running")
"""The order of the summary's sections (``running``: jobs whose outcome the sweep could not record)."""


def summary_lines(record: SweepRecord) -> list[str]:
    """Lines saying what became of each job of the latest invocation: counts, then one line per job (status, folder,
    reason)."""
    jobs = record.current_jobs()
    counts = {status: sum(job["status"] == status for job in jobs.values()) for status in ORDER}
    heading = ", ".join(f"{count} {status}" for status, count in counts.items() if count)
    lines = [f"sweep {record.sweep_dir}: {heading or 'no job'}"]
    for status in ORDER:
        for _, job in sorted(jobs.items()):
            if job["status"] == status:
                reason = f" ({job['reason']})" if job.get("reason") else ""
                lines.append(f"  {status:<8} {record.sweep_dir / job['dir']}{reason}")
    return lines


def failed(record: SweepRecord) -> bool:
    """Whether a job of the latest invocation failed (or never reported back); pruned trials are not failures."""
    return any(job["status"] in ("failed", "running") for job in record.current_jobs().values())


class SweepSummary(Callback):
    """At the end of a multirun: print done / skipped / pruned / failed jobs with their folders, then exit with
    status 1 when a job of this invocation failed. Listed in conf/hydra/default.yaml *before* the leaderboard callback:
    Hydra calls the ``on_multirun_end`` hooks in reverse order, and this one must run last. A sweep without
    sweep.json (a sweeper that does not launch through :class:`~visionbench.sweeps.launcher.ResumableLauncher`) is
    left alone."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not (sweep_dir / SWEEP_FILE).is_file():
            return
        record = SweepRecord.read(sweep_dir)
        print("\n".join(summary_lines(record)), flush=True)
        if failed(record):
            raise SystemExit(1)
