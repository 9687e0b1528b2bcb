"""Sweeps that survive failures and restarts: job folders named from their overrides, done jobs skipped when a sweep
is run again, failed ones re-run (earlier attempts kept), a record of every job in ``<sweep dir>/sweep.json`` and a
summary at the end."""

from visionbench.sweeps.launcher import ResumableLauncher
from visionbench.sweeps.names import job_dir_name

__all__ = ["ResumableLauncher", "job_dir_name"]
