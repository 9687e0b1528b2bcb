"""Block matching by normalised cross-correlation, coarse-to-fine, with sub-pixel peak refinement."""

from __future__ import annotations

import cv2
import numpy as np

from visionbench.models.flow.classical.common import CoarseToFineFlow

TILE = 128
"""Side in pixels of the tiles :meth:`CorrelationMatching.match` processes one at a time."""


class CorrelationMatching(CoarseToFineFlow):
    """Dense block matching with the normalised cross-correlation (NCC) score (template matching as in
    Lewis, "Fast normalized cross-correlation", Vision Interface 1995; the area-correlation flow methods
    surveyed by Barron, Fleet and Beauchemin, "Performance of optical flow techniques", IJCV 1994, and
    Anandan, IJCV 1989, for the coarse-to-fine search).

    Algorithm: for each pixel, the square ``patch_size`` patch of frame 1 around it is compared with the
    patches of frame 2 displaced by every integer ``(dx, dy)`` of its ``(2 r + 1)^2`` search window, by
    ``NCC = cov(P1, P2) / sqrt(var(P1) var(P2))`` minus ``displacement_penalty * |d - prior|_1`` (a weak
    prior towards the coarser level's flow, zero motion at the coarsest level, which removes the spurious
    far peaks of repetitive or weak texture; 0 gives plain NCC). All pixels are scored at once per
    displacement: patch means, variances and the covariance are box-filtered images of the shifted frame 2
    and of its product with frame 1, so one displacement costs a few box filters whatever the patch size,
    and a running arg-max keeps each pixel's best displacement within its own window (no Python loop over
    pixels). The integer arg-max is refined to sub-pixel precision by fitting a parabola through the
    peak and its two neighbours along each axis (offset ``(s- - s+) / (2 (s- - 2 s0 + s+))``, only at a
    strict local maximum, so within +-0.5 px).

    Coarse-to-fine (``max_levels`` > 1): on a Gaussian pyramid, the coarsest level searches
    ``search_radius`` around zero; every finer level searches ``refine_radius`` around the rounded,
    upsampled flow of the coarser level (on the unwarped images: the windows are shifted per pixel, the
    integer search stays exact). Patches of frame 1 with a standard deviation below ``min_std`` (no
    texture) keep the upsampled flow (0 at the coarsest level). The flow is median filtered after each
    level. Intensities are grey levels in [0, 1]. The largest displacement found is about
    ``search_radius / pyramid_scale^(levels - 1)`` plus the refinements.

    Args:
        patch_size: side of the square correlation patch in pixels (odd).
        search_radius: r of the search window at the coarsest level (displacements -r..r per axis, in
            that level's pixels); with one level this is the largest displacement found.
        refine_radius: r of the search window at the finer levels, around the upsampled flow.
        pyramid_scale: size ratio between consecutive pyramid levels (0 < scale < 1).
        max_levels: maximum number of pyramid levels, the input resolution included (1: single scale).
        min_size: the coarsest level keeps its smaller side at least this many pixels.
        subpixel: refine the integer arg-max with the per-axis parabola fit.
        displacement_penalty: score penalty per pixel of L1 distance from the prior (NCC is in [-1, 1]).
        min_std: patches of frame 1 whose intensity standard deviation is below this are not matched.
        median_size: median filter (3 or 5) applied to the flow after each level; 0 or 1 disables it.
    """

    def __init__(
        self,
        patch_size: int = 9,
        search_radius: int = 3,
        refine_radius: int = 2,
        pyramid_scale: float = 0.5,
        max_levels: int = 3,
        min_size: int = 16,
        subpixel: bool = True,
        displacement_penalty: float = 0.02,
        min_std: float = 2e-3,
        median_size: int = 5,
    ) -> None:
        if patch_size < 1 or patch_size % 2 == 0:
            raise ValueError(f"patch_size must be a positive odd number, got {patch_size}")
        if search_radius < 1 or refine_radius < 1:
            raise ValueError(f"search_radius and refine_radius must be >= 1, got {search_radius}, {refine_radius}")
        super().__init__(pyramid_scale, max_levels, min_size, median_size)
        if displacement_penalty < 0:
            raise ValueError(f"displacement_penalty must be >= 0, got {displacement_penalty}")
        self.patch_size = int(patch_size)
        self.search_radius = int(search_radius)
        self.refine_radius = int(refine_radius)
        self.subpixel = bool(subpixel)
        self.displacement_penalty = float(displacement_penalty)
        self.min_std = float(min_std)

    @property
    def refinements_per_level(self) -> int:
        """One search per level."""
        return 1

    def refine(self, first: np.ndarray, second: np.ndarray, flow: np.ndarray, coarsest: bool) -> np.ndarray:
        """The level's search: ``search_radius`` around zero at the coarsest level, else ``refine_radius``
        around ``flow``."""
        return self.match(first, second, flow, self.search_radius if coarsest else self.refine_radius)

    def _box(self, array: np.ndarray) -> np.ndarray:
        size = (self.patch_size, self.patch_size)
        return cv2.boxFilter(array, cv2.CV_32F, size, normalize=True, borderType=cv2.BORDER_REFLECT)

    def match(self, first: np.ndarray, second: np.ndarray, prior: np.ndarray, radius: int) -> np.ndarray:
        """Flow ``H,W,2`` maximising the NCC of ``first``'s patches with ``second``'s over the integer
        displacements within +-``radius`` (per axis) of ``rint(prior)``, sub-pixel refined if enabled.

        The image is processed in ``TILE`` x ``TILE`` tiles (each with a margin of half a patch, so the box
        filters see exactly what they would on the whole image); in a tile, every displacement that one of
        its pixels needs (its window, plus one step around it for the parabola) is scored for all the tile's
        pixels at once with box filters, and a running arg-max keeps, per pixel, the best score within its
        own window and the scores of the best displacement's four neighbours. Tiling only bounds the work
        to the displacements a region needs. Pixels whose patch in ``first`` has no texture
        (std < ``min_std``) return ``prior`` unchanged.
        """
        height, width = first.shape
        centre = np.rint(prior).astype(np.int32)
        margin = int(np.abs(centre).max(initial=0)) + radius + 1
        padded = cv2.copyMakeBorder(second, margin, margin, margin, margin, cv2.BORDER_REPLICATE)
        half = self.patch_size // 2
        flow = np.empty((height, width, 2), dtype=np.float32)
        for top in range(0, height, TILE):
            for left in range(0, width, TILE):
                bottom, right = min(top + TILE, height), min(left + TILE, width)
                rows = slice(max(top - half, 0), min(bottom + half, height))
                cols = slice(max(left - half, 0), min(right + half, width))
                region = self._match_region(
                    first[rows, cols], padded, (rows.start + margin, cols.start + margin), prior[rows, cols],
                    centre[rows, cols], radius,
                )  # fmt: skip
                flow[top:bottom, left:right] = region[
                    top - rows.start : bottom - rows.start, left - cols.start : right - cols.start
                ]
        return flow

    def _match_region(
        self,
        first: np.ndarray,
        padded: np.ndarray,
        origin: tuple[int, int],
        prior: np.ndarray,
        centre: np.ndarray,
        radius: int,
    ) -> np.ndarray:
        """:meth:`match` on one region of frame 1; ``origin`` is the index in ``padded`` (frame 2 padded by
        replication) of the region's top-left pixel, so the region displaced by (dx, dy) starts at
        ``origin + (dy, dx)``."""
        height, width = first.shape
        cx, cy = centre[:, :, 0], centre[:, :, 1]
        prior_x, prior_y = prior[:, :, 0], prior[:, :, 1]
        reach = radius + 1  # the window plus one step for the sub-pixel neighbours
        xs = range(int(cx.min()) - reach, int(cx.max()) + reach + 1)
        ys = range(int(cy.min()) - reach, int(cy.max()) + reach + 1)

        mean1 = self._box(first)
        var1 = np.maximum(self._box(first * first) - mean1 * mean1, 0.0)
        best = np.full((height, width), -np.inf, dtype=np.float32)
        best_x = cx.copy()
        best_y = cy.copy()
        left, right, up, down = (np.full((height, width), np.nan, dtype=np.float32) for _ in range(4))
        previous_row: dict[int, np.ndarray] = {}
        for dy in ys:
            near_y = np.abs(dy - cy)
            if not (near_y <= reach).any():
                previous_row = {}
                continue
            row: dict[int, np.ndarray] = {}
            for dx in xs:
                near_x = np.abs(dx - cx)
                if not ((near_x <= reach) & (near_y <= reach)).any():
                    continue
                top, start = origin[0] + dy, origin[1] + dx
                shifted = padded[top : top + height, start : start + width]
                mean2 = self._box(shifted)
                var2 = np.maximum(self._box(shifted * shifted) - mean2 * mean2, 0.0)
                score = (self._box(first * shifted) - mean1 * mean2) / np.sqrt(var1 * var2 + 1e-12)
                if self.displacement_penalty > 0:
                    score = score - self.displacement_penalty * (np.abs(dx - prior_x) + np.abs(dy - prior_y))
                row[dx] = score
                # this displacement is the right / lower neighbour of the current best of some pixels
                right = np.where((best_y == dy) & (best_x == dx - 1), score, right)
                down = np.where((best_y == dy - 1) & (best_x == dx), score, down)
                better = (near_x <= radius) & (near_y <= radius) & (score > best)
                if better.any():
                    best = np.where(better, score, best)
                    best_x = np.where(better, dx, best_x)
                    best_y = np.where(better, dy, best_y)
                    left = np.where(better, row.get(dx - 1, np.nan), left)
                    up = np.where(better, previous_row.get(dx, np.nan), up)
                    right = np.where(better, np.nan, right)
                    down = np.where(better, np.nan, down)
            previous_row = row

        flow_x = best_x.astype(np.float32)
        flow_y = best_y.astype(np.float32)
        if self.subpixel:
            flow_x += parabola_offset(left, best, right)
            flow_y += parabola_offset(up, best, down)
        textured = (np.sqrt(var1) >= self.min_std) & np.isfinite(best)
        return np.dstack([np.where(textured, flow_x, prior_x), np.where(textured, flow_y, prior_y)]).astype(np.float32)


def parabola_offset(before: np.ndarray, peak: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Sub-pixel position of the vertex of the parabola through (-1, before), (0, peak), (1, after):
    ``(before - after) / (2 (before - 2 peak + after))``, only where ``peak`` is a strict local maximum
    (both neighbours known and lower); 0 elsewhere. In [-0.5, 0.5] by construction."""
    curvature = before - 2.0 * peak + after
    usable = np.isfinite(before) & np.isfinite(after) & (peak >= before) & (peak >= after) & (curvature < -1e-9)
    offset = 0.5 * (before - after) / np.where(usable, curvature, -1.0)
    return np.where(usable, np.clip(offset, -0.5, 0.5), 0.0).astype(np.float32)
