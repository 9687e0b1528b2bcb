"""SORT (Bewley, Ge, Ott, Ramos and Upcroft 2016, "Simple Online and Realtime Tracking"), vectorised over tracks."""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import linear_sum_assignment

from visionbench.models.tracking.kalman import SortKalmanFilter
from visionbench.models.tracking.types import Detections, Tracks

# Rows of SORT's track table (float64, one column per track, in id order): rows 0-19 are the Kalman filter in
# block form (SortKalmanFilter.block_predict: u, v, s, r; velocities; covariance blocks), then:
_ID = 20  # track id (an exact integer)
_STREAK = 21  # consecutive matches (the reference's hit_streak)
_LAST = 22  # frame of the last match (or of the creation)
_ROWS = 23


def detection_arrays(detections: Detections) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(boxes (N, 4) float64, scores (N,) float64, classes (N,) int64)`` of ``detections``; a ``ValueError`` names
    the field whose length differs from the number of boxes."""
    boxes = np.asarray(detections.boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(detections.scores, dtype=np.float64).reshape(-1)
    classes = np.asarray(detections.classes, dtype=np.int64).reshape(-1)
    if len(scores) != len(boxes) or len(classes) != len(boxes):
        raise ValueError(
            f"Detections has {len(boxes)} boxes but {len(scores)} scores and {len(classes)} classes; "
            "give one score and one class per box"
        )
    return boxes, scores, classes


class SORT:
    """SORT: a Kalman filter per object, Hungarian IoU association, no appearance model.

    Reproduces the reference implementation (abewley/sort) output for output: the 7-d constant-velocity filter of
    :class:`~visionbench.models.tracking.kalman.SortKalmanFilter`; before each prediction an area velocity that
    would make the area non-positive is zeroed; tracks whose predicted box has a non-finite coordinate are
    removed; association as :func:`~visionbench.models.tracking.association.sort_associate`; unmatched detections
    start new tracks (new ids, in the order of the unmatched list). A track is reported in a frame when it was
    matched (or created) in it and has been matched in ``min_hits`` consecutive frames (``hit_streak``; in the
    first ``min_hits`` frames of a sequence every matched or new track is reported); it is deleted after more
    than ``max_age`` frames without a match. The reported box is the filter state converted back to a box
    (``w = sqrt(s r)``, ``h = s / w``), not the detection.

    Implementation, for speed with few tracks per frame (where numpy's per-call cost dominates): all tracks are
    the columns of one float64 table (filter state and covariance in the block form of
    :meth:`~visionbench.models.tracking.kalman.SortKalmanFilter.block_predict`, id, hit streak, frame of the
    last match), grown by doubling, so a frame costs a fixed number of numpy calls (about 70) whatever the number
    of tracks; the filter arithmetic is filterpy's term for term. Instead of the reference's per-frame counters
    the table stores the frame of the last match: ``time_since_update`` is ``frame - last``, and a match extends
    the streak when the last match was the previous frame and restarts it at 1 otherwise. Only matched and new
    tracks can be reported, so the report is built from them alone.

    ``update(detections)`` takes one frame's :class:`~visionbench.models.tracking.types.Detections` (boxes
    x1, y1, x2, y2; features ignored) and returns the reported :class:`~visionbench.models.tracking.types.Tracks`
    sorted by id, each with the index, score and class of the detection it was matched to (or created from) in
    this frame. Ids start at 1 and are never reused until :meth:`reset`.

    Args:
        max_age: frames a track survives without a matched detection (reference: 1).
        min_hits: consecutive matches before a track is reported (reference: 3).
        iou_threshold: minimum IoU of a detection-track match (reference: 0.3).
    """

    needs_frames = False

    def __init__(self, max_age: int = 1, min_hits: int = 3, iou_threshold: float = 0.3) -> None:
        if max_age < 0 or min_hits < 0:
            raise ValueError(f"max_age ({max_age}) and min_hits ({min_hits}) must be >= 0")
        if not 0.0 <= iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold {iou_threshold} must be in [0, 1]")
        self.max_age = max_age
        self.min_hits = min_hits
        self.iou_threshold = iou_threshold
        self.kalman = SortKalmanFilter()
        self._new_columns = np.zeros((_LAST - 3, 1))  # rows 4.._LAST of a new track (id and frame set on creation)
        self._new_columns[:16] = self.kalman.block_initial
        self.reset()

    def reset(self) -> None:
        """Forget all tracks; the next frame is frame 1 and the next id is 1."""
        self.frame_count = 0
        self._next_id = 1
        self._table = np.empty((_ROWS, 16))
        self._count = 0

    @property
    def num_tracks(self) -> int:
        """Tracks alive (reported or not)."""
        return self._count

    @property
    def states(self) -> np.ndarray:
        """Filter states (T, 7) ``[u, v, s, r, u', v', s']`` of the live tracks (a copy)."""
        return self._table[:7, : self._count].T.copy()

    @property
    def covariances(self) -> np.ndarray:
        """Filter covariances (T, 7, 7) of the live tracks (a copy)."""
        return self.kalman.block_covariances(self._table[:, : self._count])

    @property
    def track_ids(self) -> np.ndarray:
        """Ids (T,) of the live tracks, in creation order."""
        return self._table[_ID, : self._count].astype(np.int64)

    def update(self, detections: Detections, frame: np.ndarray | None = None) -> Tracks:
        """Advance one frame: predict, associate ``detections``, update, create and delete tracks; ``frame`` unused."""
        self.frame_count += 1
        boxes, scores, classes = detection_arrays(detections)
        with np.errstate(divide="ignore", invalid="ignore"):  # degenerate boxes give NaN/inf; see _predict
            return self._step(boxes, scores, classes)

    def _step(self, boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray) -> Tracks:
        frame = self.frame_count
        if self._count:
            predicted, areas = self._predict()
        count, detections = self._count, len(boxes)
        if detections == 0:
            self._delete_stale(frame)
            return _no_tracks()
        corners = boxes.T
        sizes = corners[2:] - corners[:2]
        z = np.empty((4, detections))  # measurements [u, v, s, r], one column per detection
        np.multiply(sizes, 0.5, out=z[:2])
        z[:2] += corners[:2]
        np.multiply(sizes[0], sizes[1], out=z[2])
        np.divide(sizes[0], sizes[1], out=z[3])
        if count:
            tracks, matched, unmatched = self._associate(corners[:, None], z[2], predicted, areas)
        else:
            tracks = matched = _NONE
            unmatched = np.arange(detections)
        if len(tracks):
            columns = self._table.take(tracks, axis=1)
            self.kalman.block_update(columns, z.take(matched, axis=1))
            streak = columns[_STREAK]
            streak *= columns[_LAST] == frame - 1  # the reference resets hit_streak after a frame without match
            streak += 1
            columns[_LAST] = frame
            self._table[:, tracks] = columns
        if len(unmatched):
            self._start(z.take(unmatched, axis=1), frame)
        # the reported tracks: matched ones (in id order) with a long enough streak; new ones only when every
        # matched or new track is reported (their streak is 0)
        if frame <= self.min_hits or self.min_hits == 0:
            if len(unmatched):
                states = self._table[:4, count : self._count]
                ids = self._table[_ID, count : self._count]
                if len(tracks):
                    states = np.concatenate([columns[:4], states], axis=1)
                    ids = np.concatenate([columns[_ID], ids])
                rows = np.concatenate([matched, unmatched]) if len(tracks) else unmatched
            else:
                states, ids, rows = columns[:4], columns[_ID], matched
        elif len(tracks):
            states, ids, rows = columns[:4], columns[_ID], matched
            reported = streak >= self.min_hits
            if np.count_nonzero(reported) < len(reported):
                reported = reported.nonzero()[0]
                states, ids, rows = states.take(reported, axis=1), ids.take(reported), rows.take(reported)
        else:
            self._delete_stale(frame)
            return _no_tracks()
        out = Tracks(
            ids=ids.astype(np.int64),
            boxes=_boxes(states),
            detection_index=rows,
            scores=scores.take(rows),
            classes=classes.take(rows),
        )
        self._delete_stale(frame)
        return out

    def _predict(self) -> tuple[np.ndarray, np.ndarray]:
        """Predict every track in place and drop those whose box is not finite; their boxes as coordinate planes
        (4, T, 1) x1, y1, x2, y2 and their areas (T, 1)."""
        table = self._table[:, : self._count]
        area_rate = table[6]
        stopped = np.less_equal(area_rate + table[2], 0.0)
        if np.count_nonzero(stopped):
            np.multiply(area_rate, 0.0, out=area_rate, where=stopped)  # would make the area non-positive
        self.kalman.block_predict(table)
        predicted = np.empty((4, self._count, 1))
        _box_planes(table, predicted[:, :, 0])
        sides = predicted[2:] - predicted[:2]
        areas = sides[0] * sides[1]
        if not math.isfinite(np.vdot(areas, areas)):  # a non-finite corner makes the area NaN or infinite
            finite = np.isfinite(predicted).all(axis=(0, 2))
            if not finite.all():
                self._keep(finite)
                predicted, areas = predicted[:, finite], areas[finite]
        return predicted, areas

    def _associate(
        self, corners: np.ndarray, detection_areas: np.ndarray, predicted: np.ndarray, areas: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(matched tracks (ascending), their detections, unmatched detections)`` as ``sort_associate`` (whose
        order of unmatched detections decides the new ids). ``corners`` (4, 1, N) and ``predicted`` (4, T, 1) are
        coordinate planes x1, y1, x2, y2; the IoU matrix is (T, N), so the pairs of the one-to-one case come out
        sorted by track; the Hungarian algorithm sees the reference's (N, T) matrix."""
        low = np.maximum(predicted[:2], corners[:2])
        sides = np.minimum(predicted[2:], corners[2:])
        sides -= low
        np.maximum(sides, 0.0, out=sides)
        iou = sides[0] * sides[1]  # intersection
        union = areas + detection_areas
        union -= iou
        iou /= union
        tracks, detections = np.greater(iou, self.iou_threshold).nonzero()
        pairs = len(tracks)
        if pairs and len(set(tracks.tolist())) == pairs and len(set(detections.tolist())) == pairs:
            # one-to-one above the threshold: the reference takes these pairs as they are
            if pairs == iou.shape[1]:
                return tracks, detections, _NONE
            free = np.ones(iou.shape[1], bool)
            free[detections] = False
            return tracks, detections, free.nonzero()[0]
        detections, tracks = linear_sum_assignment(-iou.T)
        keep = ~(iou[tracks, detections] < self.iou_threshold)  # a NaN IoU is kept, as in the reference
        free = np.ones(iou.shape[1], bool)
        free[detections] = False
        unmatched = free.nonzero()[0]
        if not keep.all():
            unmatched = np.concatenate([unmatched, detections[~keep]])
            tracks, detections = tracks[keep], detections[keep]
        order = tracks.argsort()
        return tracks.take(order), detections.take(order), unmatched

    def _start(self, z: np.ndarray, frame: int) -> None:
        """New tracks from measurements ``z`` (4, U), ids in column order."""
        new = z.shape[1]
        begin, end = self._count, self._count + new
        if end > self._table.shape[1]:
            table = np.empty((_ROWS, 2 * end))
            table[:, :begin] = self._table[:, :begin]
            self._table = table
        columns = self._table[:, begin:end]
        columns[:4] = z
        self._new_columns[-1] = frame
        columns[4 : _LAST + 1] = self._new_columns
        columns[_ID] = np.arange(self._next_id, self._next_id + new)
        self._next_id += new
        self._count = end

    def _delete_stale(self, frame: int) -> None:
        """Delete the tracks unmatched for more than ``max_age`` frames."""
        stale = np.less(self._table[_LAST, : self._count], frame - self.max_age)
        if np.count_nonzero(stale):
            self._keep(~stale)

    def _keep(self, mask: np.ndarray) -> None:
        kept = self._table[:, : self._count].compress(mask, axis=1)
        self._count = kept.shape[1]
        self._table[:, : self._count] = kept


_NONE = np.zeros(0, np.int64)


def _no_tracks() -> Tracks:
    return Tracks(
        ids=np.zeros(0, np.int64),
        boxes=np.zeros((0, 4)),
        detection_index=np.zeros(0, np.int64),
        scores=np.zeros(0),
        classes=np.zeros(0, np.int64),
    )


def _box_planes(states: np.ndarray, out: np.ndarray) -> None:
    """Rows starting ``u, v, s, r`` (one column per track) -> ``out`` (4, T) rows x1, y1, x2, y2, as the
    reference (``w = sqrt(s r)``, ``h = s / w``)."""
    half = out[2:]
    np.multiply(states[2], states[3], out=half[0])
    np.sqrt(half[0], out=half[0])
    np.divide(states[2], half[0], out=half[1])
    half *= 0.5
    np.subtract(states[:2], half, out=out[:2])
    half += states[:2]


def _boxes(states: np.ndarray) -> np.ndarray:
    """Rows starting ``u, v, s, r`` (one column per track) -> boxes (T, 4) x1, y1, x2, y2."""
    boxes = np.empty((states.shape[1], 4))
    _box_planes(states, boxes.T)
    return boxes
