"""Pruning an Optuna trial from inside its training job (Akiba et al. 2019, "Optuna", section 4: pruning from
intermediate values).

hydra-optuna-sweeper runs each trial as a Hydra job and never hands the trial object to it. The job reaches its trial
through the study's persistent storage instead: the sweeper
(:class:`hydra_plugins.visionbench_optuna.resumable_sweeper.ResumableOptunaSweeper`) asks the study for trial ``k``
and launches the job with the override ``callbacks.optuna_pruning.trial_number=k``; this callback loads the study
from the same storage, reports the monitored validation score of each epoch to trial ``k`` and asks the study's
pruner whether to stop. A stop raises :class:`TrialPrunedAtEpoch`, which the run records as ``pruned`` in its
``status.json`` and the sweeper tells the study as a pruned trial.

Optuna's ``step`` is the validation round of fitting (0, 1, ...: the epoch when validating once per epoch), not the
optimizer step: trials of one search may differ in batch size, and pruners compare trials at equal steps.
"""

from __future__ import annotations

import logging

import optuna
import pytorch_lightning as pl

log = logging.getLogger(__name__)


class TrialPrunedAtEpoch(optuna.TrialPruned):
    """Optuna's ``TrialPruned`` with where it happened: the ``epoch`` and optimizer ``step`` after which the trial
    was stopped, and the ``monitor``-ed metric's ``value`` then (read by :mod:`visionbench.runner.status`)."""

    def __init__(
        self,
        message: str,
        *,
        epoch: int | None = None,
        step: int | None = None,
        monitor: str | None = None,
        value: float | None = None,
    ) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.step = step
        self.monitor = monitor
        self.value = value


class OptunaPruning(pl.Callback):
    """Report ``monitor`` after each validation of fitting (Optuna step 0, 1, ...) to trial ``trial_number`` of the
    study ``study_name`` in ``storage``, and stop training with :class:`TrialPrunedAtEpoch` when ``pruner`` says so.

    Rank 0 reports and decides; under DDP the decision is broadcast so that every rank stops at the same validation.
    Validation outside fitting (the re-evaluation of the best checkpoint) and the sanity check report nothing.

    Args:
        storage: the study's storage URL (``sqlite:///<sweep dir>/optuna.db``).
        study_name: the study's name.
        trial_number: the trial this job runs (set by the sweeper for each job).
        monitor: the logged validation metric reported to the trial, e.g. ``val/mIoU``.
        pruner: decides from the study's intermediate values, e.g. ``optuna.pruners.MedianPruner``.
    """

    def __init__(
        self, storage: str, study_name: str, trial_number: int, monitor: str, pruner: optuna.pruners.BasePruner
    ) -> None:
        self.storage = storage
        self.study_name = study_name
        self.trial_number = int(trial_number)
        self.monitor = monitor
        self.pruner = pruner
        self._trial: optuna.trial.Trial | None = None
        self._round = 0

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit" or not trainer.is_global_zero or self._trial is not None:
            return
        study = optuna.load_study(study_name=self.study_name, storage=self.storage, pruner=self.pruner)
        if len(study.directions) > 1:
            raise ValueError(
                f"callbacks.optuna_pruning: study '{self.study_name}' has {len(study.directions)} objectives; "
                "Optuna prunes single-objective studies only: remove callbacks.optuna_pruning from this search"
            )
        trial_id = study._storage.get_trial_id_from_study_id_trial_number(study._study_id, self.trial_number)
        self._trial = optuna.trial.Trial(study, trial_id)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit":
            return
        epoch, value, prune = trainer.current_epoch, None, False
        if trainer.is_global_zero:
            value = self._monitored_value(trainer)
            self._trial.report(value, step=self._round)
            prune = self._trial.should_prune()
        self._round += 1
        prune, value = trainer.strategy.broadcast((prune, value), src=0)
        if prune:
            message = (
                f"trial {self.trial_number} pruned at validation {self._round - 1} (epoch {epoch}, step "
                f"{trainer.global_step}): {self.monitor}={value}"
            )
            log.info(message)
            raise TrialPrunedAtEpoch(message, epoch=epoch, step=trainer.global_step, monitor=self.monitor, value=value)

    def _monitored_value(self, trainer: pl.Trainer) -> float:
        """The epoch's ``monitor`` value; a clear error when the run does not log it."""
        if self.monitor not in trainer.callback_metrics:
            logged = ", ".join(sorted(trainer.callback_metrics))
            raise KeyError(f"callbacks.optuna_pruning.monitor '{self.monitor}' was not logged; logged: {logged}")
        return float(trainer.callback_metrics[self.monitor])
