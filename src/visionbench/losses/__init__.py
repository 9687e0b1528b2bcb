"""Segmentation, flow and re-identification losses (cross-entropy is used straight from ``torch.nn``)."""

from visionbench.losses.cosine_softmax import CosineSoftmaxLoss
from visionbench.losses.dice import SoftDiceLoss
from visionbench.losses.flow import MultiScaleEPELoss, SequenceLoss
from visionbench.losses.focal import FocalLoss
from visionbench.losses.image_labels import ImageLabelLoss, image_labels
from visionbench.losses.jaccard import SoftJaccardLoss
from visionbench.losses.lovasz import LovaszSoftmaxLoss, lovasz_softmax
from visionbench.losses.scheduled import (
    ConstantWeights,
    LinearBlend,
    ScheduledLoss,
    SwitchAtEpoch,
    WeightSchedule,
)

__all__ = [
    "ConstantWeights",
    "CosineSoftmaxLoss",
    "FocalLoss",
    "ImageLabelLoss",
    "LinearBlend",
    "LovaszSoftmaxLoss",
    "MultiScaleEPELoss",
    "ScheduledLoss",
    "SequenceLoss",
    "SoftDiceLoss",
    "SoftJaccardLoss",
    "SwitchAtEpoch",
    "WeightSchedule",
    "image_labels",
    "lovasz_softmax",
]
