"""Optical-flow metrics: end-point error, px1/px3/px5 and KITTI's Fl, pixel-pooled and per-image.

Definitions (on the *valid* pixels of the ground truth only):

- EPE: end-point error ``|pred - gt|_2`` in pixels, averaged.
- px1, px3, px5: fraction (in [0, 1]) of pixels whose EPE is *below* 1, 3, 5 px (RAFT's ``1px/3px/5px``).
- Fl: fraction (in [0, 1]) of outliers by KITTI 2015's rule, EPE > 3 px **and** EPE > 5 % of ``|gt|`` (KITTI's
  tables print it in percent: 100 x this value).
- nonfinite: fraction (in [0, 1]) of pixels whose predicted flow is NaN or infinite. Such a pixel is never within
  1 / 3 / 5 px, always an Fl outlier, and makes EPE NaN (``null`` in metrics.json): a method that outputs NaN cannot
  score well, and the flag says why its EPE is missing.

Two averaging conventions, both reported because published tables mix them:

- pixel-pooled (the headline names ``EPE``, ``px1``, ..., ``Fl``): sum over every valid pixel of the whole
  dataset divided by the number of valid pixels. A large or densely annotated image weighs more.
- per-image (``EPE_per_image``, ...): each image's mean over its valid pixels, then the mean over images.
  Images without any valid pixel are skipped.

Who uses which: RAFT's evaluation pools pixels for FlyingChairs and Sintel (EPE, 1px/3px/5px over all
pixels of the split) but averages EPE per image on KITTI while pooling Fl-all there; the KITTI devkit sums
outliers and valid pixels over all images (pooled Fl-all); ptlflow's ``FlowMetrics`` averages per-image
means over samples (per-image; it counts an image without valid pixels as 0, we skip it). The two agree when
every image has the same number of valid pixels (Sintel, FlyingChairs), not on KITTI's sparse ground truth.

Both come from per-pair fields (:data:`PAIR_FIELDS`, ``scores.npz``): the EPE sum over the pair's valid pixels, the
valid-pixel count and the counts of pixels within 1 / 3 / 5 px and of Fl outliers, with ``_noc`` / ``_occ`` copies
over the non-occluded / occluded valid pixels when the data has occlusion masks (:func:`flow_scores`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from visionbench.metrics.samples import PerSampleMetric, Samples, Scores, resampled_sums

STATISTICS = ("EPE", "px1", "px3", "px5", "Fl", "nonfinite")
REGIONS = ("", "_noc", "_occ")  # all valid pixels, valid non-occluded, valid occluded
FL_ABSOLUTE_PX = 3.0
FL_RELATIVE = 0.05
COUNT_FIELDS = ("px1", "px3", "px5", "fl", "nonfinite")
"""Per-pair pixel counts (int64): EPE < 1, < 3, < 5 px, Fl outliers and non-finite predictions (the statistics after
``EPE``)."""
PAIR_FIELDS = ("epe_sum", "valid", *COUNT_FIELDS)
"""Per-pair fields of a region (suffixed with the region: ``valid_noc``...): ``epe_sum`` float64 (sum of the EPE over
the valid pixels), ``valid`` int64 (valid-pixel count) and :data:`COUNT_FIELDS`."""


def end_point_error(pred: Tensor, target: Tensor) -> Tensor:
    """Per-pixel end-point error ``B,H,W`` between two ``B,2,H,W`` flows (same dtype as the inputs)."""
    if pred.shape != target.shape or pred.ndim != 4 or pred.shape[1] != 2:
        raise ValueError(
            f"pred and target must both be B,2,H,W flows, got {tuple(pred.shape)} and {tuple(target.shape)}"
        )
    return torch.linalg.vector_norm(pred - target, dim=1)


def pixel_statistics(pred: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """Per-pixel ``(EPE B,H,W float64, hits 5,B,H,W bool)``: the end-point error and whether it is < 1, < 3, < 5 px,
    a KITTI outlier, and whether the prediction is non-finite (NaN EPE; an outlier, within no threshold)."""
    epe = end_point_error(pred.double(), target.double())
    magnitude = torch.linalg.vector_norm(target.double(), dim=1)
    nonfinite = ~torch.isfinite(pred).all(dim=1)
    outlier = ((epe > FL_ABSOLUTE_PX) & (epe > FL_RELATIVE * magnitude)) | nonfinite
    return epe, torch.stack([epe < 1, epe < 3, epe < 5, outlier, nonfinite])


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")


def flow_scores(samples: Mapping[str, np.ndarray]) -> Scores:
    """EPE, px1, px3, px5, Fl, nonfinite (pooled) and ``..._per_image`` of per-pair fields (:data:`PAIR_FIELDS`, one
    entry per pair), for every region whose fields are present (``EPE_noc``, ``px1_occ_per_image``...).

    Pooled: each field summed over the pairs, divided by the summed valid-pixel count. Per image: each pair's field
    divided by its valid-pixel count, averaged over the pairs that have valid pixels. NaN without any valid pixel.
    """
    scores: Scores = {}
    for region in REGIONS:
        if f"valid{region}" not in samples:
            continue
        valid = np.asarray(samples[f"valid{region}"], dtype=np.int64)
        has_pixels = valid > 0
        total = int(valid.sum())
        for name, field in zip(STATISTICS, ("epe_sum", *COUNT_FIELDS), strict=True):
            values = np.asarray(samples[f"{field}{region}"])
            summed = float(values.sum()) if values.dtype.kind == "f" else int(values.sum())
            scores[f"{name}{region}"] = _ratio(summed, total)
            per_image = values[has_pixels] / valid[has_pixels]
            scores[f"{name}{region}_per_image"] = float(per_image.mean()) if has_pixels.any() else float("nan")
    return scores


def resampled_epe(samples: Mapping[str, np.ndarray], counts: np.ndarray) -> np.ndarray:
    """Pixel-pooled EPE of each resample of the pairs (``counts``: B x N draws of each pair), vectorised; counts of
    ones give exactly :func:`flow_scores`'s ``EPE``."""
    epe = resampled_sums(counts, np.asarray(samples["epe_sum"], dtype=np.float64))
    valid = resampled_sums(counts, np.asarray(samples["valid"], dtype=np.int64))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(valid > 0, epe / valid, np.nan)


class FlowMetrics(PerSampleMetric):
    """EPE, px1/px3/px5, Fl and the non-finite fraction over a dataset, pixel-pooled and per-image, optionally split
    by occlusion.

    One row per pair (:class:`~visionbench.metrics.samples.PerSampleMetric`: gathered over DDP ranks,
    de-duplicated by the pairs' dataset indices): per region (all / non-occluded / occluded valid pixels) the EPE
    sum, the valid-pixel count and the pixel counts of :data:`COUNT_FIELDS`, and whether the pair had an occlusion
    mask. The scores are :func:`flow_scores` of these per-pair fields; see the module docstring for the definitions
    and conventions.

    ``update(pred, target, valid=None, occlusion=None, indices=None)``: ``pred`` and ``target`` are float
    ``B,2,H,W`` flows (u, v in pixels); ``valid`` bool ``B,H,W`` (None: every pixel whose target is finite with
    ``|u|, |v| < 1e9``; a float/int mask is read as ``valid >= 0.5``); ``occlusion`` bool ``B,H,W``,
    True = occluded; ``indices`` the pairs' dataset indices. Values of ``target`` at invalid pixels are never used
    (they may be NaN or 1e10).

    ``compute()`` returns 0-dim float64 tensors: ``EPE, px1, px3, px5, Fl, nonfinite`` (pooled) and
    ``EPE_per_image, ..., nonfinite_per_image``; if any update carried an occlusion mask, also the same twelve with
    ``_noc`` / ``_occ`` after the statistic name (``EPE_noc``, ``px1_occ_per_image``, ...), computed over
    the pairs that had a mask. px*, Fl and nonfinite are fractions in [0, 1]. A metric without any valid pixel is NaN.
    ``sample_scores()``: the per-pair :data:`PAIR_FIELDS` (the ``_noc`` / ``_occ`` ones only when some pair had an
    occlusion mask; zero for the pairs without one) and ``index``.

    Args:
        kwargs: passed to ``torchmetrics.Metric`` (e.g. ``sync_on_compute``).
    """

    higher_is_better = False
    is_differentiable = False

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        regions = len(REGIONS)
        self.add_row_state("epe_sums", (regions,), torch.float64)
        self.add_row_state("pixel_counts", (regions, 1 + len(COUNT_FIELDS)), torch.long)
        self.add_row_state("has_occlusion", (), torch.bool)

    def update(
        self,
        pred: Tensor,
        target: Tensor,
        valid: Tensor | None = None,
        occlusion: Tensor | None = None,
        indices: Tensor | None = None,
    ) -> None:
        if pred.shape != target.shape or pred.ndim != 4 or pred.shape[1] != 2:
            raise ValueError(
                f"pred and target must be B,2,H,W flows, got {tuple(pred.shape)} and {tuple(target.shape)}"
            )
        mask_shape = target.shape[:1] + target.shape[2:]
        if valid is None:
            valid = (torch.isfinite(target) & (target.abs() < 1e9)).all(dim=1)
        elif valid.shape != mask_shape:
            raise ValueError(f"valid must be B,H,W = {tuple(mask_shape)}, got {tuple(valid.shape)}")
        valid = valid if valid.dtype == torch.bool else valid >= 0.5
        no_pixel = torch.zeros_like(valid)
        masks = [valid, no_pixel, no_pixel]
        if occlusion is not None:
            if occlusion.shape != mask_shape:
                raise ValueError(f"occlusion must be B,H,W = {tuple(mask_shape)}, got {tuple(occlusion.shape)}")
            occluded = occlusion if occlusion.dtype == torch.bool else occlusion >= 0.5
            masks = [valid, valid & ~occluded, valid & occluded]

        # invalid pixels may hold NaN / 1e10 in the target: zero both flows there before any arithmetic
        keep = valid[:, None]
        epe, hits = pixel_statistics(torch.where(keep, pred, 0), torch.where(keep, target, 0))
        region_masks = torch.stack(masks, dim=1)  # B,3,H,W
        epe_sums = torch.where(region_masks, epe[:, None], 0).flatten(2).sum(dim=2)  # B,3; a NaN stays in its region
        counts = [region_masks.flatten(2).sum(dim=2)]  # valid pixels, B,3
        counts += [(hit[:, None] & region_masks).flatten(2).sum(dim=2) for hit in hits]
        has_occlusion = torch.full((len(pred),), occlusion is not None, dtype=torch.bool, device=pred.device)
        self.add_rows(indices, epe_sums=epe_sums, pixel_counts=torch.stack(counts, dim=2), has_occlusion=has_occlusion)

    def samples_from_rows(self, rows: Samples) -> Samples:
        regions = REGIONS if rows["has_occlusion"].any() else REGIONS[:1]
        samples: Samples = {"index": rows["index"]}
        for r, region in enumerate(regions):
            samples[f"epe_sum{region}"] = rows["epe_sums"][:, r]
            for c, field in enumerate(PAIR_FIELDS[1:]):
                samples[f"{field}{region}"] = rows["pixel_counts"][:, r, c]
        return samples

    def summarise(self, samples: Mapping[str, np.ndarray]) -> Scores:
        return flow_scores(samples)
