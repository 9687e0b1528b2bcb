"""Semantic-segmentation transforms and the mmsegmentation-equal train / test pipelines (albumentations 2.0).

The pipelines reproduce mmsegmentation's ADE20K recipe (``configs/_base_/datasets/ade20k.py``) op by op:

train: keep-ratio random rescale -> random crop with ``cat_max_ratio`` -> horizontal flip -> photometric
distortion -> normalise -> pad to the crop size (image 0 after normalisation, mask ``ignore_index``),
test:  keep-ratio resize of the *image* only -> normalise (the mask keeps its original resolution; the
task resizes the logits to it, so scores are computed at the original resolution as in mmsegmentation).

Albumentations built-ins are used where their semantics are the same as mmsegmentation's
(:class:`~albumentations.HorizontalFlip`, :class:`~albumentations.Normalize`,
:class:`~albumentations.PadIfNeeded`); the others are small custom transforms below, because
albumentations has no equivalent of mmcv's ``rescale_size`` rule, of the ``cat_max_ratio`` crop, or of
mmsegmentation's PhotoMetricDistortion (its ColorJitter draws factors differently and uses other formulas).

Conventions: images are ``H,W,3`` uint8 RGB in, ``H,W,3`` float32 normalised out; masks are ``H,W`` integer
label maps, always resampled with nearest neighbour (a resize never creates a label that was not in the
input). Randomness comes from the albumentations random state (``self.py_random`` / ``self.random_generator``),
so :func:`reseed_pipeline` (or ``A.Compose(seed=...)``) makes a pipeline reproducible.

Differences from mmsegmentation, all deliberate:

- random numbers come from the pipeline's own generator, not from numpy's global one, so the sequence of
  draws for a given seed differs (the distributions are the same, including PhotoMetricDistortion's hue
  shift, drawn from the integers ``[-hue_delta, hue_delta - 1]`` as numpy's ``randint`` does in mmseg);
- images are RGB (mmsegmentation loads BGR and flips to RGB in its data preprocessor); every op here is
  either channel-symmetric or uses the RGB variant of the colour conversion, so the result is the same;
- a rescale never produces a side of 0 pixels (mmcv would fail on such degenerate inputs).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import albumentations as A
import cv2
import numpy as np

from visionbench.data.image import IMAGENET_MEAN, IMAGENET_STD

__all__ = [
    "CatMaxRatioCrop",
    "KeepRatioResize",
    "PhotoMetricDistortion",
    "RandomRescale",
    "reseed_pipeline",
    "reseed_transform",
    "rescale_size",
    "segmentation_test_pipeline",
    "segmentation_train_pipeline",
]

# ImageNet statistics in the [0, 1] scale: x 255 they are mmsegmentation's 123.675/116.28/103.53 and
# 58.395/57.12/57.375.


def _pair(value: Sequence[float], name: str) -> tuple[float, float]:
    values = tuple(value)
    if len(values) != 2:
        raise ValueError(f"{name} must have 2 entries, got {value!r}")
    return values[0], values[1]


def rescale_size(width: int, height: int, scale: Sequence[float]) -> tuple[int, int]:
    """Keep-ratio output size ``(new_width, new_height)`` of an image fitted into ``scale`` (mmcv rule).

    ``scale`` is a pair of edge lengths in either order: the larger bounds the long edge of the output,
    the smaller its short edge. The factor is ``min(max(scale) / max(h, w), min(scale) / min(h, w))`` and
    each side is rounded half up: ``int(side * factor + 0.5)`` (never below 1).
    """
    long_edge, short_edge = max(scale), min(scale)
    if short_edge <= 0:
        raise ValueError(f"scale must be two positive edge lengths, got {scale!r}")
    factor = min(long_edge / max(height, width), short_edge / min(height, width))
    return max(1, int(width * factor + 0.5)), max(1, int(height * factor + 0.5))


def _resize(array: np.ndarray, size: tuple[int, int], interpolation: int) -> np.ndarray:
    if (array.shape[1], array.shape[0]) == size:
        return array
    return cv2.resize(array, size, interpolation=interpolation)


class RandomRescale(A.DualTransform):
    """Keep-ratio rescale to a randomly scaled target size (mmcv ``RandomResize(..., keep_ratio=True)``).

    Draws ``r`` uniformly in ``ratio_range``, sets the target ``(int(scale[0] * r), int(scale[1] * r))`` and
    rescales so that the long edge is at most the larger target edge and the short edge at most the smaller
    one, see :func:`rescale_size`. Image: ``interpolation`` (bilinear); mask: ``mask_interpolation``
    (nearest).

    Args:
        scale: base target edges, e.g. ``(2048, 512)``.
        ratio_range: ``(low, high)`` range of the ratio ``r``; ``(1, 1)`` gives a deterministic resize.
        interpolation, mask_interpolation: OpenCV interpolation flags.
        p: probability of applying the transform.
    """

    def __init__(
        self,
        scale: Sequence[int] = (2048, 512),
        ratio_range: Sequence[float] = (0.5, 2.0),
        interpolation: int = cv2.INTER_LINEAR,
        mask_interpolation: int = cv2.INTER_NEAREST,
        p: float = 1.0,
    ) -> None:
        super().__init__(p=p)
        self.scale = tuple(int(s) for s in _pair(scale, "scale"))
        low, high = _pair(ratio_range, "ratio_range")
        if not 0 < low <= high:
            raise ValueError(f"ratio_range must satisfy 0 < low <= high, got {ratio_range!r}")
        if min(self.scale) <= 0:
            raise ValueError(f"scale must be two positive edge lengths, got {scale!r}")
        self.ratio_range = (float(low), float(high))
        self.interpolation = interpolation
        self.mask_interpolation = mask_interpolation

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        height, width = params["shape"][:2]
        low, high = self.ratio_range
        ratio = low + (high - low) * self.py_random.random()
        target = (int(self.scale[0] * ratio), int(self.scale[1] * ratio))
        return {"ratio": ratio, "size": rescale_size(width, height, target)}

    def apply(self, img: np.ndarray, size: tuple[int, int], **params: Any) -> np.ndarray:
        return _resize(img, size, self.interpolation)

    def apply_to_mask(self, mask: np.ndarray, size: tuple[int, int], **params: Any) -> np.ndarray:
        return _resize(mask, size, self.mask_interpolation)


class KeepRatioResize(A.DualTransform):
    """Deterministic keep-ratio resize into ``scale`` (mmcv ``Resize(scale, keep_ratio=True)``).

    Args:
        scale: target edges, e.g. ``(2048, 512)``: see :func:`rescale_size`.
        interpolation, mask_interpolation: OpenCV interpolation flags (bilinear / nearest).
        resize_mask: when False (evaluation as in mmsegmentation) masks keep their original resolution, so
            image and mask sizes differ after this transform.
        p: probability of applying the transform.
    """

    def __init__(
        self,
        scale: Sequence[int] = (2048, 512),
        interpolation: int = cv2.INTER_LINEAR,
        mask_interpolation: int = cv2.INTER_NEAREST,
        resize_mask: bool = True,
        p: float = 1.0,
    ) -> None:
        super().__init__(p=p)
        self.scale = tuple(int(s) for s in _pair(scale, "scale"))
        if min(self.scale) <= 0:
            raise ValueError(f"scale must be two positive edge lengths, got {scale!r}")
        self.interpolation = interpolation
        self.mask_interpolation = mask_interpolation
        self.resize_mask = bool(resize_mask)

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        height, width = params["shape"][:2]
        return {"size": rescale_size(width, height, self.scale)}

    def apply(self, img: np.ndarray, size: tuple[int, int], **params: Any) -> np.ndarray:
        return _resize(img, size, self.interpolation)

    def apply_to_mask(self, mask: np.ndarray, size: tuple[int, int], **params: Any) -> np.ndarray:
        return _resize(mask, size, self.mask_interpolation) if self.resize_mask else mask


class CatMaxRatioCrop(A.DualTransform):
    """Random ``height x width`` crop that avoids crops dominated by one class (mmseg ``RandomCrop``).

    A window is drawn uniformly among all positions (the whole side when the image is smaller than the
    crop: the output is then smaller and a later pad completes it). With ``cat_max_ratio < 1`` the window is
    checked against the mask: it is accepted when, ignoring ``ignore_index``, more than one class is present
    and the most frequent class covers less than ``cat_max_ratio`` of the labelled pixels. Up to
    ``max_checks`` windows are checked; each rejection draws a new window, and the window drawn after the
    last rejection is kept unchecked (so at most ``max_checks + 1`` draws, exactly as mmsegmentation).

    Needs the ``mask`` target when ``cat_max_ratio < 1``.

    Args:
        height, width: crop size.
        cat_max_ratio: maximum share of the dominant class (1 disables the check).
        ignore_index: label excluded from the class counts.
        max_checks: number of windows checked (10 in mmsegmentation).
        p: probability of applying the transform.
    """

    def __init__(
        self,
        height: int = 512,
        width: int = 512,
        cat_max_ratio: float = 0.75,
        ignore_index: int = 255,
        max_checks: int = 10,
        p: float = 1.0,
    ) -> None:
        super().__init__(p=p)
        if int(height) <= 0 or int(width) <= 0:
            raise ValueError(f"crop size must be positive, got {height} x {width}")
        if not 0 < cat_max_ratio <= 1:
            raise ValueError(f"cat_max_ratio must be in (0, 1], got {cat_max_ratio}")
        if int(max_checks) < 0:
            raise ValueError(f"max_checks must be >= 0, got {max_checks}")
        self.height = int(height)
        self.width = int(width)
        self.cat_max_ratio = float(cat_max_ratio)
        self.ignore_index = int(ignore_index)
        self.max_checks = int(max_checks)

    def _window(self, height: int, width: int) -> tuple[int, int, int, int]:
        top = self.py_random.randint(0, max(height - self.height, 0))
        left = self.py_random.randint(0, max(width - self.width, 0))
        return top, top + self.height, left, left + self.width

    def is_balanced(self, mask: np.ndarray) -> bool:
        """Whether a cropped mask has > 1 labelled class and none covering >= ``cat_max_ratio`` of them."""
        labels = mask.ravel()
        if labels.dtype != np.uint8:
            labels = labels.astype(np.int64, copy=False)
            labels = labels[labels != self.ignore_index]
            if labels.size and labels.min() < 0:
                raise ValueError(f"negative labels in the mask: {int(labels.min())}")
        counts = np.bincount(labels)
        if 0 <= self.ignore_index < counts.size:
            counts[self.ignore_index] = 0
        counts = counts[counts > 0]
        return counts.size > 1 and counts.max() / counts.sum() < self.cat_max_ratio

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        height, width = params["shape"][:2]
        window = self._window(height, width)
        if self.cat_max_ratio < 1:
            mask = data.get("mask")
            if mask is None:
                raise ValueError("CatMaxRatioCrop with cat_max_ratio < 1 needs the 'mask' target")
            for _ in range(self.max_checks):
                top, bottom, left, right = window
                if self.is_balanced(mask[top:bottom, left:right]):
                    break
                window = self._window(height, width)
        return {"window": window}

    def apply(self, img: np.ndarray, window: tuple[int, int, int, int], **params: Any) -> np.ndarray:
        top, bottom, left, right = window
        return img[top:bottom, left:right]

    def apply_to_mask(self, mask: np.ndarray, window: tuple[int, int, int, int], **params: Any) -> np.ndarray:
        top, bottom, left, right = window
        return mask[top:bottom, left:right]


def _affine_lut(alpha: float, beta: float) -> np.ndarray:
    """uint8 table of ``clip(x * alpha + beta, 0, 255)`` truncated to uint8, computed in float32 as mmseg's
    per-pixel formula (so a table lookup gives bit-identical results, only faster)."""
    values = np.arange(256, dtype=np.float32) * np.float32(alpha) + np.float32(beta)
    return np.clip(values, 0, 255).astype(np.uint8)


class PhotoMetricDistortion(A.ImageOnlyTransform):
    """mmsegmentation's photometric distortion of a uint8 RGB image.

    In order: brightness (add ``U(-brightness_delta, brightness_delta)``), then contrast either here or at
    the very end (a fair coin), saturation (multiply the HSV saturation by ``U(*saturation_range)``), hue
    (add an integer in ``[-hue_delta, hue_delta - 1]`` to the OpenCV hue, modulo 180), [contrast (multiply by
    ``U(*contrast_range)``)]. Each of brightness, contrast, saturation and hue is applied with probability 0.5.
    Every step computes in float32, clips to [0, 255] and truncates to uint8, and saturation and hue each do
    their own RGB -> HSV -> RGB round trip, as mmsegmentation does, so the output is bit-identical to it for
    the same random draws. The uint8 maps are applied as lookup tables.

    Args:
        brightness_delta: maximum brightness offset (32).
        contrast_range: range of the contrast factor ((0.5, 1.5)).
        saturation_range: range of the saturation factor ((0.5, 1.5)).
        hue_delta: maximum hue shift in OpenCV hue units (0..180) (18).
        p: probability of considering the transform at all (1.0: each step has its own 0.5).
    """

    def __init__(
        self,
        brightness_delta: float = 32,
        contrast_range: Sequence[float] = (0.5, 1.5),
        saturation_range: Sequence[float] = (0.5, 1.5),
        hue_delta: int = 18,
        p: float = 1.0,
    ) -> None:
        super().__init__(p=p)
        if brightness_delta < 0 or int(hue_delta) < 0:
            raise ValueError(f"brightness_delta and hue_delta must be >= 0, got {brightness_delta}, {hue_delta}")
        for name, value in (("contrast_range", contrast_range), ("saturation_range", saturation_range)):
            low, high = _pair(value, name)
            if not 0 <= low <= high:
                raise ValueError(f"{name} must satisfy 0 <= low <= high, got {value!r}")
        self.brightness_delta = float(brightness_delta)
        self.contrast_range = tuple(float(v) for v in contrast_range)
        self.saturation_range = tuple(float(v) for v in saturation_range)
        self.hue_delta = int(hue_delta)

    def get_params(self) -> dict[str, Any]:
        rng = self.py_random
        brightness = rng.uniform(-self.brightness_delta, self.brightness_delta) if rng.random() < 0.5 else None
        contrast_first = rng.random() < 0.5
        contrast = rng.uniform(*self.contrast_range) if rng.random() < 0.5 else None
        saturation = rng.uniform(*self.saturation_range) if rng.random() < 0.5 else None
        hue = None
        if rng.random() < 0.5:
            hue = rng.randint(-self.hue_delta, self.hue_delta - 1) if self.hue_delta > 0 else 0
        return {
            "brightness": brightness,
            "contrast": contrast,
            "contrast_first": contrast_first,
            "saturation": saturation,
            "hue": hue,
        }

    @staticmethod
    def _hsv_channel_lut(channel: int, table: np.ndarray) -> np.ndarray:
        lut = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
        lut[:, channel] = table
        return lut.reshape(256, 1, 3)

    def apply(
        self,
        img: np.ndarray,
        brightness: float | None = None,
        contrast: float | None = None,
        contrast_first: bool = True,
        saturation: float | None = None,
        hue: int | None = None,
        **params: Any,
    ) -> np.ndarray:
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise TypeError(f"PhotoMetricDistortion needs an H,W,3 uint8 RGB image, got {img.dtype} {img.shape}")
        if brightness is not None:
            img = cv2.LUT(img, _affine_lut(1.0, brightness))
        if contrast_first and contrast is not None:
            img = cv2.LUT(img, _affine_lut(contrast, 0.0))
        if saturation is not None:
            hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
            hsv = cv2.LUT(hsv, self._hsv_channel_lut(1, _affine_lut(saturation, 0.0)))
            img = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
        if hue is not None:
            hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
            shifted = ((np.arange(256) + hue) % 180).astype(np.uint8)
            hsv = cv2.LUT(hsv, self._hsv_channel_lut(0, shifted))
            img = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
        if not contrast_first and contrast is not None:
            img = cv2.LUT(img, _affine_lut(contrast, 0.0))
        return img


def reseed_pipeline(pipeline: A.BaseCompose, seed: int) -> A.BaseCompose:
    """Give ``pipeline`` (and all its transforms) one shared random stream seeded by ``seed``; returns it.

    Prefer this to ``A.Compose(seed=...)``: albumentations 2.0 then seeds every transform with the *same*
    seed, so e.g. the flip coin and the first photometric coin are the same number. DataLoader workers must
    call it with a per-worker seed (see :func:`visionbench.data.loaders.seed_worker_pipeline`), or every worker
    inherits the same random state from the parent process and repeats the same augmentations.
    """
    pipeline.set_random_state(np.random.default_rng(seed), random.Random(seed))
    return pipeline


def reseed_transform(transform: Any, seed: int) -> None:
    """A dataset's ``reseed``: :func:`reseed_pipeline` when ``transform`` is an albumentations transform or pipeline;
    None or a transform without a random state is left alone."""
    if transform is not None and hasattr(transform, "set_random_state"):
        reseed_pipeline(transform, seed)


def segmentation_train_pipeline(
    crop_size: Sequence[int] = (512, 512),
    scale: Sequence[int] = (2048, 512),
    ratio_range: Sequence[float] = (0.5, 2.0),
    cat_max_ratio: float = 0.75,
    flip_prob: float = 0.5,
    photometric_distortion: bool = True,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    ignore_index: int = 255,
    seed: int | None = None,
) -> A.Compose:
    """mmsegmentation's training pipeline (ADE20K defaults): ``(image uint8 RGB, mask) -> (float32
    ``crop_size`` image, ``crop_size`` mask)``.

    RandomRescale(scale, ratio_range) -> CatMaxRatioCrop(crop_size, cat_max_ratio) -> HorizontalFlip(flip_prob)
    -> PhotoMetricDistortion -> Normalize(mean, std) -> PadIfNeeded(crop_size, bottom/right, image 0 after
    normalisation, mask ``ignore_index``).

    Args:
        crop_size: ``(height, width)`` of the output.
        scale, ratio_range: see :class:`RandomRescale`.
        cat_max_ratio: see :class:`CatMaxRatioCrop` (1 disables the check).
        flip_prob: probability of the horizontal flip.
        photometric_distortion: include :class:`PhotoMetricDistortion`.
        mean, std: normalisation in the [0, 1] scale.
        ignore_index: label of padded pixels, excluded from the crop's class counts.
        seed: seed of the pipeline's random stream (see :func:`reseed_pipeline`); None: fresh entropy.
    """
    crop_h, crop_w = (int(v) for v in _pair(crop_size, "crop_size"))
    transforms: list[A.BasicTransform] = [
        RandomRescale(scale=scale, ratio_range=ratio_range),
        CatMaxRatioCrop(height=crop_h, width=crop_w, cat_max_ratio=cat_max_ratio, ignore_index=ignore_index),
        A.HorizontalFlip(p=flip_prob),
    ]
    if photometric_distortion:
        transforms.append(PhotoMetricDistortion())
    transforms += [
        A.Normalize(mean=tuple(mean), std=tuple(std), max_pixel_value=255.0),
        A.PadIfNeeded(
            min_height=crop_h,
            min_width=crop_w,
            position="top_left",  # image at the top-left, padding at the bottom/right as mmseg
            border_mode=cv2.BORDER_CONSTANT,
            fill=0,
            fill_mask=ignore_index,
        ),
    ]
    pipeline = A.Compose(transforms)
    if seed is not None:
        reseed_pipeline(pipeline, seed)
    return pipeline


def segmentation_test_pipeline(
    scale: Sequence[int] = (2048, 512),
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    resize_mask: bool = False,
) -> A.Compose:
    """mmsegmentation's evaluation pipeline: keep-ratio resize of the image into ``scale`` (bilinear), then
    normalise. The mask is left at its original resolution unless ``resize_mask`` (nearest neighbour)."""
    return A.Compose(
        [
            KeepRatioResize(scale=scale, resize_mask=resize_mask),
            A.Normalize(mean=tuple(mean), std=tuple(std), max_pixel_value=255.0),
        ]
    )
