"""Fully convolutional networks (Long, Shelhamer and Darrell, "Fully Convolutional Networks for Semantic
Segmentation", CVPR 2015, arXiv:1411.4038): FCN-32s/16s/8s on VGG-16 as in the paper, and the FCN head on a
dilated ResNet (torchvision's ``fcn_resnet50``, mmsegmentation's ``fcn_r50-d8``)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from visionbench.models.backbones.vgg import VGG16
from visionbench.models.segmentation.base import BackboneSegmenter
from visionbench.models.segmentation.heads import FCNHead
from visionbench.models.segmentation.mmseg import MMSEG_FCN

__all__ = ["FCN", "FCNVGG", "bilinear_kernel"]


class FCN(BackboneSegmenter):
    """FCN head on a dilated ResNet (torchvision ``fcn_resnet50/101``, mmsegmentation ``fcn_r50-d8``).

    The last backbone feature goes through :class:`FCNHead` (by default conv3x3 ``c -> c/4``, BN, ReLU, dropout
    0.1, conv1x1), the logits are upsampled bilinearly to the input size. With ``ResNet(50, output_stride=8)``
    the parameters and their names are exactly torchvision's ``fcn_resnet50`` (``backbone``, ``classifier``,
    ``aux_classifier``). mmsegmentation's ``fcn_r50-d8`` is ``ResNet(50, output_stride=8, deep_stem=True)`` with
    ``channels=512, num_convs=2, concat_input=True, channel_dropout=True``; its checkpoints load through
    :data:`~visionbench.models.segmentation.mmseg.MMSEG_FCN` (``model.weights=<file>``).

    Input ``B, 3, H, W`` (any size); output ``B, num_classes, H, W`` logits, or ``{"out", "aux"}`` with
    ``aux_head``.

    Args:
        num_classes: number of output classes.
        backbone: feature extractor returning a list of features with ``out_channels`` (e.g.
            :class:`~visionbench.models.backbones.ResNet` with ``output_stride=8``).
        aux_head: add the auxiliary FCN head on the third feature (layer3), as torchvision and mmsegmentation.
        channels: width of the head's convolutions (default: a quarter of the backbone's last width).
        num_convs: conv3x3-BN-ReLU layers of the head.
        concat_input: fuse the backbone feature with the convolutions' output (mmsegmentation).
        channel_dropout: ``nn.Dropout2d`` before the classifiers (mmsegmentation) instead of ``nn.Dropout``.
    """

    checkpoint_formats = (MMSEG_FCN,)

    def __init__(
        self,
        num_classes: int,
        backbone: nn.Module,
        aux_head: bool = False,
        channels: int | None = None,
        num_convs: int = 1,
        concat_input: bool = False,
        channel_dropout: bool = False,
    ) -> None:
        head = FCNHead(
            backbone.out_channels[-1],
            num_classes,
            channels,
            num_convs,
            concat_input,
            channel_dropout=channel_dropout,
        )
        super().__init__(backbone, head, num_classes, aux_head, channel_dropout)


def bilinear_kernel(size: int) -> torch.Tensor:
    """``size x size`` bilinear interpolation kernel for a transposed convolution of stride ``(size + 1) // 2``
    (the FCN reference code's ``upsample_filt``)."""
    factor = (size + 1) // 2
    center = factor - 1 if size % 2 == 1 else factor - 0.5
    profile = 1 - (torch.arange(size, dtype=torch.float32) - center).abs() / factor
    return profile[:, None] * profile[None, :]


def learnable_upsampling(channels: int) -> nn.ConvTranspose2d:
    """2x transposed convolution (kernel 4, stride 2, no bias) initialised to per-channel bilinear interpolation."""
    up = nn.ConvTranspose2d(channels, channels, 4, stride=2, bias=False)
    with torch.no_grad():
        up.weight.zero_()
        up.weight[range(channels), range(channels)] = bilinear_kernel(4)
    return up


def crop(x: torch.Tensor, offset: int, size: Sequence[int]) -> torch.Tensor:
    """``x[..., offset : offset + size[0], offset : offset + size[1]]`` (Caffe's Crop layer of the FCN models)."""
    return x[..., offset : offset + size[0], offset : offset + size[1]]


VARIANTS = {"32s": (0, 32, 19), "16s": (1, 16, 27), "8s": (2, 8, 31)}
"""variant -> (number of skip layers fused, final upsampling factor, final crop offset)."""

SKIP_CROP_OFFSETS = (5, 9)
"""Crop offsets of the pool4 and pool3 scores. These and the final offsets are the reference Caffe models'
(computed there from the layer geometry: 100-pixel input padding, ceil-mode pooling, 7x7 fc6)."""

INPUT_PADDING = 100


class FCNVGG(nn.Module):
    """FCN-32s / FCN-16s / FCN-8s on VGG-16 (Long et al., CVPR 2015), as the reference Caffe models.

    fc6/fc7 are convolutions (in :class:`~visionbench.models.backbones.VGG16`); ``score_fr`` (1x1) predicts
    class scores at stride 32. FCN-16s adds 2x learnable upsampling (transposed conv initialised to bilinear)
    fused by summation with a 1x1 score layer on pool4; FCN-8s repeats this with pool3. The final upsampling
    (x32, x16, x8) is a transposed convolution fixed to bilinear interpolation, as in the paper (a per-class,
    i.e. depthwise, kernel: the paper's dense kernel with zeros off the diagonal). New score layers start at
    zero (paper §4.2). The paper's geometry is kept: the input is padded by 100 pixels (so that the 7x7 fc6
    fits any input), and each score map is cropped at the reference offsets; output is exactly ``H, W``.

    Input ``B, 3, H, W`` (any size >= 1); output logits ``B, num_classes, H, W``.

    Args:
        num_classes: number of output classes.
        backbone: a :class:`~visionbench.models.backbones.VGG16` (``width_multiplier`` for small runs).
        variant: ``"32s"``, ``"16s"`` or ``"8s"``.
    """

    def __init__(self, num_classes: int, backbone: VGG16, variant: str = "8s") -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown FCN variant {variant!r}; choose one of {sorted(VARIANTS)}")
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        num_skips, self.final_factor, self.final_offset = VARIANTS[variant]
        self.num_classes = num_classes
        self.variant = variant
        self.backbone = backbone
        pool3_channels, pool4_channels, _, fc7_channels = backbone.out_channels
        self.score_fr = nn.Conv2d(fc7_channels, num_classes, 1)
        self.score_pools = nn.ModuleList(
            nn.Conv2d(channels, num_classes, 1) for channels in (pool4_channels, pool3_channels)[:num_skips]
        )
        self.upsample_skips = nn.ModuleList(learnable_upsampling(num_classes) for _ in range(num_skips))
        self.register_buffer("final_kernel", bilinear_kernel(2 * self.final_factor)[None, None], persistent=False)
        for score in (self.score_fr, *self.score_pools):
            nn.init.zeros_(score.weight)
            nn.init.zeros_(score.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        # conv1_1 pads by 1 itself: 99 more zeros make the paper's 100-pixel padding
        pool3, pool4, _, fc7 = self.backbone(F.pad(x, [INPUT_PADDING - 1] * 4))
        score = self.score_fr(fc7)
        for upsample, score_pool, feature, offset in zip(
            self.upsample_skips, self.score_pools, (pool4, pool3), SKIP_CROP_OFFSETS, strict=False
        ):
            score = upsample(score)
            score = score + crop(score_pool(feature), offset, score.shape[-2:])
        kernel = self.final_kernel.to(score.dtype).expand(self.num_classes, 1, -1, -1)
        score = F.conv_transpose2d(score, kernel, stride=self.final_factor, groups=self.num_classes)
        return crop(score, self.final_offset, (height, width))
