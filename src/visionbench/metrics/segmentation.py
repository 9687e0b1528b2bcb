"""Semantic-segmentation metrics with mmsegmentation's ``IoUMetric`` semantics."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.functional.classification.confusion_matrix import _multiclass_confusion_matrix_format


def scores_from_confusion_matrix(confmat: Tensor) -> dict[str, Tensor]:
    """Turn a dataset-level confusion matrix into aAcc, mIoU, mAcc, mDice and per-class IoU, Acc, Dice.

    Args:
        confmat: ``C x C`` pixel counts, rows = ground truth, columns = prediction, summed over the whole
            dataset (ignored pixels already excluded).

    Returns:
        ``aAcc``, ``mIoU``, ``mAcc``, ``mDice``: 0-dim float32 tensors in [0, 1]; ``IoU``, ``Acc``, ``Dice``:
        float32 tensors of shape ``(C,)``. Per class, with I = intersection, P = predicted pixels,
        L = labelled pixels, U = P + L - I: IoU = I / U, Acc = I / L, Dice = 2 I / (P + L); a class whose
        denominator is 0 gets NaN and the ``m*`` means are NaN-means over classes. aAcc = sum(I) / sum(L).
        Everything is NaN when the matrix is empty.
    """
    if confmat.ndim != 2 or confmat.shape[0] != confmat.shape[1]:
        raise ValueError(f"Expected a square C x C confusion matrix, got shape {tuple(confmat.shape)}")
    counts = confmat.to(torch.float64)  # exact up to 2**53 pixels
    intersect = counts.diagonal()
    area_label = counts.sum(dim=1)
    area_pred = counts.sum(dim=0)
    union = area_pred + area_label - intersect
    nan = torch.tensor(float("nan"), dtype=torch.float64, device=counts.device)

    iou = torch.where(union > 0, intersect / union, nan)
    acc = torch.where(area_label > 0, intersect / area_label, nan)
    dice = torch.where(area_pred + area_label > 0, 2 * intersect / (area_pred + area_label), nan)
    a_acc = intersect.sum() / area_label.sum()  # 0 / 0 = NaN for an empty matrix
    scores = {
        "aAcc": a_acc,
        "mIoU": iou.nanmean(),
        "mAcc": acc.nanmean(),
        "mDice": dice.nanmean(),
        "IoU": iou,
        "Acc": acc,
        "Dice": dice,
    }
    return {name: value.to(torch.float32) for name, value in scores.items()}


class SegmentationMetrics(Metric):
    """aAcc, mIoU, mAcc, mDice over a dataset, exactly as mmsegmentation's ``IoUMetric`` computes them.

    One ``num_classes x num_classes`` int64 confusion matrix (rows = ground truth, columns = prediction)
    is summed over every pixel of every image (and over DDP ranks, ``dist_reduce_fx="sum"``); the scores
    come from these dataset-level totals, never from per-image averages. Semantics
    (see :func:`scores_from_confusion_matrix`):

    - pixels whose target equals ``ignore_index`` count nowhere (neither in the GT nor in the prediction
      histogram);
    - per class, IoU = intersection / union, Acc = intersection / GT pixels,
      Dice = 2 intersection / (predicted + GT pixels); aAcc = correct pixels / labelled pixels;
    - a class absent from both prediction and GT (union 0) gets NaN IoU and Dice and is dropped from the
      means (NaN-means). A class predicted but absent from the GT has union > 0, hence IoU = Dice = 0, and
      *does* count in mIoU / mDice (its Acc is NaN, so it does not count in mAcc).

    ``compute()`` returns ``aAcc``, ``mIoU``, ``mAcc``, ``mDice`` (0-dim, in [0, 1]) and the per-class
    ``IoU``, ``Acc``, ``Dice`` (shape ``(num_classes,)``, NaN for dropped classes).

    Args:
        num_classes: number of classes C; valid labels are 0..C-1.
        ignore_index: target value marking unlabelled pixels (ADE20K's 0 after ``reduce_zero_label``).
        validate_args: check shapes and that labels lie in 0..C-1 (one device sync per update).
        kwargs: passed to ``torchmetrics.Metric`` (e.g. ``sync_on_compute``).

    ``update(preds, target)``: ``preds`` are logits/probabilities ``B,C,H,W`` (float, argmax over dim 1) or
    labels ``B,H,W`` (integer); ``target`` is ``B,H,W`` integer.
    """

    full_state_update = False
    higher_is_better = True
    is_differentiable = False

    def __init__(self, num_classes: int, ignore_index: int = 255, validate_args: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if 0 <= ignore_index < num_classes:
            raise ValueError(f"ignore_index={ignore_index} collides with a class index (0..{num_classes - 1})")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.validate_args = validate_args
        self.add_state("confmat", default=torch.zeros(num_classes, num_classes, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: Tensor, target: Tensor) -> None:
        if self.validate_args:
            self._check_shapes(preds, target)
        preds, target = _multiclass_confusion_matrix_format(preds, target, self.ignore_index)
        target = target.long()
        preds = preds.long()
        if self.validate_args:
            self._check_range(preds, target)
        # torch.bincount rather than torchmetrics' _bincount: under torch.use_deterministic_algorithms
        # (Lightning's deterministic=True) the latter falls back to an N x C^2 comparison matrix, which
        # does not fit in memory for segmentation; integer bincount without weights is exact and
        # deterministic on CPU and CUDA.
        counts = torch.bincount(target * self.num_classes + preds, minlength=self.num_classes**2)
        self.confmat += counts.reshape(self.num_classes, self.num_classes)

    def compute(self) -> dict[str, Tensor]:
        return scores_from_confusion_matrix(self.confmat)

    def _check_shapes(self, preds: Tensor, target: Tensor) -> None:
        if target.is_floating_point():
            raise ValueError(f"target must be an integer label map, got dtype {target.dtype}")
        if preds.is_floating_point():
            if preds.ndim != target.ndim + 1 or preds.shape[1] != self.num_classes:
                raise ValueError(
                    f"Float preds must be B,C,H,W scores with C={self.num_classes} for target B,H,W; "
                    f"got preds {tuple(preds.shape)} and target {tuple(target.shape)}"
                )
            if preds.shape[:1] + preds.shape[2:] != target.shape:
                raise ValueError(f"preds {tuple(preds.shape)} do not match target {tuple(target.shape)}")
        elif preds.shape != target.shape:
            raise ValueError(f"Label preds {tuple(preds.shape)} must have the shape of target {tuple(target.shape)}")

    def _check_range(self, preds: Tensor, target: Tensor) -> None:
        c = self.num_classes
        if bool(((target < 0) | (target >= c)).any()):
            raise ValueError(f"target has values outside 0..{c - 1} that are not ignore_index={self.ignore_index}")
        if bool(((preds < 0) | (preds >= c)).any()):
            raise ValueError(f"preds have labels outside 0..{c - 1}")
