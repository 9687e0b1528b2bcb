"""Lightning callbacks used by the configs in conf/callbacks."""

from visionbench.callbacks.flow_images import FlowPredictionImages
from visionbench.callbacks.progress_log import ProgressLog
from visionbench.callbacks.segmentation_images import SegmentationPredictionImages

__all__ = ["FlowPredictionImages", "ProgressLog", "SegmentationPredictionImages"]
