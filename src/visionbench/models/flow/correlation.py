"""Cost volumes of the learned flow networks.

- :func:`displacement_correlation` / :class:`Correlation`: FlowNetC's correlation layer (Dosovitskiy et al., "FlowNet:
  Learning Optical Flow with Convolutional Networks", ICCV 2015, arXiv:1504.06852, Sec. 3), the dot products of
  each frame-1 feature with the frame-2 features in a square neighbourhood of displacements.
- :func:`all_pairs_correlation` and :class:`CorrelationPyramid`: RAFT's all-pairs 4D correlation volume, its
  pooled pyramid and the windowed bilinear lookup (Teed and Deng, "RAFT: Recurrent All-Pairs Field Transforms for
  Optical Flow", ECCV 2020, arXiv:2003.12039, Sec. 3.2), also used by FlowFormer for its local cost window.
- :func:`coords_grid`: the pixel coordinate grid the iterative networks update.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

__all__ = [
    "Correlation",
    "CorrelationPyramid",
    "all_pairs_correlation",
    "coords_grid",
    "displacement_correlation",
    "displacement_offsets",
]


def displacement_offsets(max_displacement: int, stride: int) -> list[int]:
    """The displacements sampled along each axis: ``-max_displacement, ..., max_displacement`` in steps of
    ``stride`` (FlowNetC: -20..20 in steps of 2, 21 values)."""
    if max_displacement < 0 or stride < 1:
        raise ValueError(f"need max_displacement >= 0 and stride >= 1, got {max_displacement} and {stride}")
    return list(range(-(max_displacement // stride) * stride, max_displacement + 1, stride))


class _DisplacementCorrelation(torch.autograd.Function):
    """Forward and backward as loops over the displacements, each a channel-reduced product of two ``B, C, H, W``
    tensors, so neither pass holds more than one ``B, C, H, W`` temporary (never a ``B, C, D, H, W`` volume)."""

    @staticmethod
    def forward(ctx, features1: torch.Tensor, features2: torch.Tensor, offsets: Sequence[int]) -> torch.Tensor:
        batch, channels, height, width = features1.shape
        reach = max(abs(o) for o in offsets)
        padded2 = F.pad(features2, (reach, reach, reach, reach))
        # displacement-major output and one reused product buffer: no allocation inside the loop (on CPU, hundreds
        # of fresh B,C,H,W temporaries can cost more in page faults than the arithmetic)
        out = features1.new_empty(len(offsets) ** 2, batch, height, width)
        product = torch.empty_like(features1)
        for index, (dy, dx) in enumerate((dy, dx) for dy in offsets for dx in offsets):
            window = padded2[:, :, reach + dy : reach + dy + height, reach + dx : reach + dx + width]
            torch.sum(torch.mul(features1, window, out=product), dim=1, out=out[index])
        ctx.save_for_backward(features1, padded2)
        ctx.offsets = tuple(offsets)
        return out.transpose(0, 1).contiguous().div_(channels)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, None]:
        features1, padded2 = ctx.saved_tensors
        offsets = ctx.offsets
        _, channels, height, width = features1.shape
        reach = max(abs(o) for o in offsets)
        grad_out = grad_out / channels
        grad1 = torch.zeros_like(features1) if ctx.needs_input_grad[0] else None
        grad_padded2 = torch.zeros_like(padded2) if ctx.needs_input_grad[1] else None
        for index, (dy, dx) in enumerate((dy, dx) for dy in offsets for dx in offsets):
            rows = slice(reach + dy, reach + dy + height)
            cols = slice(reach + dx, reach + dx + width)
            weight = grad_out[:, index : index + 1]
            if grad1 is not None:
                grad1.addcmul_(padded2[:, :, rows, cols], weight)
            if grad_padded2 is not None:
                grad_padded2[:, :, rows, cols].addcmul_(features1, weight)
        grad2 = None
        if grad_padded2 is not None:
            grad2 = grad_padded2[:, :, reach : reach + height, reach : reach + width].contiguous()
        return grad1, grad2, None


def displacement_correlation(
    features1: torch.Tensor, features2: torch.Tensor, max_displacement: int = 20, stride: int = 2
) -> torch.Tensor:
    """FlowNetC's correlation with a 1x1 patch (the paper's ``k = 0``) and spatial stride 1.

    ``out[b, i * D + j, y, x] = sum_c f1[b, c, y, x] * f2[b, c, y + d_i, x + d_j] / C`` for the displacements
    ``d = displacement_offsets(max_displacement, stride)`` (``D`` of them; ``i`` indexes the vertical and ``j`` the
    horizontal displacement, the channel order of the released Caffe layer), with ``f2`` zero outside the image.

    Inputs ``B, C, H, W`` (the same shape); output ``B, D * D, H, W`` (FlowNetC: ``D = 21``, 441 channels). Forward
    and backward loop over the ``D * D`` displacements, so their peak memory is a few ``B, C, H, W`` tensors (the
    output aside), not the ``B, C, D * D, H, W`` products of a vectorised version. Not twice differentiable.
    """
    if features1.shape != features2.shape:
        raise ValueError(f"correlation needs two features of one shape, got {features1.shape} and {features2.shape}")
    return _DisplacementCorrelation.apply(features1, features2, displacement_offsets(max_displacement, stride))


class Correlation(nn.Module):
    """:func:`displacement_correlation` as a module (no parameters).

    Args:
        max_displacement: largest displacement ``d`` in feature pixels (FlowNetC: 20 at 1/8 resolution).
        stride: step between sampled displacements (FlowNetC: 2, so 21 x 21 = 441 output channels).
    """

    def __init__(self, max_displacement: int = 20, stride: int = 2) -> None:
        super().__init__()
        self.max_displacement = max_displacement
        self.stride = stride
        self.out_channels = len(displacement_offsets(max_displacement, stride)) ** 2

    def forward(self, features1: torch.Tensor, features2: torch.Tensor) -> torch.Tensor:
        return displacement_correlation(features1, features2, self.max_displacement, self.stride)

    def extra_repr(self) -> str:
        return f"max_displacement={self.max_displacement}, stride={self.stride}, out_channels={self.out_channels}"


def coords_grid(batch: int, height: int, width: int, like: torch.Tensor) -> torch.Tensor:
    """Pixel coordinates ``B, 2, H, W`` (channel 0 = x, the column; channel 1 = y, the row) with ``like``'s device
    and dtype."""
    ys, xs = torch.meshgrid(
        torch.arange(height, device=like.device, dtype=like.dtype),
        torch.arange(width, device=like.device, dtype=like.dtype),
        indexing="ij",
    )
    return torch.stack([xs, ys]).unsqueeze(0).repeat(batch, 1, 1, 1)


def all_pairs_correlation(features1: torch.Tensor, features2: torch.Tensor, scale: bool = True) -> torch.Tensor:
    """Dot products of every frame-1 feature vector with every frame-2 feature vector (RAFT's Eq. 1).

    Inputs ``B, D, H, W``; output ``B * H * W, 1, H, W``: one 2D cost map over frame 2 per frame-1 pixel, in
    row-major order of the frame-1 pixels. With ``scale`` the products are divided by ``sqrt(D)`` as RAFT's code.
    """
    batch, dim, height, width = features1.shape
    volume = torch.bmm(features1.flatten(2).transpose(1, 2), features2.flatten(2))
    if scale:
        volume = volume / math.sqrt(dim)
    return volume.reshape(batch * height * width, 1, height, width)


class CorrelationPyramid:
    """RAFT's correlation pyramid and lookup (Sec. 3.2).

    Level 0 is the all-pairs volume; level ``l`` average-pools the frame-2 dimensions of level ``l - 1`` with a
    2x2 kernel and stride 2 (a dimension already of size 1 stays 1, so any input size works; otherwise odd sizes
    drop their last row or column, as RAFT). :meth:`lookup` samples each level bilinearly (zero outside) on a
    ``(2r + 1) x (2r + 1)`` grid of integer offsets around ``coords / 2**l`` and concatenates the levels.

    Args:
        volume: ``B * H * W, 1, H2, W2`` cost maps (:func:`all_pairs_correlation`).
        levels: pyramid levels (RAFT: 4; FlowFormer's local cost: 1).
        radius: lookup radius ``r`` (RAFT: 4, RAFT-small: 3; FlowFormer: 4).
    """

    def __init__(self, volume: torch.Tensor, levels: int = 4, radius: int = 4) -> None:
        if levels < 1 or radius < 0:
            raise ValueError(f"need levels >= 1 and radius >= 0, got {levels} and {radius}")
        self.levels = levels
        self.radius = radius
        self.pyramid = [volume]
        for _ in range(levels - 1):
            height, width = volume.shape[-2:]
            kernel = (min(2, height), min(2, width))
            volume = F.avg_pool2d(volume, kernel, stride=kernel)
            self.pyramid.append(volume)

    @property
    def out_channels(self) -> int:
        return self.levels * (2 * self.radius + 1) ** 2

    def lookup(self, coords: torch.Tensor) -> torch.Tensor:
        """Correlation features ``B, levels * (2r + 1)**2, H, W`` at the frame-2 positions ``coords`` ``B, 2, H, W``
        (x, y in level-0 pixels). Channels: level-major, then offset row (dy), then offset column (dx)."""
        batch, _, height, width = coords.shape
        steps = torch.arange(-self.radius, self.radius + 1, device=coords.device, dtype=coords.dtype)
        dy, dx = torch.meshgrid(steps, steps, indexing="ij")
        offsets = torch.stack([dx, dy], dim=-1)  # 2r+1, 2r+1, (x, y)
        centres = coords.permute(0, 2, 3, 1).reshape(batch * height * width, 1, 1, 2)
        sampled = []
        for level, volume in enumerate(self.pyramid):
            points = centres / 2**level + offsets
            size = torch.tensor(volume.shape[-1:-3:-1], device=coords.device, dtype=coords.dtype)  # (W2, H2)
            grid = (2 * points + 1) / size - 1  # pixel centres -> [-1, 1] with align_corners=False
            values = F.grid_sample(volume, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
            sampled.append(values.reshape(batch, height, width, -1))
        return torch.cat(sampled, dim=-1).permute(0, 3, 1, 2).contiguous()
