"""Multi-class soft Jaccard (IoU) loss."""

from __future__ import annotations

from torch import Tensor

from visionbench.losses.overlap import SoftOverlap, SoftOverlapLoss


class SoftJaccardLoss(SoftOverlapLoss):
    """Multi-class soft Jaccard loss, 1 - soft IoU (Rahman and Wang, ISVC 2016; as segmentation_models.pytorch's
    multiclass ``JaccardLoss``).

    With p = softmax(logits) and y the one-hot target, per class c over all valid pixels of the batch:
    ``I_c = sum p_c y_c``, ``U_c = sum p_c + sum y_c - I_c``, ``iou_c = (I_c + smooth) / max(U_c + smooth, eps)``
    and ``loss = 1 - mean(iou_c over the classes present in the batch's target)``.

    ``logits`` ``B,C,*`` and ``target`` ``B,*`` (labels or ``ignore_index``) give a scalar; the arguments
    (``ignore_index``, ``smooth``, ``eps``) and the handling of ignored pixels and absent classes are those of
    :class:`~visionbench.losses.overlap.SoftOverlapLoss`.
    """

    def per_class_loss(self, overlap: SoftOverlap) -> Tensor:
        union = overlap.predicted + overlap.labelled - overlap.intersection
        iou = (overlap.intersection + self.smooth) / (union + self.smooth).clamp_min(self.eps)
        return 1 - iou
