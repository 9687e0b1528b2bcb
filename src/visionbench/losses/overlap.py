"""Helpers shared by the segmentation losses: shape check, soft per-class overlap, mean over present classes, and
the base class of the soft-overlap losses (Dice, Jaccard)."""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor, nn


def check_logits_match_target(logits: Tensor, target: Tensor) -> None:
    """Raise ``ValueError`` unless ``logits`` ``B,C,*`` and ``target`` ``B,*`` have matching batch/spatial shapes."""
    if logits.shape[:1] + logits.shape[2:] != target.shape:
        raise ValueError(f"logits {tuple(logits.shape)} do not match target {tuple(target.shape)}")


class SoftOverlap(NamedTuple):
    """Per-class soft statistics over the valid pixels of a batch, each a ``(C,)`` tensor.

    ``intersection`` = sum of p_c over pixels labelled c; ``predicted`` = sum of p_c; ``labelled`` = number of
    pixels labelled c (a count, in the dtype of the probabilities).
    """

    intersection: Tensor
    predicted: Tensor
    labelled: Tensor


def soft_overlap(logits: Tensor, target: Tensor, ignore_index: int) -> SoftOverlap:
    """Soft intersection, predicted mass and label count per class, with p = softmax(logits) over dim 1.

    Pixels whose target is ``ignore_index`` enter no sum, so they get exactly zero gradient. The intersection
    gathers p at the target class instead of building a ``B,C,H,W`` one-hot tensor, so ignored labels (e.g.
    255) never reach an indexing operation.

    Args:
        logits: ``B,C,*`` raw scores.
        target: ``B,*`` integer labels in 0..C-1 or ``ignore_index``.
        ignore_index: target value of pixels to ignore.
    """
    check_logits_match_target(logits, target)
    num_classes = logits.shape[1]
    probs = logits.flatten(2).softmax(dim=1)  # B, C, N
    target = target.flatten(1)  # B, N
    valid = target != ignore_index
    labels = target.masked_fill(~valid, 0).long()
    weight = valid.to(probs.dtype)

    predicted = (probs * weight.unsqueeze(1)).sum(dim=(0, 2))
    p_true = probs.gather(1, labels.unsqueeze(1)).squeeze(1) * weight  # 0 where ignored
    zeros = probs.new_zeros(num_classes)
    intersection = zeros.scatter_add(0, labels.flatten(), p_true.flatten())
    labelled = zeros.scatter_add(0, labels.flatten(), weight.flatten())
    return SoftOverlap(intersection, predicted, labelled)


def mean_over_present(per_class_loss: Tensor, labelled: Tensor) -> Tensor:
    """Mean of ``per_class_loss`` over the classes with ``labelled > 0``; 0 (still in the graph) if there is none."""
    present = (labelled > 0).to(per_class_loss.dtype)
    return (per_class_loss * present).sum() / present.sum().clamp_min(1)


class SoftOverlapLoss(nn.Module):
    """Base of the multi-class soft-overlap losses (:class:`~visionbench.losses.SoftDiceLoss`,
    :class:`~visionbench.losses.SoftJaccardLoss`): ``1 - mean(score_c over the classes present)``, where a subclass
    turns the per-class soft sums of :func:`soft_overlap` into the score of each class (:meth:`per_class_loss`).

    - Pixels whose target is ``ignore_index`` contribute to no sum and get exactly zero gradient.
    - Classes with no target pixel in the batch are left out of the mean, because their score is undefined
      (segmentation_models.pytorch also zeroes their term, but then divides by all C classes, which scales the loss
      by the fraction of classes present; here the loss of a perfect prediction is 0 and of a wrong one near 1
      whatever C is). Their predicted probability mass still lowers the score of the present classes through the
      softmax.
    - A batch with no valid pixel gives 0 (still attached to the graph, with zero gradient).

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

    def per_class_loss(self, overlap: SoftOverlap) -> Tensor:
        """``(C,)`` loss of each class, ``1 - score_c``, from the batch's soft sums."""
        raise NotImplementedError

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        overlap = soft_overlap(logits, target, self.ignore_index)
        return mean_over_present(self.per_class_loss(overlap), overlap.labelled)
