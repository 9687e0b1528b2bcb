"""Padding image pairs to the size multiple a flow network needs, and cropping its flow back.

Every learned flow network here accepts any ``H, W``: the images are padded at the bottom and right by
replicating their last row / column up to the next multiple of the network's total stride (8 for RAFT and
FlowFormer, 64 for FlowNet), and the flow is cropped back to ``H, W``. Padding only at the bottom and right keeps
the pixel grid of the input unchanged, so flow vectors need no correction and a prediction at stride ``s`` covers
the input pixels ``[i s, (i + 1) s)`` in row ``i`` (the multi-scale FlowNet loss relies on this).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["crop_to", "crop_to_stride", "pad_to_multiple"]


def pad_to_multiple(
    images: tuple[torch.Tensor, ...], multiple: int
) -> tuple[tuple[torch.Tensor, ...], tuple[int, int]]:
    """Pad each ``B, C, H, W`` image at the bottom and right (replicating the border) to multiples of ``multiple``.

    Returns the padded images and the original ``(H, W)``.
    """
    height, width = images[0].shape[-2:]
    pad_bottom = -height % multiple
    pad_right = -width % multiple
    if pad_bottom == 0 and pad_right == 0:
        return images, (height, width)
    padded = tuple(F.pad(image, (0, pad_right, 0, pad_bottom), mode="replicate") for image in images)
    return padded, (height, width)


def crop_to(flow: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The top-left ``size`` of a ``B, 2, H', W'`` flow computed on a padded input."""
    return flow[..., : size[0], : size[1]]


def crop_to_stride(flow: torch.Tensor, size: tuple[int, int], stride: int) -> torch.Tensor:
    """Crop a prediction at ``stride`` of a bottom/right-padded input to the cells that overlap the ``size`` input:
    ``ceil(H / stride) x ceil(W / stride)``."""
    return flow[..., : math.ceil(size[0] / stride), : math.ceil(size[1] / stride)]
