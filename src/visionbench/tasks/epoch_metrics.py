"""What every task's evaluation shares: the validation / test steps, scored in float32, and the epoch logging
(compute the split's metric from its per-sample scores, log it, keep the per-sample scores, reset the metric)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch.utils.data import DataLoader, SequentialSampler

from visionbench.metrics.samples import PerSampleMetric, Samples, Scores


def sample_ids(dataset: Any, indices: Sequence[int]) -> np.ndarray:
    """The names ``dataset.sample_id(i)`` of the samples ``indices`` as a unicode array; a TypeError when the dataset
    cannot name its samples."""
    name = getattr(dataset, "sample_id", None)
    if name is None:
        raise TypeError(
            f"{type(dataset).__name__} cannot name its samples: per-sample scores (scores.npz) need a "
            "sample_id(index) -> str method on every evaluation dataset"
        )
    return np.array([str(name(int(index))) for index in indices], dtype=np.str_)


class EpochMetricsMixin:
    """For a LightningModule with ``val_metrics`` and ``test_metrics``
    (:class:`~visionbench.metrics.samples.PerSampleMetric`, synchronised across processes) and an
    :meth:`evaluation_step`.

    ``validation_step`` / ``test_step`` run ``evaluation_step(stage, metrics, batch)`` with autocast disabled, so a
    run trained under mixed precision (``trainer.precision=bf16-mixed``) is scored in float32, as evaluate.py scores
    it (and as mmsegmentation / RAFT evaluate). Batches carry their samples' dataset indices in ``batch["index"]``
    (visionbench's evaluation loaders add it; without it, one process and an unshuffled loader are required).

    At the end of each validation / test epoch the metric's per-sample scores are gathered from every process
    (de-duplicated and in dataset order), every scalar of the dataset-level scores computed from them is logged as
    ``<stage>/<name>`` (float64; those named in ``progress_bar_metrics`` on the progress bar) and handed to
    :meth:`record_epoch_scores`, and the per-sample scores with their ``sample_id`` (from the dataset's
    ``sample_id(index)``) are kept in ``split_scores[stage]`` (not during Lightning's sanity check); the metric is
    then reset."""

    progress_bar_metrics: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.split_scores: dict[str, dict[str, np.ndarray]] = {}
        self._unindexed: set[str] = set()

    def evaluation_step(self, stage: str, metrics: PerSampleMetric, batch: Any) -> None:
        """Update ``metrics`` (of split ``stage``, ``"val"`` or ``"test"``) with one batch (``batch.get("index")``
        as the samples' indices)."""
        raise NotImplementedError

    def _full_precision_step(self, stage: str, metrics: PerSampleMetric, batch: Any) -> None:
        if not isinstance(batch, Mapping) or "index" not in batch:
            self._unindexed.add(stage)
        with torch.autocast(self.device.type, enabled=False):
            self.evaluation_step(stage, metrics, batch)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._full_precision_step("val", self.val_metrics, batch)

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._full_precision_step("test", self.test_metrics, batch)

    def record_epoch_scores(self, stage: str, scores: Scores) -> None:
        """Keep what else an epoch's scores hold (e.g. per-class arrays); nothing by default."""

    def _evaluation_loader(self, stage: str) -> DataLoader:
        loaders = self.trainer.val_dataloaders if stage == "val" else self.trainer.test_dataloaders
        if not isinstance(loaders, DataLoader):
            raise TypeError(f"per-sample scores need one {stage} DataLoader, got {type(loaders).__name__}")
        return loaders

    def _split_scores(self, stage: str, samples: Samples) -> dict[str, np.ndarray]:
        loader = self._evaluation_loader(stage)
        if stage in self._unindexed and not isinstance(loader.sampler, SequentialSampler):
            raise RuntimeError(
                f"the {stage} batches carry no 'index' and the loader's sampler ({type(loader.sampler).__name__}) "
                "does not read the dataset in order: per-sample scores cannot name their samples"
            )
        samples = dict(samples)
        return {"sample_id": sample_ids(loader.dataset, samples.pop("index")), **samples}

    def log_epoch_metrics(self, stage: str, metrics: PerSampleMetric) -> None:
        samples = metrics.sample_scores()
        scores = metrics.summarise(samples)
        for name, value in scores.items():
            if np.ndim(value) == 0:
                logged = torch.tensor(value, dtype=torch.float64, device=self.device)
                self.log(f"{stage}/{name}", logged, prog_bar=name in self.progress_bar_metrics)
        self.record_epoch_scores(stage, scores)
        if not self.trainer.sanity_checking:
            self.split_scores[stage] = self._split_scores(stage, samples)
        self._unindexed.discard(stage)
        metrics.reset()

    def on_validation_epoch_end(self) -> None:
        self.log_epoch_metrics("val", self.val_metrics)

    def on_test_epoch_end(self) -> None:
        self.log_epoch_metrics("test", self.test_metrics)
