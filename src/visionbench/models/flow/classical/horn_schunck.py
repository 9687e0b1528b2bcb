"""Horn-Schunck optical flow, coarse-to-fine with warping."""

from __future__ import annotations

import cv2
import numpy as np

from visionbench.models.flow.classical.common import (
    CoarseToFineFlow,
    linearise_brightness_constancy,
    structure_texture,
)

# 4-neighbour average (the red-black ordering below needs a stencil whose neighbours all have the other colour)
NEIGHBOUR_AVERAGE = np.array([[0.0, 0.25, 0.0], [0.25, 0.0, 0.25], [0.0, 0.25, 0.0]], dtype=np.float32)


class HornSchunck(CoarseToFineFlow):
    """Horn and Schunck, "Determining optical flow", Artificial Intelligence 17, 1981, with the coarse-to-fine
    warping scheme of Brox et al. (ECCV 2004) and the per-warp median filter of Sun, Roth and Black
    ("Secrets of optical flow estimation and their principles", CVPR 2010).

    Algorithm: the flow ``w = (u, v)`` minimises ``sum (I2(x + w) - I1(x))^2 + alpha^2 sum |grad u|^2 + |grad v|^2``
    (quadratic data and smoothness terms). On a Gaussian pyramid of the grey images, from coarse to fine,
    the flow of the coarser level is upsampled, then ``warps`` times: frame 2 is warped towards frame 1
    by the current flow ``w0`` (bicubic), the data term is linearised around ``w0``
    (``Ix (u - u0) + Iy (v - v0) + It = 0``, derivatives averaged over frame 1 and the warped frame 2;
    pixels warped from outside the image get no data term), the resulting linear Euler-Lagrange system is
    relaxed with ``iterations`` red-black SOR sweeps of Horn and Schunck's point update
    ``u = u_avg - Ix (Ix u_avg + Iy v_avg + It') / (alpha^2 + Ix^2 + Iy^2)`` (4-neighbour averages), and
    the flow is median filtered. Intensities are grey levels in [0, 1].

    Args:
        alpha: smoothness weight (alpha^2 multiplies the squared flow gradients; intensities in [0, 1]).
        pyramid_scale: size ratio between consecutive pyramid levels (0 < scale < 1).
        max_levels: maximum number of pyramid levels, the input resolution included.
        min_size: the coarsest level keeps its smaller side at least this many pixels.
        warps: warping (re-linearisation) steps per level.
        iterations: red-black SOR sweeps per warping step.
        sor_omega: SOR relaxation factor in (0, 2); 1 is Gauss-Seidel.
        median_size: median filter (3 or 5) applied to the flow after each warping step; 0 or 1 disables it.
        texture_weight: 0 uses the grey images as they are; w in (0, 1] first subtracts ``w`` times a
            Gaussian blur of sigma ``texture_sigma`` (structure-texture decomposition, robust to shading).
        texture_sigma: standard deviation in pixels of that blur.
    """

    def __init__(
        self,
        alpha: float = 0.04,
        pyramid_scale: float = 0.5,
        max_levels: int = 6,
        min_size: int = 16,
        warps: int = 3,
        iterations: int = 40,
        sor_omega: float = 1.9,
        median_size: int = 5,
        texture_weight: float = 0.0,
        texture_sigma: float = 3.0,
    ) -> None:
        if alpha <= 0:
            raise ValueError(f"alpha must be > 0, got {alpha}")
        super().__init__(pyramid_scale, max_levels, min_size, median_size, warps=warps, iterations=iterations)
        if not 0 < sor_omega < 2:
            raise ValueError(f"sor_omega must be in (0, 2), got {sor_omega}")
        self.alpha = float(alpha)
        self.warps = int(warps)
        self.iterations = int(iterations)
        self.sor_omega = float(sor_omega)
        self.texture_weight = float(texture_weight)
        self.texture_sigma = float(texture_sigma)

    @property
    def refinements_per_level(self) -> int:
        """One refinement per warping step."""
        return self.warps

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """The texture part of the grey image (unchanged with ``texture_weight`` 0)."""
        return structure_texture(image, self.texture_sigma, self.texture_weight)

    def refine(self, first: np.ndarray, second: np.ndarray, flow: np.ndarray, coarsest: bool) -> np.ndarray:
        """One warping step: linearise around ``flow`` and run the SOR sweeps on the total flow."""
        ix, iy, it = linearise_brightness_constancy(first, second, flow)
        u0, v0 = flow[:, :, 0], flow[:, :, 1]
        constant = it - ix * u0 - iy * v0  # Ix u + Iy v + constant = 0
        denominator = self.alpha**2 + ix * ix + iy * iy
        ix_n, iy_n = ix / denominator, iy / denominator

        u, v = u0.copy(), v0.copy()
        rows, cols = np.indices(first.shape)
        checker = ((rows + cols) % 2).astype(bool)
        omega = self.sor_omega
        for _ in range(self.iterations):
            for colour in (checker, ~checker):
                u_avg = cv2.filter2D(u, -1, NEIGHBOUR_AVERAGE, borderType=cv2.BORDER_REPLICATE)
                v_avg = cv2.filter2D(v, -1, NEIGHBOUR_AVERAGE, borderType=cv2.BORDER_REPLICATE)
                t = ix * u_avg + iy * v_avg + constant
                u_new = u_avg - ix_n * t
                v_new = v_avg - iy_n * t
                u = np.where(colour, (1 - omega) * u + omega * u_new, u)
                v = np.where(colour, (1 - omega) * v + omega * v_new, v)
        return np.dstack([u, v]).astype(np.float32)
