"""RefineNet (Lin, Milan, Shen and Reid, "RefineNet: Multi-Path Refinement Networks for High-Resolution Semantic
Segmentation", CVPR 2017, arXiv:1611.06612) and Light-Weight RefineNet (Nekrasov, Shen and Reid, "Light-Weight
RefineNet for Real-Time Semantic Segmentation", BMVC 2018, arXiv:1810.03272), built from the same blocks."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from visionbench.models.segmentation.base import BackboneSegmenter
from visionbench.models.segmentation.heads import resize

__all__ = ["ChainedResidualPooling", "MultiResolutionFusion", "RefineNet", "RefineNetBlock", "ResidualConvUnit"]

POOL_SIZE = 5
"""Max-pooling window of chained residual pooling (stride 1, same padding)."""


def same_conv(in_channels: int, out_channels: int, kernel_size: int, bias: bool = False) -> nn.Conv2d:
    """Stride-1 convolution with same padding (odd ``kernel_size``)."""
    return nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias)


class ResidualConvUnit(nn.Module):
    """Residual conv unit (RefineNet Fig. 2b): ``x + conv3x3(relu(conv3x3(relu(x))))``, ResNet's unit without BN.

    Maps ``B, channels, h, w`` to the same shape. As the authors' released model, the first convolution has a
    bias, the second none.

    Args:
        channels: input and output channels.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = same_conv(channels, channels, 3, bias=True)
        self.conv2 = same_conv(channels, channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class MultiResolutionFusion(nn.Module):
    """Multi-resolution fusion (RefineNet Fig. 2c): one convolution per input path to a common width, bilinear
    upsampling of every path to the largest input resolution, and summation.

    Maps a list of ``B, in_channels[i], h_i, w_i`` features to ``B, out_channels, max h, max w``.

    Args:
        in_channels: channels of each input path.
        out_channels: common output width (RefineNet uses the smallest input width).
        kernel_size: 3 (RefineNet) or 1 (Light-Weight RefineNet).
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.convs = nn.ModuleList(same_conv(channels, out_channels, kernel_size) for channels in in_channels)

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        size = max((feature.shape[-2:] for feature in features), key=lambda hw: hw[0] * hw[1])
        fused = [conv(feature) for conv, feature in zip(self.convs, features, strict=True)]
        return sum(path if path.shape[-2:] == size else resize(path, size) for path in fused)


class ChainedResidualPooling(nn.Module):
    """Chained residual pooling (RefineNet Fig. 2d): ReLU, then a chain of pooling blocks (5x5 max-pooling with
    stride 1 followed by a convolution), each block taking the previous block's output, and every block's output
    added to the running sum that starts at the (activated) input.

    Maps ``B, channels, h, w`` to the same shape.

    Args:
        channels: input and output channels.
        num_blocks: pooling blocks in the chain (the paper's Fig. 2d draws 2; the authors' released models and
            Light-Weight RefineNet use 4).
        kernel_size: convolution of each block, 3 (RefineNet) or 1 (Light-Weight RefineNet).
    """

    def __init__(self, channels: int, num_blocks: int = 4, kernel_size: int = 3) -> None:
        super().__init__()
        if num_blocks < 1:
            raise ValueError(f"num_blocks must be >= 1, got {num_blocks}")
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.MaxPool2d(POOL_SIZE, stride=1, padding=POOL_SIZE // 2), same_conv(channels, channels, kernel_size)
            )
            for _ in range(num_blocks)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = path = F.relu(x)
        for block in self.blocks:
            path = block(path)
            out = out + path
        return out


class RefineNetBlock(nn.Module):
    """One RefineNet block (RefineNet Fig. 2a): adaptive convolutions (``rcus_per_input`` residual conv units on
    each input path), multi-resolution fusion to the smallest input width (skipped for a single input),
    chained residual pooling and ``output_rcus`` output residual conv units. Light-Weight RefineNet is the
    same block with 1x1 convolutions and no residual conv units.

    Maps a list of features ``B, in_channels[i], h_i, w_i`` (e.g. a backbone feature and the coarser output of
    the previous block) to ``B, min(in_channels), max h, max w``.

    Args:
        in_channels: channels of each input path.
        kernel_size: convolutions of fusion and chained residual pooling: 3 or 1 (Light-Weight).
        rcus_per_input: residual conv units on each input path (2 in RefineNet, 0 in Light-Weight).
        crp_blocks: pooling blocks of the chained residual pooling.
        output_rcus: residual conv units after the pooling (1 in RefineNet, 0 in Light-Weight).
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        kernel_size: int = 3,
        rcus_per_input: int = 2,
        crp_blocks: int = 4,
        output_rcus: int = 1,
    ) -> None:
        super().__init__()
        self.out_channels = min(in_channels)
        self.adapt = nn.ModuleList(
            nn.Sequential(*(ResidualConvUnit(channels) for _ in range(rcus_per_input))) for channels in in_channels
        )
        self.fusion = (
            MultiResolutionFusion(in_channels, self.out_channels, kernel_size) if len(in_channels) > 1 else None
        )
        self.crp = ChainedResidualPooling(self.out_channels, crp_blocks, kernel_size)
        self.output = nn.Sequential(*(ResidualConvUnit(self.out_channels) for _ in range(output_rcus)))

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        paths = [adapt(feature) for adapt, feature in zip(self.adapt, features, strict=True)]
        x = paths[0] if self.fusion is None else self.fusion(paths)
        return self.output(self.crp(x))


class RefineNet(BackboneSegmenter):
    """4-cascaded RefineNet (Lin et al., CVPR 2017) and, with ``light_weight=True``, Light-Weight RefineNet
    (Nekrasov et al., BMVC 2018), on the four stages of a ResNet at output stride 32.

    Each backbone feature (layer4 .. layer1, strides 32 .. 4) is projected by a convolution to ``2 * width``
    (layer4: 512 in the paper) or ``width`` (256) channels. RefineNet-4 refines the layer4 path alone;
    RefineNet-3, -2, -1 each fuse their backbone path with the previous block's output
    (:class:`RefineNetBlock`). After RefineNet-1 (stride 4) come two residual conv units (the paper's §3.3)
    and a conv3x3 classifier (as the released models); logits are predicted at 1/4 of the input and upsampled
    bilinearly to the input size.

    ``light_weight=True`` is Light-Weight RefineNet: the projections, fusion and chained-residual-pooling
    convolutions become 1x1 and every residual conv unit is dropped (RefineNet-4's output then feeds the next
    fusion directly); the conv3x3 classifier stays. Unlike the released RefineNet code, residual conv units
    adapt every input path of a block as in the paper's Fig. 2 (the code skips the path coming from the
    previous block and uses three output units per block), and there is no dropout. With ResNet-101 and 21
    classes the two have 118.0M and 46.4M parameters (Light-Weight RefineNet paper, Table 1: 118M and 46M).

    Input ``B, 3, H, W`` (any size); output logits ``B, num_classes, H, W``.

    Args:
        num_classes: number of output classes.
        backbone: feature extractor returning four features from fine to coarse, with ``out_channels`` (e.g.
            :class:`~visionbench.models.backbones.ResNet` with ``output_stride=32``).
        width: channels of RefineNet-3..1 (256 in the papers); RefineNet-4 has ``2 * width``.
        crp_blocks: pooling blocks of each chained residual pooling (4 in the released models and in
            Light-Weight RefineNet; the paper's figure draws 2).
        light_weight: build Light-Weight RefineNet (1x1 convolutions, no residual conv units).
    """

    def __init__(
        self,
        num_classes: int,
        backbone: nn.Module,
        width: int = 256,
        crp_blocks: int = 4,
        light_weight: bool = False,
    ) -> None:
        if len(backbone.out_channels) != 4:
            raise ValueError(f"RefineNet needs a backbone with four features, got {len(backbone.out_channels)}")
        super().__init__(backbone, same_conv(width, num_classes, 3, bias=True), num_classes, aux_head=False)
        self.light_weight = light_weight
        kernel_size = 1 if light_weight else 3
        widths = (width, width, width, 2 * width)
        self.projections = nn.ModuleList(
            same_conv(channels, out, kernel_size) for channels, out in zip(backbone.out_channels, widths, strict=True)
        )
        blocks, previous = [], None
        for path_width in reversed(widths):
            in_channels = (path_width,) if previous is None else (path_width, previous)
            block = RefineNetBlock(
                in_channels,
                kernel_size=kernel_size,
                rcus_per_input=0 if light_weight else 2,
                crp_blocks=crp_blocks,
                output_rcus=0 if light_weight else 1,
            )
            blocks.append(block)
            previous = block.out_channels
        self.refine = nn.ModuleList(blocks)  # RefineNet-4 (layer4, coarsest) first, RefineNet-1 (layer1) last
        self.final_rcus = nn.Sequential(*(ResidualConvUnit(width) for _ in range(0 if light_weight else 2)))

    def decode(self, features: list[torch.Tensor]) -> torch.Tensor:
        refined: torch.Tensor | None = None
        for block, projection, feature in zip(self.refine, self.projections[::-1], features[::-1], strict=True):
            path = projection(feature)
            refined = block([path] if refined is None else [path, refined])
        return self.classifier(self.final_rcus(refined))
