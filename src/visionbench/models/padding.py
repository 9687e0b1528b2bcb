"""Padding inputs to the size multiple a network needs, and cropping its outputs back.

Every network here that needs a size multiple (the U-Nets: ``2 ** depth`` or 32; RAFT and FlowFormer: 8; FlowNet:
64) accepts any size: the input is padded at the end of each spatial dimension (bottom and right of an image, and
back of a volume) up to the next multiple, and the output is cropped back. Padding only at the ends keeps the pixel
grid of the input unchanged, so flow vectors need no correction and a prediction at stride ``s`` covers the input
pixels ``[i s, (i + 1) s)`` in row ``i`` (the multi-scale FlowNet loss relies on this).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F

__all__ = ["PaddingMode", "crop_to", "crop_to_stride", "pad_to_multiple"]

PaddingMode = Literal["replicate", "reflect"]
"""How :func:`pad_to_multiple` fills the padding."""


def pad_to_multiple(x: torch.Tensor, multiple: int, mode: PaddingMode) -> torch.Tensor:
    """Pad the spatial sizes of ``B, C, *S`` (``S`` = ``H, W`` or ``D, H, W``) at their ends to multiples of
    ``multiple``; ``x`` itself when they already are.

    ``mode="replicate"`` repeats the last row / column (the flow networks). ``mode="reflect"`` mirrors the input
    where every padding is smaller than its size and pads with zeros otherwise (the U-Nets; a reflection cannot be
    longer than the input).
    """
    if mode not in ("replicate", "reflect"):
        raise ValueError(f"unknown padding mode {mode!r}: choose replicate or reflect")
    sizes = x.shape[2:]
    pads = [(-size) % multiple for size in sizes]
    if not any(pads):
        return x
    if mode == "reflect" and not all(pad < size for pad, size in zip(pads, sizes, strict=True)):
        mode = "constant"
    return F.pad(x, [value for pad in reversed(pads) for value in (0, pad)], mode=mode)


def crop_to(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """The leading ``size`` of the last ``len(size)`` dimensions of ``x`` (an output computed on a padded input)."""
    return x[(..., *(slice(0, extent) for extent in size))]


def crop_to_stride(flow: torch.Tensor, size: Sequence[int], stride: int) -> torch.Tensor:
    """Crop a prediction at ``stride`` of a bottom/right-padded input to the cells that overlap the ``size`` input:
    ``ceil(H / stride) x ceil(W / stride)``."""
    return crop_to(flow, [math.ceil(extent / stride) for extent in size])
