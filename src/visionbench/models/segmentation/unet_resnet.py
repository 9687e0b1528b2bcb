"""U-Net decoder on a ResNet encoder, as segmentation_models.pytorch's ``Unet`` (the U-Net of Ronneberger et al.,
MICCAI 2015, with an ImageNet-pretrained encoder for transfer learning)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from visionbench.models.backbones.resnet import ResNet
from visionbench.models.padding import crop_to, pad_to_multiple
from visionbench.models.segmentation.unet import DoubleConv

__all__ = ["UNetResNet", "DecoderBlock"]


class DecoderBlock(nn.Module):
    """smp's U-Net decoder block: 2x nearest upsampling, concatenation of the skip (if any), DoubleConv with BN."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = DoubleConv(in_channels + skip_channels, out_channels, batch_norm=True)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.conv(x if skip is None else torch.cat([x, skip], dim=1))


class UNetResNet(nn.Module):
    """U-Net with a ResNet encoder, layer for layer segmentation_models.pytorch's ``Unet(encoder_name="resnetN")``.

    The encoder gives five features: the stem (after conv1-BN-ReLU, stride 2, 64 channels) and layer1..layer4
    (strides 4..32). The decoder upsamples layer4 five times (2x nearest, concatenate the skip of the same
    stride, (conv3x3-BN-ReLU)x2 of widths ``decoder_channels``), skipping from layer3, layer2, layer1 and the
    stem; the last block has no skip and reaches the input resolution. A 3x3 convolution gives the logits.
    With ResNet-34 and 150 classes it has smp's 24,457,974 parameters.

    Input ``B, C, H, W`` of any size (padded internally to a multiple of 32 and cropped back); output logits
    ``B, num_classes, H, W``.

    Args:
        num_classes: number of output classes.
        backbone: a :class:`~visionbench.models.backbones.resnet.ResNet` with output stride 32 (load pre-trained
            weights through its ``weights`` path); its ``in_channels`` is the model's.
        decoder_channels: widths of the five decoder blocks.
        freeze_encoder: do not train the encoder: its parameters get ``requires_grad=False`` and it stays in
            eval mode (BN uses the pre-trained running statistics) when the model is put in training mode.
    """

    def __init__(
        self,
        num_classes: int,
        backbone: ResNet,
        decoder_channels: Sequence[int] = (256, 128, 64, 32, 16),
        freeze_encoder: bool = False,
    ) -> None:
        super().__init__()
        if int(num_classes) < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if backbone.output_stride != 32:
            raise ValueError(f"UNetResNet needs a backbone with output_stride 32, got {backbone.output_stride}")
        if len(decoder_channels) != 5:
            raise ValueError(f"decoder_channels must have 5 widths (one per stride), got {list(decoder_channels)}")
        self.num_classes = int(num_classes)
        self.backbone = backbone
        self.freeze_encoder = freeze_encoder
        skip_channels = (*reversed(backbone.out_channels[:-1]), 64, 0)  # layer3..layer1, stem, none
        in_channels = (backbone.out_channels[-1], *decoder_channels[:-1])
        self.decoder = nn.ModuleList(
            DecoderBlock(c_in, c_skip, c_out)
            for c_in, c_skip, c_out in zip(in_channels, skip_channels, decoder_channels, strict=True)
        )
        self.head = nn.Conv2d(decoder_channels[-1], self.num_classes, kernel_size=3, padding=1)
        if freeze_encoder:
            self.backbone.requires_grad_(False)

    def train(self, mode: bool = True) -> UNetResNet:
        super().train(mode)
        if self.freeze_encoder:
            self.backbone.eval()
        return self

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The skip features ``[stem, layer1, layer2, layer3, layer4]`` (strides 2, 4, 8, 16, 32)."""
        b = self.backbone
        x = b.stem(x) if b.deep_stem else b.relu(b.bn1(b.conv1(x)))
        features = [x]
        x = b.maxpool(x)
        for layer in (b.layer1, b.layer2, b.layer3, b.layer4):
            x = layer(x)
            features.append(x)
        return features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[2:]
        *skips, x = self.encode(pad_to_multiple(x, 32, "reflect"))
        for block, skip in zip(self.decoder, [*reversed(skips), None], strict=True):
            x = block(x, skip)
        return crop_to(self.head(x), size)
