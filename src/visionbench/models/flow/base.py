"""What the recurrent flow networks (RAFT, RAFT-small, FlowFormer) share around their refinement at 1/8
resolution."""

from __future__ import annotations

import torch
from torch import nn

from visionbench.models.flow.update import STRIDE
from visionbench.models.padding import pad_to_multiple

__all__ = ["IterativeFlowModel"]


class IterativeFlowModel(nn.Module):
    """What RAFT and FlowFormer share around their recurrent refinement at 1/8 resolution: the iteration counts,
    the input convention (pad to multiples of 8, map [0, 1] to [-1, 1]) and the output contract (eval mode: the
    final flow; training mode: ``{"flow": final flow, "predictions": [flow after each iteration]}``).

    Args:
        iters: iterations in training mode.
        eval_iters: iterations in eval mode; ``None`` = ``iters``.
    """

    def __init__(self, iters: int, eval_iters: int | None) -> None:
        super().__init__()
        self.iters = iters
        self.eval_iters = iters if eval_iters is None else eval_iters

    def iteration_count(self, iters: int | None) -> int:
        """``iters`` if given, else the count of the current mode (training or eval)."""
        if iters is not None:
            return iters
        return self.iters if self.training else self.eval_iters

    @staticmethod
    def prepare_images(
        image1: torch.Tensor, image2: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int]]:
        """Both ``B, 3, H, W`` images in [0, 1] padded to multiples of 8 and mapped to ``2 x - 1``, and ``(H, W)``."""
        size = (image1.shape[-2], image1.shape[-1])
        image1, image2 = (pad_to_multiple(image, STRIDE, "replicate") for image in (image1, image2))
        return 2 * image1 - 1, 2 * image2 - 1, size

    def output(self, predictions: list[torch.Tensor]) -> torch.Tensor | dict[str, torch.Tensor | list[torch.Tensor]]:
        """The final flow in eval mode; the final flow and every prediction in training mode."""
        if not self.training:
            return predictions[-1]
        return {"flow": predictions[-1], "predictions": predictions}
