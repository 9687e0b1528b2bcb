"""Per problem, the LightningModule (or, for tracking, the evaluation) that binds model, loss and metrics, and the
problem's contract (:mod:`visionbench.tasks.contract`) that the runner reads."""

from visionbench.tasks.flow import FlowTask
from visionbench.tasks.reid import ReidTask
from visionbench.tasks.segmentation import ImageLabelSegmentationTask, SegmentationTask
from visionbench.tasks.tracking import TrackingEvaluation

__all__ = ["FlowTask", "ImageLabelSegmentationTask", "ReidTask", "SegmentationTask", "TrackingEvaluation"]
