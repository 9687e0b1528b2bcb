"""Evaluation-time inference modes for segmentation: whole image, sliding window, multi-scale + flip (TTA).

Every mode is a callable ``mode(forward, images, output_size) -> probabilities``:

- ``forward`` maps a normalised image batch ``B,3,h,w`` to the model's main-head logits ``B,C,h,w``;
- ``images`` is the batch as the test pipeline produced it (e.g. ADE20K images resized to the (2048, 512)
  scale, keeping the aspect ratio);
- ``output_size`` is ``(H, W)`` of the ground truth (ADE20K keeps its masks at the original resolution);
- the result is the class probabilities ``B,C,H,W`` (softmax over dim 1) at ``output_size``.

The semantics follow mmsegmentation 0.x ``EncoderDecoder`` (``whole_inference``, ``slide_inference``,
``aug_test``): logits are resized to the output size bilinearly (``align_corners=False``) *before* the
softmax, overlapping windows average logits, and test-time augmentations average probabilities.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch.nn.functional as F
from torch import Tensor

Forward = Callable[[Tensor], Tensor]
"""``images B,3,h,w -> main-head logits B,C,h,w``."""

InferenceMode = Callable[[Forward, Tensor, tuple[int, int]], Tensor]
"""``(forward, images B,3,h,w, output_size (H, W)) -> class probabilities B,C,H,W``."""


def resize(tensor: Tensor, size: Sequence[int]) -> Tensor:
    """Bilinear resize (``align_corners=False``, no antialiasing) of ``B,C,h,w`` to ``size``; no-op if equal."""
    size = (int(size[0]), int(size[1]))
    if tuple(tensor.shape[-2:]) == size:
        return tensor
    return F.interpolate(tensor, size=size, mode="bilinear", align_corners=False)


def _pair(value: int | Sequence[int], name: str) -> tuple[int, int]:
    """``(height, width)`` from an int or a pair of positive ints."""
    if isinstance(value, int) and not isinstance(value, bool):
        pair = (value, value)
    else:
        try:
            pair = tuple(value)  # lists from YAML arrive as ListConfig
        except TypeError:
            raise ValueError(f"{name} must be an int or a (height, width) pair, got {value!r}") from None
    if len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in pair):
        raise ValueError(f"{name} must be a positive int or a (height, width) pair of positive ints, got {value!r}")
    return pair[0], pair[1]


def _output_size(images: Tensor, output_size: Sequence[int]) -> tuple[int, int]:
    if images.ndim != 4:
        raise ValueError(f"images must be B,3,H,W, got shape {tuple(images.shape)}")
    if len(output_size) != 2 or min(int(s) for s in output_size) < 1:
        raise ValueError(f"output_size must be a (height, width) pair of positive ints, got {tuple(output_size)}")
    return int(output_size[0]), int(output_size[1])


def window_spans(size: int, crop: int, stride: int) -> list[tuple[int, int]]:
    """``[(start, end), ...]`` of the sliding windows along one axis of length ``size``.

    As mmsegmentation's slide inference: ``max(size - crop + stride - 1, 0) // stride + 1`` windows; window
    ``i`` ends at ``min(i * stride + crop, size)`` and starts ``crop`` before its end (clamped at 0), so the
    last window is flush with the border and every window is ``min(crop, size)`` long.
    """
    count = max(size - crop + stride - 1, 0) // stride + 1
    spans = []
    for index in range(count):
        end = min(index * stride + crop, size)
        spans.append((max(end - crop, 0), end))
    return spans


class WholeImage:
    """Whole-image inference: one forward pass on the full image, logits resized to the output size, softmax.

    mmsegmentation's ``mode='whole'``; the default of :class:`~visionbench.tasks.SegmentationTask`.
    """

    def __call__(self, forward: Forward, images: Tensor, output_size: tuple[int, int]) -> Tensor:
        size = _output_size(images, output_size)
        return resize(forward(images), size).softmax(dim=1)

    def __repr__(self) -> str:
        return "WholeImage()"


class SlidingWindow:
    """Sliding-window inference (mmsegmentation's ``mode='slide'``).

    The image is covered by a grid of ``crop_size`` windows ``stride`` apart (see :func:`window_spans`; the
    last row/column is shifted to end at the border); each window is run separately, the logits of
    overlapping windows are averaged (sum / count), then resized to the output size and soft-maxed. An image
    smaller than the crop along an axis gets a single window of its own size along that axis (the models here
    accept any input size, so nothing is padded).

    Args:
        crop_size: window ``(height, width)`` in pixels of the input image (or one int for a square).
        stride: step ``(height, width)`` between windows, at most ``crop_size`` so that windows cover the image
            (mmsegmentation's ADE20K configs: crop 512, stride 341).
    """

    def __init__(self, crop_size: int | Sequence[int] = (512, 512), stride: int | Sequence[int] = (341, 341)) -> None:
        self.crop_size = _pair(crop_size, "crop_size")
        self.stride = _pair(stride, "stride")
        if self.stride[0] > self.crop_size[0] or self.stride[1] > self.crop_size[1]:
            raise ValueError(
                f"stride {self.stride} must not exceed crop_size {self.crop_size}: the windows would leave gaps"
            )

    def windows(self, height: int, width: int) -> list[tuple[int, int, int, int]]:
        """``[(top, bottom, left, right), ...]`` of every window on a ``height x width`` image, row by row."""
        rows = window_spans(height, self.crop_size[0], self.stride[0])
        columns = window_spans(width, self.crop_size[1], self.stride[1])
        return [(top, bottom, left, right) for top, bottom in rows for left, right in columns]

    def logits(self, forward: Forward, images: Tensor) -> Tensor:
        """Window-averaged logits ``B,C,h,w`` at the input size."""
        height, width = images.shape[-2:]
        windows = self.windows(height, width)
        if len(windows) == 1:  # one window covers the image: exactly the whole-image forward pass
            return resize(forward(images), (height, width))
        total = count = None
        for top, bottom, left, right in windows:
            crop_logits = resize(forward(images[:, :, top:bottom, left:right]), (bottom - top, right - left))
            if total is None:
                total = crop_logits.new_zeros((*crop_logits.shape[:2], height, width))
                count = crop_logits.new_zeros((1, 1, height, width))
            total[:, :, top:bottom, left:right] += crop_logits
            count[:, :, top:bottom, left:right] += 1
        return total / count

    def __call__(self, forward: Forward, images: Tensor, output_size: tuple[int, int]) -> Tensor:
        size = _output_size(images, output_size)
        return resize(self.logits(forward, images), size).softmax(dim=1)

    def __repr__(self) -> str:
        return f"SlidingWindow(crop_size={self.crop_size}, stride={self.stride})"


class MultiScaleFlip:
    """Multi-scale and flip test-time augmentation (mmsegmentation 0.x ``aug_test``).

    For every ratio in ``scales`` the input image is resized bilinearly by that factor (size rounded as
    ``int(size * ratio + 0.5)``, as mmcv does; ratio 1 leaves it untouched) and ``inner`` (whole or sliding
    window) predicts class probabilities at the output size; with ``flip`` the horizontally flipped image is
    predicted too and its probabilities are flipped back. The result is the mean of the ``len(scales)``
    (or ``2 * len(scales)`` with flip) probability maps. The ratios are relative to the image given, which the
    test pipeline has already resized to its base scale (ADE20K: (2048, 512)), so ratio 0.5 means a 1024 x 256
    scale as in mmsegmentation's ``img_ratios``.

    Args:
        scales: resize ratios (mmsegmentation: 0.5, 0.75, 1.0, 1.25, 1.5, 1.75).
        flip: also predict on the horizontally flipped images.
        inner: the inference mode run at each scale (:class:`WholeImage` or :class:`SlidingWindow`).
    """

    def __init__(
        self,
        scales: Sequence[float] = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75),
        flip: bool = True,
        inner: InferenceMode | None = None,
    ) -> None:
        try:
            ratios = tuple(float(s) for s in scales)
        except (TypeError, ValueError):
            raise ValueError(f"scales must be a sequence of positive numbers, got {scales!r}") from None
        if not ratios or min(ratios) <= 0:
            raise ValueError(f"scales must be a non-empty sequence of positive numbers, got {scales!r}")
        if not isinstance(flip, bool):
            raise ValueError(f"flip must be true or false, got {flip!r}")
        inner = WholeImage() if inner is None else inner
        if not callable(inner) or isinstance(inner, MultiScaleFlip):
            raise ValueError(f"inner must be a WholeImage or SlidingWindow inference mode, got {inner!r}")
        self.scales = ratios
        self.flip = flip
        self.inner = inner

    def __call__(self, forward: Forward, images: Tensor, output_size: tuple[int, int]) -> Tensor:
        size = _output_size(images, output_size)
        height, width = images.shape[-2:]
        total = None
        for ratio in self.scales:
            scaled_size = (max(int(height * ratio + 0.5), 1), max(int(width * ratio + 0.5), 1))
            scaled = resize(images, scaled_size)
            probabilities = self.inner(forward, scaled, size)
            if self.flip:
                flipped = self.inner(forward, scaled.flip(-1), size).flip(-1)
                probabilities = probabilities + flipped
            total = probabilities if total is None else total + probabilities
        return total / (len(self.scales) * (2 if self.flip else 1))

    def __repr__(self) -> str:
        return f"MultiScaleFlip(scales={self.scales}, flip={self.flip}, inner={self.inner!r})"
