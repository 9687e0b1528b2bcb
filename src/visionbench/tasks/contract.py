"""The problem contract: what each problem declares once, so that the runner (and later the leaderboard, the model
benchmark and the video path) reads it instead of guessing from objects or naming problems.

Every task class (the ``_target_`` of ``conf/task/<problem>.yaml``) carries its problem's contract as the class
attribute ``contract``; :func:`problem_contract` finds it from a config. Adding a problem means adding its package
(data, models, task with its contract) and its YAML files; the runner is not edited. Later capabilities extend
:class:`ProblemContract` with a method each (an example input for the benchmark, drawing a result on a video frame)
with a default here and an override where a problem differs, not with branches in the runner.
"""

from __future__ import annotations

import hashlib
import importlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytorch_lightning as pl
import torch
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf
from rich.table import Table
from torch import Tensor, nn

SCORE_PREFIXES = ("val/", "test/")
SUMMARY_SIZE = (64, 64)
"""Height and width of the example input a task shows Lightning's model summary (which then reports FLOPs)."""
RESAMPLE = "resample"
"""The split name under which :meth:`ProblemContract.resampled_headline` recomputes resampled metrics."""
SplitScores = dict[str, dict[str, np.ndarray]]
"""Per-sample scores of each split evaluated: ``{split: {"sample_id": N names, <field>: N x ... array}}``."""


def source_hash(modules: Sequence[str]) -> str:
    """``"sha256:<hex>"`` of the source files of ``modules`` (importable names; a package counts with every ``.py``
    file below it): each file's path (relative to the folder holding its top-level package) and bytes, in order."""
    digest = hashlib.sha256()
    for name in modules:
        module = importlib.import_module(name)
        root = Path(importlib.import_module(name.split(".")[0]).__file__).parents[1]
        folders = getattr(module, "__path__", None)  # a package: every module below it
        paths = [Path(module.__file__)]
        if folders:
            paths = sorted(path for folder in folders for path in Path(folder).rglob("*.py"))
        for path in paths:
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return "sha256:" + digest.hexdigest()


def check_counts(scores: Mapping[str, np.ndarray], counts: np.ndarray) -> np.ndarray:
    """``counts`` as a B x N int64 array of draws of the N samples of ``scores``; a ValueError otherwise."""
    counts = np.asarray(counts)
    samples = len(scores["sample_id"])
    if counts.ndim != 2 or counts.shape[1] != samples or not np.issubdtype(counts.dtype, np.integer):
        raise ValueError(f"counts must be a B x {samples} integer array of draws, got {counts.dtype} {counts.shape}")
    if (counts < 0).any():
        raise ValueError("counts must be >= 0")
    return counts.astype(np.int64)


def smooth_images(
    count: int, height: int, width: int, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> Tensor:
    """``count`` deterministic ``count,3,height,width`` RGB images in [0, 1]: random colours on a 1/8-resolution grid,
    bilinearly upsampled (image-like smooth regions rather than pixel noise), the same for every call."""
    generator = torch.Generator().manual_seed(0)
    coarse = torch.rand(count, 3, max(1, height // 8), max(1, width // 8), generator=generator)
    images = torch.nn.functional.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)
    return images.to(device=device, dtype=dtype)


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
    (extra source.json entries), ``tables`` printed before the summary, extra ``summary`` rows, the ``split`` it
    scored, its per-sample ``scores`` (scores.npz; none for a split without ground truth), and for env.json the
    evaluated model's parameter count and the ``device`` it ran on (None: the runner describes its configuration)."""

    metrics: dict[str, float]
    source: dict[str, Any] = field(default_factory=dict)
    tables: list[Table] = field(default_factory=list)
    summary: dict[str, str] = field(default_factory=dict)
    split: str = "test"
    scores: SplitScores = field(default_factory=dict)
    model_parameters: int = 0
    device: dict[str, Any] | None = None


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
    evaluation_protocol: tuple[str, ...] = ("evaluation.inference", "evaluation.postprocess")
    """Dotted keys of a run's config.yaml that define how a split is scored (evaluate.py's choices, iteration counts);
    the leaderboard refuses to rank runs that differ in one of them in one column. A key absent from a run's config
    does not apply to it (e.g. iteration counts of a model that does not iterate)."""
    protocol_defaults: Mapping[str, Any] = {"evaluation.inference": None, "evaluation.postprocess": None}
    """The value of an :attr:`evaluation_protocol` key for a run whose config has it absent or null (a training run
    has no ``evaluation`` node: it scored with the task's own inference and no post-processing)."""
    leaderboard_metrics: tuple[str, ...] = ()
    """Metrics the leaderboard shows after the headline (empty: every ``<split>/<metric>`` of metrics.json)."""
    metric_modules: tuple[str, ...] = ()
    """The modules (or packages) that compute the problem's metrics, hashed by :meth:`metric_code`."""

    def metric_unit(self, metric: str) -> str:
        """The unit of ``metric`` (a metrics.json key without its split, e.g. ``mIoU`` or ``IoU/road``): ``fraction``
        (a ratio in [0, 1], shown in percent on request) unless the problem names another (``px``, ``count``...)."""
        return "fraction"

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

    def sample_scores(self, task: pl.LightningModule) -> SplitScores:
        """Per split the task evaluated, the per-sample arrays it collected in its latest val / test epoch
        (:class:`~visionbench.tasks.epoch_metrics.EpochMetricsMixin`: ``sample_id`` and the problem's fields, in
        dataset order)."""
        return {split: dict(arrays) for split, arrays in task.split_scores.items()}

    def metrics_from_scores(self, scores: Mapping[str, np.ndarray], split: str) -> dict[str, float]:
        """The ``<split>/...`` entries of metrics.json recomputed from one split's per-sample arrays (``scores``:
        field -> array, without the split prefix), equal to metrics.json's values."""
        raise NotImplementedError(f"task={self.name} does not recompute its metrics from per-sample scores")

    def resampled_headline(self, scores: Mapping[str, np.ndarray], counts: np.ndarray) -> np.ndarray:
        """The headline metric of each of B resamples of one split's samples (``counts``: B x N, how often each
        sample is drawn; float64, B values): :meth:`metrics_from_scores` of the repeated samples. Problems whose
        headline is a ratio of sums override it with a vectorised computation."""
        counts = check_counts(scores, counts)
        key = self.headline.key(RESAMPLE)
        headline = np.empty(len(counts))
        for row, draws in enumerate(counts):
            repeated = {name: np.repeat(values, draws, axis=0) for name, values in scores.items()}
            headline[row] = self.metrics_from_scores(repeated, RESAMPLE)[key]
        return headline

    def example_inputs(
        self,
        model: nn.Module,
        batch: int,
        height: int,
        width: int,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> tuple[Tensor, ...]:
        """The positional inputs of ``model``'s forward for a batch of ``batch`` samples of ``height`` x ``width``, in
        the value range the model sees in training (deterministic), e.g. for benchmarks, export and model summaries.
        """
        raise NotImplementedError(f"task={self.name} declares no example input of its models")

    def main_output(self, output: Tensor | Mapping[str, Any]) -> Tensor:
        """The tensor a deployed model returns, taken from what the model's forward returned (by default the output
        itself, which must be a tensor)."""
        if not isinstance(output, Tensor):
            raise TypeError(f"task={self.name}: expected the model to return a tensor, got {type(output).__name__}")
        return output

    def video_annotator(self, model: Any, datamodule: pl.LightningDataModule | None, settings: Any) -> Any:
        """The problem's part of ``infer.py`` (a :class:`~visionbench.video.annotator.FrameAnnotator`): how frames
        become model inputs and results, how a result is drawn and saved. ``model`` is the trained model (or, for a
        problem that runs its own evaluation, the object its model config builds), ``datamodule`` the data's facts
        (None for such problems), ``settings`` a :class:`~visionbench.video.annotator.VideoSettings`."""
        raise NotImplementedError(f"task={self.name} has no video inference (infer.py)")

    def metric_code(self) -> str:
        """A hash of the source of :attr:`metric_modules` (:func:`source_hash`), so that rows scored by different
        metric code are told apart."""
        return source_hash(self.metric_modules)


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
