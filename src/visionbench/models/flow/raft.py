"""RAFT and RAFT-small (Teed and Deng, "RAFT: Recurrent All-Pairs Field Transforms for Optical Flow", ECCV 2020,
arXiv:2003.12039) and their CNN feature / context encoder (which FlowFormer reuses). The recurrent update blocks
are in :mod:`visionbench.models.flow.update`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from visionbench.models.flow.base import IterativeFlowModel
from visionbench.models.flow.correlation import CorrelationPyramid, all_pairs_correlation, coords_grid
from visionbench.models.flow.raft_checkpoints import OFFICIAL_RAFT, TORCHVISION_RAFT
from visionbench.models.flow.update import MotionEncoder, UpdateBlock, bilinear_upsample, convex_upsample
from visionbench.models.padding import crop_to
from visionbench.models.widths import scaled

__all__ = [
    "RAFT",
    "RAFTSmall",
    "BottleneckBlock",
    "FeatureEncoder",
    "ResidualBlock",
    "norm_layer",
]


def norm_layer(kind: str, channels: int) -> nn.Module:
    """``"instance"`` (no affine parameters, as RAFT), ``"batch"``, ``"group"`` (8 channels per group) or
    ``"none"``."""
    if kind == "instance":
        return nn.InstanceNorm2d(channels)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(max(1, channels // 8), channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}: choose instance, batch, group or none")


def shortcut(in_channels: int, channels: int, stride: int, norm: str) -> nn.Module:
    """The shortcut of a residual unit: identity, or a strided 1x1 convolution and a norm where the unit changes the
    resolution or the channels."""
    if stride == 1 and in_channels == channels:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(in_channels, channels, 1, stride), norm_layer(norm, channels))


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions (the first strided), each followed by a norm and ReLU, plus an identity or 1x1-projected
    shortcut, then ReLU: RAFT's residual unit."""

    def __init__(self, in_channels: int, channels: int, stride: int, norm: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, padding=1)
        self.norm1 = norm_layer(norm, channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.norm2 = norm_layer(norm, channels)
        self.shortcut = shortcut(in_channels, channels, stride, norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.norm1(self.conv1(x)))
        y = F.relu(self.norm2(self.conv2(y)))
        return F.relu(self.shortcut(x) + y)


class BottleneckBlock(nn.Module):
    """1x1 (to ``channels / 4``) -> 3x3 (strided) -> 1x1 (to ``channels``), each with norm and ReLU, plus a shortcut,
    then ReLU: RAFT-small's unit."""

    def __init__(self, in_channels: int, channels: int, stride: int, norm: str) -> None:
        super().__init__()
        inner = max(1, channels // 4)
        self.conv1 = nn.Conv2d(in_channels, inner, 1)
        self.norm1 = norm_layer(norm, inner)
        self.conv2 = nn.Conv2d(inner, inner, 3, stride, padding=1)
        self.norm2 = norm_layer(norm, inner)
        self.conv3 = nn.Conv2d(inner, channels, 1)
        self.norm3 = norm_layer(norm, channels)
        self.shortcut = shortcut(in_channels, channels, stride, norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.norm1(self.conv1(x)))
        y = F.relu(self.norm2(self.conv2(y)))
        y = F.relu(self.norm3(self.conv3(y)))
        return F.relu(self.shortcut(x) + y)


class FeatureEncoder(nn.Module):
    """RAFT's feature / context encoder: a 7x7 stride-2 stem, three stages of two units (strides 1, 2, 2) and a 1x1
    projection, so the output is at 1/8 of the input.

    RAFT: residual units with widths 64, 96, 128 and 256 output channels (instance norm for the feature encoder,
    batch norm for the context encoder). RAFT-small: bottleneck units with widths 32, 64, 96 (feature encoder 128
    channels with instance norm, context encoder 160 without norm).

    Input ``B, 3, H, W``; output ``B, out_channels, ceil(H / 8), ceil(W / 8)``.

    Args:
        out_channels: output channels.
        widths: channels of the stem / stage 1, stage 2, stage 3.
        norm: ``"instance"``, ``"batch"``, ``"group"`` or ``"none"``.
        bottleneck: bottleneck units (RAFT-small) instead of residual units.
    """

    def __init__(
        self, out_channels: int, widths: Sequence[int] = (64, 96, 128), norm: str = "instance", bottleneck: bool = False
    ) -> None:
        super().__init__()
        block = BottleneckBlock if bottleneck else ResidualBlock
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 7, 2, padding=3), norm_layer(norm, widths[0]), nn.ReLU())
        stages, channels = [], widths[0]
        for width, stride in zip(widths, (1, 2, 2), strict=True):
            stages.append(nn.Sequential(block(channels, width, stride, norm), block(width, width, 1, norm)))
            channels = width
        self.stages = nn.Sequential(*stages)
        self.projection = nn.Conv2d(channels, out_channels, 1)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projection(self.stages(self.stem(x)))


@dataclass(frozen=True)
class _Architecture:
    feature_dim: int
    hidden_dim: int
    context_dim: int
    encoder_widths: tuple[int, int, int]
    bottleneck: bool
    context_norm: str
    corr_widths: tuple[int, ...]
    flow_widths: tuple[int, ...]
    motion_dim: int
    separable_gru: bool
    head_channels: int
    mask_channels: int | None


_FULL = _Architecture(256, 128, 128, (64, 96, 128), False, "batch", (256, 192), (128, 64), 128, True, 256, 256)
_SMALL = _Architecture(128, 96, 64, (32, 64, 96), True, "none", (96,), (64, 32), 82, False, 128, None)


class RAFT(IterativeFlowModel):
    """RAFT (Teed and Deng, ECCV 2020), the full model (5.3M parameters at width 1, as the paper).

    - Feature encoder (:class:`FeatureEncoder`, residual units 64-96-128, instance norm, 256 channels at 1/8) on
      both images; context encoder (same, batch norm) on image 1, split into the GRU's initial hidden state
      (``tanh``, 128) and the context features (``ReLU``, 128).
    - All-pairs correlation of the two feature maps (divided by ``sqrt(256)``), a 4-level pyramid average-pooled
      over the frame-2 dimensions, lookup radius 4 (4 x 81 = 324 channels; :class:`CorrelationPyramid`).
    - ``iters`` updates at 1/8 resolution starting from zero flow: look up the correlation at the current target
      positions, motion encoder, separable ConvGRU (1x5 then 5x1), flow head, ``coords += delta``; the positions
      are detached before each lookup (gradients flow only through each update, as the paper).
    - Convex upsampling of the flow after every update with a learned 9-neighbour mask (:func:`convex_upsample`).

    Differences from the released code: the lookup offsets are ordered (dy, dx) row-major and added to (x, y) as
    named (the release swaps them, a fixed channel permutation); pyramid levels keep a dimension of size 1 instead
    of failing; no dropout, mixed precision or warm start; inputs are padded at the bottom and right (the release's
    evaluation pads both sides, the same amount of padding placed differently).

    Published weights (``model.weights=<file>``): princeton-vl/RAFT's and torchvision's checkpoints load, converted
    exactly (:mod:`visionbench.models.flow.raft_checkpoints`): ``raft-things.pth`` / torchvision's ``raft_large_*``
    into RAFT, ``raft-small.pth`` / ``raft_small_*`` into RAFT-small, both at ``width_multiplier=1``.

    Input: ``image1, image2`` ``B, 3, H, W`` RGB in [0, 1], normalised internally to ``2 x - 1``, any size (padded
    at the bottom and right to multiples of 8 by replicating the border; flows cropped back). Eval mode returns the
    final flow ``B, 2, H, W`` in pixels (u = x, v = y, frame 1 -> 2); training mode returns
    ``{"flow": final flow, "predictions": [full-resolution flow after each update]}`` for
    :class:`~visionbench.losses.flow.SequenceLoss`.

    Args:
        iters: updates in training mode (paper: 12).
        eval_iters: updates in eval mode (default 24, RAFT's KITTI evaluation; its Sintel evaluation uses 32);
            ``None`` = ``iters``. ``forward(..., iters=n)`` overrides both.
        width_multiplier: scales every channel count (encoders, hidden and context dims, motion encoder, heads;
            not the 9 * 64 mask weights), for small CPU models.
        corr_levels: pyramid levels (paper: 4).
        corr_radius: lookup radius (paper: 4; RAFT-small: 3).
    """

    architecture = _FULL
    checkpoint_formats = (OFFICIAL_RAFT, TORCHVISION_RAFT)

    def __init__(
        self,
        iters: int = 12,
        eval_iters: int | None = 24,
        width_multiplier: float = 1.0,
        corr_levels: int = 4,
        corr_radius: int = 4,
    ) -> None:
        super().__init__(iters, eval_iters)
        arch = self.architecture
        w = partial(scaled, multiplier=width_multiplier)
        self.width_multiplier = width_multiplier
        self.corr_levels = corr_levels
        self.corr_radius = corr_radius
        self.hidden_dim, self.context_dim = w(arch.hidden_dim), w(arch.context_dim)
        widths = tuple(w(c) for c in arch.encoder_widths)
        self.feature_encoder = FeatureEncoder(w(arch.feature_dim), widths, "instance", arch.bottleneck)
        self.context_encoder = FeatureEncoder(
            self.hidden_dim + self.context_dim, widths, arch.context_norm, arch.bottleneck
        )
        motion_encoder = MotionEncoder(
            corr_levels * (2 * corr_radius + 1) ** 2,
            [w(c) for c in arch.corr_widths],
            [w(c) for c in arch.flow_widths],
            w(arch.motion_dim - 2) + 2,
        )
        self.update_block = UpdateBlock(
            motion_encoder,
            self.context_dim,
            self.hidden_dim,
            separable=arch.separable_gru,
            head_channels=w(arch.head_channels),
            mask_channels=None if arch.mask_channels is None else w(arch.mask_channels),
        )

    def upsample(self, flow: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        return bilinear_upsample(flow) if mask is None else convex_upsample(flow, mask)

    def forward(
        self, image1: torch.Tensor, image2: torch.Tensor, iters: int | None = None
    ) -> torch.Tensor | dict[str, torch.Tensor | list[torch.Tensor]]:
        iters = self.iteration_count(iters)
        image1, image2, size = self.prepare_images(image1, image2)
        features1, features2 = self.feature_encoder(torch.cat([image1, image2], dim=0)).chunk(2, dim=0)
        pyramid = CorrelationPyramid(
            all_pairs_correlation(features1.float(), features2.float()), self.corr_levels, self.corr_radius
        )
        hidden, context = self.context_encoder(image1).split([self.hidden_dim, self.context_dim], dim=1)
        hidden, context = torch.tanh(hidden), F.relu(context)

        batch, _, height, width = features1.shape
        coords0 = coords_grid(batch, height, width, features1.float())
        coords1 = coords0.clone()
        predictions = []
        for index in range(iters):
            coords1 = coords1.detach()
            flow = coords1 - coords0
            hidden, mask, delta = self.update_block(hidden, context, pyramid.lookup(coords1), flow)
            coords1 = coords1 + delta
            if self.training or index == iters - 1:
                predictions.append(crop_to(self.upsample(coords1 - coords0, mask), size))
        return self.output(predictions)


class RAFTSmall(RAFT):
    """RAFT-small (Teed and Deng, ECCV 2020; 1.0M parameters at width 1, as the paper).

    As :class:`RAFT` with the paper's small configuration: bottleneck units 32-64-96 in both encoders (feature
    encoder 128 channels with instance norm; context encoder without normalisation, 96 hidden + 64 context
    channels), lookup radius 3 (4 x 49 = 196 correlation channels), motion encoder ``(96,)``/``(64, 32)`` to 82
    channels, a single 3x3 ConvGRU with 96 hidden channels, flow head with 128 channels, and bilinear x8
    upsampling of the flow instead of convex upsampling. Input, output and arguments as :class:`RAFT`.
    """

    architecture = _SMALL

    def __init__(
        self,
        iters: int = 12,
        eval_iters: int | None = 24,
        width_multiplier: float = 1.0,
        corr_levels: int = 4,
        corr_radius: int = 3,
    ) -> None:
        super().__init__(iters, eval_iters, width_multiplier, corr_levels, corr_radius)
