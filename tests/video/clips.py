"""Small clips for the video tests, written with PyAV from synthetic frames: segmentation shapes, a texture moving by
a known shift (flow) and a synthetic MOT sequence with its detections file (tracking)."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from visionbench.data.image import read_rgb_image
from visionbench.data.segmentation.synthetic_shapes import generate_sample
from visionbench.data.tracking.synthetic_mot import SyntheticMotParams, write_synthetic_sequence

RATE = Fraction(25)


def write_clip(path: Path, frames: Sequence[np.ndarray], rate: Fraction = RATE) -> Path:
    """Encode ``frames`` (``H,W,3`` uint8 RGB, even sizes) as H.264 at ``rate`` into ``path`` (container from its
    ending: .mp4, .mkv, .avi)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def decoded(path: Path) -> tuple[int, Fraction, list[float]]:
    """``(frame count, average frame rate, timestamps in seconds)`` of a video as PyAV decodes it."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        times = [float(frame.pts * stream.time_base) for frame in container.decode(stream)]
        return len(times), Fraction(stream.average_rate), times


def shape_frames(count: int = 8, size: int = 64) -> list[np.ndarray]:
    """Synthetic-shapes images (the segmentation task's embedded data)."""
    return [generate_sample(np.random.default_rng(index), size)[0] for index in range(count)]


def shifted_frames(count: int = 8, size: int = 64, shift: tuple[int, int] = (2, 1)) -> list[np.ndarray]:
    """A smooth random texture moving by ``shift`` = (x, y) pixels per frame (wrapping around)."""
    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 256, (size // 8, size // 8, 3)).astype(np.float32)
    texture = np.kron(coarse, np.ones((8, 8, 1), np.float32))
    texture = np.clip(texture + rng.normal(0, 20, texture.shape), 0, 255).astype(np.uint8)
    return [np.roll(texture, (index * shift[1], index * shift[0]), axis=(0, 1)) for index in range(count)]


def mot_clip(directory: Path, count: int = 8) -> tuple[Path, Path]:
    """A synthetic MOT sequence of ``count`` 96x128 frames encoded as ``clip.mp4``, and its ``det/det.txt``."""
    params = SyntheticMotParams(num_frames=count, height=96, width=128, max_objects=3)
    sequence = write_synthetic_sequence(directory / "sequence", "SYN-01", params, seed=0)
    images = sorted((sequence / "img1").iterdir())
    video = write_clip(directory / "clip.mp4", [read_rgb_image(path) for path in images])
    return video, sequence / "det" / "det.txt"
