"""Lovasz-softmax loss: a convex surrogate of the per-class Jaccard loss (1 - IoU)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from visionbench.losses.overlap import check_logits_match_target

ClassSelection = str | Sequence[int]
CLASS_CHOICES = ("present", "all")


def lovasz_jaccard_grad(fg_sorted: Tensor) -> Tensor:
    """Slopes of the Lovasz extension of the Jaccard loss, for errors sorted in decreasing order.

    For each row (one class), ``fg_sorted`` holds the 0/1 ground truth of the pixels in the order of their
    decreasing error. Entry i is ``J(first i+1 pixels) - J(first i pixels)`` where ``J(S) = |S| / |G u S|`` is the
    Jaccard loss of mispredicting the set S (G the ground-truth pixels of the class), so that
    ``dot(sorted_errors, slopes)`` is the Lovasz extension at the error vector (Berman et al. 2018, Eq. 8-9).
    """
    gt_count = fg_sorted.sum(dim=-1, keepdim=True)
    intersection = gt_count - fg_sorted.cumsum(dim=-1)
    union = gt_count + (1 - fg_sorted).cumsum(dim=-1)  # >= 1 from the first pixel on
    jaccard = 1 - intersection / union
    return torch.cat([jaccard[..., :1], jaccard[..., 1:] - jaccard[..., :-1]], dim=-1)


def _selected_classes(classes: ClassSelection, labelled: Tensor) -> Tensor:
    """Boolean ``(C,)`` mask of the classes that enter the mean."""
    if classes == "present":
        return labelled
    if classes == "all":
        return torch.ones_like(labelled)
    selected = torch.zeros_like(labelled)
    selected[list(classes)] = True
    return selected


def _lovasz_valid_pixels(probs: Tensor, labels: Tensor, classes: ClassSelection) -> Tensor | None:
    """Mean Lovasz-softmax over the selected classes of ``probs`` ``C,V`` (valid pixels only), labels ``V``.

    None when no pixel or no class is selected (the caller decides what an empty term means).
    """
    num_classes = probs.shape[0]
    fg = labels.unsqueeze(0) == torch.arange(num_classes, device=labels.device).unsqueeze(1)  # C, V
    keep = _selected_classes(classes, fg.any(dim=1))
    if probs.shape[1] == 0 or not bool(keep.any()):
        return None
    fg = fg[keep].to(probs.dtype)
    errors = (fg - probs[keep]).abs()
    errors_sorted, order = errors.sort(dim=1, descending=True)
    per_class = (errors_sorted * lovasz_jaccard_grad(fg.gather(1, order))).sum(dim=1)
    return per_class.mean()


def lovasz_softmax(
    probabilities: Tensor,
    target: Tensor,
    ignore_index: int = 255,
    classes: ClassSelection = "present",
    per_image: bool = False,
) -> Tensor:
    """Lovasz-softmax loss of class probabilities (see :class:`LovaszSoftmaxLoss`).

    Args:
        probabilities: ``B,C,*`` per-pixel class probabilities (e.g. a softmax).
        target: ``B,*`` integer labels in 0..C-1 or ``ignore_index``.
        ignore_index: target value of pixels to ignore.
        classes: ``"present"`` (classes labelled in the batch, or in the image with ``per_image``), ``"all"``,
            or a list of class indices.
        per_image: compute the loss per image and average over the images with a non-empty term, instead of
            over the whole batch at once.
    """
    check_logits_match_target(probabilities, target)
    num_classes = probabilities.shape[1]
    if not isinstance(classes, str) and any(not 0 <= c < num_classes for c in classes):
        raise ValueError(f"classes {list(classes)} are not all in 0..{num_classes - 1}")
    probs = probabilities.flatten(2)  # B, C, N
    target = target.flatten(1)  # B, N
    if per_image:
        groups = [(p, t) for p, t in zip(probs, target, strict=True)]
    else:
        groups = [(probs.transpose(0, 1).flatten(1), target.flatten())]
    terms = []
    for group_probs, group_target in groups:
        valid = group_target != ignore_index
        term = _lovasz_valid_pixels(group_probs[:, valid], group_target[valid].long(), classes)
        if term is not None:
            terms.append(term)
    if not terms:
        return probabilities.sum() * 0
    return torch.stack(terms).mean()


class LovaszSoftmaxLoss(nn.Module):
    """Lovasz-softmax loss (Berman, Rannen Triki and Blaschko, "The Lovasz-Softmax loss: a tractable surrogate for
    the optimization of the intersection-over-union measure in neural networks", CVPR 2018).

    With p = softmax(logits), per class c the pixel errors are ``m_i = |[y_i = c] - p_{i,c}|``; the loss of the
    class is the Lovasz extension of its Jaccard loss ``J_c(S) = |S| / |{y = c} u S|`` evaluated at m (sort the
    errors decreasingly, dot them with the increments of J_c along that order). It is piecewise linear and
    convex in m, and equals ``1 - IoU_c`` at a hard (one-hot) prediction. The loss is the mean over the
    selected classes.

    - Pixels whose target is ``ignore_index`` are removed before sorting: they change nothing and get exactly
      zero gradient.
    - With no valid pixel or no selected class (e.g. ``"present"`` on an all-ignored batch) the loss is 0,
      attached to the graph.

    Args:
        ignore_index: target value of pixels to ignore.
        classes: ``"present"`` (default: the classes labelled in the batch, or per image with ``per_image``),
            ``"all"`` (absent classes then penalise any probability mass given to them), or a list of class
            indices.
        per_image: average per-image losses (over the images with a non-empty term) instead of one loss over
            the whole batch.

    Shapes: ``logits`` ``B,C,H,W`` (or ``B,C,*``) raw scores; ``target`` ``B,H,W`` (or ``B,*``) integer labels
    in 0..C-1 or ``ignore_index``. Returns a scalar.
    """

    def __init__(self, ignore_index: int = 255, classes: ClassSelection = "present", per_image: bool = False) -> None:
        super().__init__()
        if isinstance(classes, str):
            if classes not in CLASS_CHOICES:
                raise ValueError(f"classes must be one of {CLASS_CHOICES} or a list of class indices, got '{classes}'")
        else:
            classes = tuple(int(c) for c in classes)
        self.ignore_index = ignore_index
        self.classes = classes
        self.per_image = per_image

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return lovasz_softmax(logits.softmax(dim=1), target, self.ignore_index, self.classes, self.per_image)
