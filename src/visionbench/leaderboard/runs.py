"""Run directories as the leaderboard reads them: training runs, evaluate runs and the jobs of multiruns, found from
paths and globs. A run directory is a folder with a ``metrics.json``; it also holds ``config.yaml`` (the resolved
setup; an evaluate run's has an ``evaluation:`` node), ``env.json`` (environment, split manifests), ``scores.npz``
(per-sample scores), ``run.json`` (training runs), ``status.json`` and ``.hydra/`` (the config group choices and
overrides). Runs whose status.json is not ``done`` (failed, pruned, unfinished) are skipped, and so are the earlier
attempts a resumed sweep keeps in ``failed_attempts/``."""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from visionbench.leaderboard.errors import LeaderboardError
from visionbench.runner.scores import read_scores
from visionbench.runner.status import DONE, STATUS_FILE, read_status
from visionbench.sweeps.names import FAILED_ATTEMPTS

METRICS_FILE = "metrics.json"
BENCHMARK_FILE = "benchmark.csv"
TRAINING_EVALUATION = {"inference": None, "postprocess": None}
"""How a training run scored its val and test splits: the task's own inference, no post-processing (the defaults of
evaluate.py, which records its choices in ``evaluation:``)."""


@dataclass
class Run:
    """One run directory, read.

    Attributes:
        path: the directory.
        config: its config.yaml; a training run's gets ``evaluation:`` = :data:`TRAINING_EVALUATION`.
        choices: the config group choices (``.hydra/hydra.yaml`` ``hydra.runtime.choices``), e.g. ``model``.
        overrides: the command-line overrides (``.hydra/overrides.yaml``).
        metrics: metrics.json.
        env: env.json (empty for runs written before it existed).
        info: run.json of a training run (training time, best checkpoint), else empty.
        is_evaluation: whether evaluate.py wrote it.
        trained: for an evaluate run of a trained model, the training run when its directory is still readable.
    """

    path: Path
    config: dict[str, Any]
    choices: dict[str, Any]
    overrides: tuple[str, ...]
    metrics: dict[str, Any]
    env: dict[str, Any]
    info: dict[str, Any]
    is_evaluation: bool
    trained: Run | None = None
    _scores: dict[str, dict[str, np.ndarray]] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """The directory as given (for messages)."""
        return str(self.path)

    @property
    def seed(self) -> Any:
        """The seed of the run (an evaluate run's config holds the seed of the training run it scores)."""
        return self.config.get("seed")

    @property
    def trained_dir(self) -> Path | None:
        """The training run an evaluate run scored (``evaluation.run_dir``, or the run holding
        ``evaluation.checkpoint``); None for training runs and methods without training."""
        evaluation = self.config.get("evaluation") or {}
        if not self.is_evaluation:
            return None
        if evaluation.get("run_dir"):
            return Path(evaluation["run_dir"])
        checkpoint = evaluation.get("checkpoint")
        if checkpoint and Path(checkpoint).parent.name == "checkpoints":
            return Path(checkpoint).parent.parent
        return None

    def splits_with(self, metric: str) -> list[str]:
        """The splits whose ``<split>/<metric>`` is a number in metrics.json."""
        return [
            key.split("/", 1)[0]
            for key, value in self.metrics.items()
            if key.count("/") == 1 and key.endswith(f"/{metric}") and isinstance(value, int | float)
        ]

    def manifest(self, split: str) -> str | None:
        """The split's manifest hash (env.json ``splits.<split>.manifest``), None when not recorded."""
        return ((self.env.get("splits") or {}).get(split) or {}).get("manifest")

    def scores(self, split: str) -> dict[str, np.ndarray] | None:
        """The split's per-sample scores (``scores.npz``), None when the run has none for it."""
        if not (self.path / "scores.npz").is_file():
            return None
        if self._scores is None:
            try:
                self._scores = read_scores(self.path)
            except ValueError as error:
                raise LeaderboardError(str(error)) from error
        return self._scores.get(split)

    @property
    def train_seconds(self) -> float | None:
        """Training time (run.json; an evaluate run's from its training run)."""
        source = self.trained if self.trained is not None else self
        return source.info.get("train_seconds")

    @property
    def parameters(self) -> int | None:
        """The model's parameter count (env.json ``model_parameters``)."""
        value = self.env.get("model_parameters")
        if value is None and self.trained is not None:
            value = self.trained.env.get("model_parameters")
        return value

    @property
    def git(self) -> dict[str, Any]:
        """``{"commit": ..., "dirty": ...}`` of the code that produced the numbers (env.json)."""
        return self.env.get("git") or {}

    @property
    def metric_code(self) -> str | None:
        """The version of the problem's metric code (env.json ``metric_code``)."""
        return self.env.get("metric_code")


@dataclass(frozen=True)
class Skipped:
    """A folder that looks like a run but cannot be ranked, and why."""

    path: Path
    reason: str


@dataclass
class Scan:
    """What :func:`scan` found: runs, run-like folders skipped, and benchmark CSV files (``benchmark.csv``)."""

    runs: list[Run]
    skipped: list[Skipped]
    benchmarks: list[Path]


def _read_json(path: Path, required: bool) -> dict[str, Any]:
    if not path.is_file():
        if required:
            raise LeaderboardError(f"{path}: not found")
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise LeaderboardError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(data, dict):
        raise LeaderboardError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise LeaderboardError(f"{path}: not valid YAML ({error})") from error


def _hydra_record(path: Path) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Choices and overrides from ``<run>/.hydra`` (empty when the run was not launched through Hydra)."""
    hydra_file, overrides_file = path / ".hydra" / "hydra.yaml", path / ".hydra" / "overrides.yaml"
    choices: dict[str, Any] = {}
    if hydra_file.is_file():
        hydra = (_read_yaml(hydra_file) or {}).get("hydra") or {}
        choices = dict((hydra.get("runtime") or {}).get("choices") or {})
    overrides = tuple(str(item) for item in (_read_yaml(overrides_file) or [])) if overrides_file.is_file() else ()
    return choices, overrides


def read_run(path: Path) -> Run:
    """Read the run directory ``path`` (it must hold config.yaml and metrics.json); an evaluate run's training run is
    read too when its directory still exists."""
    config_file = path / "config.yaml"
    if not config_file.is_file():
        raise LeaderboardError(f"{config_file}: not found (every run directory holds its resolved config.yaml)")
    config = _read_yaml(config_file)
    if not isinstance(config, dict):
        raise LeaderboardError(f"{config_file}: expected a YAML mapping, found {type(config).__name__}")
    is_evaluation = "evaluation" in config
    if not is_evaluation:
        config = {**config, "evaluation": dict(TRAINING_EVALUATION)}
    choices, overrides = _hydra_record(path)
    run = Run(
        path=path,
        config=config,
        choices=choices,
        overrides=overrides,
        metrics=_read_json(path / METRICS_FILE, required=True),
        env=_read_json(path / "env.json", required=False),
        info=_read_json(path / "run.json", required=False),
        is_evaluation=is_evaluation,
    )
    trained_dir = run.trained_dir
    if trained_dir is not None and (trained_dir / "config.yaml").is_file() and (trained_dir / METRICS_FILE).is_file():
        trained = read_run(trained_dir)
        run.trained = None if trained.is_evaluation else trained
    return run


def _unfinished(path: Path) -> str | None:
    """Why the run in ``path`` cannot be ranked according to its status.json (failed, pruned, still running or
    killed), None when it is done."""
    try:
        record = read_status(path)
    except ValueError as error:
        return str(error)
    if record is None or record["status"] == DONE:
        return None
    reason = f": {record['reason']}" if record.get("reason") else ""
    return f"status {record['status']}{reason}"


def _walk(root: Path, scan: Scan) -> None:
    """Add every run below ``root`` (a folder with metrics.json ends the descent; a run whose status.json is not
    ``done`` is skipped; a sweep's ``failed_attempts`` are not entered) and every benchmark CSV."""
    for folder, subfolders, files in os.walk(root):
        here = Path(folder)
        if BENCHMARK_FILE in files:
            scan.benchmarks.append(here / BENCHMARK_FILE)
        if STATUS_FILE in files and (reason := _unfinished(here)):
            scan.skipped.append(Skipped(here, reason))
            subfolders[:] = []
            continue
        if METRICS_FILE in files:
            scan.runs.append(read_run(here))
            subfolders[:] = []
            continue
        if "config.yaml" in files or ".hydra" in subfolders:
            scan.skipped.append(Skipped(here, "no metrics.json (the run failed or has not finished)"))
        subfolders[:] = sorted(name for name in subfolders if not name.startswith(".") and name != FAILED_ATTEMPTS)


def scan(patterns: Sequence[str]) -> Scan:
    """Every run directory found from ``patterns``: run directories, folders holding runs (a multirun's sweep folder,
    ``outputs/``) or glob patterns of either (``**`` allowed). A pattern that matches nothing is an error, as is
    finding no run at all."""
    found = Scan([], [], [])
    for pattern in patterns:
        matches = sorted(glob.glob(os.path.expanduser(pattern), recursive=True))
        if not matches:
            raise LeaderboardError(f"{pattern}: no such file or directory")
        for match in map(Path, matches):
            if match.is_dir():
                _walk(match, found)
            elif match.name == BENCHMARK_FILE:
                found.benchmarks.append(match)
            elif match.name in (METRICS_FILE, "config.yaml"):
                _walk(match.parent, found)
            elif not glob.has_magic(pattern):
                raise LeaderboardError(
                    f"{match}: not a run directory (a folder with {METRICS_FILE}) nor one of its files"
                )
    unique: dict[Path, Run] = {}
    for run in found.runs:
        unique.setdefault(run.path.resolve(), run)
    found.runs = list(unique.values())
    found.benchmarks = sorted(set(found.benchmarks))
    if not found.runs:
        skipped = "".join(f"\n  {item.path}: {item.reason}" for item in found.skipped)
        raise LeaderboardError(f"no run directory (a folder with {METRICS_FILE}) in {' '.join(patterns)}{skipped}")
    return found
