"""The problem contract: what each problem declares once, so that the runner (and later the leaderboard, the model
benchmark and the video path) reads it instead of guessing from objects or naming problems.

Every task class (the ``_target_`` of ``conf/task/<problem>.yaml``) carries its problem's contract as the class
attribute ``contract``; :func:`problem_contract` finds it from a config. Adding a problem means adding its package
(data, models, task with its contract) and its YAML files; the runner is not edited. Later capabilities extend
:class:`ProblemContract` with a method each (an example input for the benchmark, drawing a result on a video frame)
with a default here and an override where a problem differs, not with branches in the runner.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytorch_lightning as pl
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf
from rich.table import Table

SCORE_PREFIXES = ("val/", "test/")


@dataclass(frozen=True)
class Headline:
    """The score a problem is ranked by (``metric``, logged as ``<split>/<metric>``) and its direction."""

    metric: str
    direction: Literal["max", "min"]

    def key(self, split: str) -> str:
        """The metrics.json key of the headline score of ``split``, e.g. ``"val/mIoU"``."""
        return f"{split}/{self.metric}"

    def is_better(self, value: float, than: float) -> bool:
        """Whether ``value`` beats ``than`` in this direction (NaN never beats anything)."""
        if math.isnan(value):
            return False
        return math.isnan(than) or (value > than if self.direction == "max" else value < than)


@dataclass(frozen=True)
class DatasetFacts:
    """Facts a dataset hands to the objects built from the config (extra keyword arguments of each)."""

    model: dict[str, Any] = field(default_factory=dict)
    loss: dict[str, Any] = field(default_factory=dict)
    task: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EvaluationOutcome:
    """What one evaluation produced, for the runner to write and print: ``metrics`` (metrics.json), ``source``
    (extra source.json entries), ``tables`` printed before the summary and extra ``summary`` rows."""

    metrics: dict[str, float]
    source: dict[str, Any] = field(default_factory=dict)
    tables: list[Table] = field(default_factory=list)
    summary: dict[str, str] = field(default_factory=dict)


class ProblemContract:
    """What the runner needs to know of a problem. The defaults describe a problem trained and evaluated by a
    Lightning task over a datamodule, with flat ``{val,test}/<metric>`` scores and nothing more to hand over;
    each problem overrides what differs.

    Attributes:
        name: the problem's name (``conf/task/<name>.yaml``), used in messages.
        headline: the score the problem is ranked by and its direction.
        trains: whether ``train.py`` can train it (trackers only evaluate).
        evaluation_keeps_loss: whether evaluate.py builds the loss (re-identification's loss holds one weight per
            training identity, meaningless on the identities of another split).
    """

    name: str = "problem"
    headline: Headline = Headline("loss", "min")
    trains: bool = True
    evaluation_keeps_loss: bool = True
    runs_own_evaluation: bool = False
    """True for problems evaluated by :meth:`evaluate` (their own loop over the data) rather than by a Lightning
    trainer over a datamodule."""

    def nothing_to_train(self) -> str:
        """Why ``train.py`` refuses a problem that does not train, and what to run instead."""
        return f"task={self.name} has nothing to train: `python evaluate.py task={self.name} [model=...] [data=...]`"

    def dataset_facts(self, datamodule: pl.LightningDataModule) -> DatasetFacts:
        """What ``datamodule`` hands to the model, the loss and the task (e.g. the class count)."""
        return DatasetFacts()

    def evaluation_arguments(self, cfg: DictConfig, datamodule: pl.LightningDataModule) -> dict[str, Any]:
        """Evaluation-only task arguments chosen in evaluate.py (``cfg.inference``, ``cfg.postprocess``); problems
        without such choices refuse them."""
        chosen = [group for group in ("inference", "postprocess") if cfg.get(group)]
        if chosen:
            raise ValueError(
                f"{'= and '.join(chosen)}= apply to segmentation; task={self.name} has no such evaluation choice"
            )
        return {}

    def flat_metrics(self, results: Mapping[str, float], task: pl.LightningModule) -> dict[str, float]:
        """metrics.json of a Lightning evaluation: the logged ``val/`` and ``test/`` scores (losses left out)."""
        return {
            key: float(value) for key, value in results.items() if key.startswith(SCORE_PREFIXES) and "loss" not in key
        }

    def tables(self, task: pl.LightningModule) -> list[Table]:
        """Tables printed at the end of a Lightning run (e.g. per-class scores); none by default."""
        return []

    def evaluation_summary(self, task: pl.LightningModule) -> dict[str, str]:
        """Rows of the run summary saying how predictions were made (inference mode, post-processing)."""
        return {}

    def evaluate(self, setup: DictConfig, output_dir: Path) -> EvaluationOutcome:
        """The whole evaluation of a problem with :attr:`runs_own_evaluation`."""
        raise NotImplementedError(f"task={self.name} is evaluated by a Lightning trainer, not by its contract")


def problem_contract(cfg: DictConfig) -> ProblemContract:
    """The contract of the problem of ``cfg.task`` (the ``contract`` attribute of its ``_target_`` class)."""
    target = OmegaConf.select(cfg, "task._target_")
    if target is None:
        raise ValueError("the config has no task._target_: choose a problem with task=<name> (conf/task/)")
    task_class = get_class(target)
    contract = getattr(task_class, "contract", None)
    if not isinstance(contract, ProblemContract):
        raise TypeError(f"{target} declares no problem contract (a class attribute `contract: ProblemContract`)")
    return contract
