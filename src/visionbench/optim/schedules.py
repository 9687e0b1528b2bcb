"""Per-step learning-rate schedules.

Every factory takes the optimiser and the run's total number of optimiser steps (Lightning's
``trainer.estimated_stepping_batches``) and returns a scheduler that the task steps once per optimiser step.
Configs bind the remaining arguments with ``_partial_: true``.
"""

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, OneCycleLR


def _check_total_steps(total_steps: int) -> int:
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1 for a learning-rate schedule, got {total_steps}")
    return int(total_steps)


def constant(optimizer: Optimizer, total_steps: int) -> LRScheduler:
    """Keep every parameter group's initial learning rate."""
    _check_total_steps(total_steps)
    return LambdaLR(optimizer, lambda step: 1.0)


def poly(optimizer: Optimizer, total_steps: int, power: float = 0.9, min_lr: float = 1e-4) -> LRScheduler:
    """mmsegmentation's ``PolyLR``: ``lr = (lr0 - min_lr) * (1 - step / total) ** power + min_lr``."""
    total = _check_total_steps(total_steps)
    factors = []
    for group in optimizer.param_groups:
        base_lr = group["lr"]

        def factor(step: int, base_lr: float = base_lr) -> float:
            progress = min(step, total) / total
            return ((base_lr - min_lr) * (1.0 - progress) ** power + min_lr) / base_lr

        factors.append(factor)
    return LambdaLR(optimizer, factors)


def cosine(optimizer: Optimizer, total_steps: int, warmup_steps: int = 0, min_lr: float = 0.0) -> LRScheduler:
    """Linear warm-up for ``warmup_steps``, then half-cosine decay from the initial lr to ``min_lr``."""
    total = _check_total_steps(total_steps)
    factors = []
    for group in optimizer.param_groups:
        base_lr = group["lr"]

        def factor(step: int, base_lr: float = base_lr) -> float:
            if step < warmup_steps:
                return (step + 1) / warmup_steps
            progress = min(step - warmup_steps, total - warmup_steps) / max(1, total - warmup_steps)
            return (min_lr + (base_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))) / base_lr

        factors.append(factor)
    return LambdaLR(optimizer, factors)


def one_cycle(optimizer: Optimizer, total_steps: int, warmup_fraction: float = 0.3) -> LRScheduler:
    """One-cycle policy (Smith & Topin 2019) peaking at each group's configured lr after ``warmup_fraction``."""
    total = _check_total_steps(total_steps)
    max_lrs = [group["lr"] for group in optimizer.param_groups]
    return OneCycleLR(optimizer, max_lr=max_lrs, total_steps=total, pct_start=warmup_fraction)
