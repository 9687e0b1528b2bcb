"""U-Net (Ronneberger, Fischer and Brox, "U-Net: Convolutional Networks for Biomedical Image
Segmentation", MICCAI 2015, arXiv:1505.04597), with same-padded convolutions and optional batch norm."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["UNet", "DoubleConv", "TransposedUp", "BilinearUp", "UPSAMPLERS"]


class DoubleConv(nn.Sequential):
    """(conv3x3 -> [BN] -> ReLU) x 2, same padding."""

    def __init__(self, in_channels: int, out_channels: int, batch_norm: bool = True) -> None:
        layers: list[nn.Module] = []
        for c_in in (in_channels, out_channels):
            layers.append(nn.Conv2d(c_in, out_channels, 3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out_channels))
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class TransposedUp(nn.Module):
    """2x upsampling by a learned 2x2 stride-2 transposed convolution (the paper's "up-convolution")."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(x)


class BilinearUp(nn.Module):
    """2x bilinear upsampling (align_corners=False) followed by a 1x1 convolution to ``out_channels``."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, out_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False))


UPSAMPLERS: dict[str, type[nn.Module]] = {"transposed": TransposedUp, "bilinear": BilinearUp}
"""Upsampling blocks selectable by ``UNet(upsampling=...)``: each is built as ``cls(in_channels,
out_channels)`` and maps ``B,in,H,W -> B,out,2H,2W``. Add an entry to support another scheme."""


class UpBlock(nn.Module):
    """Decoder stage: upsample to the skip's resolution and width, concatenate the skip, DoubleConv."""

    def __init__(self, in_channels: int, out_channels: int, upsampling: str, batch_norm: bool) -> None:
        super().__init__()
        self.up = UPSAMPLERS[upsampling](in_channels, out_channels)
        self.conv = DoubleConv(2 * out_channels, out_channels, batch_norm)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([skip, self.up(x)], dim=1))


class UNet(nn.Module):
    """U-Net for semantic segmentation (Ronneberger et al., MICCAI 2015).

    Encoder: ``depth`` stages of (conv3x3-BN-ReLU)x2 of widths ``base_channels * 2**i`` separated by 2x2
    max-pooling; a bottleneck stage of width ``base_channels * 2**depth`` after the last pooling; a decoder
    that, per stage, upsamples 2x (halving the width), concatenates the encoder skip and applies
    (conv3x3-BN-ReLU)x2; a final 1x1 convolution to the class logits. ``depth=4, base_channels=64``
    is the paper's network (with same-padding instead of valid convolutions and cropping).

    Input ``B, in_channels, H, W`` of any size (internally padded to a multiple of ``2**depth``,
    reflect-padded where possible, and cropped back); output logits ``B, num_classes, H, W``.

    Args:
        num_classes: number of output classes (logit channels).
        in_channels: input image channels.
        depth: number of encoder stages / 2x poolings (>= 1).
        base_channels: width of the first stage; stage ``i`` has ``base_channels * 2**i``.
        upsampling: decoder upsampling, one of :data:`UPSAMPLERS`: ``"transposed"`` (2x2 stride-2
            transposed conv, as in the paper) or ``"bilinear"`` (bilinear + 1x1 conv).
        batch_norm: use BatchNorm after each 3x3 convolution (the convolutions then have no bias).
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 3,
        depth: int = 4,
        base_channels: int = 64,
        upsampling: str = "transposed",
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        if int(num_classes) < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if int(in_channels) < 1:
            raise ValueError(f"in_channels must be >= 1, got {in_channels}")
        if int(depth) < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        if int(base_channels) < 1:
            raise ValueError(f"base_channels must be >= 1, got {base_channels}")
        if upsampling not in UPSAMPLERS:
            raise ValueError(f"unknown upsampling {upsampling!r}; choose one of {sorted(UPSAMPLERS)}")
        self.num_classes = int(num_classes)
        self.depth = int(depth)
        widths = [int(base_channels) * 2**i for i in range(self.depth + 1)]
        self.encoder = nn.ModuleList()
        c_in = int(in_channels)
        for w in widths[:-1]:
            self.encoder.append(DoubleConv(c_in, w, batch_norm))
            c_in = w
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = DoubleConv(widths[-2], widths[-1], batch_norm)
        self.decoder = nn.ModuleList(
            UpBlock(widths[i + 1], widths[i], upsampling, batch_norm) for i in reversed(range(self.depth))
        )
        self.head = nn.Conv2d(widths[0], self.num_classes, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        m = 2**self.depth
        pad_h, pad_w = (-h) % m, (-w) % m
        if pad_h or pad_w:
            mode = "reflect" if pad_h < h and pad_w < w else "constant"
            x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
        skips = []
        for stage in self.encoder:
            x = stage(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for up, skip in zip(self.decoder, reversed(skips), strict=True):
            x = up(x, skip)
        return self.head(x)[..., :h, :w]
