"""Lightning's ``configure_optimizers`` answer from an optimiser factory and a per-step schedule factory."""

from collections.abc import Callable, Iterable

import pytorch_lightning as pl
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

OptimizerFactory = Callable[[Iterable[nn.Parameter]], Optimizer]
SchedulerFactory = Callable[..., LRScheduler]


def optimizer_and_schedule(
    module: pl.LightningModule,
    parameters: Iterable[nn.Parameter],
    optimizer_factory: OptimizerFactory,
    scheduler_factory: SchedulerFactory | None,
) -> dict:
    """``{"optimizer", "lr_scheduler"}`` with the schedule stepped every optimiser step over the trainer's
    ``estimated_stepping_batches`` (epoch- or iteration-based training alike)."""
    optimizer = optimizer_factory(parameters)
    if scheduler_factory is None:
        return {"optimizer": optimizer}
    scheduler = scheduler_factory(optimizer, total_steps=int(module.trainer.estimated_stepping_batches))
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
