"""Optical-flow file formats: Middlebury ``.flo``, KITTI 16-bit flow PNGs, Sintel masks and RGB frames.

Conventions shared by every reader here: flow is an ``H,W,2`` float32 array holding ``(u, v)`` = the x and y
displacement in pixels from frame 1 to frame 2; ``valid`` is an ``H,W`` bool array of the pixels that have
ground truth; images are ``H,W,3`` uint8 RGB. Every problem raises
:class:`~visionbench.data.errors.DatasetLayoutError` (the file does not exist) or
:class:`~visionbench.data.errors.DatasetFormatError` (it exists but its content is wrong), naming the file.

``.flo`` (Middlebury, also used by MPI-Sintel and FlyingChairs), little-endian throughout::

    bytes 0-3    float32 202021.25 (the ASCII tag "PIEH")
    bytes 4-7    int32 width
    bytes 8-11   int32 height
    bytes 12-    height * width * 2 float32, row-major, (u, v) interleaved per pixel

A component with ``|value| >= 1e9`` marks an unknown flow (Middlebury convention); such pixels are invalid.
The header is checked against the file size *before* anything is allocated, so a corrupt header (a width of
1e9, say) fails at once instead of exhausting memory.

KITTI flow PNG (devkit of KITTI 2012 / 2015): 16-bit, 3 channels, stored R = u, G = v, B = valid
(OpenCV therefore reads the channels as ``(valid, v, u)``); ``u, v = (value - 2**15) / 64``; a pixel is
valid when its B channel is > 0 (the devkit writes 1).

Sintel ``occlusions/`` and ``invalid/`` masks: 8-bit single-channel PNGs, 255 = occluded / invalid, 0 = not.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from visionbench.data.errors import DatasetFormatError, DatasetLayoutError
from visionbench.data.image import read_png_header

__all__ = [
    "FLO_MAGIC",
    "FLO_UNKNOWN_THRESHOLD",
    "KITTI_SCALE",
    "MAX_FLO_SIDE",
    "read_binary_mask_png",
    "read_flo",
    "read_kitti_flow",
    "write_flo",
    "write_kitti_flow",
]

FLO_MAGIC = np.float32(202021.25)
"""Tag at the start of every ``.flo`` file (bytes ``b"PIEH"`` as little-endian float32)."""
FLO_UNKNOWN_THRESHOLD = 1e9
"""A ``.flo`` component with an absolute value at or above this marks an unknown (invalid) flow."""
MAX_FLO_SIDE = 100_000
"""Largest width or height accepted in a ``.flo`` header (larger is taken as a corrupt header)."""
KITTI_SCALE = 64.0
"""KITTI flow PNGs store ``flow * 64 + 2**15``."""
_KITTI_OFFSET = 2.0**15
_FLO_HEADER_BYTES = 12
_FLO_UNKNOWN_VALUE = np.float32(1e10)  # what write_flo stores for invalid pixels


def _missing(path: Path, what: str) -> DatasetLayoutError:
    return DatasetLayoutError(f"{what} {path} does not exist")


def _read_png_unchanged(path: Path, what: str) -> np.ndarray:
    """``cv2.imread(IMREAD_UNCHANGED)`` of an existing PNG, its header's size checked first; an undecodable file
    raises :class:`DatasetFormatError`."""
    read_png_header(path)
    try:
        raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    except cv2.error:  # OpenCV's own limits, e.g. on the pixel count of a non-PNG header
        raw = None
    if raw is None:
        raise DatasetFormatError(f"cannot read {what} {path} (corrupt or not an image OpenCV can decode)")
    return raw


# --------------------------------------------------------------------------------------------------
# Middlebury .flo
# --------------------------------------------------------------------------------------------------
def read_flo(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read a Middlebury ``.flo`` file: ``(flow H,W,2 float32, valid H,W bool)``.

    ``flow`` holds the values as stored (unknown ones keep their huge value); ``valid`` is False where
    ``|u|`` or ``|v|`` is ``>= 1e9`` (or not finite). Raises :class:`DatasetFormatError` naming the file, the
    header values and the expected size for a bad tag, a non-positive or absurd width/height, or a file whose
    size is not ``12 + width * height * 8`` bytes (truncated or with trailing data), all checked before the
    flow is allocated.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError as error:
        raise _missing(path, ".flo file") from error
    if not path.is_file():
        raise DatasetLayoutError(f".flo file {path} is not a file")
    with open(path, "rb") as handle:
        header = handle.read(_FLO_HEADER_BYTES)
        if len(header) < _FLO_HEADER_BYTES:
            raise DatasetFormatError(
                f".flo file {path} is {size} bytes, shorter than the 12-byte header (float32 tag 202021.25, "
                "int32 width, int32 height)"
            )
        magic = np.frombuffer(header, "<f4", count=1, offset=0)[0]
        width, height = (int(v) for v in np.frombuffer(header, "<i4", count=2, offset=4))
        if magic != FLO_MAGIC:
            raise DatasetFormatError(
                f".flo file {path} has tag {float(magic)!r} (bytes {header[:4]!r}), expected 202021.25 "
                "(b'PIEH'): not a Middlebury .flo file, or not little-endian"
            )
        if not (0 < width <= MAX_FLO_SIDE and 0 < height <= MAX_FLO_SIDE):
            raise DatasetFormatError(
                f".flo file {path} has an invalid header: width {width}, height {height} (each must be in "
                f"1..{MAX_FLO_SIDE}); the file is {size} bytes"
            )
        expected = _FLO_HEADER_BYTES + width * height * 8
        if size != expected:
            state = "truncated" if size < expected else "longer than its header says"
            raise DatasetFormatError(
                f".flo file {path} is {state}: header width {width}, height {height} needs "
                f"12 + {width}*{height}*2*4 = {expected} bytes, the file has {size}"
            )
        data = np.fromfile(handle, dtype="<f4", count=width * height * 2)
    if data.size != width * height * 2:  # the file changed under us
        raise DatasetFormatError(f".flo file {path}: read {data.size} values, expected {width * height * 2}")
    flow = data.reshape(height, width, 2).astype(np.float32, copy=False)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(flow).all(-1) & (np.abs(flow) < FLO_UNKNOWN_THRESHOLD).all(-1)
    return flow, valid


def write_flo(path: str | os.PathLike, flow: np.ndarray, valid: np.ndarray | None = None) -> None:
    """Write ``flow`` (``H,W,2``) as a Middlebury ``.flo`` file; pixels where ``valid`` is False are stored
    as unknown (1e10)."""
    flow = np.asarray(flow, dtype=np.float32)
    if flow.ndim != 3 or flow.shape[2] != 2 or flow.shape[0] == 0 or flow.shape[1] == 0:
        raise ValueError(f"flow must be a non-empty H,W,2 array, got shape {flow.shape}")
    height, width = flow.shape[:2]
    if valid is not None:
        valid = np.asarray(valid, dtype=bool)
        if valid.shape != (height, width):
            raise ValueError(f"valid has shape {valid.shape}, expected {(height, width)}")
        flow = np.where(valid[..., None], flow, _FLO_UNKNOWN_VALUE)
    with open(path, "wb") as handle:
        handle.write(np.array([FLO_MAGIC], "<f4").tobytes())
        handle.write(np.array([width, height], "<i4").tobytes())
        handle.write(np.ascontiguousarray(flow, dtype="<f4").tobytes())


# --------------------------------------------------------------------------------------------------
# KITTI 16-bit flow PNG
# --------------------------------------------------------------------------------------------------
def read_kitti_flow(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read a KITTI flow PNG: ``(flow H,W,2 float32, valid H,W bool)``; flow is 0 at invalid pixels.

    Raises :class:`DatasetFormatError` when the file is not a 16-bit 3-channel PNG (an 8-bit image or an RGB
    frame passed by mistake, for example).
    """
    path = Path(path)
    if not path.is_file():
        raise _missing(path, "KITTI flow PNG")
    raw = _read_png_unchanged(path, "KITTI flow PNG")
    if raw.dtype != np.uint16 or raw.ndim != 3 or raw.shape[2] != 3:
        channels = 1 if raw.ndim == 2 else raw.shape[2]
        raise DatasetFormatError(
            f"KITTI flow PNG {path} is {raw.dtype} with {channels} channel(s); a KITTI flow file is a 16-bit "
            "3-channel PNG (R = u, G = v as value * 64 + 2^15, B = valid)"
        )
    valid = raw[..., 0] > 0
    flow = (raw[..., 2:0:-1].astype(np.float32) - np.float32(_KITTI_OFFSET)) / np.float32(KITTI_SCALE)
    flow[~valid] = 0.0
    return flow, valid


def write_kitti_flow(path: str | os.PathLike, flow: np.ndarray, valid: np.ndarray | None = None) -> None:
    """Write ``flow`` (``H,W,2``) as a KITTI 16-bit flow PNG (values rounded to 1/64 px and clipped to the
    representable +-512 px; invalid pixels stored as 0 with B = 0)."""
    flow = np.asarray(flow, dtype=np.float64)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"flow must be an H,W,2 array, got shape {flow.shape}")
    valid = np.ones(flow.shape[:2], bool) if valid is None else np.asarray(valid, dtype=bool)
    if valid.shape != flow.shape[:2]:
        raise ValueError(f"valid has shape {valid.shape}, expected {flow.shape[:2]}")
    encoded = np.clip(np.rint(flow * KITTI_SCALE + _KITTI_OFFSET), 0, 65535).astype(np.uint16)
    encoded[~valid] = 0
    bgr = np.stack([valid.astype(np.uint16), encoded[..., 1], encoded[..., 0]], axis=-1)
    if not cv2.imwrite(str(path), bgr):
        raise OSError(f"could not write {path}")


# --------------------------------------------------------------------------------------------------
# Masks and images
# --------------------------------------------------------------------------------------------------
def read_binary_mask_png(path: str | os.PathLike, what: str = "mask") -> np.ndarray:
    """An 8-bit mask PNG (Sintel ``occlusions/``, ``invalid/``) as an ``H,W`` bool array (value > 127).

    A 3- or 4-channel PNG is accepted when its colour channels are equal (a grey mask saved as RGB).
    """
    path = Path(path)
    if not path.is_file():
        raise _missing(path, what)
    raw = _read_png_unchanged(path, what)
    if raw.dtype != np.uint8:
        raise DatasetFormatError(f"{what} {path} is {raw.dtype}; expected an 8-bit PNG (255 = set, 0 = not)")
    if raw.ndim == 3:
        colour = raw[..., :3]
        if not ((colour[..., 0] == colour[..., 1]).all() and (colour[..., 1] == colour[..., 2]).all()):
            raise DatasetFormatError(
                f"{what} {path} is a colour image (its channels differ); expected a single-channel 8-bit PNG "
                "(255 = set, 0 = not)"
            )
        raw = colour[..., 0]
    return raw > 127
