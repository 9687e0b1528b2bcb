"""Segmentation and flow losses (cross-entropy is used straight from ``torch.nn``)."""

from visionbench.losses.dice import SoftDiceLoss
from visionbench.losses.scheduled import (
    ConstantWeights,
    LinearBlend,
    ScheduledLoss,
    SwitchAtEpoch,
    WeightSchedule,
)

__all__ = [
    "ConstantWeights",
    "LinearBlend",
    "ScheduledLoss",
    "SoftDiceLoss",
    "SwitchAtEpoch",
    "WeightSchedule",
]
