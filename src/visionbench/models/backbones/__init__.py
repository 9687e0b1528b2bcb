"""Backbones implemented in the package with torchvision's parameter names (no torchvision needed).

Each returns a list of multi-level features from ``forward`` and exposes ``out_channels`` and ``strides``
(one entry per returned feature), which the segmentation decoders read.
"""

from visionbench.models.backbones.resnet import ResNet
from visionbench.models.backbones.vgg import VGG16

__all__ = ["ResNet", "VGG16"]
