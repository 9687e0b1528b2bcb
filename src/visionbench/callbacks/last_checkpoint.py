"""``last.ckpt``: the run's latest state, for resuming, written at the end of every training epoch and every N steps.

Lightning's ``ModelCheckpoint(save_last=True)`` re-saves ``last.ckpt`` only when it saves a top-k checkpoint, so after
an epoch that did not improve the monitored metric ``last.ckpt`` is older than the run. This callback writes it
unconditionally; the best-checkpoint bookkeeping stays with ``ModelCheckpoint`` (conf/callbacks/default.yaml). Both
write through the trainer's CheckpointIO, which visionbench makes atomic
(:class:`~visionbench.runner.checkpoint_io.AtomicCheckpointIO`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Checkpoint

LAST_CHECKPOINT = "last.ckpt"


def validation_follows(trainer: pl.Trainer, batch_idx: int) -> bool:
    """Whether validation runs right after this training batch (the epoch's last batch, or every ``val_check_batch``).
    Lightning resumes a checkpoint saved there as if that validation had run, so the step save is left to the save
    that follows the validation."""
    if trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:
        return True
    every = trainer.val_check_batch
    return bool(trainer.enable_validation and isinstance(every, int) and every and (batch_idx + 1) % every == 0)


class LastCheckpoint(Checkpoint):
    """Save ``<dirpath>/last.ckpt`` at the end of every training epoch (after validation and after the best
    checkpoint is chosen, so the state it holds is complete) and, with ``every_n_train_steps``, after every N-th
    optimiser step, except a step right before a validation (Lightning would resume it with that validation skipped;
    the save after the validation covers it).

    Args:
        dirpath: the run's checkpoint folder.
        every_n_train_steps: also save after every N-th optimiser step (None or 0: at epoch ends only).
    """

    def __init__(self, dirpath: str | Path, every_n_train_steps: int | None = None) -> None:
        if every_n_train_steps is not None and int(every_n_train_steps) < 0:
            raise ValueError(f"every_n_train_steps must be >= 0 or null, got {every_n_train_steps}")
        self.dirpath = Path(dirpath)
        self.every_n_train_steps = int(every_n_train_steps or 0)
        self._saved_step: int | None = None  # with gradient accumulation several batches end on the same step

    @property
    def path(self) -> Path:
        """Where the last state is written."""
        return self.dirpath / LAST_CHECKPOINT

    def _saving(self, trainer: pl.Trainer) -> bool:
        return not (trainer.sanity_checking or trainer.state.fn != "fit")

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        step = trainer.global_step
        due = self.every_n_train_steps and step and step % self.every_n_train_steps == 0 and step != self._saved_step
        if due and self._saving(trainer) and not validation_follows(trainer, batch_idx):
            trainer.save_checkpoint(self.path, weights_only=False)  # the full state, to resume from
            self._saved_step = step

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._saving(trainer):
            trainer.save_checkpoint(self.path, weights_only=False)  # the full state, to resume from
