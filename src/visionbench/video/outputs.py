"""Where an inference run writes: files and folders under temporary names, put in place together at the end, and the
writers of annotated frames (an H.264 video encoded with PyAV, or one PNG per frame).

Nothing half-written looks complete: every output is first written as ``.<name>.partial`` in the run directory and
renamed to ``<name>`` by :meth:`RunOutputs.commit` once the whole input is processed; :meth:`RunOutputs.abort`
(after any error) deletes the partial outputs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from visionbench.video.sources import Frame

VIDEO_CODEC = "libx264"
"""H.264 through libx264 (bundled with PyAV's wheels): plays everywhere, encodes fast at ``preset=veryfast``."""
VIDEO_OPTIONS = {"preset": "veryfast", "crf": "18"}
"""libx264 options: a fast preset (encoding must keep up with the model) at a quality that keeps edges crisp."""


class RunOutputs:
    """The outputs of one run in ``directory``, each reserved with :meth:`file` or :meth:`folder` under a temporary
    name and renamed to its own name by :meth:`commit`; :meth:`abort` removes them."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.reserved: dict[str, Path] = {}

    def _reserve(self, name: str) -> Path:
        if name in self.reserved:
            raise ValueError(f"output {name} is reserved twice")
        if (self.directory / name).exists():
            raise FileExistsError(f"{self.directory / name} already exists; outputs are never overwritten")
        self.reserved[name] = self.directory / f".{name}.partial"
        return self.reserved[name]

    def file(self, name: str) -> Path:
        """The temporary path where the file ``name`` is written."""
        return self._reserve(name)

    def folder(self, name: str) -> Path:
        """A new temporary folder that becomes ``name``."""
        path = self._reserve(name)
        path.mkdir(parents=True)
        return path

    def commit(self) -> list[Path]:
        """Rename every reserved output to its own name; the final paths."""
        final = []
        for name, temporary in self.reserved.items():
            os.rename(temporary, self.directory / name)
            final.append(self.directory / name)
        self.reserved.clear()
        return final

    def abort(self) -> None:
        """Delete every reserved output not yet committed."""
        for temporary in self.reserved.values():
            if temporary.is_dir():
                shutil.rmtree(temporary, ignore_errors=True)
            else:
                temporary.unlink(missing_ok=True)
        self.reserved.clear()


class VideoWriter:
    """Encodes RGB frames into an MP4 (H.264) at ``path`` with the input's frame rate and timestamps.

    Frames keep the source's timestamps (``frame.pts`` in ``frame.time_base``) when they have them, so a variable
    frame rate survives; frames without (images) are numbered at ``frame_rate``. Odd frame sizes are encoded in
    4:4:4 chroma (4:2:0 needs even sizes), others in 4:2:0 for compatibility."""

    def __init__(self, path: Path, frame_rate: Fraction, time_base: Fraction | None, size: tuple[int, int]) -> None:
        self.container = av.open(str(path), "w", format="mp4")
        self.stream = self.container.add_stream(VIDEO_CODEC, rate=frame_rate, options=VIDEO_OPTIONS)
        self.stream.height, self.stream.width = size
        self.stream.pix_fmt = "yuv420p" if size[0] % 2 == 0 and size[1] % 2 == 0 else "yuv444p"
        self.stream.codec_context.time_base = time_base or 1 / frame_rate
        self.stream.thread_type = "AUTO"
        self.size = size

    def write(self, frame: Frame, image: np.ndarray) -> None:
        """Encode ``image`` (``H,W,3`` uint8 RGB, the video's size) at ``frame``'s timestamp."""
        if image.shape[:2] != self.size:
            raise ValueError(f"frame {frame.name} is {image.shape[:2]}, the video is {self.size}")
        encoded = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        encoded.pts = frame.index if frame.pts is None else frame.pts
        encoded.time_base = self.stream.codec_context.time_base
        for packet in self.stream.encode(encoded):
            self.container.mux(packet)

    def close(self) -> None:
        """Flush the encoder and finish the file."""
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()

    def discard(self) -> None:
        """Close the file after an error, without finishing it (it is deleted next)."""
        with contextlib.suppress(av.error.FFmpegError, OSError):
            self.container.close()


class ImageWriter:
    """Writes each annotated frame as ``<folder>/<frame name>.png``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def write(self, frame: Frame, image: np.ndarray) -> None:
        """Write ``image`` (``H,W,3`` uint8 RGB) as the frame's PNG."""
        path = self.folder / f"{frame.name}.png"
        if not cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
            raise OSError(f"cannot write {path}")

    def close(self) -> None:
        """Nothing to finish: every PNG is complete when written."""

    def discard(self) -> None:
        """Nothing to close after an error (the folder is deleted next)."""


FrameWriter = VideoWriter | ImageWriter
