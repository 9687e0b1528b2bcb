"""Pictures of a tracking run: the first frames of each sequence with the tracker's boxes and ids drawn on them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from visionbench.data.tracking.mot import MotSequence
from visionbench.viz.annotate import tracks_frame
from visionbench.viz.segmentation import save_image


def write_track_frames(
    sequence: MotSequence, frames: np.ndarray, ids: np.ndarray, boxes: np.ndarray, directory: Path, count: int
) -> list[Path]:
    """Draw the tracks of frames 1..``count`` of ``sequence`` on its images (one colour per id, the id above each
    box: :func:`~visionbench.viz.annotate.tracks_frame`) and write them to ``<directory>/<sequence>/<frame:06d>``
    with the sequence's image suffix (``.jpg``, ``.jpeg`` or ``.png``; other formats are written as ``.png``).

    ``frames``, ``ids``, ``boxes`` (left, top, width, height) are the sequence's reported tracks. A sequence
    without images (``img1/`` absent, as in detections-only copies of a benchmark) gives no pictures. Returns the
    files written; existing files are never overwritten.
    """
    if count <= 0 or not sequence.image_path(1).is_file():
        return []
    written = []
    for frame in range(1, min(count, sequence.num_frames) + 1):
        rows = frames == frame
        image = tracks_frame(sequence.read_image(frame), boxes[rows], ids[rows])
        suffix = sequence.info.im_ext.lower()
        name = f"{frame:06d}{suffix if suffix in ('.jpg', '.jpeg', '.png') else '.png'}"
        written.append(save_image(image, directory / sequence.name / name))
    return written
