"""U-Net (Ronneberger, Fischer and Brox, "U-Net: Convolutional Networks for Biomedical Image
Segmentation", MICCAI 2015, arXiv:1505.04597), with same-padded convolutions, optional batch norm and
five pluggable decoder upsampling schemes, and its multi-input (multi-modal) variant."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from visionbench.models.padding import crop_to, pad_to_multiple

__all__ = [
    "UNet",
    "MultiInputUNet",
    "DoubleConv",
    "Upsampler",
    "NearestUp",
    "BilinearUp",
    "MaxUnpoolUp",
    "TransposedUp",
    "PixelShuffleUp",
    "UPSAMPLERS",
    "EncoderPool",
    "FUSIONS",
]


CONV_AND_NORM: dict[int, tuple[type[nn.Module], type[nn.Module]]] = {
    2: (nn.Conv2d, nn.BatchNorm2d),
    3: (nn.Conv3d, nn.BatchNorm3d),
}
"""Spatial dimensions -> (convolution, batch norm) classes."""


class DoubleConv(nn.Sequential):
    """(conv3x3 -> [BN] -> ReLU) x 2, same padding; ``dims=3`` for volumes (3x3x3 convolutions)."""

    def __init__(self, in_channels: int, out_channels: int, batch_norm: bool = True, dims: int = 2) -> None:
        conv, norm = CONV_AND_NORM[dims]
        layers: list[nn.Module] = []
        for c_in in (in_channels, out_channels):
            layers.append(conv(c_in, out_channels, 3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(norm(out_channels))
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class EncoderPool(nn.Module):
    """The encoder's 2x2 max-pooling; ``forward`` returns ``(pooled, indices)``, where ``indices`` (the argmax
    positions, as ``nn.MaxPool2d(return_indices=True)``) are recorded only when ``record_indices`` and are
    ``None`` otherwise."""

    def __init__(self, record_indices: bool) -> None:
        super().__init__()
        self.record_indices = record_indices

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.record_indices:
            return F.max_pool2d(x, 2, return_indices=True)
        return F.max_pool2d(x, 2), None


class Upsampler(nn.Module):
    """Base of the decoder's 2x upsampling blocks.

    A subclass is built as ``cls(in_channels, out_channels)`` and its ``forward(x, pool_indices)`` maps
    ``B,in,H,W -> B,out,2H,2W``. ``pool_indices`` are the argmax indices of the encoder's pooling at the same
    level (``B,out,2H,2W`` -> ``B,out,H,W``); the encoder records them only for classes that set
    ``needs_pool_indices``, the others receive ``None`` and ignore it.
    """

    needs_pool_indices: ClassVar[bool] = False


class ResizeConvUp(Upsampler):
    """Fixed 2x interpolation of mode ``mode`` followed by a 1x1 convolution to ``out_channels`` (the 3x3
    convolutions of the decoder stage that follows do the spatial mixing)."""

    mode: ClassVar[str]

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, out_channels, kernel_size=1)

    def forward(self, x: torch.Tensor, pool_indices: torch.Tensor | None = None) -> torch.Tensor:
        return self.proj(F.interpolate(x, scale_factor=2, mode=self.mode))


class NearestUp(ResizeConvUp):
    """2x nearest-neighbour upsampling followed by a 1x1 convolution ("resize-convolution")."""

    mode = "nearest"


class BilinearUp(ResizeConvUp):
    """2x bilinear upsampling (align_corners=False) followed by a 1x1 convolution to ``out_channels``."""

    mode = "bilinear"


class MaxUnpoolUp(Upsampler):
    """SegNet-style max-unpooling (Badrinarayanan et al., TPAMI 2017, arXiv:1511.00561): a 1x1 convolution to
    ``out_channels``, then each value is put back at the argmax position that the encoder's 2x2 max-pooling
    recorded at this level; the other three positions of each 2x2 cell are zero."""

    needs_pool_indices = True

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, out_channels, kernel_size=1)
        self.unpool = nn.MaxUnpool2d(2)

    def forward(self, x: torch.Tensor, pool_indices: torch.Tensor | None = None) -> torch.Tensor:
        if pool_indices is None:
            raise ValueError("MaxUnpoolUp needs the encoder's pooling indices")
        return self.unpool(self.proj(x), pool_indices)


class TransposedUp(Upsampler):
    """2x upsampling by a learned 2x2 stride-2 transposed convolution (the paper's "up-convolution")."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)

    def forward(self, x: torch.Tensor, pool_indices: torch.Tensor | None = None) -> torch.Tensor:
        return self.up(x)


class PixelShuffleUp(Upsampler):
    """Sub-pixel convolution (Shi et al., "Real-Time Single Image and Video Super-Resolution...", CVPR 2016,
    arXiv:1609.05158): a 3x3 convolution to ``4 * out_channels`` and ``PixelShuffle(2)``, which rearranges
    each group of 4 channels into a 2x2 spatial cell."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 4 * out_channels, kernel_size=3, padding=1)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor, pool_indices: torch.Tensor | None = None) -> torch.Tensor:
        return self.shuffle(self.conv(x))


UPSAMPLERS: dict[str, type[Upsampler]] = {
    "nearest": NearestUp,
    "bilinear": BilinearUp,
    "max_unpool": MaxUnpoolUp,
    "transposed": TransposedUp,
    "pixel_shuffle": PixelShuffleUp,
}
"""Upsampling blocks selectable by ``UNet(upsampling=...)`` (see :class:`Upsampler` for the contract). Add an
entry to support another scheme."""


class UpBlock(nn.Module):
    """Decoder stage: upsample to the skip's resolution and width, concatenate the skip, DoubleConv."""

    def __init__(self, in_channels: int, out_channels: int, upsampling: str, batch_norm: bool) -> None:
        super().__init__()
        self.up = UPSAMPLERS[upsampling](in_channels, out_channels)
        self.conv = DoubleConv(2 * out_channels, out_channels, batch_norm)

    def forward(self, x: torch.Tensor, skip: torch.Tensor, pool_indices: torch.Tensor | None) -> torch.Tensor:
        return self.conv(torch.cat([skip, self.up(x, pool_indices)], dim=1))


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
            transposed conv, as in the paper), ``"nearest"`` or ``"bilinear"`` (interpolation + 1x1 conv),
            ``"max_unpool"`` (SegNet: 1x1 conv + unpooling at the encoder's max-pooling argmax positions, which
            the encoder then records) or ``"pixel_shuffle"`` (3x3 conv to 4x channels + ``PixelShuffle(2)``).
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
        self.pool = EncoderPool(record_indices=UPSAMPLERS[upsampling].needs_pool_indices)
        self.bottleneck = DoubleConv(widths[-2], widths[-1], batch_norm)
        self.decoder = nn.ModuleList(
            UpBlock(widths[i + 1], widths[i], upsampling, batch_norm) for i in reversed(range(self.depth))
        )
        self.head = nn.Conv2d(widths[0], self.num_classes, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[2:]
        x = pad_to_multiple(x, 2**self.depth, "reflect")
        skips, indices = [], []
        for stage in self.encoder:
            x = stage(x)
            skips.append(x)
            x, pool_indices = self.pool(x)
            indices.append(pool_indices)
        x = self.bottleneck(x)
        for up, skip, pool_indices in zip(self.decoder, reversed(skips), reversed(indices), strict=True):
            x = up(x, skip, pool_indices)
        return crop_to(self.head(x), size)


FUSIONS = ("early", "late")
"""How :class:`MultiInputUNet` fuses its inputs."""


class MultiInputUNet(nn.Module):
    """U-Net on several co-registered images or modalities (e.g. RGB + depth, or MRI sequences), fused early or late.

    ``fusion="early"``: the inputs are concatenated along the channels into one :class:`UNet` (input-level
    fusion; the same as ``UNet(in_channels=sum(input_channels))``). ``fusion="late"``: one :class:`UNet` per
    input, their logits averaged (decision-level fusion; each branch sees only its own modality, so a
    modality's features are never mixed with the others' before the output).

    Input ``B, sum(input_channels), H, W``: the inputs stacked along the channels in the order of
    ``input_channels`` (so the model keeps the single-tensor segmentation interface); output logits
    ``B, num_classes, H, W``.

    Args:
        num_classes: number of output classes.
        input_channels: channels of each input, e.g. ``[3, 1]`` for RGB + depth.
        fusion: ``"early"`` or ``"late"``.
        depth, base_channels, upsampling, batch_norm: as :class:`UNet`, for every branch.
    """

    def __init__(
        self,
        num_classes: int,
        input_channels: Sequence[int],
        fusion: str = "early",
        depth: int = 4,
        base_channels: int = 64,
        upsampling: str = "transposed",
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        if not input_channels or min(input_channels) < 1:
            raise ValueError(f"input_channels must be a non-empty list of positive sizes, got {input_channels}")
        if fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {fusion!r}; choose one of {list(FUSIONS)}")
        self.input_channels = [int(c) for c in input_channels]
        self.fusion = fusion
        self.branch_channels = [sum(self.input_channels)] if fusion == "early" else self.input_channels
        self.branches = nn.ModuleList(
            UNet(num_classes, c, depth, base_channels, upsampling, batch_norm) for c in self.branch_channels
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != sum(self.input_channels):
            raise ValueError(
                f"expected the inputs {self.input_channels} stacked into {sum(self.input_channels)} channels, "
                f"got {x.shape[1]}"
            )
        parts = x.split(self.branch_channels, dim=1)
        return torch.stack([branch(part) for branch, part in zip(self.branches, parts, strict=True)]).mean(dim=0)
