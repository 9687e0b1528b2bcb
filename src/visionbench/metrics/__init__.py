"""Metrics for segmentation, optical flow and tracking."""

from visionbench.metrics.flow import FlowMetrics, end_point_error
from visionbench.metrics.segmentation import SegmentationMetrics, scores_from_confusion_matrix

__all__ = ["FlowMetrics", "end_point_error", "SegmentationMetrics", "scores_from_confusion_matrix"]
