"""The one RGB image reader every dataset uses, and the ImageNet normalisation statistics."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import cv2
import numpy as np

from visionbench.data.errors import DatasetFormatError, DatasetLayoutError

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
"""Per-channel RGB mean of ImageNet (of [0, 1] pixel values): the normalisation of every pretrained backbone here."""
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
"""Per-channel RGB standard deviation of ImageNet (of [0, 1] pixel values)."""
MAX_IMAGE_PIXELS = 1 << 27
"""Largest width x height accepted in a PNG header (134M pixels, ~11600 px square): larger is taken as a corrupt
header and refused before a decoder allocates the image."""
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_HEADER_BYTES = 24
"""The signature, the IHDR chunk's length and type, and its width and height (big-endian uint32 each)."""


def check_png_size(path: str | os.PathLike, head: bytes) -> None:
    """Refuse a PNG whose header (``head``: the file's first :data:`PNG_HEADER_BYTES` or more) declares more than
    :data:`MAX_IMAGE_PIXELS` pixels, with a :class:`DatasetFormatError` naming the file; other files pass (their
    decoder judges them)."""
    if not head.startswith(PNG_SIGNATURE) or head[12:16] != b"IHDR" or len(head) < PNG_HEADER_BYTES:
        return
    width, height = struct.unpack(">II", head[16:PNG_HEADER_BYTES])
    if width * height > MAX_IMAGE_PIXELS:
        raise DatasetFormatError(
            f"PNG {path} declares {width}x{height} pixels in its header, more than the {MAX_IMAGE_PIXELS} accepted: "
            "a corrupt header (refused before decoding)"
        )


def read_png_header(path: str | os.PathLike) -> None:
    """:func:`check_png_size` of the file at ``path`` (which must exist)."""
    with open(path, "rb") as stream:
        check_png_size(path, stream.read(PNG_HEADER_BYTES))


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
    check_png_size(path, data[:PNG_HEADER_BYTES].tobytes())
    flags = cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH
    if not apply_exif_orientation:
        flags |= cv2.IMREAD_IGNORE_ORIENTATION
    try:
        image = cv2.imdecode(data, flags) if data.size else None
    except cv2.error:  # OpenCV's own limits (e.g. the pixel count of a non-PNG header)
        image = None
    if image is None:
        raise DatasetFormatError(f"cannot read image {path} (empty, corrupt, truncated or not an image OpenCV decodes)")
    if image.dtype == np.uint16:
        if not allow_16bit:
            raise DatasetFormatError(f"image {path} is uint16; expected an 8-bit image (is this a flow or depth PNG?)")
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise DatasetFormatError(f"image {path} has pixel type {image.dtype}; expected an 8- or 16-bit image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
