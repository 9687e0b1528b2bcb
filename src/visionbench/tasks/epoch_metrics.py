"""The evaluation-epoch logging every task shares: compute the split's metric, log it, reset it."""

from __future__ import annotations

from typing import ClassVar

from torchmetrics import Metric


class EpochMetricsMixin:
    """For a LightningModule with ``val_metrics`` and ``test_metrics`` (torchmetrics, synchronised across processes
    by torchmetrics): at the end of each validation / test epoch, logs every entry of ``compute()`` as
    ``<stage>/<name>`` (those named in ``progress_bar_metrics`` on the progress bar) and resets the metric.
    Tasks with more to record (per-class tables) override :meth:`log_epoch_metrics`."""

    progress_bar_metrics: ClassVar[tuple[str, ...]] = ()

    def log_epoch_metrics(self, stage: str, metrics: Metric) -> None:
        for name, value in metrics.compute().items():
            self.log(f"{stage}/{name}", value, prog_bar=name in self.progress_bar_metrics)
        metrics.reset()

    def on_validation_epoch_end(self) -> None:
        self.log_epoch_metrics("val", self.val_metrics)

    def on_test_epoch_end(self) -> None:
        self.log_epoch_metrics("test", self.test_metrics)
