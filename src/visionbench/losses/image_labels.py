"""Image-level supervision for weakly supervised segmentation: which classes occur in an image."""

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def image_labels(mask: Tensor, num_classes: int, ignore_index: int = 255) -> Tensor:
    """``B, num_classes`` float multi-hot labels: 1 where the class occurs in the ``B, H, W`` mask (pixels equal
    to ``ignore_index`` are not counted)."""
    labels = torch.zeros(mask.shape[0], num_classes, device=mask.device)
    flat = mask.flatten(1)
    valid = flat != ignore_index
    if valid.any() and int(flat[valid].max()) >= num_classes:
        raise ValueError(f"mask holds label {int(flat[valid].max())} >= num_classes={num_classes}")
    batch_index = torch.arange(mask.shape[0], device=mask.device)[:, None].expand_as(flat)
    labels[batch_index[valid], flat[valid]] = 1.0
    return labels


class ImageLabelLoss(nn.Module):
    """Multi-label binary cross-entropy between image-level logits and the classes present in the mask.

    ``forward(image_logits B, C, mask B, H, W) -> scalar``: the mask only tells which classes occur (its pixel
    positions are not used), which is the supervision of class-activation-map localisation (Zhou et al. 2016).

    Args:
        ignore_index: mask value that marks unlabelled pixels (not counted as a class).
    """

    def __init__(self, ignore_index: int = 255) -> None:
        super().__init__()
        self.ignore_index = ignore_index

    def forward(self, image_logits: Tensor, mask: Tensor) -> Tensor:
        if image_logits.dim() != 2:
            raise ValueError(f"ImageLabelLoss expects image-level logits B,C; got shape {tuple(image_logits.shape)}")
        targets = image_labels(mask, image_logits.shape[1], self.ignore_index)
        return F.binary_cross_entropy_with_logits(image_logits, targets)
