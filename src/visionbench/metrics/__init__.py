"""Metrics for segmentation, optical flow and tracking."""

from visionbench.metrics.flow import FlowMetrics, end_point_error
from visionbench.metrics.reid import ReidMetrics, cosine_distance, retrieval_scores
from visionbench.metrics.segmentation import SegmentationMetrics, scores_from_confusion_matrix

__all__ = [
    "FlowMetrics",
    "ReidMetrics",
    "SegmentationMetrics",
    "cosine_distance",
    "end_point_error",
    "retrieval_scores",
    "scores_from_confusion_matrix",
]
