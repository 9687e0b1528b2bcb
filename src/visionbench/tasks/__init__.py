"""LightningModules that bind a model, a loss and the metrics of one problem."""

from visionbench.tasks.image_label_segmentation import ImageLabelSegmentationTask
from visionbench.tasks.segmentation import SegmentationTask

__all__ = ["ImageLabelSegmentationTask", "SegmentationTask"]
