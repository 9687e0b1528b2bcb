"""Plain progress lines through ``logging``: readable in a log file, where a live progress bar draws nothing useful."""

import datetime
import logging
import math
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytorch_lightning as pl
import torch

from visionbench.utils.log_file import log_file_only

log = logging.getLogger(__name__)


def format_duration(seconds: float) -> str:
    """``H:MM:SS`` (``D day(s), H:MM:SS`` past a day), rounded to the second."""
    return str(datetime.timedelta(seconds=round(seconds)))


def step_loss(outputs: Any) -> torch.Tensor | None:
    """The detached loss of a training step's outputs (a tensor or a mapping with ``"loss"``), else None."""
    loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
    return loss.detach().float() if isinstance(loss, torch.Tensor) else None


def known(total: float | None) -> bool:
    """Whether a count reported by Lightning is a real total (not None, infinite, or -1 for "no limit")."""
    return total is not None and math.isfinite(total) and total > 0


def counted(name: str, done: int, total: float | None) -> str:
    """``"batch 12/375"``, or ``"batch 12"`` when the total is not known."""
    return f"{name} {done}/{int(total)}" if known(total) else f"{name} {done}"


@dataclass
class _Interval:
    """What happened since the previous line: its time, the batch it ended at, the summed training loss."""

    start_time: float = field(default_factory=time.monotonic)
    start_batch: int = 0
    loss_sum: torch.Tensor | float = 0.0  # stays on the device: no synchronisation per step
    loss_count: int = 0

    def batches(self, batch_idx: int) -> int:
        return batch_idx + 1 - self.start_batch

    def rate(self, batch_idx: int) -> float:
        """Batches per second since the interval started."""
        elapsed = time.monotonic() - self.start_time
        return self.batches(batch_idx) / elapsed if elapsed > 0 else math.inf


class ProgressLog(pl.Callback):
    """Log one line of progress every ``every_n_steps`` batches or ``every_n_seconds`` seconds, whichever comes
    first (None turns that trigger off), and at the last batch of every epoch, on global rank zero:

        train | epoch 2/9 | batch 120/375 | step 495/3375 | loss 0.1234 | 11.2 it/s | ETA 0:04:17
        validate | batch 40/63 | 4.1 it/s | ETA 0:00:06

    Training lines give the mean loss over the batches since the previous line (undoing the division by
    ``accumulate_grad_batches``), the batch rate since then and the training time left at that rate (the optimiser
    steps left; validation excluded). Standalone validation and test (``trainer.validate``/``trainer.test``, as after
    fitting and in evaluate.py) get lines without loss; validation inside fitting and the sanity check get none.
    Lines go through ``logging``, hence to the console log and the run's train.log; while a live progress bar owns a
    terminal they go to the log file only (:func:`~visionbench.utils.log_file.log_file_only`), not to break the bar.
    """

    def __init__(self, every_n_steps: int | None = None, every_n_seconds: float | None = 30.0) -> None:
        if every_n_steps is not None and every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1 or null, got {every_n_steps}")
        if every_n_seconds is not None and every_n_seconds <= 0:
            raise ValueError(f"every_n_seconds must be > 0 or null, got {every_n_seconds}")
        self.every_n_steps = every_n_steps
        self.every_n_seconds = every_n_seconds
        self._logger = log
        self._train = _Interval()
        self._evaluation = _Interval()

    def _due(self, interval: _Interval, batch_idx: int, total: float) -> bool:
        return (
            batch_idx + 1 == total
            or (self.every_n_steps is not None and interval.batches(batch_idx) >= self.every_n_steps)
            or (self.every_n_seconds is not None and time.monotonic() - interval.start_time >= self.every_n_seconds)
        )

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        live_bar = trainer.progress_bar_callback is not None and sys.stdout.isatty()
        self._logger = log_file_only() if live_bar else log

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._train = _Interval()

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        interval = self._train
        loss = step_loss(outputs)
        if loss is not None:
            interval.loss_sum = interval.loss_sum + loss * trainer.accumulate_grad_batches
            interval.loss_count += 1
        if not trainer.is_global_zero or not self._due(interval, batch_idx, trainer.num_training_batches):
            return
        rate = interval.rate(batch_idx)
        steps = trainer.estimated_stepping_batches
        parts = [
            counted("epoch", trainer.current_epoch + 1, trainer.max_epochs),
            counted("batch", batch_idx + 1, trainer.num_training_batches),
            counted("step", trainer.global_step, steps),
        ]
        if interval.loss_count:
            parts.append(f"loss {float(interval.loss_sum) / interval.loss_count:.4f}")
        parts.append(f"{rate:.1f} it/s")
        if known(steps) and math.isfinite(rate):
            left = (steps - trainer.global_step) * trainer.accumulate_grad_batches / rate
            parts.append(f"ETA {format_duration(left)}")
        self._logger.info("train | %s", " | ".join(parts))
        self._train = _Interval(start_batch=batch_idx + 1)

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._evaluation = _Interval()

    def on_test_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._evaluation = _Interval()

    def _evaluation_batch_end(self, trainer: pl.Trainer, batch_idx: int, total: float) -> None:
        if trainer.state.fn == "fit" or trainer.sanity_checking or not trainer.is_global_zero:
            return
        interval = self._evaluation
        if not self._due(interval, batch_idx, total):
            return
        rate = interval.rate(batch_idx)
        parts = [counted("batch", batch_idx + 1, total), f"{rate:.1f} it/s"]
        if known(total) and math.isfinite(rate):
            parts.append(f"ETA {format_duration((total - batch_idx - 1) / rate)}")
        self._logger.info("%s | %s", trainer.state.fn.value, " | ".join(parts))
        self._evaluation = _Interval(start_batch=batch_idx + 1)

    def on_validation_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:  # fmt: skip
        self._evaluation_batch_end(trainer, batch_idx, trainer.num_val_batches[dataloader_idx])

    def on_test_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:  # fmt: skip
        self._evaluation_batch_end(trainer, batch_idx, trainer.num_test_batches[dataloader_idx])
