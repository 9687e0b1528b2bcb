"""VGG-16 (Simonyan and Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition",
ICLR 2015, arXiv:1409.1556) with its fully connected layers as convolutions, the backbone of FCN."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from pathlib import Path

import torch
from torch import nn

from visionbench.models.widths import scaled
from visionbench.utils.checkpoints import load_state_dict_checked, read_checkpoint

__all__ = ["VGG16", "convert_torchvision_vgg16"]

CONFIGURATION = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")
"""VGG-16 ("configuration D"): 3x3 convolution widths, ``"M"`` = 2x2 max-pooling."""

FC_WIDTH = 4096

TORCHVISION_TO_FCN = {"classifier.0": "fc6", "classifier.3": "fc7"}
"""torchvision's fully connected layers kept by FCN (``classifier.6``, the ImageNet classifier, is dropped)."""


def convert_torchvision_vgg16(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a torchvision ``vgg16`` state dict to :class:`VGG16`'s names ("convolutionalisation", FCN §3.1).

    ``features.*`` is kept; ``classifier.0`` (4096 x 25088) becomes ``fc6`` (4096 x 512 x 7 x 7) and
    ``classifier.3`` (4096 x 4096) becomes ``fc7`` (4096 x 4096 x 1 x 1); ``classifier.6`` is dropped.
    Other keys pass through unchanged, so that the loader reports whatever does not fit by name.
    """
    converted = {}
    for key, value in state_dict.items():
        prefix, _, name = key.rpartition(".")
        if prefix == "classifier.6":
            continue
        if prefix in TORCHVISION_TO_FCN:
            key = f"{TORCHVISION_TO_FCN[prefix]}.{name}"
            kernel = 7 if prefix == "classifier.0" else 1
            if name == "weight" and value.dim() == 2 and value.shape[1] % (kernel * kernel) == 0:
                value = value.reshape(value.shape[0], -1, kernel, kernel)
        converted[key] = value
    return converted


class VGG16(nn.Module):
    """VGG-16 feature extractor for FCN (Long et al., CVPR 2015): 13 convolutions and fc6/fc7 as convolutions.

    ``features`` has torchvision's ``vgg16().features`` names and shapes (13 3x3 convolutions with bias, no BN).
    The fully connected layers are convolutions as in FCN: ``fc6`` 7x7 (no padding) and ``fc7`` 1x1, each
    followed by ReLU and dropout 0.5; ImageNet's 1000-way classifier is not part of the backbone.
    Max-pooling rounds up (``ceil_mode``) as in the Caffe VGG-16 that FCN was built on (torchvision rounds
    down; identical for even sizes, no parameter is affected).

    Input ``B, in_channels, H, W``; ``forward`` returns ``[pool3, pool4, pool5, fc7]`` with ``out_channels``
    channels at ``strides``. ``fc6`` needs ``pool5`` to be at least 7x7 (input >= 193 pixels): FCN pads
    its input by 100 pixels for that.

    Args:
        width_multiplier: scales every width (64..512 and 4096) for small experiments; 1.0 is VGG-16.
        weights: path of a local torchvision ``vgg16`` state dict (``vgg16-397923af.pth``; converted with
            :func:`convert_torchvision_vgg16`) or one saved from this class. Missing, unexpected and
            mis-shaped keys raise with their names.
        in_channels: input image channels.
    """

    def __init__(self, width_multiplier: float = 1.0, weights: str | Path | None = None, in_channels: int = 3) -> None:
        super().__init__()
        if width_multiplier <= 0:
            raise ValueError(f"width_multiplier must be positive, got {width_multiplier}")
        width = partial(scaled, multiplier=width_multiplier)
        layers: list[nn.Module] = []
        channels = in_channels
        for entry in CONFIGURATION:
            if entry == "M":
                layers.append(nn.MaxPool2d(2, stride=2, ceil_mode=True))
            else:
                layers += [nn.Conv2d(channels, width(entry), 3, padding=1), nn.ReLU(inplace=True)]
                channels = width(entry)
        self.features = nn.Sequential(*layers)
        self._pool_indices = [i for i, layer in enumerate(layers) if isinstance(layer, nn.MaxPool2d)]
        self.fc6 = nn.Conv2d(channels, width(FC_WIDTH), 7)
        self.fc7 = nn.Conv2d(width(FC_WIDTH), width(FC_WIDTH), 1)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(0.5)
        self.out_channels: tuple[int, int, int, int] = (width(256), width(512), width(512), width(FC_WIDTH))
        self.strides: tuple[int, int, int, int] = (8, 16, 32, 32)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(module.bias)
        if weights is not None:
            self.load_weights(weights)

    def load_weights(self, path: str | Path) -> None:
        """Load a torchvision ``vgg16`` state-dict file (or one of this class) from a local path."""
        load_state_dict_checked(self, convert_torchvision_vgg16(read_checkpoint(path)), source=str(path))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        pools = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self._pool_indices[2:]:
                pools.append(x)
        x = self.dropout(self.relu(self.fc6(x)))
        x = self.dropout(self.relu(self.fc7(x)))
        return [*pools, x]
