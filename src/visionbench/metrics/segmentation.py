"""Semantic-segmentation metrics with mmsegmentation's ``IoUMetric`` semantics."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from visionbench.metrics.samples import PerSampleMetric, Scores, resampled_sums

AREA_FIELDS = ("intersection", "union", "pred_area", "label_area")
"""Per-sample fields (``N x C`` int64 pixel counts of each image and class): intersection of prediction and label,
their union, predicted pixels, labelled pixels (pixels labelled ``ignore_index`` count nowhere)."""


def nan_mean(values: np.ndarray, axis: int | None = None) -> np.ndarray | float:
    """Mean over the non-NaN entries (NaN, without a warning, where there is none)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(values, axis=axis)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator`` in float64, NaN where the denominator is 0."""
    numerator, denominator = np.asarray(numerator, np.float64), np.asarray(denominator, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / denominator, np.nan)


def class_ratios(
    intersection: np.ndarray, union: np.ndarray, pred_area: np.ndarray, label_area: np.ndarray
) -> dict[str, np.ndarray]:
    """Per-class IoU = I / U, Acc = I / L, Dice = 2 I / (P + L) of dataset-level pixel counts (``..., C``; float64;
    NaN where the denominator is 0)."""
    intersection = np.asarray(intersection, np.float64)
    return {
        "IoU": _ratio(intersection, union),
        "Acc": _ratio(intersection, label_area),
        "Dice": _ratio(2 * intersection, np.asarray(pred_area, np.float64) + np.asarray(label_area, np.float64)),
    }


def scores_from_totals(
    intersection: np.ndarray, union: np.ndarray, pred_area: np.ndarray, label_area: np.ndarray
) -> Scores:
    """aAcc, mIoU, mAcc, mDice and per-class IoU, Acc, Dice of per-class pixel counts summed over a dataset.

    Args:
        intersection, union, pred_area, label_area: ``(C,)`` integer counts (ignored pixels already excluded).

    Returns:
        ``aAcc``, ``mIoU``, ``mAcc``, ``mDice`` (float64 in [0, 1]) and ``IoU``, ``Acc``, ``Dice`` (``(C,)`` float64).
        Per class, with I = intersection, P = predicted pixels, L = labelled pixels, U = P + L - I: IoU = I / U,
        Acc = I / L, Dice = 2 I / (P + L); a class whose denominator is 0 gets NaN and the ``m*`` means are NaN-means
        over classes. aAcc = sum(I) / sum(L). Everything is NaN without any labelled or predicted pixel.
    """
    ratios = class_ratios(intersection, union, pred_area, label_area)
    labelled = int(np.sum(label_area))
    a_acc = int(np.sum(intersection)) / labelled if labelled else float("nan")
    means = {f"m{name}": float(nan_mean(values)) for name, values in ratios.items()}
    return {"aAcc": a_acc, **means, **ratios}


def segmentation_scores(samples: Mapping[str, np.ndarray]) -> Scores:
    """:func:`scores_from_totals` of per-image areas (:data:`AREA_FIELDS`, ``N x C`` each) summed over the images."""
    return scores_from_totals(*(np.asarray(samples[field]).sum(axis=0) for field in AREA_FIELDS))


def resampled_miou(samples: Mapping[str, np.ndarray], counts: np.ndarray) -> np.ndarray:
    """mIoU of each resample of the images (``counts``: B x N draws of each image), vectorised: per-class
    intersections and unions summed with the counts as weights; classes absent from prediction and label in a
    resample (union 0) are dropped from its mean, as the metric drops them. Counts of ones give exactly
    :func:`segmentation_scores`'s mIoU."""
    iou = _ratio(resampled_sums(counts, samples["intersection"]), resampled_sums(counts, samples["union"]))
    return np.asarray(nan_mean(iou, axis=1), dtype=np.float64)


def scores_from_confusion_matrix(confmat: Tensor) -> dict[str, Tensor]:
    """:func:`scores_from_totals` of a ``C x C`` dataset-level confusion matrix (rows = ground truth, columns =
    prediction), as float64 tensors."""
    if confmat.ndim != 2 or confmat.shape[0] != confmat.shape[1]:
        raise ValueError(f"Expected a square C x C confusion matrix, got shape {tuple(confmat.shape)}")
    counts = confmat.detach().cpu().long().numpy()
    intersection, label_area, pred_area = counts.diagonal(), counts.sum(axis=1), counts.sum(axis=0)
    scores = scores_from_totals(intersection, pred_area + label_area - intersection, pred_area, label_area)
    return {name: torch.tensor(value, dtype=torch.float64) for name, value in scores.items()}


class SegmentationMetrics(PerSampleMetric):
    """aAcc, mIoU, mAcc, mDice over a dataset, exactly as mmsegmentation's ``IoUMetric`` computes them.

    Every image's per-class intersection, union, predicted and labelled pixel counts are kept (one row per image,
    :class:`~visionbench.metrics.samples.PerSampleMetric`: gathered over DDP ranks, de-duplicated by the images'
    dataset indices); the scores come from their dataset-level sums (:func:`segmentation_scores`), never from
    per-image averages. Semantics (see :func:`scores_from_totals`):

    - pixels whose target equals ``ignore_index`` count nowhere (neither in the GT nor in the prediction
      histogram);
    - per class, IoU = intersection / union, Acc = intersection / GT pixels,
      Dice = 2 intersection / (predicted + GT pixels); aAcc = correct pixels / labelled pixels;
    - a class absent from both prediction and GT (union 0) gets NaN IoU and Dice and is dropped from the
      means (NaN-means). A class predicted but absent from the GT has union > 0, hence IoU = Dice = 0, and
      *does* count in mIoU / mDice (its Acc is NaN, so it does not count in mAcc);
    - a pixel whose scores are not all finite (NaN or infinite logits: a diverged model) predicts no class: it
      counts in its GT class's labelled pixels (and union) but in no class's predictions, so it is wrong for every
      class. ``argmax`` would otherwise read an all-NaN pixel as class 0 and hand the background class free hits.

    ``compute()`` returns ``aAcc``, ``mIoU``, ``mAcc``, ``mDice`` (0-dim float64, in [0, 1]) and the per-class
    ``IoU``, ``Acc``, ``Dice`` (shape ``(num_classes,)``, NaN for dropped classes); ``sample_scores()`` the
    per-image :data:`AREA_FIELDS` (``N x C`` int64) and ``index``.

    Args:
        num_classes: number of classes C; valid labels are 0..C-1.
        ignore_index: target value marking unlabelled pixels (ADE20K's 0 after ``reduce_zero_label``).
        validate_args: check shapes and that labels lie in 0..C-1 (one device sync per update).
        kwargs: passed to ``torchmetrics.Metric`` (e.g. ``sync_on_compute``).

    ``update(preds, target, indices=None)``: ``preds`` are logits/probabilities ``B,C,H,W`` (float, argmax over
    dim 1) or labels ``B,H,W`` (integer); ``target`` is ``B,H,W`` integer; ``indices`` the images' dataset indices.
    """

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
        for field in AREA_FIELDS:
            self.add_row_state(field, (num_classes,), torch.long)

    def update(self, preds: Tensor, target: Tensor, indices: Tensor | None = None) -> None:
        if self.validate_args:
            self._check_shapes(preds, target)
        labels = preds.argmax(dim=1) if preds.is_floating_point() else preds
        labels, target = labels.long(), target.long()
        keep = target != self.ignore_index
        predicted = keep & torch.isfinite(preds).all(dim=1) if preds.is_floating_point() else keep
        if self.validate_args:
            self._check_range(labels[predicted], target[keep])
        # torch.bincount: under torch.use_deterministic_algorithms (Lightning's deterministic=True) integer bincount
        # without weights is exact and deterministic on CPU and CUDA. One bin per (image, class).
        c, bins = self.num_classes, len(target) * self.num_classes
        image = torch.arange(len(target), device=target.device).view(-1, *([1] * (target.ndim - 1))).expand_as(target)
        label_bin = image[keep] * c + target[keep]
        pred_bin = image[predicted] * c + labels[predicted]
        hit_bin = (image * c + target)[predicted & (labels == target)]
        label_area = torch.bincount(label_bin, minlength=bins).view(-1, c)
        pred_area = torch.bincount(pred_bin, minlength=bins).view(-1, c)
        intersection = torch.bincount(hit_bin, minlength=bins).view(-1, c)
        union = pred_area + label_area - intersection
        self.add_rows(indices, intersection=intersection, union=union, pred_area=pred_area, label_area=label_area)

    def summarise(self, samples: Mapping[str, np.ndarray]) -> Scores:
        return segmentation_scores(samples)

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
        """``preds`` and ``target``: the labels of the pixels not ignored."""
        c = self.num_classes
        if bool(((target < 0) | (target >= c)).any()):
            raise ValueError(f"target has values outside 0..{c - 1} that are not ignore_index={self.ignore_index}")
        if bool(((preds < 0) | (preds >= c)).any()):
            raise ValueError(f"preds have labels outside 0..{c - 1}")
