"""Helpers shared by the segmentation losses: shape check, soft per-class overlap, mean over present classes."""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor


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
