"""Heads and layers shared by the backbone-based segmenters: the FCN head, ASPP, (separable) conv-BN-ReLU and the
bilinear resize. The segmenters themselves derive from :class:`~visionbench.models.segmentation.base.BackboneSegmenter`.

Module layouts follow torchvision's (``FCNHead`` and ``ASPP`` are the same ``nn.Sequential``/``ModuleList``
trees), so the state-dict keys of the models built from them match torchvision's.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ASPP", "FCNHead", "ImagePooling", "conv_bn_relu", "resize"]


def resize(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinear resize to ``size`` (``align_corners=False``, as torchvision and mmsegmentation)."""
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


def conv_bn_relu(
    in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1, separable: bool = False
) -> nn.Sequential:
    """Same-padded ``conv -> BN -> ReLU`` (convolution without bias).

    With ``separable=True`` the convolution is depthwise-separable as in DeepLabV3+ (Chen et al. 2018) and
    its official implementation: depthwise ``kernel_size`` conv -> BN -> ReLU -> pointwise 1x1 conv -> BN -> ReLU.
    """
    padding = dilation * (kernel_size // 2)
    if not separable:
        return nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, dilation=dilation, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        )
    return nn.Sequential(
        nn.Conv2d(
            in_channels, in_channels, kernel_size, padding=padding, dilation=dilation, groups=in_channels, bias=False
        ),
        nn.BatchNorm2d(in_channels),
        nn.ReLU(),
        nn.Conv2d(in_channels, out_channels, 1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
    )


class FCNHead(nn.Sequential):
    """FCN head as in torchvision and mmsegmentation's ``FCNHead(num_convs=1)`` (Long et al. 2015, on a dilated
    ResNet): conv3x3 ``in -> in/4`` (no bias) -> BN -> ReLU -> dropout 0.1 -> conv1x1 ``-> num_classes``.

    Maps ``B, in_channels, h, w`` to logits ``B, num_classes, h, w`` (no upsampling).

    Args:
        in_channels: channels of the input feature.
        num_classes: number of output classes.
    """

    def __init__(self, in_channels: int, num_classes: int) -> None:
        inner = in_channels // 4
        super().__init__(
            nn.Conv2d(in_channels, inner, 3, padding=1, bias=False),
            nn.BatchNorm2d(inner),
            nn.ReLU(),
            nn.Dropout(0.1),
            nn.Conv2d(inner, num_classes, 1),
        )


class ImagePooling(nn.Sequential):
    """ASPP's image-level branch: global average pooling -> conv1x1 -> BN -> ReLU, broadcast back to ``h, w``.

    The BN sees one value per channel and image, so training needs batches of at least 2 (as in torchvision).
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x).expand(-1, -1, *x.shape[-2:])


class ASPP(nn.Module):
    """Atrous Spatial Pyramid Pooling (Chen et al., "Rethinking Atrous Convolution for Semantic Image
    Segmentation", 2017, arXiv:1706.05587): a 1x1 branch, one 3x3 branch per atrous rate and the image
    pooling branch, concatenated and projected by conv1x1 -> BN -> ReLU -> dropout.

    Maps ``B, in_channels, h, w`` to ``B, out_channels, h, w``. Parameter names are torchvision's
    (``convs.0`` 1x1, ``convs.1..n`` atrous, ``convs.n+1`` pooling, ``project``).

    Args:
        in_channels: channels of the input feature.
        atrous_rates: dilation of each 3x3 branch (6/12/18 at output stride 16, 12/24/36 at 8).
        out_channels: width of every branch and of the output (256 in the paper).
        separable: depthwise-separable atrous branches (DeepLabV3+); the parameter names then differ.
        dropout: dropout probability after the projection (0.5 in torchvision).
    """

    def __init__(
        self,
        in_channels: int,
        atrous_rates: Sequence[int],
        out_channels: int = 256,
        separable: bool = False,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        branches = [conv_bn_relu(in_channels, out_channels, 1)]
        branches += [conv_bn_relu(in_channels, out_channels, 3, int(rate), separable) for rate in atrous_rates]
        branches.append(ImagePooling(in_channels, out_channels))
        self.convs = nn.ModuleList(branches)
        self.project = nn.Sequential(*conv_bn_relu(len(branches) * out_channels, out_channels, 1), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(torch.cat([branch(x) for branch in self.convs], dim=1))
