"""Flow-aware augmentation: geometry that moves the flow vectors with the pixels, and photometric jitter.

Albumentations has no flow-aware geometry (flipping or scaling the frames also changes the flow *vectors*,
not only where they are), so this module works on numpy sample dicts, before conversion to tensors::

    {"image1": H,W,3 uint8 (or float32) RGB, "image2": same, "flow": H,W,2 float32 (u, v) in pixels,
     "valid": H,W bool, "occlusion": H,W bool (optional)}

Coordinates are pixel centres: pixel ``(x, y)`` covers ``[x - 0.5, x + 0.5)``. A geometric transform is a
pair of affine maps ``m1`` (frame 1) and ``m2`` (frame 2) from input to output coordinates; the output flow
at output pixel ``q`` is ``m2(p + f(p)) - q`` with ``p = m1^-1(q)``, so the augmented flow still maps the
augmented frame 1 onto the augmented frame 2. Every transform here uses ``m1 == m2``, for which this is the
linear part of the map applied to the flow vector:

- flips (exact, no resampling): horizontal negates ``u``, vertical negates ``v``;
- scaling by ``(sx, sy)`` (``x' = (x + 0.5) * sx - 0.5``, OpenCV's resize convention): flow ``* (sx, sy)``;
- rotation by ``a`` about the image centre: the flow vector is rotated by ``a``;
- crop and pad (exact): flow unchanged.

Dense flow (Sintel, FlyingChairs, synthetic) is resampled bilinearly; invalid flow is never blended in: a
resampled pixel is valid only if every input pixel it interpolates is valid and inside the input (the
valid mask is resampled as a fraction and thresholded at 0.999), and invalid flow values are zeroed before
resampling. Sparse flow (KITTI, ``sparse=True``) is never interpolated: each valid input pixel is moved to
the output pixel nearest to its new position, with its flow transformed exactly (when several land on one
output pixel, the one nearest that pixel's centre wins); output pixels that receive none are invalid.
``occlusion`` follows the geometry (bilinear fraction > 0.5 for dense data; carried with its pixel for
sparse data).

Photometric jitter (brightness, contrast, saturation, hue in random order, as torchvision's ColorJitter)
draws one set of factors for both frames, or with probability ``asymmetric_prob`` one set per frame (RAFT's
asymmetric colour augmentation); the eraser paints random rectangles of frame 2 with its mean colour (RAFT's
occlusion augmentation). :class:`FlowAugmentation` composes them in RAFT's order: photometric, eraser,
scale, rotation, flips, crop. All randomness comes from a ``numpy.random.Generator`` (``seed`` /
:meth:`FlowAugmentation.reseed`), never from global state.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import torch

__all__ = [
    "FlowAugmentation",
    "FlowEraser",
    "FlowPhotometricJitter",
    "RandomFlowCrop",
    "RandomFlowFlip",
    "RandomFlowRotation",
    "RandomFlowScale",
    "crop_flow_sample",
    "flow_sample_to_tensors",
    "hflip_flow_sample",
    "pad_flow_sample",
    "resize_flow_sample",
    "resize_sparse_flow",
    "rotate_flow_sample",
    "scatter_sparse_flow",
    "vflip_flow_sample",
    "warp_affine_flow_sample",
]

Sample = dict[str, np.ndarray]
_IMAGES = ("image1", "image2")
_VALID_THRESHOLD = 0.999  # a resampled valid fraction below this touched an invalid / outside pixel


def _size(sample: Sample) -> tuple[int, int]:
    """``(height, width)`` of a sample."""
    return sample["image1"].shape[0], sample["image1"].shape[1]


def _rng(rng: np.random.Generator | None, own: np.random.Generator) -> np.random.Generator:
    return own if rng is None else rng


def _pair(value: Sequence[float] | float, name: str) -> tuple[float, float]:
    if isinstance(value, (int, float)):
        return float(value), float(value)
    values = tuple(float(v) for v in value)
    if len(values) != 2:
        raise ValueError(f"{name} must have 2 entries, got {value!r}")
    return values[0], values[1]


# --------------------------------------------------------------------------------------------------
# Deterministic geometric operations
# --------------------------------------------------------------------------------------------------
def hflip_flow_sample(sample: Sample) -> Sample:
    """Mirror left-right: every array is flipped along x and ``u`` is negated (exact)."""
    out = {k: v[:, ::-1].copy() for k, v in sample.items()}
    out["flow"][..., 0] *= -1.0
    return out


def vflip_flow_sample(sample: Sample) -> Sample:
    """Mirror top-bottom: every array is flipped along y and ``v`` is negated (exact)."""
    out = {k: v[::-1].copy() for k, v in sample.items()}
    out["flow"][..., 1] *= -1.0
    return out


def crop_flow_sample(sample: Sample, top: int, left: int, height: int, width: int) -> Sample:
    """The window ``[top, top + height) x [left, left + width)`` of every array (must lie inside)."""
    h, w = _size(sample)
    if not (0 <= top and 0 <= left and top + height <= h and left + width <= w and height > 0 and width > 0):
        raise ValueError(f"crop ({top}, {left}, {height}, {width}) is not inside a {h}x{w} sample")
    return {k: np.ascontiguousarray(v[top : top + height, left : left + width]) for k, v in sample.items()}


def pad_flow_sample(sample: Sample, min_height: int, min_width: int) -> Sample:
    """Pad bottom and right up to ``min_height x min_width``: images 0, flow 0, valid and occlusion False."""
    h, w = _size(sample)
    ph, pw = max(0, min_height - h), max(0, min_width - w)
    if ph == 0 and pw == 0:
        return sample
    out = {}
    for key, value in sample.items():
        widths = [(0, ph), (0, pw)] + [(0, 0)] * (value.ndim - 2)
        out[key] = np.pad(value, widths, mode="constant", constant_values=0)
    return out


def _zeroed_flow(sample: Sample) -> np.ndarray:
    flow = sample["flow"].astype(np.float32, copy=True)
    flow[~sample["valid"]] = 0.0
    return flow


def resize_flow_sample(sample: Sample, sx: float, sy: float) -> Sample:
    """Dense rescale by ``(sx, sy)`` (output ``round(W * sx) x round(H * sy)``, OpenCV's pixel-centre
    convention): bilinear frames, flow resampled and multiplied by ``(sx, sy)``, valid only where no invalid
    pixel was blended in."""
    if sx <= 0 or sy <= 0:
        raise ValueError(f"scale factors must be > 0, got {sx}, {sy}")
    kw = dict(dsize=None, fx=float(sx), fy=float(sy), interpolation=cv2.INTER_LINEAR)
    out = {k: cv2.resize(sample[k], **kw) for k in _IMAGES}
    flow = cv2.resize(_zeroed_flow(sample), **kw)
    valid = cv2.resize(sample["valid"].astype(np.float32), **kw) >= _VALID_THRESHOLD
    flow *= np.array([sx, sy], np.float32)
    flow[~valid] = 0.0
    out["flow"], out["valid"] = flow, valid
    if "occlusion" in sample:
        out["occlusion"] = cv2.resize(sample["occlusion"].astype(np.float32), **kw) > 0.5
    return out


def scatter_sparse_flow(
    flow: np.ndarray,
    valid: np.ndarray,
    m1: np.ndarray,
    m2: np.ndarray,
    out_size: tuple[int, int],
    occlusion: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Move sparse flow through the affine maps ``m1`` (frame 1) and ``m2`` (frame 2), without interpolation.

    Each pixel ``p`` that is valid (or occluded) goes to the output pixel nearest to ``m1(p)`` with flow
    ``m2(p + f(p)) - m1(p)``; pixels landing outside ``out_size = (height, width)`` are dropped; when several
    land on one output pixel the one nearest its centre wins (ties: the earlier in raster order). Returns
    ``(flow, valid, occlusion)`` of the output (occlusion None if not given); other output pixels are
    invalid with flow 0.
    """
    out_h, out_w = out_size
    m1 = np.asarray(m1, np.float64).reshape(2, 3)
    m2 = np.asarray(m2, np.float64).reshape(2, 3)
    known = valid if occlusion is None else (valid | occlusion)
    ys, xs = np.nonzero(known)
    f = flow[ys, xs].astype(np.float64)
    src = np.stack([xs, ys], 1).astype(np.float64)
    dst = src @ m1[:, :2].T + m1[:, 2]
    new_flow = (src + f) @ m2[:, :2].T + m2[:, 2] - dst
    xi, yi = np.rint(dst[:, 0]).astype(np.int64), np.rint(dst[:, 1]).astype(np.int64)
    inside = (xi >= 0) & (xi < out_w) & (yi >= 0) & (yi < out_h)
    order = np.nonzero(inside)[0]
    lin = yi[order] * out_w + xi[order]
    dist = (dst[order, 0] - xi[order]) ** 2 + (dst[order, 1] - yi[order]) ** 2
    ranked = np.lexsort((order, dist, lin))  # by target pixel, then distance, then raster order
    lin_sorted = lin[ranked]
    first = np.ones(lin_sorted.size, bool)
    first[1:] = lin_sorted[1:] != lin_sorted[:-1]
    winners = order[ranked[first]]
    targets = lin_sorted[first]
    out_flow = np.zeros((out_h * out_w, 2), np.float32)
    out_valid = np.zeros(out_h * out_w, bool)
    out_flow[targets] = new_flow[winners]
    out_valid[targets] = valid[ys[winners], xs[winners]]
    out_flow[~out_valid] = 0.0
    out_occ = None
    if occlusion is not None:
        out_occ = np.zeros(out_h * out_w, bool)
        out_occ[targets] = occlusion[ys[winners], xs[winners]]
        out_occ = out_occ.reshape(out_h, out_w)
    return out_flow.reshape(out_h, out_w, 2), out_valid.reshape(out_h, out_w), out_occ


def _scale_matrix(sx: float, sy: float) -> np.ndarray:
    return np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5]])


def resize_sparse_flow(
    flow: np.ndarray, valid: np.ndarray, sx: float, sy: float, occlusion: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Rescale sparse flow by ``(sx, sy)`` to ``round(W * sx) x round(H * sy)`` without interpolation: every
    valid pixel moves to the output pixel nearest its new position with its flow multiplied by ``(sx, sy)``
    (see :func:`scatter_sparse_flow`). A valid output pixel's flow is always exactly one valid input flow
    scaled, never a blend with invalid neighbours."""
    h, w = valid.shape
    out_size = (max(1, round(h * sy)), max(1, round(w * sx)))
    m = _scale_matrix(sx, sy)
    return scatter_sparse_flow(flow, valid, m, m, out_size, occlusion)


def _resize_sparse_sample(sample: Sample, sx: float, sy: float) -> Sample:
    kw = dict(dsize=None, fx=float(sx), fy=float(sy), interpolation=cv2.INTER_LINEAR)
    out = {k: cv2.resize(sample[k], **kw) for k in _IMAGES}
    m = _scale_matrix(sx, sy)
    flow, valid, occ = scatter_sparse_flow(
        sample["flow"], sample["valid"], m, m, out["image1"].shape[:2], sample.get("occlusion")
    )
    out["flow"], out["valid"] = flow, valid
    if occ is not None:
        out["occlusion"] = occ
    return out


def _invert_affine(m: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(np.asarray(m, np.float64))


def warp_affine_flow_sample(
    sample: Sample, m1: np.ndarray, m2: np.ndarray, out_size: tuple[int, int], sparse: bool = False
) -> Sample:
    """Apply the affine maps ``m1`` to frame 1 and ``m2`` to frame 2 (2x3, input -> output pixel coordinates)
    on an ``out_size = (height, width)`` canvas, and transform the flow to match (see the module docstring).

    Frames are resampled bilinearly (0 outside the input). Dense flow: the output flow at ``q`` is
    ``m2(p + f(p)) - q`` with ``f(p)`` bilinear at ``p = m1^-1(q)``; valid requires every interpolated input
    pixel valid and inside. ``sparse=True``: :func:`scatter_sparse_flow`."""
    out_h, out_w = out_size
    m1 = np.asarray(m1, np.float64).reshape(2, 3)
    m2 = np.asarray(m2, np.float64).reshape(2, 3)
    kw = dict(dsize=(out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    out = {"image1": cv2.warpAffine(sample["image1"], m1, **kw), "image2": cv2.warpAffine(sample["image2"], m2, **kw)}
    if sparse:
        flow, valid, occ = scatter_sparse_flow(
            sample["flow"], sample["valid"], m1, m2, out_size, sample.get("occlusion")
        )
        out["flow"], out["valid"] = flow, valid
        if occ is not None:
            out["occlusion"] = occ
        return out
    f = cv2.warpAffine(_zeroed_flow(sample), m1, **kw).astype(np.float64)
    valid = cv2.warpAffine(sample["valid"].astype(np.float32), m1, **kw) >= _VALID_THRESHOLD
    inv = _invert_affine(m1)
    qy, qx = np.mgrid[0:out_h, 0:out_w].astype(np.float64)
    px = inv[0, 0] * qx + inv[0, 1] * qy + inv[0, 2] + f[..., 0]  # p + f(p)
    py = inv[1, 0] * qx + inv[1, 1] * qy + inv[1, 2] + f[..., 1]
    flow = np.empty((out_h, out_w, 2), np.float32)
    flow[..., 0] = m2[0, 0] * px + m2[0, 1] * py + m2[0, 2] - qx
    flow[..., 1] = m2[1, 0] * px + m2[1, 1] * py + m2[1, 2] - qy
    flow[~valid] = 0.0
    out["flow"], out["valid"] = flow, valid
    if "occlusion" in sample:
        out["occlusion"] = cv2.warpAffine(sample["occlusion"].astype(np.float32), m1, **kw) > 0.5
    return out


def rotation_matrix(degrees: float, height: int, width: int) -> np.ndarray:
    """2x3 map rotating pixel coordinates by ``degrees`` about the image centre (positive = counter-clockwise
    as displayed, i.e. from +x towards -y)."""
    a = math.radians(degrees)
    c, s = math.cos(a), math.sin(a)
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    lin = np.array([[c, s], [-s, c]])
    centre = np.array([cx, cy])
    return np.concatenate([lin, (centre - lin @ centre)[:, None]], 1)


def rotate_flow_sample(sample: Sample, degrees: float, sparse: bool = False) -> Sample:
    """Rotate both frames' coordinate systems by ``degrees`` about the image centre (same canvas size); the
    flow vectors rotate with them. Corners that come from outside the input are black and invalid."""
    h, w = _size(sample)
    m = rotation_matrix(degrees, h, w)
    return warp_affine_flow_sample(sample, m, m, (h, w), sparse=sparse)


# --------------------------------------------------------------------------------------------------
# Random transforms
# --------------------------------------------------------------------------------------------------
class _RandomFlowTransform:
    """Base: ``transform(sample, rng=None) -> sample``; without ``rng`` the transform's own generator
    (seeded by ``seed``; :meth:`reseed`) is used."""

    def __init__(self, seed: int | None = None) -> None:
        self._own_rng = np.random.default_rng(seed)

    def reseed(self, seed: int) -> None:
        self._own_rng = np.random.default_rng(seed)

    def __call__(self, sample: Sample, rng: np.random.Generator | None = None) -> Sample:
        return self.apply(sample, _rng(rng, self._own_rng))

    def apply(self, sample: Sample, rng: np.random.Generator) -> Sample:  # pragma: no cover - abstract
        raise NotImplementedError


class RandomFlowCrop(_RandomFlowTransform):
    """Crop a uniformly placed ``size = (height, width)`` window; a smaller sample is padded first (bottom and
    right: images 0, flow invalid)."""

    def __init__(self, size: Sequence[int], seed: int | None = None) -> None:
        super().__init__(seed)
        self.size = tuple(int(v) for v in size)
        if len(self.size) != 2 or min(self.size) <= 0:
            raise ValueError(f"size must be (height, width) > 0, got {size!r}")

    def apply(self, sample: Sample, rng: np.random.Generator) -> Sample:
        ch, cw = self.size
        sample = pad_flow_sample(sample, ch, cw)
        h, w = _size(sample)
        top = int(rng.integers(0, h - ch + 1))
        left = int(rng.integers(0, w - cw + 1))
        return crop_flow_sample(sample, top, left, ch, cw)


class RandomFlowScale(_RandomFlowTransform):
    """Random rescale, as RAFT's spatial augmentation.

    With probability ``p``: ``s = 2 ** U(log2_scale_range)``; with probability ``stretch_prob`` the two axes
    are then stretched independently, ``sx = s * 2 ** U(-max_log2_stretch, max_log2_stretch)`` (``sy``
    likewise), else ``sx = sy = s``. If ``min_size = (height, width)`` is given, the factors are raised so
    the result is at least that large (always, even when the random draw is skipped), so a following crop
    fits. Flow is multiplied by ``(sx, sy)``; ``sparse=True`` uses :func:`resize_sparse_flow`.
    """

    def __init__(
        self,
        log2_scale_range: Sequence[float] = (-0.2, 0.5),
        stretch_prob: float = 0.8,
        max_log2_stretch: float = 0.2,
        p: float = 0.8,
        min_size: Sequence[int] | None = None,
        sparse: bool = False,
        seed: int | None = None,
    ) -> None:
        super().__init__(seed)
        self.log2_scale_range = _pair(log2_scale_range, "log2_scale_range")
        if self.log2_scale_range[0] > self.log2_scale_range[1]:
            raise ValueError(f"log2_scale_range must be (low, high) with low <= high, got {log2_scale_range!r}")
        if not (0 <= stretch_prob <= 1 and 0 <= p <= 1 and max_log2_stretch >= 0):
            raise ValueError("stretch_prob and p must be in [0, 1] and max_log2_stretch >= 0")
        self.stretch_prob = float(stretch_prob)
        self.max_log2_stretch = float(max_log2_stretch)
        self.p = float(p)
        self.min_size = None if min_size is None else tuple(int(v) for v in min_size)
        self.sparse = bool(sparse)

    def draw(self, rng: np.random.Generator, height: int, width: int) -> tuple[float, float]:
        """The ``(sx, sy)`` factors for a ``height x width`` sample (``(1, 1)``: leave it as is)."""
        sx = sy = 1.0
        if rng.random() < self.p:
            s = 2.0 ** rng.uniform(*self.log2_scale_range)
            sx = sy = s
            if rng.random() < self.stretch_prob:
                sx = s * 2.0 ** rng.uniform(-self.max_log2_stretch, self.max_log2_stretch)
                sy = s * 2.0 ** rng.uniform(-self.max_log2_stretch, self.max_log2_stretch)
        if self.min_size is not None:
            # A little above the bound so that rounding the output size never drops below it.
            sy = max(sy, (self.min_size[0] + 0.5) / height)
            sx = max(sx, (self.min_size[1] + 0.5) / width)
        return sx, sy

    def apply(self, sample: Sample, rng: np.random.Generator) -> Sample:
        h, w = _size(sample)
        sx, sy = self.draw(rng, h, w)
        if sx == 1.0 and sy == 1.0:
            return sample
        if self.sparse:
            return _resize_sparse_sample(sample, sx, sy)
        return resize_flow_sample(sample, sx, sy)


class RandomFlowFlip(_RandomFlowTransform):
    """Horizontal flip with probability ``hflip_prob`` (``u`` negated), then vertical flip with probability
    ``vflip_prob`` (``v`` negated). RAFT's defaults: 0.5 and 0.1."""

    def __init__(self, hflip_prob: float = 0.5, vflip_prob: float = 0.1, seed: int | None = None) -> None:
        super().__init__(seed)
        if not (0 <= hflip_prob <= 1 and 0 <= vflip_prob <= 1):
            raise ValueError(f"flip probabilities must be in [0, 1], got {hflip_prob}, {vflip_prob}")
        self.hflip_prob = float(hflip_prob)
        self.vflip_prob = float(vflip_prob)

    def apply(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() < self.hflip_prob:
            sample = hflip_flow_sample(sample)
        if rng.random() < self.vflip_prob:
            sample = vflip_flow_sample(sample)
        return sample


class RandomFlowRotation(_RandomFlowTransform):
    """With probability ``p``, rotate both frames by ``U(-max_degrees, max_degrees)`` about the centre
    (:func:`rotate_flow_sample`); corners from outside the input are black with invalid flow."""

    def __init__(self, max_degrees: float = 10.0, p: float = 0.5, sparse: bool = False, seed: int | None = None):
        super().__init__(seed)
        if max_degrees < 0 or not 0 <= p <= 1:
            raise ValueError(f"need max_degrees >= 0 and p in [0, 1], got {max_degrees}, {p}")
        self.max_degrees = float(max_degrees)
        self.p = float(p)
        self.sparse = bool(sparse)

    def apply(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if self.max_degrees == 0 or rng.random() >= self.p:
            return sample
        return rotate_flow_sample(sample, float(rng.uniform(-self.max_degrees, self.max_degrees)), self.sparse)


def _to_float(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32) / 255.0 if image.dtype == np.uint8 else image.astype(np.float32, copy=True)


def _like(image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    if reference.dtype == np.uint8:
        return np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return image.astype(reference.dtype, copy=False)


_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


class FlowPhotometricJitter(_RandomFlowTransform):
    """Colour jitter of both frames (ColorJitter-like; factors drawn in ``[max(0, 1 - x), 1 + x]``, hue shift
    in ``[-hue, hue]`` of a full turn, the four operations in random order).

    With probability ``asymmetric_prob`` each frame gets its own factors and order, otherwise both share
    them (RAFT: 0.2). With probability ``1 - p`` nothing is done. Images stay uint8 if they came as uint8.
    """

    def __init__(
        self,
        brightness: float = 0.4,
        contrast: float = 0.4,
        saturation: float = 0.4,
        hue: float = 0.5 / math.pi,
        asymmetric_prob: float = 0.2,
        p: float = 1.0,
        seed: int | None = None,
    ) -> None:
        super().__init__(seed)
        if min(brightness, contrast, saturation) < 0 or not 0 <= hue <= 0.5:
            raise ValueError("brightness, contrast, saturation must be >= 0 and hue in [0, 0.5]")
        if not (0 <= asymmetric_prob <= 1 and 0 <= p <= 1):
            raise ValueError("asymmetric_prob and p must be in [0, 1]")
        self.brightness, self.contrast, self.saturation, self.hue = map(float, (brightness, contrast, saturation, hue))
        self.asymmetric_prob = float(asymmetric_prob)
        self.p = float(p)

    def _draw(self, rng: np.random.Generator) -> tuple[np.ndarray, tuple[float, float, float, float]]:
        def factor(x: float) -> float:
            return float(rng.uniform(max(0.0, 1.0 - x), 1.0 + x)) if x > 0 else 1.0

        b, c, s = factor(self.brightness), factor(self.contrast), factor(self.saturation)
        h = float(rng.uniform(-self.hue, self.hue)) if self.hue > 0 else 0.0
        return rng.permutation(4), (b, c, s, h)

    @staticmethod
    def _jitter(image: np.ndarray, order: np.ndarray, params: tuple[float, float, float, float]) -> np.ndarray:
        b, c, s, h = params
        x = _to_float(image)
        for op in order:
            if op == 0 and b != 1.0:
                x = np.clip(x * b, 0.0, 1.0)
            elif op == 1 and c != 1.0:
                mean = float((x @ _LUMA).mean())
                x = np.clip((x - mean) * c + mean, 0.0, 1.0)
            elif op == 2 and s != 1.0:
                grey = (x @ _LUMA)[..., None]
                x = np.clip((x - grey) * s + grey, 0.0, 1.0)
            elif op == 3 and h != 0.0:
                hsv = cv2.cvtColor(np.ascontiguousarray(x), cv2.COLOR_RGB2HSV)  # float: H in [0, 360)
                hsv[..., 0] = np.mod(hsv[..., 0] + h * 360.0, 360.0)
                x = np.clip(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB), 0.0, 1.0)
        return _like(x, image)

    def apply(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() >= self.p:
            return sample
        out = dict(sample)
        if rng.random() < self.asymmetric_prob:
            for key in _IMAGES:
                out[key] = self._jitter(sample[key], *self._draw(rng))
        else:
            order, params = self._draw(rng)
            for key in _IMAGES:
                out[key] = self._jitter(sample[key], order, params)
        return out


class FlowEraser(_RandomFlowTransform):
    """With probability ``p``, paint 1..``max_boxes`` rectangles of frame 2 (sides drawn in ``size_range``
    pixels, anywhere in the frame) with frame 2's mean colour: RAFT's occlusion augmentation. Flow and masks
    are unchanged (the erased pixels simply become unmatched)."""

    def __init__(
        self, p: float = 0.5, size_range: Sequence[int] = (50, 100), max_boxes: int = 2, seed: int | None = None
    ) -> None:
        super().__init__(seed)
        lo, hi = (int(v) for v in _pair(size_range, "size_range"))
        if not (0 <= p <= 1 and 0 < lo <= hi and max_boxes >= 1):
            raise ValueError("need p in [0, 1], 0 < size_range[0] <= size_range[1] and max_boxes >= 1")
        self.p, self.size_range, self.max_boxes = float(p), (lo, hi), int(max_boxes)

    def apply(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() >= self.p:
            return sample
        h, w = _size(sample)
        image2 = sample["image2"].copy()
        mean = image2.reshape(-1, image2.shape[-1]).mean(0).astype(image2.dtype)
        for _ in range(int(rng.integers(1, self.max_boxes + 1))):
            x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
            dx, dy = (int(v) for v in rng.integers(self.size_range[0], self.size_range[1] + 1, 2))
            image2[y0 : y0 + dy, x0 : x0 + dx] = mean
        out = dict(sample)
        out["image2"] = image2
        return out


class FlowAugmentation:
    """RAFT-style training augmentation of a numpy flow sample (see the module docstring).

    Order: photometric jitter -> eraser -> random scale (``spatial_prob``, raised so the result covers
    ``crop_size``) -> rotation -> flips -> random crop to ``crop_size``.

    Args:
        crop_size: output ``(height, width)``; None keeps the (scaled) size, which then varies per sample.
        spatial_prob: probability of the random rescale (RAFT 0.8).
        log2_scale_range: ``log2`` of the scale factor is uniform in this range (RAFT: Chairs (-0.1, 1.0),
            Sintel (-0.2, 0.6), KITTI (-0.2, 0.4)).
        stretch_prob, max_log2_stretch: independent x/y stretch (RAFT 0.8, 0.2; never for sparse flow).
        rotation_prob, max_rotation: probability and largest angle (degrees) of the rotation (RAFT: none).
        hflip_prob, vflip_prob: flip probabilities (RAFT dense 0.5 / 0.1, KITTI fine-tuning no flips).
        brightness, contrast, saturation, hue, asymmetric_prob: :class:`FlowPhotometricJitter` (RAFT dense 0.4
            / 0.4 / 0.4 / 0.5/pi / 0.2; sparse 0.3 / 0.3 / 0.3 / 0.3/pi); ``photometric=False`` disables it.
        eraser_prob, eraser_size: :class:`FlowEraser` (RAFT 0.5, 50..100 px).
        sparse: the flow is sparse (KITTI): never interpolate it, no stretch.
        seed: seed of the augmentation stream (:meth:`reseed` changes it, e.g. per DataLoader worker).
    """

    def __init__(
        self,
        crop_size: Sequence[int] | None = (368, 496),
        spatial_prob: float = 0.8,
        log2_scale_range: Sequence[float] = (-0.2, 0.5),
        stretch_prob: float = 0.8,
        max_log2_stretch: float = 0.2,
        rotation_prob: float = 0.0,
        max_rotation: float = 0.0,
        hflip_prob: float = 0.5,
        vflip_prob: float = 0.1,
        photometric: bool = True,
        brightness: float = 0.4,
        contrast: float = 0.4,
        saturation: float = 0.4,
        hue: float = 0.5 / math.pi,
        asymmetric_prob: float = 0.2,
        eraser_prob: float = 0.5,
        eraser_size: Sequence[int] = (50, 100),
        sparse: bool = False,
        seed: int | None = 0,
    ) -> None:
        self.crop_size = None if crop_size is None else tuple(int(v) for v in crop_size)
        self.sparse = bool(sparse)
        self.photometric = (
            FlowPhotometricJitter(brightness, contrast, saturation, hue, asymmetric_prob) if photometric else None
        )
        self.eraser = FlowEraser(eraser_prob, eraser_size) if eraser_prob > 0 else None
        self.scale = RandomFlowScale(
            log2_scale_range,
            stretch_prob=0.0 if self.sparse else stretch_prob,
            max_log2_stretch=max_log2_stretch,
            p=spatial_prob,
            min_size=self.crop_size,
            sparse=self.sparse,
        )
        self.rotation = RandomFlowRotation(max_rotation, rotation_prob, self.sparse) if max_rotation > 0 else None
        self.flip = RandomFlowFlip(hflip_prob, vflip_prob)
        self.crop = RandomFlowCrop(self.crop_size) if self.crop_size is not None else None
        self.rng = np.random.default_rng(seed)

    def reseed(self, seed: int) -> None:
        """Restart the augmentation stream from ``seed``."""
        self.rng = np.random.default_rng(seed)

    def __call__(self, sample: Sample) -> Sample:
        rng = self.rng
        for step in (self.photometric, self.eraser, self.scale, self.rotation, self.flip, self.crop):
            if step is not None:
                sample = step(sample, rng)
        return sample

    def __repr__(self) -> str:
        return (
            f"FlowAugmentation(crop_size={self.crop_size}, sparse={self.sparse}, scale={self.scale.log2_scale_range}, "
            f"spatial_prob={self.scale.p}, flips=({self.flip.hflip_prob}, {self.flip.vflip_prob}))"
        )


# --------------------------------------------------------------------------------------------------
# Conversion
# --------------------------------------------------------------------------------------------------
def flow_sample_to_tensors(sample: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Numpy sample -> the flow-sample contract: ``image1``/``image2`` float32 ``3,H,W`` in [0, 1] (uint8 is
    divided by 255, float is taken as [0, 1]), ``flow`` float32 ``2,H,W``, ``valid`` bool ``H,W``,
    ``occlusion`` bool ``H,W`` when present."""
    out: dict[str, torch.Tensor] = {}
    for key in _IMAGES:
        image = np.asarray(sample[key])
        chw = np.ascontiguousarray(image.transpose(2, 0, 1))
        chw = chw.astype(np.float32) / np.float32(255.0) if chw.dtype == np.uint8 else chw.astype(np.float32)
        out[key] = torch.from_numpy(chw)
    out["flow"] = torch.from_numpy(np.ascontiguousarray(np.asarray(sample["flow"], np.float32).transpose(2, 0, 1)))
    out["valid"] = torch.from_numpy(np.ascontiguousarray(sample["valid"], dtype=bool))
    if sample.get("occlusion") is not None:
        out["occlusion"] = torch.from_numpy(np.ascontiguousarray(sample["occlusion"], dtype=bool))
    return out
