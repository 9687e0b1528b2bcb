"""Resuming a training run in its own run directory: ``ckpt_path=last | <run dir> | <checkpoint file>``.

:func:`prepare_resume` runs in train.py before Hydra starts, so that a refused resume writes nothing anywhere and an
accepted one continues in the original run directory (``hydra.run.dir`` set to it, no new timestamped folder, Hydra's
``.hydra/`` files of the first attempt left as they are):

- ``ckpt_path=last``: the newest resumable checkpoint (``last.ckpt``, else the newest ``*.ckpt``) of the latest run of
  this ``task_name`` under ``paths.log_dir`` (``<log_dir>/<task_name>/runs/<timestamp>``) that has one;
- ``ckpt_path=<run dir>``: that run's newest resumable checkpoint;
- ``ckpt_path=<file>``: that checkpoint; in a run's ``checkpoints/`` folder it resumes that run, elsewhere it starts a
  new run from it.

A resume is refused, with the reason, when the checkpoint is older than the run's ``last.ckpt`` (resuming from it in
place would overwrite later checkpoints), when the run already has its evaluation outputs (``metrics.json``,
``run.json``, ``scores.npz``: it is finished), or when the command line changes the run's config in anything but
``ckpt_path`` (the differing keys are named; a larger ``trainer.max_epochs`` / ``max_steps`` is refused because the
learning-rate schedule's length was fixed when the run started). A run whose training had finished but whose
evaluation had not is resumed: nothing is left to train, it is evaluated and its outputs are written.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from visionbench.callbacks.last_checkpoint import LAST_CHECKPOINT
from visionbench.runner.cli import exit_with_error
from visionbench.runner.status import STATUS_FILE, read_status
from visionbench.utils.checkpoints import CheckpointError, read_checkpoint
from visionbench.utils.mappings import flatten

LAST = "last"
CHECKPOINTS = "checkpoints"
CONFIG_FILE = "config.yaml"
OUTCOME_FILES = ("metrics.json", "run.json", "scores.npz")
"""Files a run writes once its evaluation is done: their presence means the run is finished."""
LENGTH_KEYS = ("trainer.max_epochs", "trainer.max_steps")
IGNORED_KEYS = ("ckpt_path",)


class ResumeError(ValueError):
    """A resume that cannot be done; the message is one line naming what was looked for or what differs."""


@dataclass(frozen=True)
class ResumePoint:
    """A checkpoint to resume from and the run directory it belongs to (None: a checkpoint outside any run, from
    which a new run starts)."""

    checkpoint: Path
    run_dir: Path | None


def newest_checkpoint(run_dir: Path) -> Path | None:
    """``<run_dir>/checkpoints/last.ckpt``, else the most recently written ``*.ckpt`` there, else None."""
    folder = run_dir / CHECKPOINTS
    if (folder / LAST_CHECKPOINT).is_file():
        return folder / LAST_CHECKPOINT
    candidates = sorted(folder.glob("*.ckpt"), key=lambda path: path.stat().st_mtime) if folder.is_dir() else []
    return candidates[-1] if candidates else None


def latest_run(runs: Path) -> Path:
    """The latest run directory under ``runs`` (timestamped names: the greatest) that holds a checkpoint."""
    if not runs.is_dir():
        raise ResumeError(f"ckpt_path=last: no runs to resume: {runs} does not exist")
    for run in sorted((path for path in runs.iterdir() if path.is_dir()), key=lambda path: path.name, reverse=True):
        if newest_checkpoint(run) is not None:
            return run
    raise ResumeError(f"ckpt_path=last: no run under {runs} has a checkpoint ({CHECKPOINTS}/*.ckpt)")


def run_of(checkpoint: Path) -> Path | None:
    """The run directory a checkpoint file belongs to (``<run>/checkpoints/<file>`` beside ``<run>/config.yaml``)."""
    folder = checkpoint.resolve().parent
    return folder.parent if folder.name == CHECKPOINTS and (folder.parent / CONFIG_FILE).is_file() else None


def resolve_resume(value: str, log_dir: str | Path, task_name: str) -> ResumePoint:
    """Where ``ckpt_path=<value>`` resumes from (see the module docstring); :class:`ResumeError` naming what was
    looked for when there is nothing."""
    if value == LAST:
        run = latest_run(Path(log_dir) / task_name / "runs")
        return ResumePoint(newest_checkpoint(run), run.resolve())  # type: ignore[arg-type]
    path = Path(value)
    if path.is_dir():
        checkpoint = newest_checkpoint(path)
        if checkpoint is None:
            raise ResumeError(f"ckpt_path={value}: no checkpoint in {path / CHECKPOINTS} (looked for *.ckpt)")
        return ResumePoint(checkpoint, path.resolve())
    if not path.exists():
        raise ResumeError(
            f"ckpt_path={value} does not exist; expected a checkpoint file, a run directory or 'last' "
            f"(the latest run under {Path(log_dir) / task_name / 'runs'})"
        )
    return ResumePoint(path, run_of(path))


def config_differences(original: Mapping, resumed: Mapping) -> list[str]:
    """``key: original -> resumed`` for every key whose value differs (ignoring ``ckpt_path``)."""
    before, after = flatten(original), flatten(resumed)
    keys = sorted(
        key
        for key in set(before) | set(after)
        if key not in IGNORED_KEYS and before.get(key, ...) != after.get(key, ...)
    )
    return [f"{key}: {before.get(key, '<absent>')!r} -> {after.get(key, '<absent>')!r}" for key in keys]


def check_resumable(point: ResumePoint, original: Mapping, resumed: Mapping) -> dict:
    """Refuse (:class:`ResumeError`) an in-place resume that would overwrite later checkpoints, change the run's config
    (its length first: the reason is the schedule) or take over a finished run; returns the checkpoint's content."""
    assert point.run_dir is not None
    run = point.run_dir
    content = read_checkpoint(point.checkpoint)
    last = run / CHECKPOINTS / LAST_CHECKPOINT
    if last.is_file() and last.resolve() != point.checkpoint.resolve():
        newest = read_checkpoint(last).get("global_step", 0)
        if newest > content.get("global_step", 0):
            raise ResumeError(
                f"{point.checkpoint} (step {content.get('global_step')}) is older than the run's last state {last} "
                f"(step {newest}): resuming from it in place would overwrite later checkpoints; resume from {last}, "
                "or copy the checkpoint out of the run directory to start a new run from it"
            )
    differences = config_differences(original, resumed)
    lengths = [line for line in differences if line.split(":")[0] in LENGTH_KEYS]
    if lengths:
        raise ResumeError(
            f"cannot extend {run} ({'; '.join(lengths)}): its learning-rate schedule (sched: "
            f"{flatten(original).get('sched._target_', '?')}) was sized for the original length when the run started "
            "and would step past its end; start a new run with the new length"
        )
    if differences:
        raise ResumeError(
            f"the command line changes the config of {run} ({run / CONFIG_FILE}) in {len(differences)} key(s): "
            f"{'; '.join(differences)}; a resumed run keeps its config (only ckpt_path may differ)"
        )
    finished = [name for name in OUTCOME_FILES if (run / name).exists()]
    status = read_status(run)
    if finished or (status and status["status"] == "done"):
        raise ResumeError(
            f"{run} is a finished run ({', '.join(finished) or 'status done'} present): nothing to resume; "
            "evaluate it with evaluate.py run_dir=<run>, or start a new run"
        )
    return content


def _ckpt_argument(arguments: Sequence[str]) -> int | None:
    """The position of the ``ckpt_path=...`` argument, None without one."""
    return next((i for i, argument in enumerate(arguments) if argument.partition("=")[0] == "ckpt_path"), None)


def _compose(conf_dir: Path, config_name: str, overrides: Sequence[str]) -> DictConfig:
    with initialize_config_dir(config_dir=str(conf_dir.resolve()), version_base="1.3"):
        return compose(config_name, overrides=list(overrides))


def prepare_resume(conf_dir: Path, config_name: str, arguments: Sequence[str]) -> list[str]:
    """The command-line arguments with which Hydra runs ``arguments``: unchanged for a run that does not resume
    in place; for an in-place resume, ``ckpt_path`` resolved to the checkpoint file and ``hydra.run.dir`` set to the
    run directory (with ``hydra.output_subdir=null``: the first attempt's ``.hydra/`` is kept), after every check of
    :func:`check_resumable` (:class:`ResumeError` otherwise, with nothing written). The run's old ``status.json`` is
    removed so that the resumed run records its own."""
    position = _ckpt_argument(arguments)
    multirun = any(argument in ("-m", "--multirun") for argument in arguments)
    if position is None or multirun or os.environ.get("LOCAL_RANK", "0") != "0":  # DDP children: rank 0 prepared
        return list(arguments)
    value = arguments[position].partition("=")[2].strip("'\"")
    if value in ("", "null"):
        return list(arguments)
    overrides = [a for a in arguments if not a.startswith("-") and ("=" in a or a.startswith("~"))]
    others = [a for a in overrides if a != arguments[position]]
    cfg = _compose(conf_dir, config_name, others)
    point = resolve_resume(value, cfg.paths.log_dir, cfg.task_name)
    if point.run_dir is None:  # a checkpoint from outside any run: a new run starts from it
        return list(arguments)
    original = OmegaConf.to_container(OmegaConf.load(point.run_dir / CONFIG_FILE), resolve=False)
    output_dir = str(flatten(original).get("paths.output_dir", point.run_dir))
    resumed = _compose(conf_dir, config_name, [*others, f"paths.output_dir='{output_dir}'"])
    check_resumable(point, original, OmegaConf.to_container(resumed, resolve=True))
    (point.run_dir / STATUS_FILE).unlink(missing_ok=True)
    resolved = list(arguments)
    resolved[position] = f"ckpt_path='{point.checkpoint.resolve()}'"
    return [*resolved, f"hydra.run.dir='{point.run_dir}'", "hydra.output_subdir=null"]


def apply_resume(conf_dir: Path, config_name: str) -> None:
    """Before Hydra starts: rewrite ``sys.argv`` for an in-place resume (:func:`prepare_resume`), or print why the
    resume is refused in one line and exit with status 1, having written nothing."""
    try:
        sys.argv[1:] = prepare_resume(conf_dir, config_name, sys.argv[1:])
    except (ResumeError, CheckpointError) as error:
        exit_with_error(str(error))


def resumes_in_place(cfg: DictConfig) -> bool:
    """Whether this run resumes from a checkpoint of its own run directory (set up by :func:`prepare_resume`)."""
    if not cfg.get("ckpt_path"):
        return False
    return run_of(Path(cfg.ckpt_path)) == Path(cfg.paths.output_dir).resolve()
