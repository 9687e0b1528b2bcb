"""Training losses of the learned flow networks: FlowNet's multi-scale endpoint error and RAFT's sequence loss.

Both take the network's training-mode output ``{"flow": B,2,H,W, "predictions": [...]}``, the ground-truth flow
``B, 2, H, W`` (pixels, frame 1 -> frame 2) and a validity mask ``B, H, W`` (bool; ``None`` = all valid), and
return a scalar. Invalid pixels contribute nothing and may hold any value, NaN included.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["MultiScaleEPELoss", "SequenceLoss", "downsample_flow", "prediction_stride"]

FLOWNET_WEIGHTS = (0.32, 0.08, 0.02, 0.01, 0.005)
"""FlowNet's loss weights of flow6 (stride 64) .. flow2 (stride 4), coarse to fine (the released training
prototxt; FlowNetPytorch's ``multiscaleEPE``)."""


def _valid_mask(flow: Tensor, valid: Tensor | None) -> Tensor:
    mask = torch.isfinite(flow).all(dim=1)
    return mask if valid is None else mask & valid.bool()


def prediction_stride(prediction_size: tuple[int, int], target_size: tuple[int, int]) -> int:
    """The power-of-two stride ``s`` of a prediction that covers a ``target_size`` input with
    ``ceil(H / s) x ceil(W / s)`` cells (how the flow networks here crop their coarse predictions).

    The smallest such ``s`` is returned; a larger one with the same cell counts only exists when each dimension has
    a single cell, and then both strides pool the same pixels.
    """
    height, width = target_size
    for exponent in range(32):
        stride = 2**exponent
        if (-(-height // stride), -(-width // stride)) == tuple(prediction_size):
            return stride
    raise ValueError(
        f"a {tuple(prediction_size)} prediction is not a power-of-two stride of a {target_size} target "
        "(expected ceil(H / s) x ceil(W / s) cells)"
    )


def downsample_flow(flow: Tensor, valid: Tensor, stride: int) -> tuple[Tensor, Tensor]:
    """Average the valid flow vectors of each ``stride x stride`` cell (the input padded at the bottom and right
    with invalid pixels to multiples of ``stride``). A cell is valid when it holds at least one valid pixel.

    Dense ground truth gives area interpolation (FlowNet's downsampling); for sparse ground truth (KITTI) only
    measured vectors are averaged. Flow magnitudes are not rescaled: FlowNet's predictions at every scale are in
    pixels of the input resolution. Returns ``B, 2, ceil(H / s), ceil(W / s)`` and its bool mask.
    """
    if stride == 1:
        return torch.where(valid[:, None], flow, 0.0), valid
    height, width = flow.shape[-2:]
    pad = (0, -width % stride, 0, -height % stride)
    weights = F.pad(valid[:, None].to(flow.dtype), pad)
    sums = F.avg_pool2d(F.pad(torch.where(valid[:, None], flow, 0.0), pad), stride)
    counts = F.avg_pool2d(weights, stride)
    return sums / counts.clamp_min(1e-12), counts[:, 0] > 0


class MultiScaleEPELoss(nn.Module):
    """FlowNet's multi-scale endpoint-error loss (Dosovitskiy et al., ICCV 2015, Sec. 5; the released training).

    ``loss = sum_k weights[k] * sum over valid cells of ||flow_scale * (prediction_k - target_k)||_2 / B``, where
    ``target_k`` is the ground truth averaged over each prediction cell (:func:`downsample_flow`, at the stride found
    by :func:`prediction_stride`), not rescaled in magnitude. With ``reduction="mean"`` each scale's EPE is averaged
    over its valid cells instead of summed (per-pixel weights then no longer favour the fine scales).

    The defaults reproduce the released FlowNet training: weights 0.32, 0.08, 0.02, 0.01, 0.005 for flow6 (stride
    64) .. flow2 (stride 4), i.e. the largest weight on the coarsest scale, whose few pixels are summed; EPE summed
    over pixels and divided by the batch size; flows in units of 20 pixels (``flow_scale=0.05``; the networks here
    return predictions in pixels). Scaling by a constant does not change Adam's steps, only the logged value.

    Args:
        weights: one weight per entry of ``output["predictions"]``, in the same (coarse to fine) order.
        flow_scale: factor applied to prediction and target before the EPE (FlowNet: 1 / 20).
        reduction: ``"sum"`` (per image, FlowNet) or ``"mean"`` over valid cells at each scale.

    ``forward(output, flow, valid=None)``: ``output["predictions"]`` the list of ``B, 2, h_k, w_k`` predictions,
    ``flow`` ``B, 2, H, W`` target in pixels, ``valid`` ``B, H, W`` bool. Returns a scalar.
    """

    def __init__(
        self,
        weights: Sequence[float] = FLOWNET_WEIGHTS,
        flow_scale: float = 0.05,
        reduction: Literal["sum", "mean"] = "sum",
    ) -> None:
        super().__init__()
        if reduction not in ("sum", "mean"):
            raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")
        self.weights = tuple(float(w) for w in weights)
        self.flow_scale = float(flow_scale)
        self.reduction = reduction

    def forward(self, output: Mapping[str, Tensor | list[Tensor]], flow: Tensor, valid: Tensor | None = None) -> Tensor:
        predictions = output["predictions"]
        if len(predictions) != len(self.weights):
            raise ValueError(f"{len(predictions)} predictions but {len(self.weights)} loss weights")
        mask = _valid_mask(flow, valid)
        total = flow.new_zeros(())
        for weight, prediction in zip(self.weights, predictions, strict=True):
            stride = prediction_stride(tuple(prediction.shape[-2:]), tuple(flow.shape[-2:]))
            target, cell_valid = downsample_flow(flow, mask, stride)
            epe = torch.linalg.vector_norm(self.flow_scale * (prediction - target), dim=1)
            epe = torch.where(cell_valid, epe, 0.0)
            if self.reduction == "sum":
                value = epe.sum() / flow.shape[0]
            else:
                value = epe.sum() / cell_valid.sum().clamp_min(1)
            total = total + weight * value
        return total


class SequenceLoss(nn.Module):
    """RAFT's sequence loss (Teed and Deng, ECCV 2020, Eq. 7), also FlowFormer's.

    ``loss = sum_i gamma**(N - 1 - i) * L1(prediction_i, flow)`` over the ``N`` full-resolution predictions of the
    iterations (the last weighted 1). Pixels that are invalid or whose ground-truth magnitude is not below
    ``max_flow`` are excluded. The L1 is ``|du| + |dv|`` over the excluded-as-zero map averaged over all ``B * 2 * H *
    W`` entries as RAFT's code (``average_over="all"``: sparse ground truth then weighs less), or averaged over the
    valid entries only (``average_over="valid"``).

    Args:
        gamma: decay of earlier iterations' weights (RAFT: 0.8; 0.85 when fine-tuning on KITTI/Sintel).
        max_flow: ground-truth magnitude (pixels) from which pixels are excluded (RAFT: 400).
        average_over: ``"all"`` (RAFT) or ``"valid"``.

    ``forward(output, flow, valid=None)``: ``output["predictions"]`` the list of ``B, 2, H, W`` flows, ``flow`` the
    ``B, 2, H, W`` target, ``valid`` ``B, H, W`` bool. Returns a scalar.
    """

    def __init__(
        self, gamma: float = 0.8, max_flow: float = 400.0, average_over: Literal["all", "valid"] = "all"
    ) -> None:
        super().__init__()
        if average_over not in ("all", "valid"):
            raise ValueError(f"average_over must be 'all' or 'valid', got {average_over!r}")
        self.gamma = float(gamma)
        self.max_flow = float(max_flow)
        self.average_over = average_over

    def forward(self, output: Mapping[str, Tensor | list[Tensor]], flow: Tensor, valid: Tensor | None = None) -> Tensor:
        predictions = output["predictions"]
        mask = _valid_mask(flow, valid)
        mask = mask & (torch.linalg.vector_norm(torch.where(mask[:, None], flow, 0.0), dim=1) < self.max_flow)
        mask = mask[:, None]
        denominator = flow.numel() if self.average_over == "all" else (2 * mask.sum()).clamp_min(1)
        total = flow.new_zeros(())
        for index, prediction in enumerate(predictions):
            weight = self.gamma ** (len(predictions) - 1 - index)
            l1 = torch.where(mask, (prediction - flow).abs(), 0.0)
            total = total + weight * l1.sum() / denominator
        return total
