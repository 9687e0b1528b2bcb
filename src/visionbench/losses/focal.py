"""Multi-class (softmax) focal loss."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from visionbench.losses.overlap import check_logits_match_target

REDUCTIONS = ("mean", "sum")


class FocalLoss(nn.Module):
    """Focal loss (Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017) in its multi-class softmax form.

    Per valid pixel, with p_t the softmax probability of the target class:
    ``FL = -alpha_t (1 - p_t)^gamma log(p_t)``; ``gamma = 0`` without ``alpha`` is exactly cross-entropy.
    ``log(p_t)`` comes from ``cross_entropy`` (log-softmax, numerically stable) and ``1 - p_t`` from
    ``-expm1(log p_t)``, accurate when p_t is close to 1 (and floored at the smallest normal float, so that
    ``gamma < 1`` keeps finite gradients at saturated pixels).

    - Pixels whose target is ``ignore_index`` contribute nothing and get exactly zero gradient.
    - ``"mean"`` divides by the number of valid pixels (also with ``alpha``: the alpha-balanced form of the paper,
      unlike ``nn.CrossEntropyLoss(weight=...)``, which divides by the sum of the weights); a batch with no
      valid pixel gives 0 (attached to the graph).

    Args:
        gamma: focusing parameter, >= 0 (2 in the paper).
        alpha: optional weight per class (length C), e.g. inverse class frequencies; None weighs all classes 1.
        ignore_index: target value of pixels to ignore.
        reduction: ``"mean"`` over valid pixels or ``"sum"``.

    Shapes: ``logits`` ``B,C,H,W`` (or ``B,C,*``) raw scores; ``target`` ``B,H,W`` (or ``B,*``) integer labels
    in 0..C-1 or ``ignore_index``. Returns a scalar.
    """

    alpha: Tensor | None

    def __init__(
        self,
        gamma: float = 2.0,
        alpha: Sequence[float] | None = None,
        ignore_index: int = 255,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        if gamma < 0:
            raise ValueError(f"gamma must be >= 0, got {gamma}")
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got '{reduction}'")
        self.gamma = float(gamma)
        self.ignore_index = ignore_index
        self.reduction = reduction
        self.register_buffer("alpha", None if alpha is None else torch.tensor(list(alpha), dtype=torch.float32))

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        check_logits_match_target(logits, target)
        if self.alpha is not None and self.alpha.numel() != logits.shape[1]:
            raise ValueError(f"alpha has {self.alpha.numel()} weights for {logits.shape[1]} classes")
        valid = target != self.ignore_index
        nll = F.cross_entropy(logits, target.long(), ignore_index=self.ignore_index, reduction="none")  # 0 if ignored
        if self.gamma == 0:
            loss = nll
        else:
            # 1 - p_t, floored at the smallest normal float: (1 - p_t)^gamma has an infinite slope at 0 for gamma < 1
            one_minus_pt = (-torch.expm1(-nll)).clamp_min(torch.finfo(nll.dtype).tiny)
            loss = one_minus_pt**self.gamma * nll
        if self.alpha is not None:
            loss = loss * self.alpha.to(loss.dtype)[target.masked_fill(~valid, 0).long()]
        if self.reduction == "sum":
            return loss.sum()
        return loss.sum() / valid.sum().clamp_min(1)
