"""3D U-Net (Çiçek, Abdulkadir, Lienkamp, Brox and Ronneberger, "3D U-Net: Learning Dense Volumetric
Segmentation from Sparse Annotation", MICCAI 2016, arXiv:1606.06650)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from visionbench.models.padding import crop_to, pad_to_multiple
from visionbench.models.segmentation.unet import DoubleConv

__all__ = ["UNet3D"]


class UNet3D(nn.Module):
    """U-Net for volumes: the 2D :class:`~visionbench.models.segmentation.unet.UNet` with 3x3x3 convolutions,
    2x2x2 max-pooling and 2x2x2 stride-2 transposed convolutions (Çiçek et al., MICCAI 2016).

    Stage ``i`` has ``base_channels * 2**i`` channels in both convolutions, as in the 2D U-Net (the paper
    instead doubles the width inside each encoder stage, e.g. 32 -> 64, and uses valid convolutions).

    Input ``B, in_channels, D, H, W`` of any size (internally padded to a multiple of ``2**depth`` and cropped
    back); output logits ``B, num_classes, D, H, W``.

    Args:
        num_classes: number of output classes.
        in_channels: input channels (e.g. 1 for a CT/MRI volume, more for several sequences).
        depth: number of 2x2x2 poolings (>= 1); the paper uses 3.
        base_channels: width of the first stage.
        batch_norm: BatchNorm3d after each convolution (the paper uses it before every ReLU).
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 1,
        depth: int = 3,
        base_channels: int = 32,
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        arguments = {
            "num_classes": num_classes,
            "in_channels": in_channels,
            "depth": depth,
            "base_channels": base_channels,
        }
        for name, value in arguments.items():
            if int(value) < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        self.num_classes = int(num_classes)
        self.depth = int(depth)
        widths = [int(base_channels) * 2**i for i in range(self.depth + 1)]
        self.encoder = nn.ModuleList(
            DoubleConv(c_in, c_out, batch_norm, dims=3)
            for c_in, c_out in zip([int(in_channels), *widths[:-2]], widths[:-1], strict=True)
        )
        self.bottleneck = DoubleConv(widths[-2], widths[-1], batch_norm, dims=3)
        levels = list(reversed(range(self.depth)))
        self.up = nn.ModuleList(nn.ConvTranspose3d(widths[i + 1], widths[i], kernel_size=2, stride=2) for i in levels)
        self.decoder = nn.ModuleList(DoubleConv(2 * widths[i], widths[i], batch_norm, dims=3) for i in levels)
        self.head = nn.Conv3d(widths[0], self.num_classes, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[2:]
        x = pad_to_multiple(x, 2**self.depth, "reflect")
        skips = []
        for stage in self.encoder:
            x = stage(x)
            skips.append(x)
            x = F.max_pool3d(x, 2)
        x = self.bottleneck(x)
        for up, conv, skip in zip(self.up, self.decoder, reversed(skips), strict=True):
            x = conv(torch.cat([skip, up(x)], dim=1))
        return crop_to(self.head(x), size)
