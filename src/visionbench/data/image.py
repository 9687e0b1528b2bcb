"""The one RGB image reader every dataset uses, and the ImageNet normalisation statistics."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from visionbench.data.errors import DatasetFormatError, DatasetLayoutError

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
"""Per-channel RGB mean of ImageNet (of [0, 1] pixel values): the normalisation of every pretrained backbone here."""
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
"""Per-channel RGB standard deviation of ImageNet (of [0, 1] pixel values)."""


def read_rgb_image(
    path: str | os.PathLike,
    *,
    apply_exif_orientation: bool = False,
    allow_16bit: bool = True,
    missing_hint: str = "",
) -> np.ndarray:
    """An image file (PNG, JPEG, PPM, ...) as ``H,W,3`` uint8 RGB.

    Grey images are repeated to three channels, an alpha channel is dropped, a palette is expanded.
    ``apply_exif_orientation``: rotate JPEGs by their EXIF orientation tag, as OpenCV's default decoding does
    (mmsegmentation reads ADE20K this way); off by default, so that an image stays on the pixel grid of the mask or
    flow stored next to it. 16-bit images keep their high byte (as OpenCV's 8-bit PNG decoding) when
    ``allow_16bit``, and are refused otherwise (a flow or depth PNG passed as a frame). A missing file raises
    :class:`DatasetLayoutError` (with ``missing_hint`` appended, e.g. the expected layout), an unreadable one
    :class:`DatasetFormatError`.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetLayoutError(f"image {path} does not exist" + (f"; {missing_hint}" if missing_hint else ""))
    data = np.fromfile(str(path), dtype=np.uint8)
    flags = cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH
    if not apply_exif_orientation:
        flags |= cv2.IMREAD_IGNORE_ORIENTATION
    image = cv2.imdecode(data, flags) if data.size else None
    if image is None:
        raise DatasetFormatError(f"cannot read image {path} (empty, corrupt, truncated or not an image OpenCV decodes)")
    if image.dtype == np.uint16:
        if not allow_16bit:
            raise DatasetFormatError(f"image {path} is uint16; expected an 8-bit image (is this a flow or depth PNG?)")
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise DatasetFormatError(f"image {path} has pixel type {image.dtype}; expected an 8- or 16-bit image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
