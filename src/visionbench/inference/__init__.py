"""Evaluation-time inference modes: how a model's logits become class probabilities at the mask resolution."""

from visionbench.inference.segmentation import (
    Forward,
    InferenceMode,
    MultiScaleFlip,
    SlidingWindow,
    WholeImage,
    resize,
    window_spans,
)

__all__ = ["Forward", "InferenceMode", "MultiScaleFlip", "SlidingWindow", "WholeImage", "resize", "window_spans"]
