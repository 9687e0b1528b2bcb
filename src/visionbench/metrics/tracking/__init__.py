"""Multi-object tracking evaluation with the semantics of the official MOTChallenge evaluator (TrackEval 1.3):
CLEAR MOT, Identity (IDF1) and HOTA, MOTChallenge preprocessing, and TrackEval's combination over sequences.

Vectorised numpy; Hungarian matching by ``scipy.optimize.linear_sum_assignment`` only where a frame has competing
candidate matches. ``tests/test_tracking_metrics.py`` checks every field against TrackEval itself.
"""

from visionbench.metrics.tracking.evaluate import (
    COUNT_FIELDS,
    TrackingScores,
    combine_sequences,
    evaluate_results,
    evaluate_sequence,
    sequence_fields,
    sequences_from_fields,
)
from visionbench.metrics.tracking.hota import ALPHAS as HOTA_ALPHAS
from visionbench.metrics.tracking.matching import box_iou, paired_box_iou
from visionbench.metrics.tracking.preprocess import BENCHMARKS, DISTRACTOR_CLASSES, SequenceData, prepare_sequence

__all__ = [
    "BENCHMARKS",
    "COUNT_FIELDS",
    "DISTRACTOR_CLASSES",
    "HOTA_ALPHAS",
    "SequenceData",
    "TrackingScores",
    "box_iou",
    "combine_sequences",
    "evaluate_results",
    "evaluate_sequence",
    "paired_box_iou",
    "prepare_sequence",
    "sequence_fields",
    "sequences_from_fields",
]
