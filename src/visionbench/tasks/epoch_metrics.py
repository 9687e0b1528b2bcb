"""What every task's evaluation shares: the validation / test steps, scored in float32, and the epoch logging
(compute the split's metric, log it, reset it)."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torchmetrics import Metric


class EpochMetricsMixin:
    """For a LightningModule with ``val_metrics`` and ``test_metrics`` (torchmetrics, synchronised across processes
    by torchmetrics) and an :meth:`evaluation_step`.

    ``validation_step`` / ``test_step`` run ``evaluation_step(stage, metrics, batch)`` with autocast disabled, so a
    run trained under mixed precision (``trainer.precision=bf16-mixed``) is scored in float32, as evaluate.py scores
    it (and as mmsegmentation / RAFT evaluate). At the end of each validation / test epoch every entry of
    ``compute()`` is logged as ``<stage>/<name>`` (those named in ``progress_bar_metrics`` on the progress bar) and
    the metric is reset. Tasks with more to record (per-class tables) override :meth:`log_epoch_metrics`."""

    progress_bar_metrics: ClassVar[tuple[str, ...]] = ()

    def evaluation_step(self, stage: str, metrics: Metric, batch: Any) -> None:
        """Update ``metrics`` (of split ``stage``, ``"val"`` or ``"test"``) with one batch."""
        raise NotImplementedError

    def _full_precision_step(self, stage: str, metrics: Metric, batch: Any) -> None:
        with torch.autocast(self.device.type, enabled=False):
            self.evaluation_step(stage, metrics, batch)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._full_precision_step("val", self.val_metrics, batch)

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._full_precision_step("test", self.test_metrics, batch)

    def log_epoch_metrics(self, stage: str, metrics: Metric) -> None:
        for name, value in metrics.compute().items():
            self.log(f"{stage}/{name}", value, prog_bar=name in self.progress_bar_metrics)
        metrics.reset()

    def on_validation_epoch_end(self) -> None:
        self.log_epoch_metrics("val", self.val_metrics)

    def on_test_epoch_end(self) -> None:
        self.log_epoch_metrics("test", self.test_metrics)
