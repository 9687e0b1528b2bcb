"""PSPNet (Zhao, Shi, Qi, Wang and Jia, "Pyramid Scene Parsing Network", CVPR 2017, arXiv:1612.01105) on a
dilated ResNet."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from visionbench.models.segmentation.base import BackboneSegmenter
from visionbench.models.segmentation.heads import conv_bn_relu, dropout_layer, resize
from visionbench.models.segmentation.mmseg import MMSEG_PSPNET

__all__ = ["PSPNet", "PyramidPooling"]


class PyramidPooling(nn.Module):
    """Pyramid pooling module (PSPNet §3.2): the feature is average-pooled to ``bin x bin`` grids, each pooled
    map is reduced by conv1x1 -> BN -> ReLU to ``in_channels / len(bins)`` channels (the paper's 1/N), upsampled
    bilinearly back to the feature's size, and all are concatenated with the input feature.

    Pooling is adaptive, so any feature size works, including maps smaller than the largest bin (the cells of
    the grid then overlap). The BN of the 1x1 bin sees one value per channel and image: training needs
    batches of at least 2 (as for DeepLab's image pooling).

    Maps ``B, in_channels, h, w`` to ``B, out_channels, h, w`` with ``out_channels = in_channels +
    len(bins) * (in_channels // len(bins))``.

    Args:
        in_channels: channels of the input feature.
        bins: output grid size of each pooling branch (1, 2, 3, 6 in the paper).
    """

    def __init__(self, in_channels: int, bins: Sequence[int] = (1, 2, 3, 6)) -> None:
        super().__init__()
        if not bins:
            raise ValueError("PyramidPooling needs at least one bin")
        branch_channels = in_channels // len(bins)
        self.bins = tuple(int(size) for size in bins)
        self.branches = nn.ModuleList(
            nn.Sequential(nn.AdaptiveAvgPool2d(size), *conv_bn_relu(in_channels, branch_channels, 1))
            for size in self.bins
        )
        self.out_channels = in_channels + len(self.bins) * branch_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        return torch.cat([x, *(resize(branch(x), size) for branch in self.branches)], dim=1)


class PSPNet(BackboneSegmenter):
    """PSPNet (Zhao et al., CVPR 2017), as the paper's Caffe model and mmsegmentation's ``pspnet_r50-d8``.

    Head (``classifier``): :class:`PyramidPooling` on the last backbone feature -> conv3x3 512 -> BN -> ReLU ->
    dropout 0.1 -> conv1x1 to the classes, then bilinear upsampling to the input size. mmsegmentation's
    ``PSPHead`` is the same computation (its pooling branches have ``channels`` = 512 = 2048 / 4 channels, as
    ours for ResNet-50/101) with channel-wise dropout: ``ResNet(50, output_stride=8, deep_stem=True)`` and
    ``channel_dropout=True`` is its ``pspnet_r50-d8``, whose checkpoints load through
    :data:`~visionbench.models.segmentation.mmseg.MMSEG_PSPNET` (``model.weights=<file>``). The auxiliary
    :class:`~visionbench.models.segmentation.heads.FCNHead` on layer3 (conv3x3 ``c/4`` = 256 channels for a
    ResNet-50) is the paper's deep supervision; the segmentation task weights its loss by 0.4 as the paper.
    The paper's backbone is a dilated ResNet at output stride 8.

    Input ``B, 3, H, W`` (any size); output ``B, num_classes, H, W`` logits, or ``{"out", "aux"}`` (both at
    ``H, W``) with ``aux_head``. Training needs batches of >= 2 (BN of the 1x1 pooling bin).

    Args:
        num_classes: number of output classes.
        backbone: feature extractor returning a list of features with ``out_channels`` (e.g.
            :class:`~visionbench.models.backbones.ResNet` with ``output_stride=8``).
        aux_head: auxiliary FCN head on the third feature (layer3).
        bins: pyramid pooling grid sizes.
        dropout: dropout probability before the classifier.
        channels: width of the conv3x3 after the pyramid (512 in the paper and mmsegmentation).
        channel_dropout: ``nn.Dropout2d`` before the classifiers (mmsegmentation) instead of ``nn.Dropout``.
    """

    checkpoint_formats = (MMSEG_PSPNET,)

    def __init__(
        self,
        num_classes: int,
        backbone: nn.Module,
        aux_head: bool = False,
        bins: Sequence[int] = (1, 2, 3, 6),
        dropout: float = 0.1,
        channels: int = 512,
        channel_dropout: bool = False,
    ) -> None:
        pyramid = PyramidPooling(backbone.out_channels[-1], bins)
        classifier = nn.Sequential(
            pyramid,
            *conv_bn_relu(pyramid.out_channels, channels, 3),
            dropout_layer(dropout, channel_dropout),
            nn.Conv2d(channels, num_classes, 1),
        )
        super().__init__(backbone, classifier, num_classes, aux_head, channel_dropout)
        self.bins = pyramid.bins
