"""Frame sources for inference: a video file decoded with PyAV, or images (one file, a folder, a glob pattern).

Every source yields :class:`Frame` objects in presentation order: a video's frames as its decoder outputs them
(with their timestamps ``pts`` in the stream's ``time_base``), images in natural order of their names (``img2``
before ``img10``). Problems with the input raise :class:`~visionbench.data.errors.DatasetLayoutError` (nothing to
read: a missing path, an empty or unreadable folder, a glob matching no image) or
:class:`~visionbench.data.errors.DatasetFormatError` (a corrupt or truncated video, naming the frame that could not
be decoded; an image of another size than the first one when frames must share one size), each naming the file.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from visionbench.data.errors import DatasetFormatError, DatasetLayoutError
from visionbench.data.image import read_rgb_image

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp"})
"""File name endings read as images (case-insensitive); any other file is opened as a video."""
GLOB_CHARACTERS = ("*", "?", "[")
DECODER_OPTIONS = {"err_detect": "explode"}
"""FFmpeg decoder option: a damaged packet is an error instead of a silently concealed frame."""


@dataclass(frozen=True)
class Frame:
    """One input frame: its 0-based ``index`` in the source, ``image`` ``H,W,3`` uint8 RGB, ``name`` (the image's
    file stem, or ``frame_<index>`` for a video, 6 digits) and, for a video, its timestamp ``pts`` in units of
    ``time_base`` seconds."""

    index: int
    image: np.ndarray
    name: str
    pts: int | None = None
    time_base: Fraction | None = None


def natural_key(path: Path) -> list[int | str]:
    """Sort key of a path in natural order: digit runs compare as numbers (``frame2`` before ``frame10``)."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", str(path))]


def is_image(path: Path) -> bool:
    """Whether ``path`` names an image file by its ending (:data:`IMAGE_SUFFIXES`)."""
    return path.suffix.lower() in IMAGE_SUFFIXES


class ImageSource:
    """Images as frames, in the given order. With ``same_size`` every image must have the size of the first (a
    video or a batch of model inputs needs one size; without a resize there is no other way to batch them)."""

    is_video = False
    frame_rate: Fraction | None = None

    def __init__(self, paths: list[Path], description: str, same_size: bool) -> None:
        if not paths:
            raise DatasetLayoutError(f"{description}: no images to read")
        self.paths = paths
        self.description = description
        self.same_size = same_size
        stems: dict[str, Path] = {}
        for path in paths:
            if path.stem in stems:
                raise DatasetLayoutError(
                    f"images {stems[path.stem]} and {path} ({description}) share the name {path.stem!r}; the outputs "
                    "of an image are named after it"
                )
            stems[path.stem] = path
        self.name = paths[0].parent.name if len(paths) > 1 else paths[0].stem
        self.num_frames = len(paths)
        self.frame_size: tuple[int, int] = read_rgb_image(paths[0]).shape[:2]

    def frames(self) -> Iterator[Frame]:
        """Each image as a :class:`Frame` named after its file stem."""
        height, width = self.frame_size
        for index, path in enumerate(self.paths):
            image = read_rgb_image(path)
            if self.same_size and image.shape[:2] != self.frame_size:
                raise DatasetFormatError(
                    f"image {path} (frame {index + 1} of {self.description}) is {image.shape[1]}x{image.shape[0]}, "
                    f"the first image {self.paths[0]} is {width}x{height}: images of different sizes need "
                    "resize=[height,width]"
                )
            yield Frame(index, image, path.stem)


class VideoSource:
    """A video file's first video stream, decoded with PyAV (FFmpeg), frames converted to RGB.

    On opening, the file is demuxed once to count its frames (one packet per frame) and refused when it holds
    fewer than its container declares (a header frame count, or the duration times the frame rate), so a truncated
    file fails before anything is computed. While decoding, a packet the decoder rejects or a frame missing at the
    end raises :class:`DatasetFormatError` naming the file and the frame. ``frame_rate`` is the stream's average
    rate; ``time_base`` the unit of the frames' timestamps.
    """

    is_video = True

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.stem
        self.description = f"video {path}"
        with self._open() as container:
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            if not rate:
                raise DatasetFormatError(f"video {path} declares no frame rate")
            self.frame_rate = Fraction(rate)
            self.time_base = Fraction(stream.time_base) if stream.time_base else 1 / self.frame_rate
            self.frame_size = (stream.codec_context.height, stream.codec_context.width)
            declared, duration = stream.frames, container.duration
            try:
                self.num_frames = sum(1 for packet in container.demux(stream) if packet.size)
            except av.error.FFmpegError as error:
                raise DatasetFormatError(f"video {path} is corrupt: demuxing failed ({error})") from error
        implied = round(Fraction(duration, av.time_base) * self.frame_rate) if duration else 0
        if self.num_frames == 0:
            raise DatasetFormatError(f"video {path} holds no frames")
        if declared and self.num_frames < declared:
            raise self._truncated(self.num_frames, f"its header declares {declared} frames")
        if not declared and self.num_frames < implied - 1:  # a duration rounds to within a frame of the count
            raise self._truncated(self.num_frames, f"its duration {duration / av.time_base:.3f} s implies {implied}")

    def _open(self) -> av.container.InputContainer:
        if not self.path.is_file():
            raise DatasetLayoutError(f"video {self.path} does not exist")
        try:
            container = av.open(str(self.path))
        except av.error.FFmpegError as error:
            raise DatasetFormatError(
                f"cannot open video {self.path}: frame 1 cannot be read (corrupt, truncated or not a video FFmpeg "
                f"reads): {error}"
            ) from error
        if not container.streams.video:
            container.close()
            raise DatasetFormatError(f"video {self.path} has no video stream (truncated?): frame 1 cannot be read")
        return container

    def _truncated(self, frames: int, declared: str) -> DatasetFormatError:
        return DatasetFormatError(
            f"video {self.path} is truncated or corrupt: it holds {frames} frames but {declared}; "
            f"frame {frames + 1} cannot be read"
        )

    def frames(self) -> Iterator[Frame]:
        """Decoded frames in presentation order; :class:`DatasetFormatError` at the first frame that cannot be
        decoded, or when fewer frames than packets come out."""
        index = 0
        with self._open() as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            stream.codec_context.options = DECODER_OPTIONS
            try:
                for decoded in container.decode(stream):
                    image = decoded.to_ndarray(format="rgb24")
                    yield Frame(index, image, f"frame_{index:06d}", decoded.pts, self.time_base)
                    index += 1
            except av.error.FFmpegError as error:
                raise DatasetFormatError(
                    f"video {self.path}: frame {index + 1} of {self.num_frames} cannot be decoded ({error})"
                ) from error
        if index != self.num_frames:
            raise DatasetFormatError(
                f"video {self.path}: decoded {index} of its {self.num_frames} frames; frame {index + 1} cannot be "
                "decoded (truncated or corrupt)"
            )


FrameSource = ImageSource | VideoSource


def image_paths(spec: str) -> tuple[list[Path], str] | None:
    """The images named by ``spec`` (a folder or a glob pattern) in natural order with a description of where they
    come from, or None when ``spec`` names a single file."""
    path = Path(spec)
    if any(character in spec for character in GLOB_CHARACTERS) and not path.exists():
        matches = sorted((Path(p) for p in glob.glob(spec) if is_image(Path(p)) and Path(p).is_file()), key=natural_key)
        if not matches:
            raise DatasetLayoutError(f"no images matched by the pattern {spec} (endings {sorted(IMAGE_SUFFIXES)})")
        return matches, f"the images matched by {spec}"
    if not path.is_dir():
        return None
    try:
        entries = list(path.iterdir())
    except OSError as error:
        raise DatasetLayoutError(f"cannot read the folder {path}: {error.strerror or error}") from error
    images = sorted((entry for entry in entries if is_image(entry) and entry.is_file()), key=natural_key)
    if not images:
        raise DatasetLayoutError(f"the folder {path} holds no images (endings {sorted(IMAGE_SUFFIXES)})")
    return images, f"the folder {path}"


def open_source(spec: str | os.PathLike, same_size: bool = True) -> FrameSource:
    """The frame source ``spec`` names: an image file, a folder of images, a glob pattern of images (quote it in a
    shell), or a video file. ``same_size``: images must share the first one's size (see :class:`ImageSource`)."""
    spec = str(spec)
    listed = image_paths(spec)
    if listed is not None:
        return ImageSource(*listed, same_size=same_size)
    path = Path(spec)
    if not path.exists():
        raise DatasetLayoutError(f"input {path} does not exist (expected a video, an image, a folder or a glob)")
    if is_image(path):
        return ImageSource([path], f"image {path}", same_size)
    return VideoSource(path)
