"""Dense pyramidal Lucas-Kanade optical flow."""

from __future__ import annotations

import cv2
import numpy as np

from visionbench.models.flow.classical.common import CoarseToFineFlow, linearise_brightness_constancy


class LucasKanade(CoarseToFineFlow):
    """Lucas and Kanade, "An iterative image registration technique with an application to stereo vision",
    IJCAI 1981, computed densely (one local solve per pixel) and coarse-to-fine as in Bouguet's pyramidal
    implementation ("Pyramidal implementation of the Lucas Kanade feature tracker", Intel 2000).

    Algorithm: on a Gaussian pyramid of the grey images, from coarse to fine, the flow of the coarser level
    is upsampled, then ``iterations`` times: frame 2 is warped towards frame 1 by the current flow
    (bicubic), the temporal difference ``It`` and the spatial derivatives (averaged over frame 1 and the
    warped frame 2) are formed, and at every pixel the increment ``(du, dv)`` is the least-squares solution
    of ``Ix du + Iy dv + It = 0`` over a Gaussian window, i.e. of the 2x2 normal equations
    ``[[Sxx, Sxy], [Sxy, Syy]] (du, dv) = -(Sxt, Syt)`` whose entries are Gaussian-weighted window sums
    of ``Ix^2, Ix Iy, Iy^2, Ix It, Iy It``, solved in closed form. Ill-conditioned pixels are handled
    explicitly through the eigenvalues ``l1 >= l2`` of the 2x2 matrix: where ``l2 < min_eigenvalue`` but
    ``l1 >= min_eigenvalue`` (an edge: the aperture problem) only the normal-flow component along the
    dominant eigenvector is updated; where ``l1 < min_eigenvalue`` too (no texture) the increment is 0, so
    the flow upsampled from the coarser levels is kept. Pixels warped from outside the image contribute
    nothing to the window sums. The flow is median filtered after each iteration. Intensities are grey
    levels in [0, 1].

    Args:
        window_sigma: standard deviation in pixels of the Gaussian window (support about 6 sigma).
        pyramid_scale: size ratio between consecutive pyramid levels (0 < scale < 1).
        max_levels: maximum number of pyramid levels, the input resolution included.
        min_size: the coarsest level keeps its smaller side at least this many pixels.
        iterations: warp-and-solve iterations per level.
        min_eigenvalue: eigenvalue threshold of the window matrix (window sums are weighted averages, so
            this is in (grey level per pixel)^2 with grey levels in [0, 1]).
        median_size: median filter (3 or 5) applied to the flow after each iteration; 0 or 1 disables it.
    """

    def __init__(
        self,
        window_sigma: float = 2.0,
        pyramid_scale: float = 0.5,
        max_levels: int = 6,
        min_size: int = 16,
        iterations: int = 5,
        min_eigenvalue: float = 1e-6,
        median_size: int = 5,
    ) -> None:
        if window_sigma <= 0:
            raise ValueError(f"window_sigma must be > 0, got {window_sigma}")
        super().__init__(pyramid_scale, max_levels, min_size, median_size, iterations=iterations)
        if min_eigenvalue <= 0:
            raise ValueError(f"min_eigenvalue must be > 0, got {min_eigenvalue}")
        self.window_sigma = float(window_sigma)
        self.iterations = int(iterations)
        self.min_eigenvalue = float(min_eigenvalue)

    @property
    def refinements_per_level(self) -> int:
        """One refinement per warp-and-solve iteration."""
        return self.iterations

    def refine(self, first: np.ndarray, second: np.ndarray, flow: np.ndarray, coarsest: bool) -> np.ndarray:
        """One warp-and-solve iteration: ``flow`` plus its least-squares increment."""
        return flow + self._increment(first, second, flow)

    def _window(self, array: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(array, (0, 0), sigmaX=self.window_sigma, borderType=cv2.BORDER_REFLECT)

    def _increment(self, first: np.ndarray, second: np.ndarray, flow: np.ndarray) -> np.ndarray:
        """Per-pixel least-squares flow increment ``H,W,2`` around the current ``flow``."""
        ix, iy, it = linearise_brightness_constancy(first, second, flow)
        sxx, sxy, syy = self._window(ix * ix), self._window(ix * iy), self._window(iy * iy)
        sxt, syt = self._window(ix * it), self._window(iy * it)

        # eigenvalues l1 >= l2 of [[sxx, sxy], [sxy, syy]]
        half_trace = 0.5 * (sxx + syy)
        root = np.sqrt(np.maximum(0.25 * (sxx - syy) ** 2 + sxy**2, 0.0))
        l1, l2 = half_trace + root, half_trace - root
        determinant = sxx * syy - sxy * sxy

        # well-conditioned: closed-form inverse
        safe_det = np.where(l2 >= self.min_eigenvalue, determinant, 1.0)
        du = -(syy * sxt - sxy * syt) / safe_det
        dv = -(sxx * syt - sxy * sxt) / safe_det

        # edge (aperture problem): normal flow along the dominant eigenvector e1, du = -(e1 . b) e1 / l1
        e1x, e1y = sxy, l1 - sxx  # eigenvector of l1; degenerate when sxy = 0 and l1 = sxx
        axis_aligned = np.abs(sxy) < 1e-12
        e1x = np.where(axis_aligned, (sxx >= syy).astype(np.float32), e1x)
        e1y = np.where(axis_aligned, (sxx < syy).astype(np.float32), e1y)
        norm = np.sqrt(e1x**2 + e1y**2) + 1e-30
        e1x, e1y = e1x / norm, e1y / norm
        projection = -(e1x * sxt + e1y * syt) / np.maximum(l1, self.min_eigenvalue)
        edge_du, edge_dv = projection * e1x, projection * e1y

        well = l2 >= self.min_eigenvalue
        edge = ~well & (l1 >= self.min_eigenvalue)
        du = np.where(well, du, np.where(edge, edge_du, 0.0))
        dv = np.where(well, dv, np.where(edge, edge_dv, 0.0))
        return np.dstack([du, dv]).astype(np.float32)
