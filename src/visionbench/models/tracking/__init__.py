"""Multi-object tracking by detection: SORT, DeepSORT, their batched Kalman filters and association.

Every tracker has the :class:`~visionbench.models.tracking.types.Tracker` interface (``reset()``, then
``update(detections, frame) -> Tracks`` once per frame); :func:`~visionbench.models.tracking.run.track_sequence`
runs one over a MOTChallenge detection file. The appearance model for DeepSORT is in
:mod:`visionbench.models.tracking.appearance` (not imported here: it needs torch).
"""

from visionbench.data.tracking.boxes import Detections, ltwh_to_xyxy, xyxy_to_ltwh
from visionbench.models.tracking.association import iou_matrix, min_cost_matching, non_max_suppression, sort_associate
from visionbench.models.tracking.deepsort import DeepSORT, FeatureGallery
from visionbench.models.tracking.kalman import DeepSortKalmanFilter, SortKalmanFilter
from visionbench.models.tracking.run import frame_detections, track_sequence, track_sequences
from visionbench.models.tracking.sort import SORT
from visionbench.models.tracking.types import Tracker, Tracks

__all__ = [
    "SORT",
    "DeepSORT",
    "DeepSortKalmanFilter",
    "Detections",
    "FeatureGallery",
    "SortKalmanFilter",
    "Tracker",
    "Tracks",
    "frame_detections",
    "iou_matrix",
    "ltwh_to_xyxy",
    "min_cost_matching",
    "non_max_suppression",
    "sort_associate",
    "track_sequence",
    "track_sequences",
    "xyxy_to_ltwh",
]
