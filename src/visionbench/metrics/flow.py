"""Optical-flow metrics: end-point error, px1/px3/px5 and KITTI's Fl, pixel-pooled and per-image.

Definitions (on the *valid* pixels of the ground truth only):

- EPE: end-point error ``|pred - gt|_2`` in pixels, averaged.
- px1, px3, px5: fraction (in [0, 1]) of pixels whose EPE is *below* 1, 3, 5 px (RAFT's ``1px/3px/5px``).
- Fl: percentage (in [0, 100]) of outliers by KITTI 2015's rule, EPE > 3 px **and** EPE > 5 % of ``|gt|``.

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
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

STATISTICS = ("EPE", "px1", "px3", "px5", "Fl")
REGIONS = ("", "_noc", "_occ")  # all valid pixels, valid non-occluded, valid occluded
FL_ABSOLUTE_PX = 3.0
FL_RELATIVE = 0.05


def end_point_error(pred: Tensor, target: Tensor) -> Tensor:
    """Per-pixel end-point error ``B,H,W`` between two ``B,2,H,W`` flows (same dtype as the inputs)."""
    if pred.shape != target.shape or pred.ndim != 4 or pred.shape[1] != 2:
        raise ValueError(
            f"pred and target must both be B,2,H,W flows, got {tuple(pred.shape)} and {tuple(target.shape)}"
        )
    return torch.linalg.vector_norm(pred - target, dim=1)


def pixel_statistics(pred: Tensor, target: Tensor) -> Tensor:
    """Per-pixel ``5,B,H,W`` float64 statistics: EPE, EPE < 1, EPE < 3, EPE < 5, KITTI outlier (0/1 each)."""
    epe = end_point_error(pred.double(), target.double())
    magnitude = torch.linalg.vector_norm(target.double(), dim=1)
    outlier = (epe > FL_ABSOLUTE_PX) & (epe > FL_RELATIVE * magnitude)
    return torch.stack([epe, epe < 1, epe < 3, epe < 5, outlier]).double()


class FlowMetrics(Metric):
    """EPE, px1/px3/px5 and Fl over a dataset, pixel-pooled and per-image, optionally split by occlusion.

    All states are sums (``dist_reduce_fx="sum"``, float64), so DDP reduction and ``merge_state`` are exact:
    per region (all / non-occluded / occluded valid pixels), the sums over pixels of the five per-pixel
    statistics and the pixel count (pooled), and the sums over images of each image's mean statistics and
    the image count (per-image). See the module docstring for the definitions and conventions.

    ``update(pred, target, valid=None, occlusion=None)``: ``pred`` and ``target`` are float ``B,2,H,W`` flows
    (u, v in pixels); ``valid`` bool ``B,H,W`` (None: every pixel whose target is finite with
    ``|u|, |v| < 1e9``; a float/int mask is read as ``valid >= 0.5``); ``occlusion`` bool ``B,H,W``,
    True = occluded. Values of ``target`` at invalid pixels are never used (they may be NaN or 1e10).

    ``compute()`` returns 0-dim float32 tensors: ``EPE, px1, px3, px5, Fl`` (pooled) and
    ``EPE_per_image, ..., Fl_per_image``; if any update carried an occlusion mask, also the same ten with
    ``_noc`` / ``_occ`` after the statistic name (``EPE_noc``, ``px1_occ_per_image``, ...), computed over
    the images that had a mask. px* are fractions in [0, 1], Fl is in percent. A metric without any valid
    pixel is NaN.

    Args:
        kwargs: passed to ``torchmetrics.Metric`` (e.g. ``sync_on_compute``).
    """

    full_state_update = False
    higher_is_better = False
    is_differentiable = False

    pooled_sums: Tensor
    pixel_counts: Tensor
    image_sums: Tensor
    image_counts: Tensor
    occlusion_images: Tensor

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        regions, stats = len(REGIONS), len(STATISTICS)
        zeros = torch.zeros
        self.add_state("pooled_sums", default=zeros(regions, stats, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("pixel_counts", default=zeros(regions, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("image_sums", default=zeros(regions, stats, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("image_counts", default=zeros(regions, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("occlusion_images", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(
        self, pred: Tensor, target: Tensor, valid: Tensor | None = None, occlusion: Tensor | None = None
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
        masks = [valid]
        if occlusion is not None:
            if occlusion.shape != mask_shape:
                raise ValueError(f"occlusion must be B,H,W = {tuple(mask_shape)}, got {tuple(occlusion.shape)}")
            occluded = occlusion if occlusion.dtype == torch.bool else occlusion >= 0.5
            masks += [valid & ~occluded, valid & occluded]
            self.occlusion_images += target.shape[0]

        # invalid pixels may hold NaN / 1e10 in the target: zero both flows there before any arithmetic
        keep = valid[:, None]
        stats = pixel_statistics(torch.where(keep, pred, 0), torch.where(keep, target, 0))  # 5,B,H,W
        for region, mask in enumerate(masks):
            weights = mask.double()
            counts = weights.flatten(1).sum(dim=1)  # B
            sums = (stats * weights).flatten(2).sum(dim=2)  # 5,B
            self.pooled_sums[region] += sums.sum(dim=1)
            self.pixel_counts[region] += counts.sum()
            has_pixels = counts > 0
            means = sums[:, has_pixels] / counts[has_pixels]
            self.image_sums[region] += means.sum(dim=1)
            self.image_counts[region] += has_pixels.sum()

    def compute(self) -> dict[str, Tensor]:
        scale = torch.tensor([1.0, 1.0, 1.0, 1.0, 100.0], dtype=torch.float64, device=self.pooled_sums.device)
        pooled = self.pooled_sums / self.pixel_counts[:, None] * scale  # 0 / 0 = NaN
        per_image = self.image_sums / self.image_counts[:, None] * scale
        regions = REGIONS if self.occlusion_images > 0 else REGIONS[:1]
        results: dict[str, Tensor] = {}
        for r, region in enumerate(regions):
            for s, name in enumerate(STATISTICS):
                results[f"{name}{region}"] = pooled[r, s].float()
                results[f"{name}{region}_per_image"] = per_image[r, s].float()
        return results
