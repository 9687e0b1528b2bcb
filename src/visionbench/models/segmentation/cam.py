"""Class activation maps (Zhou, Khosla, Lapedriza, Oliva and Torralba, "Learning Deep Features for
Discriminative Localization", CVPR 2016, arXiv:1512.04150): an image classifier trained with image-level labels
only, whose class activation maps localise the classes. The weakly supervised baseline of the zoo."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from visionbench.models.backbones.resnet import ResNet

__all__ = ["ClassActivationMapSegmenter"]


class ClassActivationMapSegmenter(nn.Module):
    """ResNet classifier (global average pooling + one linear layer, Zhou et al. 2016) read out as a segmenter.

    The class activation map of class ``c`` is ``M_c(x, y) = sum_k w_ck f_k(x, y)`` over the last backbone
    feature ``f`` (Zhou et al., Eq. 1), so the image logit ``s_c = mean_xy M_c + b_c`` is exactly the
    classifier of global-average-pooled features. Training sees only which classes occur in an image
    (:class:`~visionbench.losses.ImageLabelLoss` through
    :class:`~visionbench.tasks.ImageLabelSegmentationTask`); the pixel labels are used for evaluation only.

    Segmentation read-out: every map is bilinearly upsampled to the input size and scaled to ``[0, 1]`` by its
    per-image maximum (after ReLU); the score of a class is that map times the class's image-level probability
    ``sigmoid(s_c)``; the background class (``background_index``) scores the constant
    ``background_threshold`` (Zhou et al. keep CAM values above 20 % of the maximum). The logits are the
    logarithms of these scores, so arg-max and softmax rank pixels by them.

    Input ``B, 3, H, W`` (any size); output ``{"out": B, num_classes, H, W logits, "image_logits":
    B, num_classes}``.

    Args:
        num_classes: number of classes (including the background class, if any).
        backbone: :class:`~visionbench.models.backbones.resnet.ResNet` (output stride 8 or 16 gives finer maps
            than the classification stride 32; ImageNet weights load through ``backbone.weights``).
        background_index: class scored by ``background_threshold`` instead of its map, or None (every class
            localised by its map, e.g. ADE20K where no class is "background").
        background_threshold: score of the background class, in ``(0, 1)``.
    """

    def __init__(
        self,
        num_classes: int,
        backbone: ResNet,
        background_index: int | None = 0,
        background_threshold: float = 0.2,
    ) -> None:
        super().__init__()
        if int(num_classes) < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if background_index is not None and not 0 <= background_index < num_classes:
            raise ValueError(f"background_index must be in [0, {num_classes}) or None, got {background_index}")
        if not 0 < background_threshold < 1:
            raise ValueError(f"background_threshold must be in (0, 1), got {background_threshold}")
        self.num_classes = int(num_classes)
        self.backbone = backbone
        self.classifier = nn.Linear(backbone.out_channels[-1], self.num_classes)
        self.background_index = background_index
        self.background_threshold = float(background_threshold)

    def class_activation_maps(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(maps B, C, h, w at the feature resolution, image_logits B, C)``; ``image_logits`` is the mean of
        each map plus the classifier bias."""
        features = self.backbone(images)[-1]
        maps = torch.einsum("ck,bkhw->bchw", self.classifier.weight, features)
        return maps, maps.mean(dim=(2, 3)) + self.classifier.bias

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        maps, image_logits = self.class_activation_maps(images)
        maps = F.interpolate(maps, size=images.shape[-2:], mode="bilinear", align_corners=False).relu()
        peak = maps.amax(dim=(2, 3), keepdim=True).clamp_min(torch.finfo(maps.dtype).tiny)
        scores = maps / peak * image_logits.sigmoid()[:, :, None, None]
        if self.background_index is not None:
            background = torch.full_like(scores[:, :1], self.background_threshold)
            index = self.background_index
            scores = torch.cat([scores[:, :index], background, scores[:, index + 1 :]], dim=1)
        logits = scores.clamp_min(1e-6).log()
        return {"out": logits, "image_logits": image_logits}
