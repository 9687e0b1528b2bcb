"""LightningModules that bind a model, a loss and the metrics of one problem."""

from visionbench.tasks.flow import FlowTask
from visionbench.tasks.image_label_segmentation import ImageLabelSegmentationTask
from visionbench.tasks.reid import ReidTask
from visionbench.tasks.segmentation import SegmentationTask

__all__ = ["FlowTask", "ImageLabelSegmentationTask", "ReidTask", "SegmentationTask"]
