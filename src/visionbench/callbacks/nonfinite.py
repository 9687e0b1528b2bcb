"""Divergence detection: a non-finite training loss or gradient stops the run (or skips that optimiser step), and
non-finite weights or a non-finite monitored metric never reach a checkpoint.

Without it, ``optim.lr=1e6`` trains on NaN to the end, Lightning's ``ModelCheckpoint`` keeps a checkpoint whose
monitored value is NaN as the best one (it ranks NaN as the worst score, but with fewer than ``save_top_k``
checkpoints every one is kept) and ``last.ckpt`` is overwritten with NaN weights. The run then ends
``done`` with plausible-looking metrics. :class:`NonFiniteGuard` raises :class:`Diverged` instead, which the run records
as ``status: diverged`` with the epoch and step (no ``metrics.json`` is written) and the entry point reports in one
line with exit status 1.

Epoch and step in the messages: ``trainer.current_epoch`` and ``trainer.global_step``, the number of optimiser steps
completed before the failing batch (the step a resume would start from).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, ModelCheckpoint

from visionbench.runner.status import DIVERGED, RunStopped

log = logging.getLogger(__name__)
POLICIES = ("stop", "skip")


class Diverged(RunStopped):
    """Training produced a non-finite loss, gradient, weight or monitored metric: recorded as ``diverged``."""

    status = DIVERGED


def nonfinite_names(tensors: Iterable[tuple[str, torch.Tensor | None]]) -> list[str]:
    """The names of the floating-point tensors that hold a NaN or an infinity (None entries are skipped); one device
    synchronisation when all are finite."""
    named = [(name, tensor) for name, tensor in tensors if tensor is not None and tensor.is_floating_point()]
    if not named:
        return []
    device = named[0][1].device
    finite = torch.stack([torch.isfinite(tensor).all().to(device) for _, tensor in named])
    if bool(finite.all()):
        return []
    return [name for (name, _), ok in zip(named, finite.tolist(), strict=True) if not ok]


def _shown(names: list[str], limit: int = 3) -> str:
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _where(trainer: pl.Trainer) -> str:
    return f"epoch {trainer.current_epoch}, step {trainer.global_step}"


class NonFiniteGuard(Callback):
    """Watch the training loss, the gradients, the weights being checkpointed and the monitored validation metrics.

    - A non-finite loss or gradient (checked before the optimiser step, gradients as the optimiser would use them;
      under DDP the decision is shared by all processes): ``policy="stop"`` raises :class:`Diverged` naming the
      epoch and step; ``policy="skip"`` drops that step's gradients so the optimiser leaves every parameter (and
      its moments) unchanged, up to ``max_skips`` times in the run (counted across resumes), then stops. A skipped
      step still counts as a step for the learning-rate schedule, as a step skipped by AMP's gradient scaler does.
      Under mixed precision with a gradient scaler, non-finite gradients are the scaler's business (it skips the
      step and lowers the scale): only the loss is checked.
    - A checkpoint about to be written with non-finite weights is not written: :class:`Diverged` instead, so neither
      ``last.ckpt`` nor a best checkpoint ever holds them.
    - A non-finite value of a checkpoint callback's monitored metric or of a logged validation loss at the end of a
      validation stops the run before ``ModelCheckpoint`` could keep it as the best checkpoint.

    Args:
        policy: ``"stop"`` or ``"skip"``.
        max_skips: with ``"skip"``, how many steps may be skipped before the run stops.
    """

    def __init__(self, policy: str = "stop", max_skips: int = 0) -> None:
        if policy not in POLICIES:
            raise ValueError(f"nonfinite policy must be one of {', '.join(POLICIES)}, got {policy!r}")
        if int(max_skips) < 0:
            raise ValueError(f"max_skips must be >= 0, got {max_skips}")
        self.policy = policy
        self.max_skips = int(max_skips)
        self.skipped = 0
        self._bad_loss: str | None = None

    def state_dict(self) -> dict[str, Any]:
        return {"skipped": self.skipped}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.skipped = int(state_dict.get("skipped", 0))

    def _stop(self, trainer: pl.Trainer, problem: str, consequence: str = "") -> Diverged:
        skips = f" after {self.skipped} skipped step(s) (max_skips={self.max_skips})" if self.policy == "skip" else ""
        reason = f"{problem} at {_where(trainer)}{skips}{consequence}"
        return Diverged(reason, epoch=trainer.current_epoch, step=trainer.global_step)

    def on_before_backward(self, trainer: pl.Trainer, pl_module: pl.LightningModule, loss: torch.Tensor) -> None:
        if self._bad_loss is None and not bool(torch.isfinite(loss.detach()).all()):
            self._bad_loss = f"non-finite training loss ({loss.detach().float().mean().item()})"

    def on_before_optimizer_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        problem, self._bad_loss = self._bad_loss, None
        if problem is None and getattr(trainer.precision_plugin, "scaler", None) is None:
            bad = nonfinite_names((name, p.grad) for name, p in pl_module.named_parameters())
            problem = f"non-finite gradient of {_shown(bad)}" if bad else None
        if trainer.world_size > 1:  # every process stops or skips together (a loss is local to its process)
            if trainer.strategy.reduce_boolean_decision(problem is not None, all=False) and problem is None:
                problem = "non-finite training loss or gradient in another process"
        if problem is None:
            return
        if self.policy == "stop" or self.skipped >= self.max_skips:
            raise self._stop(trainer, problem)
        self.skipped += 1
        log.warning(
            "%s at %s: optimiser step skipped (%d of at most %d)", problem, _where(trainer), self.skipped,
            self.max_skips,
        )  # fmt: skip
        for group in optimizer.param_groups:
            for parameter in group["params"]:
                parameter.grad = None  # torch optimisers leave a parameter without a gradient untouched

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict) -> None:
        bad = nonfinite_names(checkpoint.get("state_dict", {}).items())
        if bad:
            raise self._stop(trainer, f"non-finite weights ({_shown(bad)})", "; checkpoint not written")

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit":
            return
        watched = {c.monitor for c in trainer.checkpoint_callbacks if isinstance(c, ModelCheckpoint) and c.monitor}
        watched |= {name for name in trainer.callback_metrics if name.startswith("val") and name.endswith("loss")}
        bad = sorted(name for name in watched if _is_nonfinite(trainer.callback_metrics, name))
        if bad:
            values = ", ".join(f"{name} = {float(trainer.callback_metrics[name])}" for name in bad)
            raise self._stop(trainer, f"non-finite validation metric ({values})", "; no checkpoint kept")


def _is_nonfinite(metrics: Mapping[str, Any], name: str) -> bool:
    value = metrics.get(name)
    return value is not None and not math.isfinite(float(value))
