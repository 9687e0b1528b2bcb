"""SORT written the way the reference implementation is organised: one Python object per track, each holding a
``filterpy.kalman.KalmanFilter``, and Python loops over tracks and matches.

Used as the oracle of ``tests/models/tracking/test_sort.py`` (the
vectorised :class:`visionbench.models.tracking.SORT` must give
the same ids and boxes) and as the baseline of ``benchmarks/sort_speed.py``. Semantics as documented on
:class:`~visionbench.models.tracking.SORT`; this file shares no code with it (only numpy, scipy and filterpy).

    tracker = PerTrackSORT(max_age=1, min_hits=3, iou_threshold=0.3)
    rows = tracker.update(dets)  # dets (N, 5): x1, y1, x2, y2, score -> rows (M, 6): x1, y1, x2, y2, id, detection
"""

from __future__ import annotations

import numpy as np
from filterpy.kalman import KalmanFilter
from scipy.optimize import linear_sum_assignment


def box_to_z(box: np.ndarray) -> np.ndarray:
    """x1, y1, x2, y2 -> column [centre x, centre y, area, width / height]."""
    width = box[2] - box[0]
    height = box[3] - box[1]
    return np.array([box[0] + width / 2.0, box[1] + height / 2.0, width * height, width / float(height)]).reshape(4, 1)


def state_to_box(state: np.ndarray) -> np.ndarray:
    """Filter state (7, 1) -> x1, y1, x2, y2."""
    width = np.sqrt(state[2, 0] * state[3, 0])
    height = state[2, 0] / width
    u, v = state[0, 0], state[1, 0]
    return np.array([u - width / 2.0, v - height / 2.0, u + width / 2.0, v + height / 2.0])


class BoxTrack:
    """One tracked object: its own Kalman filter and counters."""

    def __init__(self, box: np.ndarray, track_id: int, detection: int) -> None:
        kf = KalmanFilter(dim_x=7, dim_z=4)
        kf.F = np.array(
            [
                [1, 0, 0, 0, 1, 0, 0],
                [0, 1, 0, 0, 0, 1, 0],
                [0, 0, 1, 0, 0, 0, 1],
                [0, 0, 0, 1, 0, 0, 0],
                [0, 0, 0, 0, 1, 0, 0],
                [0, 0, 0, 0, 0, 1, 0],
                [0, 0, 0, 0, 0, 0, 1],
            ],
            dtype=float,
        )
        kf.H = np.array([[1, 0, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0, 0], [0, 0, 0, 1, 0, 0, 0]])
        kf.R[2:, 2:] *= 10.0
        kf.P[4:, 4:] *= 1000.0
        kf.P *= 10.0
        kf.Q[-1, -1] *= 0.01
        kf.Q[4:, 4:] *= 0.01
        kf.x[:4] = box_to_z(box)
        self.kf = kf
        self.id = track_id
        self.detection = detection
        self.time_since_update = 0
        self.hits = 0
        self.hit_streak = 0
        self.age = 0

    def predict(self) -> np.ndarray:
        if self.kf.x[6, 0] + self.kf.x[2, 0] <= 0:
            self.kf.x[6, 0] *= 0.0
        self.kf.predict()
        self.age += 1
        if self.time_since_update > 0:
            self.hit_streak = 0
        self.time_since_update += 1
        self.detection = -1
        return state_to_box(self.kf.x)

    def update(self, box: np.ndarray, detection: int) -> None:
        self.time_since_update = 0
        self.hits += 1
        self.hit_streak += 1
        self.detection = detection
        self.kf.update(box_to_z(box))

    def box(self) -> np.ndarray:
        return state_to_box(self.kf.x)


def iou_pairs(detections: np.ndarray, tracks: np.ndarray) -> np.ndarray:
    """IoU (N, T) by broadcasting (the reference computes it vectorised too)."""
    det = detections[:, None, :4]
    trk = np.asarray(tracks)[None, :, :]
    w = np.maximum(0.0, np.minimum(det[..., 2], trk[..., 2]) - np.maximum(det[..., 0], trk[..., 0]))
    h = np.maximum(0.0, np.minimum(det[..., 3], trk[..., 3]) - np.maximum(det[..., 1], trk[..., 1]))
    inter = w * h
    union = (det[..., 2] - det[..., 0]) * (det[..., 3] - det[..., 1]) + (trk[..., 2] - trk[..., 0]) * (
        trk[..., 3] - trk[..., 1]
    )
    return inter / (union - inter)


def associate(detections: np.ndarray, tracks: np.ndarray, threshold: float) -> tuple[list, list]:
    """(matches [(detection, track)], unmatched detections) with SORT's rules."""
    if len(tracks) == 0 or len(detections) == 0:
        return [], list(range(len(detections)))
    iou = iou_pairs(detections, tracks)
    above = iou > threshold
    if above.sum(1).max() == 1 and above.sum(0).max() == 1:
        pairs = [(int(d), int(t)) for d, t in zip(*np.where(above), strict=True)]
    else:
        pairs = [(int(d), int(t)) for d, t in zip(*linear_sum_assignment(-iou), strict=True)]
    assigned = [d for d, _ in pairs]
    unmatched = [d for d in range(len(detections)) if d not in assigned]
    matches = []
    for d, t in pairs:
        if iou[d, t] < threshold:
            unmatched.append(d)
        else:
            matches.append((d, t))
    return matches, unmatched


class PerTrackSORT:
    """Reference-style SORT over ``(N, 5)`` detection arrays; see the module docstring."""

    def __init__(self, max_age: int = 1, min_hits: int = 3, iou_threshold: float = 0.3) -> None:
        self.max_age = max_age
        self.min_hits = min_hits
        self.iou_threshold = iou_threshold
        self.tracks: list[BoxTrack] = []
        self.frame_count = 0
        self.next_id = 1

    def update(self, dets: np.ndarray) -> np.ndarray:
        self.frame_count += 1
        predicted = []
        survivors = []
        for track in self.tracks:
            box = track.predict()
            if np.all(np.isfinite(box)):
                predicted.append(box)
                survivors.append(track)
        self.tracks = survivors
        matches, unmatched = associate(dets, predicted, self.iou_threshold)
        for d, t in matches:
            self.tracks[t].update(dets[d, :4], d)
        for d in unmatched:
            self.tracks.append(BoxTrack(dets[d, :4], self.next_id, d))
            self.next_id += 1
        rows = []
        for track in self.tracks:
            if track.time_since_update < 1 and (track.hit_streak >= self.min_hits or self.frame_count <= self.min_hits):
                rows.append([*track.box(), track.id, track.detection])
        self.tracks = [track for track in self.tracks if track.time_since_update <= self.max_age]
        return np.array(rows).reshape(-1, 6)
