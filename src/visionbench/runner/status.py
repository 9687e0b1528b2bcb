"""The status of a run, kept in ``<run dir>/status.json`` so that sweeps, the leaderboard and people can tell a finished
run from a failed, pruned or unfinished one without reading its logs.

``status.json`` is rewritten atomically at each change (:func:`~visionbench.utils.atomic.write_atomically`), by the
main process only::

    {"status": "running" | "done" | "failed" | "pruned" | "interrupted" | "diverged", "reason": str | None,
     "traceback": str | None, "epoch": int | None, "step": int | None, "return_value": float | list[float] | None,
     "updated": ISO-8601 time}

What each status means:

- ``running``: started and not ended; a run killed without warning (SIGKILL, a node failure) stays ``running``.
- ``done``: trained and evaluated; ``metrics.json`` holds its results.
- ``failed``: stopped by an error (``reason``: its one-line message, ``traceback``), whenever it happened.
- ``pruned``: stopped early by an Optuna pruner (``epoch``, ``step``: where).
- ``interrupted``: stopped by SIGTERM / SIGINT (a scheduler's time limit or pre-emption, Ctrl-C) at ``epoch`` /
  ``step``; ``reason`` names the checkpoint to resume from (``python train.py ckpt_path=<run dir>``).
- ``diverged``: a non-finite loss, gradient, weight or monitored metric at ``epoch`` / ``step`` (``reason`` says which);
  no metrics were written and no checkpoint holds non-finite weights.

Interrupted, diverged and failed runs are re-run by a resumed sweep (only :data:`FINISHED` ones are skipped).
"""

from __future__ import annotations

import json
import math
import numbers
import sys
import traceback
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from visionbench.utils.atomic import write_text_atomically

STATUS_FILE = "status.json"
RUNNING, DONE, FAILED, PRUNED = "running", "done", "failed", "pruned"
INTERRUPTED, DIVERGED = "interrupted", "diverged"
STATUSES = (RUNNING, DONE, FAILED, PRUNED, INTERRUPTED, DIVERGED)
"""Every status a run can have; the one place that lists them."""
FINISHED = (DONE, PRUNED)
"""Statuses of runs that a resumed sweep does not run again."""
FIELDS = ("reason", "traceback", "epoch", "step", "return_value")


class RunStopped(Exception):
    """A run that ended early for a reason its message explains in one line (not a bug: no traceback is recorded):
    :attr:`status` is what ``status.json`` records, with :attr:`epoch` and :attr:`step`, and :attr:`exit_code` the
    process's exit status."""

    status: str = FAILED
    exit_code: int = 1

    def __init__(self, reason: str, epoch: int | None = None, step: int | None = None) -> None:
        super().__init__(reason)
        self.epoch = epoch
        self.step = step


def _number(value: Any) -> float | None:
    """``value`` as a JSON-safe float (NaN -> None)."""
    number = float(value)
    return None if math.isnan(number) else number


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) or (isinstance(value, torch.Tensor | np.ndarray) and value.ndim == 0)


def json_return_value(value: Any) -> float | list[float | None] | None:
    """What a run returned to its sweeper (a number, or a list of numbers: one per objective) as JSON numbers; None
    for anything else (evaluate.py returns its metrics, which metrics.json holds)."""
    if _is_number(value):
        return _number(value)
    if isinstance(value, Sequence) and not isinstance(value, str) and value and all(map(_is_number, value)):
        return [_number(item) for item in value]
    return None


def _encode(status: str, fields: dict[str, Any]) -> str:
    """The text of a status.json holding ``status``, ``fields`` (keys of :data:`FIELDS`; absent ones are null) and
    the current time."""
    if status not in STATUSES:
        raise ValueError(f"unknown run status {status!r}; expected one of {', '.join(STATUSES)}")
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise TypeError(f"unknown status.json field(s) {unknown}; expected some of {', '.join(FIELDS)}")
    record = {"status": status, **dict.fromkeys(FIELDS), **fields}
    record["return_value"] = json_return_value(record["return_value"])
    record["updated"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return json.dumps(record, indent=2) + "\n"


def write_status(run_dir: Path, status: str, **fields: Any) -> None:
    """Write ``<run_dir>/status.json`` (replacing an earlier one) with ``status``, ``fields`` (keys of
    :data:`FIELDS`; absent ones are null) and the current time."""
    write_text_atomically(Path(run_dir) / STATUS_FILE, _encode(status, fields), replace=True)


def read_status(run_dir: Path) -> dict[str, Any] | None:
    """The content of ``<run_dir>/status.json``; None when the run has none (not started, or written before runs
    recorded their status)."""
    path = Path(run_dir) / STATUS_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(record, dict) or record.get("status") not in STATUSES:
        raise ValueError(f"{path}: expected a JSON object whose 'status' is one of {', '.join(STATUSES)}")
    return record


def one_line(error: BaseException) -> str:
    """``<ExceptionType>: <first line of its message>``: the reason a run failed, for one console line."""
    message = str(error).strip().splitlines()
    return f"{type(error).__name__}: {message[0]}" if message else type(error).__name__


def is_pruned(error: BaseException) -> bool:
    """Whether ``error`` is Optuna's ``TrialPruned`` (a pruned trial, not a failure); False when Optuna was never
    imported (nothing could have raised it then)."""
    if "optuna" not in sys.modules:
        return False
    from optuna.exceptions import TrialPruned

    return isinstance(error, TrialPruned)


def write_failure(run_dir: Path, error: BaseException) -> None:
    """Record ``error`` as the end of the run: ``pruned`` (with the ``epoch`` and ``step`` the pruning callback
    attached) for Optuna's ``TrialPruned``, the error's own status with its epoch and step for a :class:`RunStopped`
    (``interrupted``, ``diverged``), otherwise ``failed`` with the one-line reason and the traceback."""
    if isinstance(error, RunStopped):
        write_status(run_dir, error.status, reason=str(error), epoch=error.epoch, step=error.step)
        return
    if is_pruned(error):
        fields = {"epoch": getattr(error, "epoch", None), "step": getattr(error, "step", None)}
        write_status(run_dir, PRUNED, reason=str(error), **fields)
        return
    trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    write_status(run_dir, FAILED, reason=one_line(error), traceback=trace)


def start_run(run_dir: Path) -> None:
    """Write ``running`` into a run directory that has no status yet (creating the directory); a directory that
    already holds a run's status is refused, so that a run never takes over an earlier run's status."""
    path = Path(run_dir) / STATUS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    if not write_text_atomically(path, _encode(RUNNING, {}), replace=False):
        raise FileExistsError(f"{run_dir} already holds a run ({STATUS_FILE}); refusing to overwrite it")
