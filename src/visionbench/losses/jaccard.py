"""Multi-class soft Jaccard (IoU) loss."""

from __future__ import annotations

from torch import Tensor, nn

from visionbench.losses.overlap import mean_over_present, soft_overlap


class SoftJaccardLoss(nn.Module):
    """Multi-class soft Jaccard loss, 1 - soft IoU (Rahman and Wang, ISVC 2016; as segmentation_models.pytorch's
    multiclass ``JaccardLoss``).

    With p = softmax(logits) and y the one-hot target, per class c over all valid pixels of the batch:
    ``I_c = sum p_c y_c``, ``U_c = sum p_c + sum y_c - I_c``, ``iou_c = (I_c + smooth) / max(U_c + smooth, eps)``
    and ``loss = 1 - mean(iou_c over the classes present in the batch's target)``.

    Ignore semantics are those of :class:`~visionbench.losses.SoftDiceLoss` (the same helper computes the sums):
    ``ignore_index`` pixels enter no sum and get exactly zero gradient, classes absent from the batch's target
    are left out of the mean, and a batch with no valid pixel gives 0 (attached to the graph).

    Args:
        ignore_index: target value of pixels to ignore.
        smooth: additive smoothing of numerator and denominator.
        eps: lower bound of the denominator.

    Shapes: ``logits`` ``B,C,H,W`` (or ``B,C,*``) raw scores; ``target`` ``B,H,W`` (or ``B,*``) integer labels
    in 0..C-1 or ``ignore_index``. Returns a scalar.
    """

    def __init__(self, ignore_index: int = 255, smooth: float = 1.0, eps: float = 1e-7) -> None:
        super().__init__()
        self.ignore_index = ignore_index
        self.smooth = smooth
        self.eps = eps

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        overlap = soft_overlap(logits, target, self.ignore_index)
        union = overlap.predicted + overlap.labelled - overlap.intersection
        iou = (overlap.intersection + self.smooth) / (union + self.smooth).clamp_min(self.eps)
        return mean_over_present(1 - iou, overlap.labelled)
