"""Semantic segmentation models: every model maps ``B,3,H,W`` images to ``B,C,H,W`` logits."""

from visionbench.models.segmentation.single_layer import SingleLayerSegmenter
from visionbench.models.segmentation.unet import UNet

__all__ = ["SingleLayerSegmenter", "UNet"]
