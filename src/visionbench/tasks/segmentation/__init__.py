"""Semantic segmentation: the task (full and image-label supervision) and the problem's contract."""

from visionbench.tasks.segmentation.contract import SegmentationContract
from visionbench.tasks.segmentation.image_labels import ImageLabelSegmentationTask
from visionbench.tasks.segmentation.task import SegmentationTask, split_model_output

__all__ = ["ImageLabelSegmentationTask", "SegmentationContract", "SegmentationTask", "split_model_output"]
