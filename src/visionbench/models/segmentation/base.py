"""The base of the backbone-based segmenters (FCN, DeepLabV3/V3+, PSPNet, RefineNet): backbone, decoder and
optional auxiliary head behind the ``B,C,H,W`` logits contract."""

from __future__ import annotations

import torch
from torch import nn

from visionbench.models.segmentation.heads import FCNHead, resize

__all__ = ["BackboneSegmenter"]


class BackboneSegmenter(nn.Module):
    """Backbone -> ``classifier`` decoder -> bilinear upsampling to the input size, with an optional auxiliary
    :class:`FCNHead` on the third backbone feature (ResNet's layer3), as torchvision's segmentation models.

    Input ``B, C_in, H, W`` of any size; output logits ``B, num_classes, H, W``, or
    ``{"out": logits, "aux": aux_logits}`` (both at ``H, W``) when built with ``aux_head``. Subclasses
    whose decoder reads more than the last feature override :meth:`decode`.

    Args:
        backbone: module returning a list of features, with ``out_channels`` and ``strides`` attributes.
        classifier: decoder mapping the last feature to logits at its resolution.
        num_classes: number of output classes.
        aux_head: add the auxiliary FCN head (trained with ``aux_weight`` by the segmentation task).
        channel_dropout: the auxiliary head drops channels (``nn.Dropout2d``, as mmsegmentation's) instead of
            elements (torchvision's).
    """

    def __init__(
        self,
        backbone: nn.Module,
        classifier: nn.Module,
        num_classes: int,
        aux_head: bool,
        channel_dropout: bool = False,
    ) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = num_classes
        self.backbone = backbone
        self.classifier = classifier
        self.aux_classifier = (
            FCNHead(backbone.out_channels[2], num_classes, channel_dropout=channel_dropout) if aux_head else None
        )

    def decode(self, features: list[torch.Tensor]) -> torch.Tensor:
        """Logits at the decoder's resolution from the backbone features."""
        return self.classifier(features[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        size = x.shape[-2:]
        features = self.backbone(x)
        out = resize(self.decode(features), size)
        if self.aux_classifier is None:
            return out
        return {"out": out, "aux": resize(self.aux_classifier(features[2]), size)}
