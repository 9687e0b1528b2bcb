"""Run a tracker over a whole sequence of MOTChallenge detections."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from visionbench.data.tracking.boxes import Detections, ltwh_to_xyxy, xyxy_to_ltwh
from visionbench.data.tracking.mot_io import MotTable
from visionbench.models.tracking.types import Tracker


def frame_detections(det_table: MotTable, num_frames: int) -> list[Detections]:
    """One :class:`Detections` per frame 1..num_frames (index ``f - 1``) from a ``det`` table: boxes converted to
    x1, y1, x2, y2, scores from the confidence column, classes from the class column, no features."""
    boxes = ltwh_to_xyxy(det_table.boxes)
    return [
        Detections(boxes=boxes[rows], scores=det_table.confidences[rows], classes=det_table.classes[rows])
        for rows in det_table.frame_rows(num_frames)
    ]


def track_sequence(
    tracker: Tracker,
    det_table: MotTable,
    num_frames: int,
    images: Callable[[int], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Reset ``tracker`` and run it over frames 1..num_frames of a detection table.

    Args:
        tracker: any :class:`~visionbench.models.tracking.types.Tracker`.
        det_table: the sequence's detections (``read_mot_table(path, "det")``); frames without rows get none.
        num_frames: sequence length (``seqinfo.ini`` ``seqLength``).
        images: ``images(frame) -> HxWx3 uint8`` passed to ``update`` as ``frame`` (trackers that embed crops);
            None passes no image.

    Returns:
        ``(frames, ids, boxes_ltwh, scores)`` over all reported tracks, frame by frame, ready for
        :func:`visionbench.data.tracking.mot_io.write_results`.
    """
    tracker.reset()
    frames, ids, boxes, scores = [], [], [], []
    for index, detections in enumerate(frame_detections(det_table, num_frames)):
        image = images(index + 1) if images is not None else None
        tracks = tracker.update(detections, image)
        frames.append(np.full(len(tracks), index + 1, dtype=np.int64))
        ids.append(tracks.ids)
        boxes.append(xyxy_to_ltwh(tracks.boxes))
        scores.append(tracks.scores)
    if not frames:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros(0)
    return np.concatenate(frames), np.concatenate(ids), np.concatenate(boxes), np.concatenate(scores)


def track_sequences(
    tracker: Tracker, det_tables: Sequence[MotTable], num_frames: Sequence[int]
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Run ``tracker`` over several sequences (no images): per sequence, :func:`track_sequence`'s rows.

    A tracker with a ``track_sequences`` method (:class:`~visionbench.models.tracking.sort.SORT`) runs them all
    at once in lockstep, with the same results; any other runs them one after another with :func:`track_sequence`.

    Args:
        tracker: any :class:`~visionbench.models.tracking.types.Tracker` that needs no frames.
        det_tables: each sequence's detections (``read_mot_table(path, "det")``).
        num_frames: each sequence's length (``seqinfo.ini`` ``seqLength``).
    """
    if len(det_tables) != len(num_frames):
        raise ValueError(f"{len(det_tables)} detection tables but {len(num_frames)} sequence lengths")
    if not hasattr(tracker, "track_sequences"):
        return [track_sequence(tracker, table, length) for table, length in zip(det_tables, num_frames, strict=True)]
    sequences = [frame_detections(table, length) for table, length in zip(det_tables, num_frames, strict=True)]
    return [
        (frames, tracks.ids, xyxy_to_ltwh(tracks.boxes), tracks.scores)
        for frames, tracks in tracker.track_sequences(sequences)
    ]
