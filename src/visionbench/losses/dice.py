"""Multi-class soft Dice loss."""

from __future__ import annotations

from torch import Tensor

from visionbench.losses.overlap import SoftOverlap, SoftOverlapLoss


class SoftDiceLoss(SoftOverlapLoss):
    """Multi-class soft Dice loss (Milletari et al., "V-Net", 3DV 2016; as in segmentation_models.pytorch).

    With p = softmax(logits) and y the one-hot target, per class c over all valid pixels of the batch:
    ``dice_c = (2 sum p_c y_c + smooth) / max(sum p_c + sum y_c + smooth, eps)`` and
    ``loss = 1 - mean(dice_c over the classes present in the batch's target)``.

    ``logits`` ``B,C,*`` and ``target`` ``B,*`` (labels or ``ignore_index``) give a scalar; the arguments
    (``ignore_index``, ``smooth``, ``eps``) and the handling of ignored pixels and absent classes are those of
    :class:`~visionbench.losses.overlap.SoftOverlapLoss`.
    """

    def per_class_loss(self, overlap: SoftOverlap) -> Tensor:
        cardinality = overlap.predicted + overlap.labelled
        dice = (2 * overlap.intersection + self.smooth) / (cardinality + self.smooth).clamp_min(self.eps)
        return 1 - dice
