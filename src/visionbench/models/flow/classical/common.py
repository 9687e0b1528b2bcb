"""Shared machinery of the classical flow methods: the batch wrapper, grey conversion, pyramids, warping.

Everything here works on single images as numpy arrays (``H,W`` float32 grey, ``H,W,2`` float32 flow with
u = x displacement, v = y displacement, frame 1 -> frame 2), which is what OpenCV takes.
"""

from __future__ import annotations

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
        fields = {key: value for key, value in vars(self).items() if not key.startswith("_") and key != "training"}
        return ", ".join(f"{key}={value!r}" for key, value in fields.items())


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
