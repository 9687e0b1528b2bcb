"""A single convolution as a segmenter: the deliberately weak baseline."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["SingleLayerSegmenter"]


class SingleLayerSegmenter(nn.Module):
    """One convolution from the image to the class logits (no hidden layer, no non-linearity).

    With ``kernel_size=1`` it is a per-pixel linear colour classifier; with a larger odd kernel it sees a
    ``kernel_size x kernel_size`` neighbourhood. It shows how much a benchmark needs spatial context:
    on the synthetic shapes, where classes are told apart by form only, it stays near "all background".

    Input ``B, in_channels, H, W``; output logits ``B, num_classes, H, W`` (same padding).

    Args:
        num_classes: number of output classes.
        in_channels: input image channels.
        kernel_size: odd convolution kernel size (1 = per-pixel linear classifier).
    """

    def __init__(self, num_classes: int, in_channels: int = 3, kernel_size: int = 1) -> None:
        super().__init__()
        if int(num_classes) < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if int(in_channels) < 1:
            raise ValueError(f"in_channels must be >= 1, got {in_channels}")
        if int(kernel_size) < 1 or int(kernel_size) % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd integer, got {kernel_size}")
        self.num_classes = int(num_classes)
        self.conv = nn.Conv2d(int(in_channels), self.num_classes, int(kernel_size), padding=int(kernel_size) // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)
