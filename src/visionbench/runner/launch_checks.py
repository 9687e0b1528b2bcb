"""Checks of where a single run will write, made before Hydra creates or writes anything.

Hydra writes ``<run dir>/.hydra/*.yaml`` and opens ``<run dir>/<job name>.log`` before the task function runs, so a
run refused by the task function (:func:`~visionbench.runner.run_dir.ensure_fresh`) has already rewritten an earlier
run's ``.hydra/`` and appended to its log when pointed at it with ``hydra.run.dir=<existing run>``; and an output
location that cannot be created fails inside Hydra's interpolation resolver with an ``InterpolationResolutionError``
traceback. Both are refused here in one line naming the folder.

Not checked: multiruns (``-m``: the sweep folder is the sweeper's), DDP child ranks (Lightning re-runs the command with
``hydra.run.dir`` set to rank 0's run directory), a SLURM restart of the job that started the run
(:func:`~visionbench.runner.requeue.is_requeued_run`) and the in-place resume (``ckpt_path=``, set up after these
checks by :func:`~visionbench.runner.resume.apply_resume`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig

from visionbench.runner.requeue import is_requeued_run
from visionbench.runner.run_dir import RUN_OUTPUTS
from visionbench.runner.status import STATUS_FILE

RUN_MARKERS = (".hydra", STATUS_FILE, "env.json", *RUN_OUTPUTS)
"""Entries whose presence means a folder holds a run (Hydra's files, visionbench's outputs)."""
RUN_DIR_KEY = "hydra.run.dir"


def is_child_or_sweep(arguments: Sequence[str], environ: Mapping[str, str]) -> bool:
    """Whether this command is a DDP child rank or a multirun, whose folders the checks here leave alone."""
    return environ.get("LOCAL_RANK", "0") != "0" or any(a in ("-m", "--multirun") for a in arguments)


def run_dir_argument(arguments: Sequence[str]) -> Path | None:
    """The folder given by a ``hydra.run.dir=...`` argument (as Hydra parses it), None without one."""
    overrides = [a for a in arguments if a.partition("=")[0].lstrip("+") == RUN_DIR_KEY]
    if not overrides:
        return None
    value = OverridesParser.create().parse_overrides(overrides[-1:])[0].value()
    return Path(str(value)) if value not in (None, "") else None


def holds_run(folder: Path) -> list[str]:
    """The entries of :data:`RUN_MARKERS` present in ``folder``."""
    return [name for name in RUN_MARKERS if (folder / name).exists()]


def occupied_run_dir_message(arguments: Sequence[str], environ: Mapping[str, str] = os.environ) -> str | None:
    """One line when ``hydra.run.dir=<folder>`` names a folder that already holds a run (see :data:`RUN_MARKERS`), so
    that nothing of that run is rewritten; None otherwise."""
    folder = run_dir_argument(arguments)
    if folder is None or is_child_or_sweep(arguments, environ) or not folder.is_dir():
        return None
    found = holds_run(folder)
    if not found or is_requeued_run(folder, environ):
        return None
    resume = "" if "metrics.json" in found else f", or resume that run with ckpt_path={folder}"
    return (
        f"hydra.run.dir={folder} already holds a run ({', '.join(found)}); refusing to write into it. Leave "
        f"hydra.run.dir at its default (a new timestamped folder) or choose an empty folder{resume}"
    )


def _first_existing(path: Path) -> Path:
    """``path`` or its nearest existing ancestor: where creating ``path`` fails."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def unwritable_output_message(cfg: DictConfig, arguments: Sequence[str]) -> str | None:
    """One line when the folder under which Hydra creates this run's directory (``<paths.log_dir>/<task_name>/runs``,
    or the parent of a ``hydra.run.dir=`` argument) cannot be created or written, naming it and the system's reason;
    None otherwise. The folder is created here (Hydra would create it next)."""
    if is_child_or_sweep(arguments, os.environ):
        return None
    run_dir = run_dir_argument(arguments)
    if run_dir is not None:
        parent, key = run_dir.parent, f"{RUN_DIR_KEY}={run_dir}"
    else:
        parent, key = Path(cfg.paths.log_dir) / str(cfg.task_name) / "runs", f"paths.log_dir={cfg.paths.log_dir}"
    try:
        parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        return f"cannot write the run directory under {parent} ({key}): {_first_existing(parent)}: {reason}"
    return None
