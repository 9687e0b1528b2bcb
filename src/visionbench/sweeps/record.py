"""``<sweep dir>/sweep.json``: what became of every job of a sweep, across the invocations that ran into that folder.

::

    {"varying": [keys whose values differ between jobs],
     "jobs": {"<job folder>": {"status": "running" | "done" | "failed" | "pruned" | "skipped",
                               "overrides": [...], "dir": "<job folder>", "reason": str | None,
                               "attempts": int, "invocation": int}},
     "invocations": int}

``running``: launched by an invocation that has not recorded the outcome yet (or was killed); ``skipped``: finished
by an earlier invocation and not run again by the one that recorded it (``reason`` says how it had finished).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from visionbench.utils.atomic import write_text_atomically

SWEEP_FILE = "sweep.json"
JOB_STATUSES = ("running", "done", "failed", "pruned", "skipped")


@dataclass
class SweepRecord:
    """The content of a sweep folder's sweep.json (see the module docstring)."""

    sweep_dir: Path
    varying: list[str] = field(default_factory=list)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    invocations: int = 0

    @classmethod
    def read(cls, sweep_dir: Path) -> SweepRecord:
        """The record of ``sweep_dir``; an empty one when it has no sweep.json yet."""
        path = Path(sweep_dir) / SWEEP_FILE
        if not path.is_file():
            return cls(Path(sweep_dir))
        try:
            data = json.loads(path.read_text())
            return cls(Path(sweep_dir), list(data["varying"]), dict(data["jobs"]), int(data["invocations"]))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise ValueError(
                f"{path}: not a sweep record ({error}); expected JSON with 'varying', 'jobs' and 'invocations'"
            ) from error

    def write(self) -> None:
        """Write sweep.json atomically (replacing the previous version)."""
        data = {"varying": self.varying, "jobs": self.jobs, "invocations": self.invocations}
        write_text_atomically(self.sweep_dir / SWEEP_FILE, json.dumps(data, indent=2) + "\n", replace=True)

    def add_varying(self, keys: Sequence[str]) -> None:
        """Add ``keys`` to the varying keys (earlier invocations' keys are kept, in their order)."""
        self.varying.extend(key for key in keys if key not in self.varying)

    def set_job(self, name: str, status: str, overrides: Sequence[str], reason: str | None, launched: bool) -> None:
        """Record the job in folder ``name`` as having ``status`` in the current invocation; ``launched`` counts one
        more attempt."""
        if status not in JOB_STATUSES:
            raise ValueError(f"unknown job status {status!r}; expected one of {', '.join(JOB_STATUSES)}")
        attempts = self.jobs.get(name, {}).get("attempts", 0) + int(launched)
        self.jobs[name] = {
            "status": status,
            "overrides": list(overrides),
            "dir": name,
            "reason": reason,
            "attempts": attempts,
            "invocation": self.invocations,
        }

    def current_jobs(self) -> dict[str, dict[str, Any]]:
        """The jobs the latest invocation ran or skipped."""
        return {name: job for name, job in self.jobs.items() if job["invocation"] == self.invocations}
