"""Lightning callbacks used by the configs in conf/callbacks."""

from visionbench.callbacks.flow_images import FlowPredictionImages
from visionbench.callbacks.prediction_images import SegmentationPredictionImages

__all__ = ["FlowPredictionImages", "SegmentationPredictionImages"]
