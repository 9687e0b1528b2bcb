"""DeepSORT (Wojke, Bewley and Paulus 2017, "Simple Online and Realtime Tracking with a Deep Association Metric"),
vectorised over tracks: batched Kalman filter, appearance galleries as one ring-buffer array, cost matrices as
matrix products. Only the matching cascade loops (over the distinct track ages)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from visionbench.data.tracking.boxes import Detections
from visionbench.models.tracking.association import GATED_COST, iou_matrix, min_cost_matching, non_max_suppression
from visionbench.models.tracking.kalman import CHI2_95_4DOF, DeepSortKalmanFilter, boxes_to_xyah, xyah_to_boxes
from visionbench.models.tracking.sort import detection_arrays
from visionbench.models.tracking.types import Tracks

Encoder = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``encoder(frame HxWx3 uint8, boxes (N, 4) x1, y1, x2, y2) -> (N, D)`` appearance embeddings."""


class FeatureGallery:
    """The last ``budget`` appearance features of each of T tracks, as one (T, capacity, D) float32 ring buffer.

    Rows follow the tracker's track order (:meth:`append` new tracks, :meth:`keep` survivors). Features are stored
    L2-normalised; :meth:`distance` is deep_sort's nearest-neighbour cosine distance: for each (track, feature)
    pair, ``1 - max`` cosine similarity over the track's stored features.

    Args:
        budget: features kept per track, the oldest overwritten first; None keeps all (the buffer grows).
    """

    def __init__(self, budget: int | None = 100) -> None:
        if budget is not None and budget < 1:
            raise ValueError(f"nn_budget {budget} must be >= 1 or None")
        self.budget = budget
        self.features = np.zeros((0, budget or 8, 0), dtype=np.float32)
        self.counts = np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.counts)

    @property
    def sizes(self) -> np.ndarray:
        """Stored features per track (T,): at most ``budget``."""
        return np.minimum(self.counts, self.features.shape[1])

    def append(self, features: np.ndarray) -> None:
        """Add one track per row of ``features`` (N, D), each starting with that feature."""
        features = normalize(features)
        if self.features.shape[2] != features.shape[1]:
            if len(self.counts):
                raise ValueError(f"features of dimension {features.shape[1]}, the gallery has {self.features.shape[2]}")
            self.features = np.zeros((0, self.features.shape[1], features.shape[1]), dtype=np.float32)
        rows = np.zeros((len(features),) + self.features.shape[1:], dtype=np.float32)
        rows[:, 0] = features
        self.features = np.concatenate([self.features, rows])
        self.counts = np.concatenate([self.counts, np.ones(len(features), dtype=np.int64)])

    def add(self, tracks: np.ndarray, features: np.ndarray) -> None:
        """Store ``features[i]`` for track ``tracks[i]`` (distinct tracks), overwriting its oldest when full."""
        if len(tracks) == 0:
            return
        capacity = self.features.shape[1]
        if self.budget is None and self.counts[tracks].max() >= capacity:
            grown = np.zeros((len(self.counts), 2 * capacity, self.features.shape[2]), dtype=np.float32)
            grown[:, :capacity] = self.features
            self.features, capacity = grown, 2 * capacity
        self.features[tracks, self.counts[tracks] % capacity] = normalize(features)
        self.counts[tracks] += 1

    def keep(self, mask: np.ndarray) -> None:
        """Keep the tracks where ``mask`` is True."""
        self.features, self.counts = self.features[mask], self.counts[mask]

    def distance(self, tracks: np.ndarray, features: np.ndarray) -> np.ndarray:
        """Cosine distances (len(tracks), N) of features (N, D) to the nearest stored feature of each track."""
        if len(tracks) == 0 or len(features) == 0:
            return np.zeros((len(tracks), len(features)))
        filled = int(min(self.features.shape[1], self.counts[tracks].max()))
        every = len(tracks) == len(self.counts) and np.array_equal(tracks, np.arange(len(tracks)))
        stored = self.features[:, :filled] if every else self.features[tracks, :filled]  # (T, filled, D)
        similarity = stored @ normalize(features).T  # (T, filled, N)
        similarity[np.arange(filled)[None, :] >= self.counts[tracks][:, None]] = -np.inf
        return 1.0 - similarity.max(axis=1).astype(np.float64)


def normalize(features: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (float32); all-zero rows stay zero."""
    features = np.asarray(features, dtype=np.float32)
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.where(norms > 0, norms, 1)


class DeepSORT:
    """DeepSORT: SORT with an appearance descriptor, Mahalanobis gating and a matching cascade.

    Follows nwojke/deep_sort (deep_sort_app's per-frame pipeline) output for output, down to the order in which
    new tracks take ids. Each frame, every track is predicted by
    :class:`~visionbench.models.tracking.kalman.DeepSortKalmanFilter`; then

    1. *matching cascade*: confirmed tracks are matched to detections by appearance, the tracks updated most
       recently first (one Hungarian matching per time-since-update 1, 2, ..., ``max_age``, each on the
       detections still unmatched). The cost is the smallest cosine distance between the detection's feature and
       the track's last ``nn_budget`` features; pairs with a squared Mahalanobis distance of the detection from
       the track's predicted box above the chi-square 0.95 quantile (4 dof, 9.4877) cost ``1e5``, pairs costing
       more than ``max_cosine_distance`` are refused;
    2. *IoU matching*: tentative tracks and the confirmed tracks missed only this frame are matched to the
       remaining detections with cost ``1 - IoU``, pairs above ``max_iou_distance`` refused;
    3. matched tracks are updated; a tentative track becomes confirmed at its ``n_init``-th detection; a tentative
       track without a match is deleted, a confirmed one after more than ``max_age`` frames without one;
       unmatched detections start tentative tracks.

    ``update(detections, frame)`` takes one frame's :class:`~visionbench.models.tracking.types.Detections`; their
    ``features`` (N, D) are used when given, else ``encoder(frame, boxes)`` computes them (``frame`` is then the
    HxWx3 image; :attr:`needs_frames` is True). It returns the confirmed tracks updated in this frame or missed
    only in this frame (as deep_sort_app writes them), sorted by id, boxes from the Kalman mean;
    ``detection_index`` is -1 for a track reported without a detection. Before tracking, detections are filtered
    as deep_sort_app does: score below ``min_confidence`` or height below ``min_detection_height`` dropped,
    non-maximum suppression at ``nms_max_overlap`` (1.0: none), highest score first.

    Args:
        encoder: appearance model ``encoder(frame, boxes_xyxy) -> (N, D)`` (e.g.
            :class:`~visionbench.models.tracking.appearance.AppearanceEncoder`); None when detections carry
            features. Either is required whenever a frame has detections.
        max_cosine_distance: largest cosine distance of an appearance match (paper: 0.2).
        nn_budget: appearance features kept per track (deep_sort's MOT evaluation: 100; None: all).
        max_iou_distance: largest ``1 - IoU`` of an IoU-stage match (0.7).
        max_age: frames a confirmed track survives without a match; also the cascade depth (deep_sort's
            ``Tracker`` default, which deep_sort_app uses: 70).
        n_init: detections (consecutive, from the first) that confirm a track (3).
        min_confidence: detections scoring below are ignored (deep_sort's MOT evaluation: 0.3; default 0: keep all,
            and leave filtering to the evaluation).
        nms_max_overlap: suppression threshold on intersection over the lower-scored box's area (1.0: none).
        min_detection_height: detections lower than this (pixels) are ignored.
        std_weight_position: Kalman position noise per pixel of box height (1/20).
        std_weight_velocity: Kalman velocity noise per pixel of box height (1/160).
    """

    def __init__(
        self,
        encoder: Encoder | None = None,
        max_cosine_distance: float = 0.2,
        nn_budget: int | None = 100,
        max_iou_distance: float = 0.7,
        max_age: int = 30,
        n_init: int = 3,
        min_confidence: float = 0.0,
        nms_max_overlap: float = 1.0,
        min_detection_height: float = 0.0,
        std_weight_position: float = 1.0 / 20,
        std_weight_velocity: float = 1.0 / 160,
    ) -> None:
        if max_age < 1 or n_init < 1:
            raise ValueError(f"max_age ({max_age}) and n_init ({n_init}) must be >= 1")
        if encoder is not None and not callable(encoder):
            raise ValueError(f"encoder must be a callable encoder(frame, boxes) -> (N, D), got {type(encoder)}")
        self.encoder = encoder
        self.max_cosine_distance = max_cosine_distance
        self.nn_budget = nn_budget
        self.max_iou_distance = max_iou_distance
        self.max_age = max_age
        self.n_init = n_init
        self.min_confidence = min_confidence
        self.nms_max_overlap = nms_max_overlap
        self.min_detection_height = min_detection_height
        self.kalman = DeepSortKalmanFilter(std_weight_position, std_weight_velocity)
        self.reset()

    @property
    def needs_frames(self) -> bool:
        """True when an encoder computes the features: ``update`` then needs the frame image."""
        return self.encoder is not None

    def reset(self) -> None:
        """Forget all tracks; the next id is 1."""
        self._next_id = 1
        self.mean = np.zeros((0, 8))
        self.covariance = np.zeros((0, 8, 8))
        self.ids = np.zeros(0, dtype=np.int64)
        self.confirmed = np.zeros(0, dtype=bool)
        self.hits = np.zeros(0, dtype=np.int64)
        self.time_since_update = np.zeros(0, dtype=np.int64)
        self._detection = np.zeros(0, dtype=np.int64)
        self._scores = np.zeros(0)
        self._classes = np.zeros(0, dtype=np.int64)
        self.gallery = FeatureGallery(self.nn_budget)

    @property
    def num_tracks(self) -> int:
        """Tracks alive, tentative and confirmed."""
        return len(self.ids)

    def update(self, detections: Detections, frame: np.ndarray | None = None) -> Tracks:
        """Advance one frame; see the class docstring."""
        boxes, scores, classes = detection_arrays(detections)
        kept = self._select(boxes, scores)
        boxes, scores, classes = boxes[kept], scores[kept], classes[kept]
        features = self._features(detections, kept, boxes, frame)

        if self.num_tracks:
            self.mean, self.covariance = self.kalman.predict(self.mean, self.covariance)
            self.time_since_update += 1
            self._detection[:] = -1
        track_rows, detection_cols, unmatched = self._match(boxes, features)

        if len(track_rows):
            self.mean[track_rows], self.covariance[track_rows] = self.kalman.update(
                self.mean[track_rows], self.covariance[track_rows], boxes_to_xyah(boxes[detection_cols])
            )
            self.hits[track_rows] += 1
            self.time_since_update[track_rows] = 0
            self.confirmed[track_rows] |= self.hits[track_rows] >= self.n_init
            self._detection[track_rows] = kept[detection_cols]
            self._scores[track_rows] = scores[detection_cols]
            self._classes[track_rows] = classes[detection_cols]
            self.gallery.add(track_rows, features[detection_cols])
        missed = np.ones(self.num_tracks, dtype=bool)
        missed[track_rows] = False
        deleted = missed & (~self.confirmed | (self.time_since_update > self.max_age))
        if deleted.any():
            self._keep(~deleted)
        if len(unmatched):
            self._start(boxes[unmatched], features[unmatched], kept[unmatched], scores[unmatched], classes[unmatched])

        out = np.flatnonzero(self.confirmed & (self.time_since_update <= 1))
        return Tracks(
            ids=self.ids[out],
            boxes=xyah_to_boxes(self.mean[out]),
            detection_index=self._detection[out],
            scores=self._scores[out],
            classes=self._classes[out],
        )

    def _select(self, boxes: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """Indices of the detections deep_sort_app would track, highest score first."""
        heights = boxes[:, 3] - boxes[:, 1]
        kept = np.flatnonzero((scores >= self.min_confidence) & (heights >= self.min_detection_height))
        return kept[non_max_suppression(boxes[kept], scores[kept], self.nms_max_overlap)]

    def _features(
        self, detections: Detections, kept: np.ndarray, boxes: np.ndarray, frame: np.ndarray | None
    ) -> np.ndarray:
        if detections.features is not None:
            features = np.asarray(detections.features)
            if features.ndim != 2 or len(features) != len(detections.boxes):
                raise ValueError(
                    f"Detections.features has shape {features.shape}; expected (N, D) with N = {len(detections.boxes)}"
                )
            return normalize(features[kept])
        dimension = self.gallery.features.shape[2]
        if len(kept) == 0:
            return np.zeros((0, dimension), dtype=np.float32)
        if self.encoder is None:
            raise ValueError(
                "DeepSORT needs appearance features: pass Detections.features or build DeepSORT(encoder=...)"
            )
        if frame is None:
            raise ValueError("DeepSORT's encoder needs the frame image: call update(detections, frame)")
        features = np.asarray(self.encoder(frame, boxes))
        if features.ndim != 2 or len(features) != len(boxes):
            raise ValueError(f"encoder returned shape {features.shape} for {len(boxes)} boxes; expected (N, D)")
        return normalize(features)

    def _match(self, boxes: np.ndarray, features: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(track rows, detection columns, unmatched detection columns in creation order)``."""
        matched_tracks: list[np.ndarray] = []
        matched_detections: list[np.ndarray] = []
        unmatched = np.arange(len(boxes))
        confirmed = np.flatnonzero(self.confirmed)
        if len(confirmed) and len(boxes):
            cost = self.gallery.distance(confirmed, features)
            gate = self.kalman.gating_distance(self.mean[confirmed], self.covariance[confirmed], boxes_to_xyah(boxes))
            cost[gate > CHI2_95_4DOF] = GATED_COST
            since_update = self.time_since_update[confirmed]
            for level in np.unique(since_update[since_update <= self.max_age]):
                if len(unmatched) == 0:
                    break
                rows = np.flatnonzero(since_update == level)
                matches, _, unmatched_cols = min_cost_matching(cost[np.ix_(rows, unmatched)], self.max_cosine_distance)
                matched_tracks.append(confirmed[rows[matches[:, 0]]])
                matched_detections.append(unmatched[matches[:, 1]])
                unmatched = unmatched[unmatched_cols]
        # deep_sort lists the confirmed tracks the cascade left over in Python set order; the same set operation
        # reproduces that order (it orders the IoU stage's rows: Hungarian ties, creation order of new tracks)
        cascade_matched = np.concatenate(matched_tracks).tolist() if matched_tracks else []
        left_over = list(set(confirmed.tolist()) - set(cascade_matched))
        missed_once = [k for k in left_over if self.time_since_update[k] == 1]
        candidates = np.concatenate([np.flatnonzero(~self.confirmed), np.asarray(missed_once, dtype=np.int64)])
        if len(candidates) and len(unmatched):
            track_boxes = xyah_to_boxes(self.mean[candidates])
            cost = 1.0 - iou_matrix(track_boxes, boxes[unmatched])
            cost[self.time_since_update[candidates] > 1] = GATED_COST
            matches, _, unmatched_cols = min_cost_matching(cost, self.max_iou_distance)
            matched_tracks.append(candidates[matches[:, 0]])
            matched_detections.append(unmatched[matches[:, 1]])
            unmatched = unmatched[unmatched_cols]
        if not matched_tracks:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), unmatched
        return np.concatenate(matched_tracks), np.concatenate(matched_detections), unmatched

    def _start(
        self, boxes: np.ndarray, features: np.ndarray, detection: np.ndarray, scores: np.ndarray, classes: np.ndarray
    ) -> None:
        count = len(boxes)
        mean, covariance = self.kalman.initiate(boxes_to_xyah(boxes))
        self.mean = np.concatenate([self.mean, mean])
        self.covariance = np.concatenate([self.covariance, covariance])
        self.ids = np.concatenate([self.ids, np.arange(self._next_id, self._next_id + count)])
        self._next_id += count
        self.confirmed = np.concatenate([self.confirmed, np.zeros(count, dtype=bool)])
        self.hits = np.concatenate([self.hits, np.ones(count, dtype=np.int64)])
        self.time_since_update = np.concatenate([self.time_since_update, np.zeros(count, dtype=np.int64)])
        self._detection = np.concatenate([self._detection, detection])
        self._scores = np.concatenate([self._scores, scores])
        self._classes = np.concatenate([self._classes, classes])
        self.gallery.append(features)

    def _keep(self, mask: np.ndarray) -> None:
        self.mean, self.covariance = self.mean[mask], self.covariance[mask]
        self.ids, self.confirmed, self.hits = self.ids[mask], self.confirmed[mask], self.hits[mask]
        self.time_since_update = self.time_since_update[mask]
        self._detection, self._scores, self._classes = self._detection[mask], self._scores[mask], self._classes[mask]
        self.gallery.keep(mask)
