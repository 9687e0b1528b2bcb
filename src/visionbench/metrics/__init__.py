"""Metrics for segmentation, optical flow and tracking."""

from visionbench.metrics.segmentation import SegmentationMetrics, scores_from_confusion_matrix

__all__ = ["SegmentationMetrics", "scores_from_confusion_matrix"]
