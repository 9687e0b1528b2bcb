"""``last.ckpt`` saved where a SIGTERM / SIGINT stops training (:mod:`visionbench.runner.signals`), so that
``python train.py ckpt_path=<run dir>`` (or a SLURM requeue) continues from the interrupted step.

Lightning stops a fit that received SIGTERM at the end of the running training batch; this callback saves the
run's ``last.ckpt`` there, in ``on_train_batch_end``: the very point where
:class:`~visionbench.callbacks.last_checkpoint.LastCheckpoint` saves every N steps, which exact resume is tested
from. Two cases keep the previous ``last.ckpt`` (the run then resumes from its step, at most N steps or one epoch
earlier): a batch followed by validation (a checkpoint saved there resumes as if that validation had run, so the
epoch's validation and best-checkpoint choice would be lost) and a batch in the middle of gradient accumulation (the
accumulated gradients are not part of a checkpoint). When the fit stops, the epoch, the step and the checkpoint to
resume from are attached to Lightning's ``SIGTERMException`` for the run's status.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Checkpoint
from pytorch_lightning.utilities.exceptions import SIGTERMException

from visionbench.callbacks.last_checkpoint import LAST_CHECKPOINT, validation_follows
from visionbench.runner.signals import stop_gracefully


class InterruptionCheckpoint(Checkpoint):
    """On a stop signal during ``fit``, save ``<dirpath>/last.ckpt`` at the batch boundary where Lightning stops, and
    record where the run stopped (``epoch``, ``step``, ``checkpoint`` attributes of the ``SIGTERMException``).

    Args:
        dirpath: the run's checkpoint folder (the one of ``LastCheckpoint``).
    """

    def __init__(self, dirpath: str | Path) -> None:
        self.dirpath = Path(dirpath)
        self.saved_step: int | None = None

    @property
    def path(self) -> Path:
        """Where the interrupted state is written."""
        return self.dirpath / LAST_CHECKPOINT

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage == "fit":
            self.saved_step = None
            stop_gracefully(True)

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if not trainer.received_sigterm or self.saved_step is not None:
            return
        accumulating = (batch_idx + 1) % trainer.accumulate_grad_batches != 0
        if accumulating or validation_follows(trainer, batch_idx):
            return
        trainer.save_checkpoint(self.path, weights_only=False)  # the full state, to resume from
        self.saved_step = trainer.global_step

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        stop_gracefully(False)
        if isinstance(exception, SIGTERMException):
            exception.epoch, exception.step = trainer.current_epoch, trainer.global_step  # type: ignore[attr-defined]
            when = f"step {self.saved_step}" if self.saved_step is not None else "its last save before the signal"
            run_dir = Path(trainer.default_root_dir).resolve()
            path = self.path.resolve()
            shown = path.relative_to(run_dir) if path.is_relative_to(run_dir) else path
            checkpoint = f"{shown} ({when})" if path.is_file() else None
            exception.checkpoint = checkpoint  # type: ignore[attr-defined]

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage == "fit":
            stop_gracefully(False)
