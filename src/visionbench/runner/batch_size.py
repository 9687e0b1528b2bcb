"""A recipe's total batch size, whatever the number of devices: the per-device batch is derived and checked."""

import logging

import pytorch_lightning as pl

from visionbench.data.datamodule import VisionDataModule

log = logging.getLogger(__name__)


def per_device_batch_size(total_batch_size: int, devices: int, num_nodes: int, accumulate_grad_batches: int) -> int:
    """``total / (devices x num_nodes x accumulate_grad_batches)``; a ValueError naming every factor when it
    does not divide exactly (a silently different total batch would change the recipe)."""
    total = int(total_batch_size)
    factors = {"devices per node": devices, "num_nodes": num_nodes, "accumulate_grad_batches": accumulate_grad_batches}
    for name, value in factors.items():
        if int(value) < 1:
            raise ValueError(f"{name} must be >= 1 to derive the per-device batch size, got {value}")
    divisor = int(devices) * int(num_nodes) * int(accumulate_grad_batches)
    if total < 1 or total % divisor:
        raise ValueError(
            f"total_batch_size={total} cannot be split evenly over {devices} device(s) x {num_nodes} node(s) x "
            f"{accumulate_grad_batches} accumulated batch(es) = {divisor}; choose a device count (trainer.devices, "
            f"trainer.num_nodes) or trainer.accumulate_grad_batches that divides it"
        )
    return total // divisor


def apply_total_batch_size(datamodule: pl.LightningDataModule, trainer: pl.Trainer, total_batch_size: int) -> int:
    """Set ``datamodule.batch_size`` to the per-device share of ``total_batch_size`` for this trainer and
    return it."""
    if not isinstance(datamodule, VisionDataModule):
        raise TypeError(
            f"total_batch_size needs a VisionDataModule (its batch_size is derived); got {type(datamodule).__name__}"
        )
    per_device = per_device_batch_size(
        total_batch_size, trainer.num_devices, trainer.num_nodes, trainer.accumulate_grad_batches
    )
    log.info(
        "total_batch_size=%d: %d per device on %d device(s) x %d node(s), accumulating %d batch(es)",
        total_batch_size,
        per_device,
        trainer.num_devices,
        trainer.num_nodes,
        trainer.accumulate_grad_batches,
    )
    datamodule.batch_size = per_device
    return per_device
