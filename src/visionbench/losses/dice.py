"""Multi-class soft Dice loss."""

from __future__ import annotations

from torch import Tensor, nn


class SoftDiceLoss(nn.Module):
    """Multi-class soft Dice loss (Milletari et al., "V-Net", 3DV 2016; as in segmentation_models.pytorch).

    With p = softmax(logits) and y the one-hot target, per class c over all valid pixels of the batch:
    ``dice_c = (2 sum p_c y_c + smooth) / max(sum p_c + sum y_c + smooth, eps)`` and
    ``loss = 1 - mean(dice_c over the classes present in the batch's target)``.

    - Pixels whose target is ``ignore_index`` contribute to neither sum and get exactly zero gradient.
    - Classes with no target pixel in the batch are left out of the mean, because their Dice is undefined
      (smp also zeroes their term, but then divides by all C classes, which scales the loss by the fraction of
      classes present; here the loss of a perfect prediction is 0 and of a wrong one near 1 whatever C is).
      Their predicted probability mass still lowers the Dice of the present classes through the softmax.
    - A batch with no valid pixel gives 0 (still attached to the graph, with zero gradient).

    The one-hot product is computed by gathering p at the target class, so no ``B,C,H,W`` one-hot tensor is
    built and ignored labels (e.g. 255) never reach an indexing operation.

    Args:
        ignore_index: target value of pixels to ignore.
        smooth: additive smoothing of numerator and denominator.
        eps: lower bound of the denominator.

    Shapes: ``logits`` ``B,C,H,W`` (or ``B,C,*``) raw scores; ``target`` ``B,H,W`` (or ``B,*``) integer labels
    in 0..C-1 or ``ignore_index``. Returns a scalar.
    """

    def __init__(self, ignore_index: int = 255, smooth: float = 1.0, eps: float = 1e-7) -> None:
        super().__init__()
        self.ignore_index = ignore_index
        self.smooth = smooth
        self.eps = eps

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        if logits.shape[:1] + logits.shape[2:] != target.shape:
            raise ValueError(f"logits {tuple(logits.shape)} do not match target {tuple(target.shape)}")
        num_classes = logits.shape[1]
        probs = logits.flatten(2).softmax(dim=1)  # B, C, N
        target = target.flatten(1)  # B, N
        valid = target != self.ignore_index
        labels = target.masked_fill(~valid, 0).long()
        weight = valid.to(probs.dtype)

        pred_sum = (probs * weight.unsqueeze(1)).sum(dim=(0, 2))
        # probability of the target class at each pixel (0 where ignored)
        p_true = probs.gather(1, labels.unsqueeze(1)).squeeze(1) * weight
        zeros = probs.new_zeros(num_classes)
        intersection = zeros.scatter_add(0, labels.flatten(), p_true.flatten())
        target_sum = zeros.scatter_add(0, labels.flatten(), weight.flatten())

        dice = (2 * intersection + self.smooth) / (pred_sum + target_sum + self.smooth).clamp_min(self.eps)
        present = (target_sum > 0).to(probs.dtype)
        return ((1 - dice) * present).sum() / present.sum().clamp_min(1)
