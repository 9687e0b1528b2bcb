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

__all__ = ["ASPP", "FCNHead", "ImagePooling", "conv_bn_relu", "dropout_layer", "resize"]


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


def dropout_layer(probability: float, channelwise: bool = False) -> nn.Module:
    """Dropout before a classifier: element-wise (``nn.Dropout``, torchvision and the papers' Caffe models) or
    channel-wise (``nn.Dropout2d``, mmsegmentation's decode heads); ``nn.Identity`` when ``probability`` is 0."""
    if probability == 0:
        return nn.Identity()
    return nn.Dropout2d(probability) if channelwise else nn.Dropout(probability)


class FCNHead(nn.Sequential):
    """FCN head (Long et al. 2015, on a dilated ResNet): ``num_convs`` conv3x3 (no bias) -> BN -> ReLU, optionally a
    conv3x3 -> BN -> ReLU on the concatenation of the input and their output, then dropout and a conv1x1 to the
    classes.

    The defaults are torchvision's ``FCNHead`` (one conv ``in -> in/4``, dropout 0.1), with its parameter names
    (``0`` conv, ``1`` BN, ``4`` classifier). mmsegmentation's ``FCNHead`` is ``num_convs=2, concat_input=True``
    with ``channels=512`` (its FCN decode head) or ``num_convs=1, concat_input=False`` (its auxiliary head), and
    ``channel_dropout=True``. The layers are one flat sequence ``[conv, BN, ReLU] * num_convs (+ [conv, BN, ReLU] of
    the concatenation) + [dropout, conv1x1]``.

    Maps ``B, in_channels, h, w`` to logits ``B, num_classes, h, w`` (no upsampling).

    Args:
        in_channels: channels of the input feature.
        num_classes: number of output classes.
        channels: width of the convolutions (default ``in_channels // 4``).
        num_convs: number of conv3x3-BN-ReLU before the classifier (at least 1).
        concat_input: fuse the input with the convolutions' output by one more conv3x3-BN-ReLU (mmsegmentation).
        dropout: dropout probability before the classifier.
        channel_dropout: channel-wise dropout (``nn.Dropout2d``, mmsegmentation) instead of element-wise.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        channels: int | None = None,
        num_convs: int = 1,
        concat_input: bool = False,
        dropout: float = 0.1,
        channel_dropout: bool = False,
    ) -> None:
        if num_convs < 1:
            raise ValueError(f"FCNHead needs num_convs >= 1, got {num_convs}")
        channels = in_channels // 4 if channels is None else channels
        layers: list[nn.Module] = []
        for index in range(num_convs):
            layers += conv_bn_relu(in_channels if index == 0 else channels, channels, 3)
        concat_at = len(layers) if concat_input else None
        if concat_input:
            layers += conv_bn_relu(in_channels + channels, channels, 3)
        super().__init__(*layers, dropout_layer(dropout, channel_dropout), nn.Conv2d(channels, num_classes, 1))
        self.num_convs = num_convs
        self.concat_at = concat_at

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for index, layer in enumerate(self):
            if index == self.concat_at:
                out = torch.cat([x, out], dim=1)
            out = layer(out)
        return out


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
    pooling branch, concatenated and projected by conv -> BN -> ReLU -> dropout.

    Maps ``B, in_channels, h, w`` to ``B, out_channels, h, w``. Parameter names are torchvision's
    (``convs.0`` 1x1, ``convs.1..n`` atrous, ``convs.n+1`` pooling, ``project``). torchvision projects with a
    1x1 convolution and dropout 0.5; mmsegmentation's ``ASPPHead`` fuses the branches with a 3x3 convolution
    (its ``bottleneck``, ``projection_kernel_size=3``) and no dropout, and concatenates the pooling branch first
    (a converter of its weights reorders the projection's input channels).

    Args:
        in_channels: channels of the input feature.
        atrous_rates: dilation of each 3x3 branch (6/12/18 at output stride 16, 12/24/36 at 8).
        out_channels: width of every branch and of the output (256 in the paper).
        separable: depthwise-separable atrous branches (DeepLabV3+); the parameter names then differ.
        dropout: dropout probability after the projection (0.5 in torchvision; 0: none).
        projection_kernel_size: kernel of the projection convolution (1 in torchvision, 3 in mmsegmentation).
    """

    def __init__(
        self,
        in_channels: int,
        atrous_rates: Sequence[int],
        out_channels: int = 256,
        separable: bool = False,
        dropout: float = 0.5,
        projection_kernel_size: int = 1,
    ) -> None:
        super().__init__()
        self.separable = separable
        branches = [conv_bn_relu(in_channels, out_channels, 1)]
        branches += [conv_bn_relu(in_channels, out_channels, 3, int(rate), separable) for rate in atrous_rates]
        branches.append(ImagePooling(in_channels, out_channels))
        self.convs = nn.ModuleList(branches)
        self.project = nn.Sequential(
            *conv_bn_relu(len(branches) * out_channels, out_channels, projection_kernel_size), dropout_layer(dropout)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(torch.cat([branch(x) for branch in self.convs], dim=1))
