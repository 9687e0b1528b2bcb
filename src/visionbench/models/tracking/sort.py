"""SORT (Bewley, Ge, Ott, Ramos and Upcroft 2016, "Simple Online and Realtime Tracking"), vectorised over tracks,
and over sequences run in lockstep (:meth:`SORT.track_sequences`)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from visionbench.data.tracking.boxes import Detections
from visionbench.models.tracking.association import iou_planes, sort_associate_blocks
from visionbench.models.tracking.kalman import SortKalmanFilter
from visionbench.models.tracking.types import Tracks

# Rows of the track table (float64, one column per track): rows 0-35 are the Kalman filter in block form
# (SortKalmanFilter.block_predict: state, covariance blocks, noise), then
_ID = 36  # track id (an exact integer)
_STREAK = 37  # consecutive matches (the reference's hit_streak)
_LAST = 38  # frame of the last match, or of the creation
_SEQUENCE = 39  # index of the track's sequence (track_sequences; 0 in update)
_ROWS = 40


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
    removed; association as :func:`~visionbench.models.tracking.association.sort_associate_blocks`; unmatched detections
    start new tracks (new ids, in the order of the unmatched list). A track is reported in a frame when it was
    matched (or created) in it and has been matched in ``min_hits`` consecutive frames (``hit_streak``; in the
    first ``min_hits`` frames of a sequence every matched or new track is reported); it is deleted after more
    than ``max_age`` frames without a match. The reported box is the filter state converted back to a box
    (``w = sqrt(s r)``, ``h = s / w``), not the detection.

    ``update(detections)`` takes one frame's :class:`~visionbench.models.tracking.types.Detections` (boxes
    x1, y1, x2, y2; features ignored) and returns the reported :class:`~visionbench.models.tracking.types.Tracks`
    sorted by id, each with the index, score and class of the detection it was matched to (or created from) in
    this frame. Ids start at 1 and are never reused until :meth:`reset`. :meth:`track_sequences` runs several
    whole sequences at once, with the same results as ``update`` frame by frame.

    Implementation: with a few tracks per frame, numpy's cost per call dominates, so a frame is written as a fixed
    number of numpy calls (about 80, whatever the number of tracks), nearly all on equal-shape contiguous operands
    (about three times cheaper than broadcast or strided ones). The tracks are the columns of one C-contiguous
    float64 table: the filter in the block form of
    :meth:`~visionbench.models.tracking.kalman.SortKalmanFilter.block_predict` (only the non-zero covariance
    entries), then id, hit streak, frame of the last match and sequence. Instead of the reference's per-frame
    counters the table keeps the frame of the last match: ``time_since_update`` is the frame minus it, and a match
    extends the hit streak when the last match was the frame before and restarts it at 1 otherwise. Only tracks
    matched or created in a frame can be reported, so the report is built from those alone. Association works
    on Python lists (a few pairs per frame) and calls the Hungarian algorithm only when the reference does.

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
        self._template = np.zeros((_ROWS, 1))  # a new track's column; state, id, frame set on creation
        self._template[4:36] = self.kalman.block_initial
        self.reset()

    def reset(self) -> None:
        """Forget all tracks; the next frame is frame 1 and the next id is 1."""
        self.frame_count = 0
        self._next_id = 1
        self._table = np.zeros((_ROWS, 0))

    @property
    def num_tracks(self) -> int:
        """Tracks alive (reported or not)."""
        return self._table.shape[1]

    @property
    def states(self) -> np.ndarray:
        """Filter states (T, 7) ``[u, v, s, r, u', v', s']`` of the live tracks (a copy)."""
        return self._table[:7].T.copy()

    @property
    def covariances(self) -> np.ndarray:
        """Filter covariances (T, 7, 7) of the live tracks (a copy)."""
        return self.kalman.block_covariances(self._table)

    @property
    def track_ids(self) -> np.ndarray:
        """Ids (T,) of the live tracks, in creation order."""
        return self._table[_ID].astype(np.int64)

    def update(self, detections: Detections, frame: np.ndarray | None = None) -> Tracks:
        """Advance one frame: predict, associate ``detections``, update, create and delete tracks; ``frame`` unused."""
        self.frame_count += 1
        boxes, scores, classes = detection_arrays(detections)
        with np.errstate(divide="ignore", invalid="ignore"):  # degenerate boxes give NaN/inf; see _predict
            return self._step(boxes, scores, classes)

    def _step(self, boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray) -> Tracks:
        frame, table = self.frame_count, self._table
        if table.shape[1]:
            table, predicted = _predict(table, self.kalman)
        if len(boxes) == 0:
            self._table = _delete_stale(table, frame - self.max_age)
            return _no_tracks()
        corners = np.ascontiguousarray(boxes.T)
        z = _measurements(corners)
        if table.shape[1]:
            iou = iou_planes(predicted[:4, :, None], predicted[4, :, None], corners[:, None], z[2])
            bounds = np.array([0, table.shape[1]]), [0, len(boxes)]
            tracks, matched, unmatched, _ = sort_associate_blocks(iou.reshape(-1), self.iou_threshold, *bounds)
        else:
            tracks, matched, unmatched = _NONE, _NONE, np.arange(len(boxes))
        if len(tracks):
            columns = _match(table, tracks, z.take(matched, axis=1), frame, self.kalman)
        if len(unmatched):
            ids = np.arange(self._next_id, self._next_id + len(unmatched))
            self._next_id += len(unmatched)
            new = _new_tracks(self._template, z.take(unmatched, axis=1), ids, frame)
            table = np.concatenate([table, new], axis=1)
        self._table = _delete_stale(table, frame - self.max_age)
        if frame <= self.min_hits or self.min_hits == 0:  # every matched or new track is reported
            if not len(unmatched):
                reported, rows = columns, matched
            elif len(tracks):
                reported, rows = np.concatenate([columns, new], axis=1), np.concatenate([matched, unmatched])
            else:
                reported, rows = new, unmatched
        elif len(tracks):
            reported, rows = _streak_reached(columns, matched, self.min_hits)
        else:
            return _no_tracks()
        return Tracks(
            ids=reported[_ID].astype(np.int64),
            boxes=_boxes(reported),
            detection_index=rows,
            scores=scores.take(rows),
            classes=classes.take(rows),
        )

    def track_sequences(self, sequences: Sequence[Sequence[Detections]]) -> list[tuple[np.ndarray, Tracks]]:
        """Track several independent sequences at once; ``sequences[k][f - 1]`` is frame ``f`` of sequence ``k``.

        Gives what a fresh tracker with these parameters gives with ``update`` over each sequence: per sequence,
        ``(frames, tracks)``, all its reported tracks (ids from 1 in each sequence), frame by frame and by id
        within a frame, and the frame (from 1) of each. The tracker's own state is neither used nor changed.

        The sequences advance in lockstep, frame ``f`` of all of them in one step, with all their tracks in one
        table (grouped by sequence): prediction, filter update, creation, deletion and reporting cost the same
        numpy calls for ten sequences as for one. The IoU is computed for the pairs of a track and a detection of
        the same sequence, all sequences in the same calls; only the association (its one-to-one test and, when
        the reference runs it, the Hungarian algorithm) goes sequence by sequence.
        """
        steps = _StepMajorDetections(sequences)
        count, threshold, kalman = len(sequences), self.iou_threshold, self.kalman
        table = np.zeros((_ROWS, 0))
        next_ids = [1] * count
        edges = np.arange(count + 1) - 0.5  # between the sequence indices: searched for the sequences' tracks
        reports: list[np.ndarray] = []  # reported columns, step by step
        report_rows: list[np.ndarray] = []  # their detections, indices in their step
        report_frames: list[int] = []  # the frame of each report
        with np.errstate(divide="ignore", invalid="ignore"):  # degenerate boxes give NaN/inf; see _predict
            for frame, (first, bounds) in enumerate(steps.bounds(), start=1):
                if table.shape[1]:
                    table, predicted = _predict(table, kalman)
                detections, end = bounds[-1], first + bounds[-1]
                if detections == 0:
                    table = _delete_stale(table, frame - self.max_age)
                    continue
                z = steps.z[:, first:end]
                if table.shape[1]:
                    # the IoU of each track with each detection of its sequence, block after block
                    sequence = table[_SEQUENCE]
                    pairs = np.equal(sequence[:, None], steps.sequence_values[first:end]).reshape(-1).nonzero()[0]
                    pairs = np.divmod(pairs, detections)
                    track_boxes = predicted.take(pairs[0], axis=1)
                    detection_boxes = steps.boxes[:, first:end].take(pairs[1], axis=1)
                    iou = iou_planes(track_boxes[:4], track_boxes[4], detection_boxes[:4], detection_boxes[4])
                    track_bounds = sequence.searchsorted(edges)
                    association = sort_associate_blocks(iou, threshold, track_bounds, bounds, pairs)
                    tracks, matched, unmatched, new_counts = association
                else:
                    tracks, matched, unmatched = _NONE, _NONE, np.arange(detections)
                    new_counts = [bounds[k + 1] - bounds[k] for k in range(count)]
                if len(tracks):
                    columns = _match(table, tracks, z.take(matched, axis=1), frame, kalman)
                if len(unmatched):
                    ids, new_sequence = [], []
                    for k, new_count in enumerate(new_counts):
                        if new_count:
                            ids += range(next_ids[k], next_ids[k] + new_count)
                            new_sequence += [k] * new_count
                            next_ids[k] += new_count
                    new = _new_tracks(self._template, z.take(unmatched, axis=1), ids, frame, new_sequence)
                    table = np.concatenate([table, new], axis=1)
                    table = table.take(table[_SEQUENCE].argsort(kind="stable"), axis=1)  # grouped by sequence
                table = _delete_stale(table, frame - self.max_age)
                # the reports are filtered by hit streak at the end, all steps at once; new tracks (streak 0) are
                # reported when every matched or new track is
                if len(tracks):
                    reports.append(columns)
                    report_rows.append(matched)
                if len(unmatched) and (frame <= self.min_hits or self.min_hits == 0):
                    reports.append(new)
                    report_rows.append(unmatched)
                report_frames += [frame] * (len(reports) - len(report_frames))
        return steps.split(reports, report_rows, report_frames, self.min_hits)


class _StepMajorDetections:
    """The detections of several sequences, frame by frame, then sequence by sequence (in each frame of a sequence
    in their order): ``boxes`` (5, D) rows x1, y1, x2, y2, area; measurements ``z`` (4, D); ``scores``,
    ``classes``; ``sequence`` (and as float64, ``sequence_values``); ``index`` in their frame's Detections."""

    def __init__(self, sequences: Sequence[Sequence[Detections]]) -> None:
        count = len(sequences)
        self.num_frames = max((len(frames) for frames in sequences), default=0)
        counts = np.zeros((count, self.num_frames), np.int64)
        boxes, scores, classes = [np.zeros((0, 4))], [np.zeros(0)], [_NONE]
        for k, frames in enumerate(sequences):
            frame_boxes = [detections.boxes for detections in frames]
            frame_scores = [detections.scores for detections in frames]
            frame_classes = [detections.classes for detections in frames]
            sizes = list(map(len, frame_boxes))
            if list(map(len, frame_scores)) != sizes or list(map(len, frame_classes)) != sizes:
                raise ValueError(f"sequence {k}: a Detections has not one score and one class per box")
            counts[k, : len(frames)] = sizes
            boxes += frame_boxes
            scores += frame_scores
            classes += frame_classes
        try:
            boxes = np.concatenate(boxes, dtype=np.float64)
        except ValueError:  # boxes not shaped (N, 4)
            boxes = np.concatenate([np.asarray(frame, dtype=np.float64).reshape(-1, 4) for frame in boxes])
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise ValueError(f"boxes must be shaped (N, 4), got {boxes.shape[1:]} per box")
        # the detections are concatenated sequence by sequence, frame by frame; put them frame by frame, sequence
        # by sequence (each (frame, sequence) block keeps its order)
        block = np.arange(counts.size).reshape(self.num_frames, count).T.reshape(-1)  # step-major index
        order = block.repeat(counts.reshape(-1)).argsort(kind="stable")
        sizes = counts.T.reshape(-1)
        self._count = count
        self._offsets = np.concatenate([[0], sizes.cumsum()]).tolist()
        self.boxes = np.empty((5, len(order)))  # x1, y1, x2, y2, area
        self.boxes[:4] = boxes.take(order, axis=0).T
        self.z = _measurements(self.boxes[:4])
        self.boxes[4] = self.z[2]
        self.scores = np.concatenate(scores, dtype=np.float64).take(order)
        self.classes = np.concatenate(classes, dtype=np.int64).take(order)
        self.sequence = np.tile(np.arange(count), self.num_frames).repeat(sizes)
        self.sequence_values = self.sequence.astype(np.float64)
        self.index = np.arange(len(order)) - np.repeat(self._offsets[:-1], sizes)

    def bounds(self) -> list[tuple[int, list[int]]]:
        """For each frame, ``(first, bounds)``: its detections are ``first + i`` for ``i`` in ``range(bounds[-1])``,
        those of sequence ``k`` for ``i`` in ``range(bounds[k], bounds[k + 1])``."""
        offsets, count = self._offsets, self._count
        return [
            (offsets[start], [offset - offsets[start] for offset in offsets[start : start + count + 1]])
            for start in range(0, self.num_frames * count, max(count, 1))
        ]

    def split(
        self, reports: list[np.ndarray], rows: list[np.ndarray], frames: list[int], min_hits: int
    ) -> list[tuple[np.ndarray, Tracks]]:
        """Per sequence, ``(frames, Tracks)`` of the reported tracks: from the columns of the matched or new tracks
        of each report, their detections (indices in their frame, all sequences together) and the frame of each
        report, those with a hit streak of at least ``min_hits`` or in the first ``min_hits`` frames."""
        if not reports:
            return [(np.zeros(0, np.int64), _no_tracks()) for _ in range(self._count)]
        frame = np.repeat(frames, [len(report_rows) for report_rows in rows])
        reported = np.concatenate([report[_STREAK] for report in reports]) >= min_hits
        reported |= frame <= min_hits
        detections = np.concatenate(rows) + np.asarray(self._offsets).take((frame - 1) * self._count)
        # a report lists its tracks by sequence, then id
        order = reported.nonzero()[0]
        order = order.take(self.sequence.take(detections.take(order)).argsort(kind="stable"))
        states = np.concatenate([report[:4] for report in reports], axis=1).take(order, axis=1)
        ids = np.concatenate([report[_ID] for report in reports]).take(order).astype(np.int64)
        detections, frame = detections.take(order), frame.take(order)
        boxes = _boxes(states)
        bounds = self.sequence.take(detections).searchsorted(np.arange(self._count + 1) - 0.5).tolist()
        return [
            (
                frame[begin:end],
                Tracks(
                    ids=ids[begin:end],
                    boxes=boxes[begin:end],
                    detection_index=self.index.take(detections[begin:end]),
                    scores=self.scores.take(detections[begin:end]),
                    classes=self.classes.take(detections[begin:end]),
                ),
            )
            for begin, end in zip(bounds[:-1], bounds[1:], strict=True)
        ]


_NONE = np.zeros(0, np.int64)


def _no_tracks() -> Tracks:
    return Tracks(
        ids=np.zeros(0, np.int64),
        boxes=np.zeros((0, 4)),
        detection_index=np.zeros(0, np.int64),
        scores=np.zeros(0),
        classes=np.zeros(0, np.int64),
    )


def _measurements(corners: np.ndarray) -> np.ndarray:
    """Coordinate planes (4, N) x1, y1, x2, y2 -> measurements (4, N) ``u, v, s, r`` (as the reference)."""
    sizes = corners[2:] - corners[:2]
    z = np.empty((4, corners.shape[1]))
    np.multiply(sizes, 0.5, out=z[:2])
    z[:2] += corners[:2]
    np.multiply(sizes[0], sizes[1], out=z[2])
    np.divide(sizes[0], sizes[1], out=z[3])
    return z


def _box_planes(states: np.ndarray, out: np.ndarray) -> None:
    """Rows starting ``u, v, s, r`` (one column per track) -> ``out`` (4+, T) rows x1, y1, x2, y2, as the
    reference: ``w = sqrt(s r)``, ``h = s / w``, ``x1 = u - w / 2`` ..."""
    half = out[2:4]
    np.multiply(states[2], states[3], out=half[0])
    np.sqrt(half[0], out=half[0])
    np.divide(states[2], half[0], out=half[1])
    half *= 0.5
    np.subtract(states[:2], half, out=out[:2])
    half += states[:2]


def _boxes(states: np.ndarray) -> np.ndarray:
    """Rows starting ``u, v, s, r`` (one column per track) -> boxes (T, 4) x1, y1, x2, y2."""
    planes = np.empty((4, states.shape[1]))
    _box_planes(states, planes)
    return np.ascontiguousarray(planes.T)


def _predict(table: np.ndarray, kalman: SortKalmanFilter) -> tuple[np.ndarray, np.ndarray]:
    """Predict every track of ``table`` in place; ``(table without the tracks whose predicted box is not finite,
    their predicted boxes (5, T): rows x1, y1, x2, y2, area)``."""
    area_rate = table[6]
    stopped = np.less_equal(area_rate + table[2], 0.0)
    if np.count_nonzero(stopped):
        np.multiply(area_rate, 0.0, out=area_rate, where=stopped)  # it would make the area non-positive
    kalman.block_predict(table)
    predicted = np.empty((5, table.shape[1]))
    _box_planes(table, predicted)
    sides = predicted[2:4] - predicted[:2]
    areas = np.multiply(sides[0], sides[1], out=predicted[4])
    if not math.isfinite(np.dot(areas, areas)):  # a non-finite corner makes the area NaN or infinite
        finite = np.isfinite(predicted).all(axis=0)
        table, predicted = table.compress(finite, axis=1), predicted.compress(finite, axis=1)
    return table, predicted


def _match(table: np.ndarray, tracks: np.ndarray, z: np.ndarray, frame: int, kalman: SortKalmanFilter) -> np.ndarray:
    """Update ``tracks`` (columns of ``table``) with measurements ``z`` (4, M) in ``frame``; their new columns."""
    columns = table.take(tracks, axis=1)
    kalman.block_update(columns, z)
    streak = columns[_STREAK]
    streak *= np.equal(columns[_LAST], frame - 1)  # the reference resets hit_streak after a frame without match
    streak += 1.0
    columns[_LAST] = frame
    table[:, tracks] = columns
    return columns


def _streak_reached(columns: np.ndarray, detections: np.ndarray, min_hits: int) -> tuple[np.ndarray, np.ndarray]:
    """The matched ``columns`` (and their ``detections``) whose hit streak is at least ``min_hits``."""
    reached = np.greater_equal(columns[_STREAK], min_hits)
    if np.count_nonzero(reached) == len(reached):
        return columns, detections
    reached = reached.nonzero()[0]
    return columns.take(reached, axis=1), detections.take(reached)


def _new_tracks(
    template: np.ndarray, z: np.ndarray, ids: Sequence[int], frame: int, sequence: Sequence[int] | None = None
) -> np.ndarray:
    """Columns of new tracks created in ``frame`` from measurements ``z`` (4, U) with ``ids``."""
    new = template.repeat(z.shape[1], axis=1)
    new[:4] = z
    new[_ID] = ids
    new[_LAST] = frame
    if sequence is not None:
        new[_SEQUENCE] = sequence
    return new


def _delete_stale(table: np.ndarray, oldest: int) -> np.ndarray:
    """``table`` without the tracks whose last match is before frame ``oldest``."""
    stale = np.less(table[_LAST], oldest)
    if np.count_nonzero(stale):
        return table.compress(~stale, axis=1)
    return table
