"""Multi-class soft Dice loss."""

from __future__ import annotations

from torch import Tensor, nn

from visionbench.losses.overlap import mean_over_present, soft_overlap


class SoftDiceLoss(nn.Module):
    """Multi-class soft Dice loss (Milletari et al., "V-Net", 3DV 2016; as in segmentation_models.pytorch).

    With p = softmax(logits) and y the one-hot target, per class c over all valid pixels of the batch:
    ``dice_c = (2 sum p_c y_c + smooth) / max(sum p_c + sum y_c + smooth, eps)`` and
    ``loss = 1 - mean(dice_c over the classes present in the batch's target)``.

    - Pixels whose target is ``ignore_index`` contribute to neither sum and get exactly zero gradient.
    - Classes with no target pixel in the batch are left out of the mean, because their Dice is undefined
      (smp also zeroes their term, but then divides by all C classes, which scales the loss by the fraction of
      classes present; here the loss of a perfect prediction is 0 and of a wrong one near 1 whatever C is).
      Their predicted probability mass still lowers the Dice of the present classes through the softmax.
    - A batch with no valid pixel gives 0 (still attached to the graph, with zero gradient).

    The per-class sums come from :func:`~visionbench.losses.overlap.soft_overlap` (shared with
    :class:`~visionbench.losses.SoftJaccardLoss`).

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
        cardinality = overlap.predicted + overlap.labelled
        dice = (2 * overlap.intersection + self.smooth) / (cardinality + self.smooth).clamp_min(self.eps)
        return mean_over_present(1 - dice, overlap.labelled)
