"""Tracking pictures: the first frames of a sequence with the tracker's boxes and ids, in the sequence's format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from visionbench.data.tracking.mot import MotSequence
from visionbench.tasks.tracking.frames import write_track_frames
from visionbench.viz.annotate import id_colours


def sequence_with_images(root: Path, frames: int = 4) -> MotSequence:
    """A MOTChallenge sequence folder without seqinfo.ini: grey PNG frames and an empty detections file."""
    (root / "img1").mkdir(parents=True)
    (root / "det").mkdir()
    (root / "det" / "det.txt").write_text("")
    for frame in range(1, frames + 1):
        Image.fromarray(np.full((120, 160, 3), 90, dtype=np.uint8)).save(root / "img1" / f"{frame:06d}.png")
    return MotSequence(root)


def test_first_frames_are_drawn_with_boxes_in_id_colours(tmp_path: Path) -> None:
    sequence = sequence_with_images(tmp_path / "seq-01")
    frames = np.array([1, 1, 2, 4])
    ids = np.array([5, 9, 5, 5])
    boxes = np.array([[20.0, 40.0, 30.0, 60.0], [90.0, 30.0, 40.0, 50.0], [25.0, 40.0, 30.0, 60.0], [0, 0, 5, 5]])
    written = write_track_frames(sequence, frames, ids, boxes, tmp_path / "predictions", count=3)
    assert [path.relative_to(tmp_path) for path in written] == [
        Path("predictions/seq-01/000001.png"),
        Path("predictions/seq-01/000002.png"),
        Path("predictions/seq-01/000003.png"),
    ]  # the first three frames only, in the sequence's own format
    first, second, third = (np.asarray(Image.open(path)) for path in written)
    assert first.shape == (120, 160, 3)
    five, nine = id_colours(np.array([5, 9]))
    assert (first[70, 20] == five).all() and (first[60, 90] == nine).all()  # left edges of both boxes
    assert (second[70, 25] == five).all() and (second[60, 90] == 90).all()  # id 5 moved; id 9 not in frame 2
    assert (third == 90).all()  # no tracks in frame 3: the frame as it is


def test_sequences_without_images_or_without_a_count_give_no_pictures(tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    (bare / "det").mkdir(parents=True)
    (bare / "det" / "det.txt").write_text("1,-1,10,10,20,20,0.9\n")
    rows = (np.array([1]), np.array([1]), np.array([[10.0, 10.0, 20.0, 20.0]]))
    assert write_track_frames(MotSequence(bare), *rows, tmp_path / "predictions", count=8) == []
    assert write_track_frames(sequence_with_images(tmp_path / "seq"), *rows, tmp_path / "predictions", count=0) == []
    assert not (tmp_path / "predictions").exists()
