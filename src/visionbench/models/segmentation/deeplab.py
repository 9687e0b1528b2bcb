"""DeepLabV3 (Chen et al., "Rethinking Atrous Convolution for Semantic Image Segmentation", 2017,
arXiv:1706.05587) and DeepLabV3+ (Chen et al., "Encoder-Decoder with Atrous Separable Convolution for
Semantic Image Segmentation", ECCV 2018, arXiv:1802.02611) on a dilated backbone."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from visionbench.models.segmentation.base import BackboneSegmenter
from visionbench.models.segmentation.heads import ASPP, conv_bn_relu, dropout_layer, resize
from visionbench.models.segmentation.mmseg import MMSEG_DEEPLABV3, MMSEG_DEEPLABV3PLUS

__all__ = ["DeepLabV3", "DeepLabV3Plus", "default_atrous_rates"]


def default_atrous_rates(output_stride: int) -> tuple[int, int, int]:
    """The paper's ASPP rates for an output stride: 6/12/18 at 16, doubled at 8 (12/24/36), halved at 32."""
    return tuple(rate * 16 // output_stride for rate in (6, 12, 18))


class DeepLabV3(BackboneSegmenter):
    """DeepLabV3 (Chen et al. 2017) as torchvision's ``deeplabv3_resnet50/101`` or mmsegmentation's
    ``deeplabv3_r50-d8``.

    Head (``classifier``): :class:`~visionbench.models.segmentation.heads.ASPP` (1x1, three atrous 3x3 and
    image pooling branches, ``channels`` wide, fused by a ``projection_kernel_size`` conv-BN-ReLU and dropout
    ``aspp_dropout``) -> with ``head_conv`` conv3x3 -> BN -> ReLU (torchvision's extra convolution) -> dropout
    ``dropout`` -> conv1x1 to the classes, then bilinear upsampling to the input size.

    The defaults are torchvision's head (256 channels, 1x1 projection, dropout 0.5, extra 3x3 conv): with
    ``ResNet(50 or 101, output_stride=8)`` parameters and names are exactly torchvision's. mmsegmentation's
    ``ASPPHead`` is ``channels=512, projection_kernel_size=3, aspp_dropout=0, head_conv=False, dropout=0.1,
    channel_dropout=True`` on ``ResNet(..., output_stride=8, deep_stem=True)`` with rates 12/24/36; its
    checkpoints load through :data:`~visionbench.models.segmentation.mmseg.MMSEG_DEEPLABV3` (``model.weights``).

    Input ``B, 3, H, W`` (any size); output ``B, num_classes, H, W`` logits, or ``{"out", "aux"}`` with
    ``aux_head``. Training needs batches of >= 2 (BN of the image pooling branch).

    Args:
        num_classes: number of output classes.
        backbone: feature extractor returning a list of features, with ``out_channels`` and ``strides``
            (e.g. :class:`~visionbench.models.backbones.ResNet` with ``output_stride=8`` or 16).
        aux_head: auxiliary FCN head on the third feature (layer3), as torchvision and mmsegmentation.
        atrous_rates: ASPP rates; by default derived from the backbone's output stride
            (:func:`default_atrous_rates`).
        channels: width of the ASPP branches and of the head.
        projection_kernel_size: kernel of the convolution fusing the ASPP branches.
        aspp_dropout: dropout after that fusion.
        head_conv: the conv3x3-BN-ReLU between ASPP and the classifier.
        dropout: dropout right before the classifier.
        channel_dropout: that dropout and the auxiliary head's drop channels (``nn.Dropout2d``, mmsegmentation).
    """

    checkpoint_formats = (MMSEG_DEEPLABV3,)

    def __init__(
        self,
        num_classes: int,
        backbone: nn.Module,
        aux_head: bool = False,
        atrous_rates: Sequence[int] | None = None,
        channels: int = 256,
        projection_kernel_size: int = 1,
        aspp_dropout: float = 0.5,
        head_conv: bool = True,
        dropout: float = 0.0,
        channel_dropout: bool = False,
    ) -> None:
        rates = default_atrous_rates(backbone.strides[-1]) if atrous_rates is None else tuple(atrous_rates)
        layers = [ASPP(backbone.out_channels[-1], rates, channels, False, aspp_dropout, projection_kernel_size)]
        if head_conv:
            layers += conv_bn_relu(channels, channels, 3)
        if dropout:  # no module otherwise: the classifier keeps torchvision's index
            layers.append(dropout_layer(dropout, channel_dropout))
        classifier = nn.Sequential(*layers, nn.Conv2d(channels, num_classes, 1))
        super().__init__(backbone, classifier, num_classes, aux_head, channel_dropout)
        self.atrous_rates = rates


class DeepLabV3Plus(BackboneSegmenter):
    """DeepLabV3+ (Chen et al., ECCV 2018): ASPP encoder plus a decoder that refines with low-level features.

    Encoder: ASPP (depthwise-separable atrous branches when ``separable``, fused by a
    ``projection_kernel_size`` conv-BN-ReLU, dropout ``aspp_dropout``; 0.1 as the official implementation) on
    the last backbone feature, usually at output stride 16. Decoder: the first backbone feature (ResNet's layer1,
    stride 4) is projected to ``low_level_channels`` (conv1x1-BN-ReLU), the ASPP output is upsampled bilinearly to
    its size (x4) and concatenated, two 3x3 conv-BN-ReLU with ``channels`` channels (separable when
    ``separable``), dropout ``dropout`` and a conv1x1 to the classes follow; the logits are upsampled bilinearly
    to the input size (x4).

    mmsegmentation's ``DepthwiseSeparableASPPHead`` (``deeplabv3plus_r50-d8``) is ``channels=512,
    projection_kernel_size=3, aspp_dropout=0, dropout=0.1, channel_dropout=True`` on ``ResNet(...,
    output_stride=8, deep_stem=True)`` with rates 12/24/36; its checkpoints load through
    :data:`~visionbench.models.segmentation.mmseg.MMSEG_DEEPLABV3PLUS` (``model.weights=<file>``).

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
        channels: width of the ASPP branches and of the decoder (256 in the paper).
        low_level_channels: width of the projected low-level feature (48 in the paper).
        projection_kernel_size: kernel of the convolution fusing the ASPP branches.
        aspp_dropout: dropout after that fusion.
        dropout: dropout right before the classifier.
        channel_dropout: that dropout and the auxiliary head's drop channels (``nn.Dropout2d``, mmsegmentation).
    """

    checkpoint_formats = (MMSEG_DEEPLABV3PLUS,)

    def __init__(
        self,
        num_classes: int,
        backbone: nn.Module,
        separable: bool = True,
        aux_head: bool = False,
        atrous_rates: Sequence[int] | None = None,
        channels: int = 256,
        low_level_channels: int = 48,
        projection_kernel_size: int = 1,
        aspp_dropout: float = 0.1,
        dropout: float = 0.0,
        channel_dropout: bool = False,
    ) -> None:
        super().__init__(backbone, nn.Conv2d(channels, num_classes, 1), num_classes, aux_head, channel_dropout)
        rates = default_atrous_rates(backbone.strides[-1]) if atrous_rates is None else tuple(atrous_rates)
        self.atrous_rates = rates
        self.aspp = ASPP(backbone.out_channels[-1], rates, channels, separable, aspp_dropout, projection_kernel_size)
        self.low_level = conv_bn_relu(backbone.out_channels[0], low_level_channels, 1)
        self.decoder = nn.Sequential(
            conv_bn_relu(channels + low_level_channels, channels, 3, separable=separable),
            conv_bn_relu(channels, channels, 3, separable=separable),
        )
        self.dropout = dropout_layer(dropout, channel_dropout)

    def decode(self, features: list[torch.Tensor]) -> torch.Tensor:
        low_level = self.low_level(features[0])
        encoded = resize(self.aspp(features[-1]), low_level.shape[-2:])
        return self.classifier(self.dropout(self.decoder(torch.cat([encoded, low_level], dim=1))))
