"""OpenCV's classical flow methods as baselines: Farneback and DIS."""

from __future__ import annotations

import cv2
import numpy as np

from visionbench.models.flow.classical.common import (
    ClassicalFlow,
    check_at_least_one,
    check_pyramid_scale,
    grey_uint8,
)

DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


class Farneback(ClassicalFlow):
    """Farneback, "Two-frame motion estimation based on polynomial expansion", SCIA 2003, through
    ``cv2.calcOpticalFlowFarneback``.

    Algorithm: each neighbourhood of both frames is approximated by a quadratic polynomial (weighted least
    squares with a Gaussian applicability); the displacement follows from how the polynomial's coefficients
    change between the frames, averaged over a window, iterated and run coarse-to-fine on a pyramid.
    Input: the frames rounded to uint8 and converted to grey with ``cv2.cvtColor(RGB2GRAY)``. The defaults
    are the settings used for the reference values (``0.5, 5, 15, 3, 5, 1.2, 0``).

    Args:
        pyramid_scale: image scale (< 1) between pyramid levels (``pyr_scale``).
        levels: number of pyramid levels including the input (``levels``).
        window_size: averaging window size in pixels (``winsize``); larger is smoother and more robust.
        iterations: iterations per pyramid level (``iterations``).
        poly_n: neighbourhood size of the polynomial expansion (``poly_n``, 5 or 7).
        poly_sigma: Gaussian standard deviation of the polynomial expansion (``poly_sigma``; 1.1 for
            poly_n 5, 1.5 for poly_n 7 in OpenCV's documentation).
        gaussian_window: use a Gaussian instead of a box window (``OPTFLOW_FARNEBACK_GAUSSIAN``).
    """

    def __init__(
        self,
        pyramid_scale: float = 0.5,
        levels: int = 5,
        window_size: int = 15,
        iterations: int = 3,
        poly_n: int = 5,
        poly_sigma: float = 1.2,
        gaussian_window: bool = False,
    ) -> None:
        super().__init__()
        check_pyramid_scale(pyramid_scale)
        check_at_least_one(levels=levels, window_size=window_size, iterations=iterations)
        if poly_n not in (5, 7):
            raise ValueError(f"poly_n must be 5 or 7, got {poly_n}")
        self.pyramid_scale = float(pyramid_scale)
        self.levels = int(levels)
        self.window_size = int(window_size)
        self.iterations = int(iterations)
        self.poly_n = int(poly_n)
        self.poly_sigma = float(poly_sigma)
        self.gaussian_window = bool(gaussian_window)

    def estimate(self, image1: np.ndarray, image2: np.ndarray) -> np.ndarray:
        flags = cv2.OPTFLOW_FARNEBACK_GAUSSIAN if self.gaussian_window else 0
        return cv2.calcOpticalFlowFarneback(
            grey_uint8(image1), grey_uint8(image2), None, self.pyramid_scale, self.levels, self.window_size,
            self.iterations, self.poly_n, self.poly_sigma, flags,
        )  # fmt: skip


class DIS(ClassicalFlow):
    """Dense Inverse Search, Kroeger, Timofte, Dai and Van Gool, "Fast optical flow using dense inverse
    search", ECCV 2016, through ``cv2.DISOpticalFlow``.

    Algorithm: coarse-to-fine; at each level, patches on a regular grid are aligned to frame 2 by inverse
    compositional Lucas-Kanade (gradient descent on the patch SSD), the patch displacements are densified
    by a weighted average over overlapping patches, and the dense field is refined by a few iterations of
    a variational energy (data, gradient constancy, smoothness). Input: the frames rounded to uint8 and
    converted to grey with ``cv2.cvtColor(RGB2GRAY)``.

    Args:
        preset: OpenCV's speed/accuracy preset, ``"ultrafast"``, ``"fast"`` or ``"medium"`` (the reference
            values use medium).
        finest_scale, patch_size, patch_stride, gradient_descent_iterations, variational_refinement_iterations,
        variational_refinement_alpha, variational_refinement_delta, variational_refinement_gamma,
        use_mean_normalization, use_spatial_propagation: None keeps the preset's value, otherwise overrides
            the ``DISOpticalFlow`` setting of that name (``setFinestScale``, ``setPatchSize``, ...).
    """

    def __init__(
        self,
        preset: str = "medium",
        finest_scale: int | None = None,
        patch_size: int | None = None,
        patch_stride: int | None = None,
        gradient_descent_iterations: int | None = None,
        variational_refinement_iterations: int | None = None,
        variational_refinement_alpha: float | None = None,
        variational_refinement_delta: float | None = None,
        variational_refinement_gamma: float | None = None,
        use_mean_normalization: bool | None = None,
        use_spatial_propagation: bool | None = None,
    ) -> None:
        super().__init__()
        if preset not in DIS_PRESETS:
            raise ValueError(f"preset must be one of {sorted(DIS_PRESETS)}, got {preset!r}")
        self.preset = preset
        self.overrides = {
            "FinestScale": finest_scale,
            "PatchSize": patch_size,
            "PatchStride": patch_stride,
            "GradientDescentIterations": gradient_descent_iterations,
            "VariationalRefinementIterations": variational_refinement_iterations,
            "VariationalRefinementAlpha": variational_refinement_alpha,
            "VariationalRefinementDelta": variational_refinement_delta,
            "VariationalRefinementGamma": variational_refinement_gamma,
            "UseMeanNormalization": use_mean_normalization,
            "UseSpatialPropagation": use_spatial_propagation,
        }
        self._create()  # fail early on a bad override

    def _create(self) -> cv2.DISOpticalFlow:
        dis = cv2.DISOpticalFlow_create(DIS_PRESETS[self.preset])
        for name, value in self.overrides.items():
            if value is not None:
                getattr(dis, f"set{name}")(value)
        return dis

    def estimate(self, image1: np.ndarray, image2: np.ndarray) -> np.ndarray:
        first, second = grey_uint8(image1), grey_uint8(image2)
        height, width = first.shape
        # OpenCV 4.x/5.0's DIS rejects images under 12 px and crashes (segfault) on some heights below 32
        # (e.g. 16..28 x 100 with the fast presets): small frames are padded by replication, then cropped
        min_side = max(32, 4 * (self.overrides["PatchSize"] or 8))
        pad_bottom, pad_right = max(min_side - height, 0), max(min_side - width, 0)
        if pad_bottom or pad_right:
            first, second = (
                cv2.copyMakeBorder(image, 0, pad_bottom, 0, pad_right, cv2.BORDER_REPLICATE)
                for image in (first, second)
            )
        # a fresh instance per pair: DIS keeps no state we want across unrelated pairs
        return self._create().calc(first, second, None)[:height, :width]

    def extra_repr(self) -> str:
        set_values = {name: value for name, value in self.overrides.items() if value is not None}
        return f"preset={self.preset!r}" + (f", overrides={set_values}" if set_values else "")
