"""The recurrent update of RAFT (Teed and Deng, ECCV 2020, Sec. 3.3), shared with FlowFormer: ConvGRUs, motion
encoder, flow head, the update block and the upsampling of the 1/8-resolution flow."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ConvGRU",
    "FlowHead",
    "MotionEncoder",
    "SepConvGRU",
    "UpdateBlock",
    "bilinear_upsample",
    "convex_upsample",
]

STRIDE = 8
"""Resolution of the recurrent updates: 1/8 of the input."""


class ConvGRU(nn.Module):
    """Convolutional GRU: ``z, r = sigmoid(conv([h, x]))``, ``q = tanh(conv([r * h, x]))``, ``h' = (1 - z) h + z q``
    (RAFT's Eq. 3-6). The update and reset gates share one convolution with ``2 * hidden`` outputs (the same
    parameters as two separate ones).

    Args:
        hidden_dim: channels of the hidden state.
        input_dim: channels of the input.
        kernel_size: convolution kernel (RAFT-small: 3x3; the halves of :class:`SepConvGRU`: 1x5 and 5x1).
    """

    def __init__(self, hidden_dim: int, input_dim: int, kernel_size: int | tuple[int, int] = 3) -> None:
        super().__init__()
        kernel = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        padding = (kernel[0] // 2, kernel[1] // 2)
        self.hidden_dim = hidden_dim
        self.gates = nn.Conv2d(hidden_dim + input_dim, 2 * hidden_dim, kernel, padding=padding)
        self.candidate = nn.Conv2d(hidden_dim + input_dim, hidden_dim, kernel, padding=padding)

    def forward(self, hidden: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        update, reset = torch.sigmoid(self.gates(torch.cat([hidden, x], dim=1))).chunk(2, dim=1)
        candidate = torch.tanh(self.candidate(torch.cat([reset * hidden, x], dim=1)))
        return (1 - update) * hidden + update * candidate


class SepConvGRU(nn.Module):
    """RAFT's separable ConvGRU: a GRU with 1x5 convolutions followed by one with 5x1 convolutions."""

    def __init__(self, hidden_dim: int, input_dim: int) -> None:
        super().__init__()
        self.horizontal = ConvGRU(hidden_dim, input_dim, (1, 5))
        self.vertical = ConvGRU(hidden_dim, input_dim, (5, 1))

    def forward(self, hidden: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.vertical(self.horizontal(hidden, x), x)


class MotionEncoder(nn.Module):
    """RAFT's motion encoder: correlation features through a 1x1 then 3x3 convolutions (``corr_widths``), the
    current flow through a 7x7 then 3x3 convolutions (``flow_widths``), both concatenated, a 3x3 convolution to
    ``out_channels - 2``, and the flow appended. Every convolution is followed by ReLU.

    RAFT: ``corr_widths=(256, 192)``, ``flow_widths=(128, 64)``, 128 output channels. RAFT-small: ``(96,)``,
    ``(64, 32)``, 82.
    """

    def __init__(
        self, corr_channels: int, corr_widths: Sequence[int], flow_widths: Sequence[int], out_channels: int
    ) -> None:
        super().__init__()
        corr_layers, channels = [], corr_channels
        for index, width in enumerate(corr_widths):
            corr_layers += [nn.Conv2d(channels, width, 1 if index == 0 else 3, padding=0 if index == 0 else 1)]
            corr_layers += [nn.ReLU()]
            channels = width
        flow_layers, flow_channels = [], 2
        for index, width in enumerate(flow_widths):
            flow_layers += [nn.Conv2d(flow_channels, width, 7 if index == 0 else 3, padding=3 if index == 0 else 1)]
            flow_layers += [nn.ReLU()]
            flow_channels = width
        self.corr = nn.Sequential(*corr_layers)
        self.flow = nn.Sequential(*flow_layers)
        self.fuse = nn.Sequential(nn.Conv2d(channels + flow_channels, out_channels - 2, 3, padding=1), nn.ReLU())
        self.out_channels = out_channels

    def forward(self, flow: torch.Tensor, corr: torch.Tensor) -> torch.Tensor:
        fused = self.fuse(torch.cat([self.corr(corr), self.flow(flow)], dim=1))
        return torch.cat([fused, flow], dim=1)


class FlowHead(nn.Module):
    """3x3 convolution, ReLU, 3x3 convolution to the 2-channel flow update."""

    def __init__(self, in_channels: int, hidden_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, hidden_channels, 3, padding=1)
        self.conv2 = nn.Conv2d(hidden_channels, 2, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(F.relu(self.conv1(x)))


class UpdateBlock(nn.Module):
    """One recurrent update: motion encoder, GRU on ``[context, motion]`` (plus globally aggregated motion when an
    ``aggregator`` is given, FlowFormer/GMA), flow head and, optionally, the convex-upsampling mask head (3x3 to
    ``mask_channels``, ReLU, 1x1 to 9 * 8 * 8 weights, scaled by 0.25 as RAFT's code).

    ``forward(hidden, context, corr, flow, attention=None)`` returns ``(hidden, mask or None, delta_flow)``.
    """

    def __init__(
        self,
        motion_encoder: MotionEncoder,
        context_dim: int,
        hidden_dim: int,
        separable: bool,
        head_channels: int,
        mask_channels: int | None,
        aggregator: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.motion_encoder = motion_encoder
        self.aggregator = aggregator
        motion = motion_encoder.out_channels * (1 if aggregator is None else 2)
        self.gru = (SepConvGRU if separable else ConvGRU)(hidden_dim, context_dim + motion)
        self.flow_head = FlowHead(hidden_dim, head_channels)
        self.mask = None
        if mask_channels is not None:
            self.mask = nn.Sequential(
                nn.Conv2d(hidden_dim, mask_channels, 3, padding=1),
                nn.ReLU(),
                nn.Conv2d(mask_channels, 9 * STRIDE * STRIDE, 1),
            )

    def forward(
        self,
        hidden: torch.Tensor,
        context: torch.Tensor,
        corr: torch.Tensor,
        flow: torch.Tensor,
        attention: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        motion = self.motion_encoder(flow, corr)
        inputs = [context, motion]
        if self.aggregator is not None:
            inputs.append(self.aggregator(attention, motion))
        hidden = self.gru(hidden, torch.cat(inputs, dim=1))
        mask = None if self.mask is None else 0.25 * self.mask(hidden)
        return hidden, mask, self.flow_head(hidden)


def convex_upsample(flow: torch.Tensor, mask: torch.Tensor, factor: int = STRIDE) -> torch.Tensor:
    """RAFT's convex upsampling: each full-resolution flow vector is a convex combination (softmax of ``mask`` over
    the 9 neighbours) of the 3x3 coarse neighbourhood of its coarse pixel, times ``factor``.

    ``flow`` ``B, 2, h, w``; ``mask`` ``B, 9 * factor**2, h, w`` (channel = neighbour * factor**2 + row * factor +
    column); output ``B, 2, factor * h, factor * w``.
    """
    batch, _, height, width = flow.shape
    weights = mask.view(batch, 1, 9, factor, factor, height, width).softmax(dim=2)
    neighbours = F.unfold(factor * flow, 3, padding=1).view(batch, 2, 9, 1, 1, height, width)
    up = (weights * neighbours).sum(dim=2)  # B, 2, factor (row), factor (column), h, w
    return up.permute(0, 1, 4, 2, 5, 3).reshape(batch, 2, factor * height, factor * width)


def bilinear_upsample(flow: torch.Tensor, factor: int = STRIDE) -> torch.Tensor:
    """RAFT-small's upsampling: bilinear (corners aligned, as RAFT's ``upflow8``) and values times ``factor``."""
    return factor * F.interpolate(flow, scale_factor=factor, mode="bilinear", align_corners=True)
