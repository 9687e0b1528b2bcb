"""DeepLabV3 (Chen et al., "Rethinking Atrous Convolution for Semantic Image Segmentation", 2017,
arXiv:1706.05587) and DeepLabV3+ (Chen et al., "Encoder-Decoder with Atrous Separable Convolution for
Semantic Image Segmentation", ECCV 2018, arXiv:1802.02611) on a dilated backbone."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from visionbench.models.segmentation.base import BackboneSegmenter
from visionbench.models.segmentation.heads import ASPP, conv_bn_relu, resize

__all__ = ["DeepLabV3", "DeepLabV3Plus", "default_atrous_rates"]

ASPP_CHANNELS = 256
LOW_LEVEL_CHANNELS = 48


def default_atrous_rates(output_stride: int) -> tuple[int, int, int]:
    """The paper's ASPP rates for an output stride: 6/12/18 at 16, doubled at 8 (12/24/36), halved at 32."""
    return tuple(rate * 16 // output_stride for rate in (6, 12, 18))


class DeepLabV3(BackboneSegmenter):
    """DeepLabV3 (Chen et al. 2017) as torchvision's ``deeplabv3_resnet50/101``.

    Head (``classifier``): :class:`~visionbench.models.segmentation.heads.ASPP` (1x1, three atrous 3x3 and
    image pooling branches, 256 channels, dropout 0.5) -> conv3x3 256 -> BN -> ReLU -> conv1x1 to the
    classes (the extra 3x3 conv is torchvision's), then bilinear upsampling to the input size. With
    ``ResNet(50 or 101, output_stride=8)`` parameters and names are exactly torchvision's.

    Input ``B, 3, H, W`` (any size); output ``B, num_classes, H, W`` logits, or ``{"out", "aux"}`` with
    ``aux_head``. Training needs batches of >= 2 (BN of the image pooling branch).

    Args:
        num_classes: number of output classes.
        backbone: feature extractor returning a list of features, with ``out_channels`` and ``strides``
            (e.g. :class:`~visionbench.models.backbones.ResNet` with ``output_stride=8`` or 16).
        aux_head: auxiliary FCN head on the third feature (layer3), as torchvision and mmsegmentation.
        atrous_rates: ASPP rates; by default derived from the backbone's output stride
            (:func:`default_atrous_rates`).
    """

    def __init__(
        self,
        num_classes: int,
        backbone: nn.Module,
        aux_head: bool = False,
        atrous_rates: Sequence[int] | None = None,
    ) -> None:
        rates = default_atrous_rates(backbone.strides[-1]) if atrous_rates is None else tuple(atrous_rates)
        classifier = nn.Sequential(
            ASPP(backbone.out_channels[-1], rates, ASPP_CHANNELS),
            *conv_bn_relu(ASPP_CHANNELS, ASPP_CHANNELS, 3),
            nn.Conv2d(ASPP_CHANNELS, num_classes, 1),
        )
        super().__init__(backbone, classifier, num_classes, aux_head)
        self.atrous_rates = rates


class DeepLabV3Plus(BackboneSegmenter):
    """DeepLabV3+ (Chen et al., ECCV 2018): ASPP encoder plus a decoder that refines with low-level features.

    Encoder: ASPP (depthwise-separable atrous branches when ``separable``, dropout 0.1 after the projection
    as the official implementation) on the last backbone feature, usually at output stride 16. Decoder: the
    first backbone feature (ResNet's layer1, stride 4) is projected to 48 channels (conv1x1-BN-ReLU), the
    ASPP output is upsampled bilinearly to its size (x4) and concatenated, two 3x3 conv-BN-ReLU with 256
    channels (separable when ``separable``) and a conv1x1 to the classes follow; the logits are upsampled
    bilinearly to the input size (x4).

    Differences from segmentation_models.pytorch's ``DeepLabV3Plus`` (26,715,878 parameters with ResNet-50
    and 150 classes): smp adds a separable 3x3 conv after ASPP, uses one separable 3x3 conv in the decoder
    (the paper found two best), separable convs without BN/ReLU between depthwise and pointwise parts, and
    ASPP dropout 0.5. With ``ResNet(50, output_stride=16)`` and 150 classes this model has 26,729,286
    parameters (ResNet-101: 45,721,414; with ``separable=False``: 40,385,334 and 59,377,462).

    Input ``B, 3, H, W`` (any size); output ``B, num_classes, H, W`` logits, or ``{"out", "aux"}`` with
    ``aux_head``. Training needs batches of >= 2 (BN of the image pooling branch).

    Args:
        num_classes: number of output classes.
        backbone: feature extractor returning a list of features (first = low-level, last = encoder
            input) with ``out_channels`` and ``strides``, e.g. ``ResNet(output_stride=16)``.
        separable: depthwise-separable 3x3 convolutions in ASPP and decoder (the paper's choice).
        aux_head: auxiliary FCN head on the third feature (layer3), as mmsegmentation's config.
        atrous_rates: ASPP rates; by default derived from the backbone's output stride.
    """

    def __init__(
        self,
        num_classes: int,
        backbone: nn.Module,
        separable: bool = True,
        aux_head: bool = False,
        atrous_rates: Sequence[int] | None = None,
    ) -> None:
        super().__init__(backbone, nn.Conv2d(ASPP_CHANNELS, num_classes, 1), num_classes, aux_head)
        rates = default_atrous_rates(backbone.strides[-1]) if atrous_rates is None else tuple(atrous_rates)
        self.atrous_rates = rates
        self.aspp = ASPP(backbone.out_channels[-1], rates, ASPP_CHANNELS, separable=separable, dropout=0.1)
        self.low_level = conv_bn_relu(backbone.out_channels[0], LOW_LEVEL_CHANNELS, 1)
        self.decoder = nn.Sequential(
            conv_bn_relu(ASPP_CHANNELS + LOW_LEVEL_CHANNELS, ASPP_CHANNELS, 3, separable=separable),
            conv_bn_relu(ASPP_CHANNELS, ASPP_CHANNELS, 3, separable=separable),
        )

    def decode(self, features: list[torch.Tensor]) -> torch.Tensor:
        low_level = self.low_level(features[0])
        encoded = resize(self.aspp(features[-1]), low_level.shape[-2:])
        return self.classifier(self.decoder(torch.cat([encoded, low_level], dim=1)))
