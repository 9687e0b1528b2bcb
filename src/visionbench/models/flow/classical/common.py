"""Shared machinery of the classical flow methods: the batch wrapper, the coarse-to-fine driver, argument
checks, grey conversion, pyramids, warping and the linearised brightness constancy.

Everything here works on single images as numpy arrays (``H,W`` float32 grey, ``H,W,2`` float32 flow with
u = x displacement, v = y displacement, frame 1 -> frame 2), which is what OpenCV takes.
"""

from __future__ import annotations

import inspect
import math

import cv2
import numpy as np
import torch
from torch import Tensor, nn

# 5-point central difference (I(x-2) - 8 I(x-1) + 8 I(x+1) - I(x+2)) / 12, as a correlation kernel for filter2D
DERIVATIVE_KERNEL = np.array([[1.0, -8.0, 0.0, 8.0, -1.0]], dtype=np.float32) / 12.0


class ClassicalFlow(nn.Module):
    """Base class: a parameter-free flow method run image by image on the CPU.

    ``forward(image1, image2)`` takes two float ``B,3,H,W`` RGB batches in [0, 1] (``B,1,H,W`` grey is
    accepted too) on any device and returns the ``B,2,H,W`` float32 flow from image 1 to image 2 on the
    device of ``image1``. Subclasses implement :meth:`estimate` for one pair of ``H,W,C`` float32 images.
    No gradient flows through it.
    """

    def forward(self, image1: Tensor, image2: Tensor) -> Tensor:
        if image1.shape != image2.shape or image1.ndim != 4 or image1.shape[1] not in (1, 3):
            raise ValueError(
                "image1 and image2 must both be B,3,H,W (or B,1,H,W), "
                f"got {tuple(image1.shape)} and {tuple(image2.shape)}"
            )
        first = image1.detach().float().cpu().permute(0, 2, 3, 1).numpy()
        second = image2.detach().float().cpu().permute(0, 2, 3, 1).numpy()
        pairs = zip(first, second, strict=True)
        flows = [self.estimate(np.ascontiguousarray(a), np.ascontiguousarray(b)) for a, b in pairs]
        flow = torch.from_numpy(np.stack(flows).astype(np.float32, copy=False)).permute(0, 3, 1, 2)
        return flow.contiguous().to(image1.device)

    def estimate(self, image1: np.ndarray, image2: np.ndarray) -> np.ndarray:
        """Flow ``H,W,2`` float32 from ``image1`` to ``image2`` (``H,W,3`` RGB or ``H,W,1`` grey, float32 in [0, 1])."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        """The constructor arguments, in signature order, with the values stored under their names."""
        arguments = inspect.signature(type(self)).parameters
        return ", ".join(f"{name}={getattr(self, name)!r}" for name in arguments)


class CoarseToFineFlow(ClassicalFlow):
    """Base class: a method refining the flow coarse to fine on Gaussian pyramids of the grey images.

    The flow starts at zero on the coarsest level; on each level, from coarse to fine, the coarser level's
    flow is upsampled, then :meth:`refine` runs :attr:`refinements_per_level` times, each followed by the
    ``median_size`` median filter of Sun, Roth and Black ("Secrets of optical flow estimation and their
    principles", CVPR 2010). Subclasses implement :meth:`refine` and :attr:`refinements_per_level`, and
    may transform the grey images first (:meth:`prepare`).

    Args:
        pyramid_scale: size ratio between consecutive pyramid levels (0 < scale < 1).
        max_levels: maximum number of pyramid levels, the input resolution included.
        min_size: the coarsest level keeps its smaller side at least this many pixels.
        median_size: median filter (3 or 5) applied to the flow after each refinement; 0 or 1 disables it.
        counts: the subclass's own counts (iterations, ...), checked >= 1 with ``max_levels`` and ``min_size``.
    """

    def __init__(self, pyramid_scale: float, max_levels: int, min_size: int, median_size: int, **counts: int) -> None:
        super().__init__()
        check_pyramid_scale(pyramid_scale)
        check_at_least_one(max_levels=max_levels, **counts, min_size=min_size)
        self.pyramid_scale = float(pyramid_scale)
        self.max_levels = int(max_levels)
        self.min_size = int(min_size)
        self.median_size = int(median_size)

    def estimate(self, image1: np.ndarray, image2: np.ndarray) -> np.ndarray:
        first, second = self.prepare(grey(image1)), self.prepare(grey(image2))
        shapes = pyramid_shapes(*first.shape, self.pyramid_scale, self.max_levels, self.min_size)
        pyramid1 = gaussian_pyramid(first, shapes, self.pyramid_scale)
        pyramid2 = gaussian_pyramid(second, shapes, self.pyramid_scale)
        flow = np.zeros((*shapes[-1], 2), dtype=np.float32)
        for level in reversed(range(len(shapes))):
            flow = resize_flow(flow, shapes[level])
            for _ in range(self.refinements_per_level):
                flow = self.refine(pyramid1[level], pyramid2[level], flow, coarsest=level == len(shapes) - 1)
                flow = median_filter_flow(flow, self.median_size)
        return flow

    @property
    def refinements_per_level(self) -> int:
        """How many times :meth:`refine` runs on each pyramid level."""
        raise NotImplementedError

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """The ``H,W`` grey image the pyramid is built from: the image itself unless a subclass says otherwise."""
        return image

    def refine(self, first: np.ndarray, second: np.ndarray, flow: np.ndarray, coarsest: bool) -> np.ndarray:
        """The ``H,W,2`` flow from ``first`` to ``second`` (one pyramid level) refined from ``flow``;
        ``coarsest`` tells whether this is the coarsest level (where ``flow`` is zero)."""
        raise NotImplementedError


def check_pyramid_scale(pyramid_scale: float) -> None:
    """Raise ``ValueError`` unless ``0 < pyramid_scale < 1``."""
    if not 0 < pyramid_scale < 1:
        raise ValueError(f"pyramid_scale must be in (0, 1), got {pyramid_scale}")


def check_at_least_one(**counts: int) -> None:
    """Raise ``ValueError`` naming all of ``counts`` (in order) unless every one of them is >= 1."""
    if min(counts.values()) < 1:
        names = list(counts)
        listed = f"{', '.join(names[:-1])} and {names[-1]}" if len(names) > 1 else names[0]
        raise ValueError(f"{listed} must be >= 1")


def grey(image: np.ndarray) -> np.ndarray:
    """``H,W`` float32 grey in [0, 1] from an ``H,W,3`` RGB (ITU-R 601 weights, cv2 RGB2GRAY) or ``H,W,1`` image."""
    if image.ndim == 3 and image.shape[2] == 1:
        return np.ascontiguousarray(image[:, :, 0], dtype=np.float32)
    return cv2.cvtColor(image.astype(np.float32, copy=False), cv2.COLOR_RGB2GRAY)


def grey_uint8(image: np.ndarray) -> np.ndarray:
    """``H,W`` uint8 grey as OpenCV's samples compute it: round to uint8 first, then cv2 RGB2GRAY."""
    as_uint8 = np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)
    if as_uint8.ndim == 3 and as_uint8.shape[2] == 1:
        return np.ascontiguousarray(as_uint8[:, :, 0])
    return cv2.cvtColor(as_uint8, cv2.COLOR_RGB2GRAY)


def pyramid_shapes(height: int, width: int, scale: float, max_levels: int, min_size: int) -> list[tuple[int, int]]:
    """Level shapes ``(h, w)`` from fine (the input) to coarse: each ``scale`` times the previous, rounded,
    while the smaller side stays >= ``min_size`` and at most ``max_levels`` levels (the input counts)."""
    shapes = [(height, width)]
    while len(shapes) < max_levels:
        h = int(round(height * scale ** len(shapes)))
        w = int(round(width * scale ** len(shapes)))
        if min(h, w) < min_size:
            break
        shapes.append((h, w))
    return shapes


def gaussian_pyramid(image: np.ndarray, shapes: list[tuple[int, int]], scale: float) -> list[np.ndarray]:
    """The image resampled to each of ``shapes`` (fine to coarse). Each level is the previous one low-passed
    with a Gaussian of standard deviation ``1 / sqrt(2 scale)`` (anti-aliasing, the value Sun et al. use for
    their pyramids; 1 px for ``scale`` 0.5) and bilinearly resized."""
    sigma = 1.0 / math.sqrt(2.0 * scale)
    levels = [image]
    for h, w in shapes[1:]:
        smooth = cv2.GaussianBlur(levels[-1], (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REPLICATE)
        levels.append(cv2.resize(smooth, (w, h), interpolation=cv2.INTER_LINEAR))
    return levels


def resize_flow(flow: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinearly resample an ``H,W,2`` flow to ``shape`` and rescale its vectors to the new pixel size."""
    h, w = flow.shape[:2]
    if (h, w) == tuple(shape):
        return flow
    resized = cv2.resize(flow, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    resized[:, :, 0] *= shape[1] / w
    resized[:, :, 1] *= shape[0] / h
    return resized


def warp(image: np.ndarray, flow: np.ndarray, interpolation: int = cv2.INTER_CUBIC) -> tuple[np.ndarray, np.ndarray]:
    """Backward-warp ``image`` (frame 2) by ``flow``: ``out(x) = image(x + flow(x))``.

    Returns the warped image (border pixels replicated) and a bool ``H,W`` mask of the pixels whose sample
    point fell inside the image.
    """
    h, w = flow.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    map_x = grid_x + flow[:, :, 0]
    map_y = grid_y + flow[:, :, 1]
    warped = cv2.remap(image, map_x, map_y, interpolation=interpolation, borderMode=cv2.BORDER_REPLICATE)
    inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
    return warped, inside


def linearise_brightness_constancy(
    first: np.ndarray, second: np.ndarray, flow: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(Ix, Iy, It)`` of brightness constancy ``I2(x + w) = I1(x)`` linearised around the current ``flow``
    w0, i.e. ``Ix (u - u0) + Iy (v - v0) + It = 0`` (Brox et al.'s warping, ECCV 2004).

    ``second`` (frame 2) is warped by ``flow`` (bicubic); ``Ix, Iy`` are the spatial derivatives averaged
    over ``first`` and the warped frame 2, ``It`` the difference warped frame 2 - ``first``. All three are 0
    at the pixels warped from outside the image (no data term there).
    """
    warped, inside = warp(second, flow)
    gx1, gy1 = gradients(first)
    gx2, gy2 = gradients(warped)
    inside = inside.astype(np.float32)
    ix = 0.5 * (gx1 + gx2) * inside
    iy = 0.5 * (gy1 + gy2) * inside
    it = (warped - first) * inside
    return ix, iy, it


def gradients(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spatial derivatives ``(Ix, Iy)`` of an ``H,W`` float32 image (5-point central differences, replicated border)."""
    ix = cv2.filter2D(image, cv2.CV_32F, DERIVATIVE_KERNEL, borderType=cv2.BORDER_REPLICATE)
    iy = cv2.filter2D(image, cv2.CV_32F, DERIVATIVE_KERNEL.T, borderType=cv2.BORDER_REPLICATE)
    return ix, iy


def median_filter_flow(flow: np.ndarray, size: int) -> np.ndarray:
    """Per-component ``size x size`` median filter of an ``H,W,2`` float32 flow (``size`` <= 1: unchanged).

    Sun, Roth and Black ("Secrets of optical flow estimation and their principles", CVPR 2010) show that a
    5x5 median after every warping step is what makes classical coarse-to-fine methods accurate.
    """
    if size <= 1:
        return flow
    if size > 5:
        raise ValueError(f"median filter size must be 3 or 5 for float images (OpenCV), got {size}")
    return np.dstack([cv2.medianBlur(np.ascontiguousarray(flow[:, :, c]), size) for c in range(2)])


def structure_texture(image: np.ndarray, sigma: float, weight: float) -> np.ndarray:
    """Texture part of ``image``: ``image - weight * GaussianBlur(image, sigma)`` (same intensity scale).

    A cheap stand-in for Wedel et al.'s ROF structure-texture decomposition ("An improved algorithm for TV-L1
    optical flow", 2009): removing most of the low frequencies makes brightness constancy robust to
    shading and illumination changes. ``weight`` 0 returns the image unchanged.
    """
    if weight <= 0:
        return image
    return image - weight * cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REPLICATE)
