"""FlowNetS and FlowNetC (Dosovitskiy, Fischer, Ilg, Haeusser, Hazirbas, Golkov, van der Smagt, Cremers and Brox,
"FlowNet: Learning Optical Flow with Convolutional Networks", ICCV 2015, arXiv:1504.06852)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from visionbench.models.flow.correlation import Correlation
from visionbench.models.padding import crop_to, crop_to_stride, pad_to_multiple
from visionbench.models.widths import scaled

__all__ = ["FlowNetC", "FlowNetS", "FlowNetDecoder"]

LEAKY_SLOPE = 0.1
"""Negative slope of every leaky ReLU (the released Caffe models)."""

STRIDE = 64
"""Total stride of the contracting part (conv6): inputs are padded to multiples of it."""

PREDICTION_STRIDES = (64, 32, 16, 8, 4)
"""Strides of ``predict_flow6`` .. ``predict_flow2``, coarse to fine."""

FLOW_DIVISOR = 20.0
"""FlowNet regresses flow / 20 (the released training divides the ground truth by 20)."""

RGB_MEAN = (0.45, 0.432, 0.411)
"""Per-channel mean subtracted from images in [0, 1] (FlyingChairs' mean, as FlowNetPytorch)."""


def conv(in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, batch_norm: bool = False):
    """Convolution (same padding) -> [BN] -> leaky ReLU 0.1."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding=kernel_size // 2, bias=not batch_norm)
    ]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_channels))
    layers.append(nn.LeakyReLU(LEAKY_SLOPE, inplace=True))
    return nn.Sequential(*layers)


def upconv(in_channels: int, out_channels: int) -> nn.Sequential:
    """4x4 transposed convolution with stride 2 (exact x2 upsampling) -> leaky ReLU 0.1."""
    return nn.Sequential(
        nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1, bias=True),
        nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
    )


class FlowNetDecoder(nn.Module):
    """FlowNet's refinement (expanding) part (Fig. 3 of the paper), shared by FlowNetS and FlowNetC.

    Starting from conv6 (stride 64), at each of the strides 64, 32, 16, 8 a 3x3 ``predict_flow`` convolution
    predicts a 2-channel flow; the features are upconvolved (``deconv``, 4x4 stride-2 transposed convolution +
    leaky ReLU) and the flow is upsampled by its own 4x4 stride-2 transposed convolution (``upsample_flow``, no
    bias, no activation); both are concatenated with the encoder feature of the next finer stride. The last
    ``predict_flow2`` works at stride 4.

    Input: encoder features ``[conv2, conv3_1, conv4_1, conv5_1, conv6_1]`` (strides 4 .. 64, sizes exactly
    halving). Output: the five raw predictions ``flow6 .. flow2`` (coarse to fine, in FlowNet's flow / 20 units).

    Args:
        skip_channels: channels of conv2, conv3_1, conv4_1, conv5_1 (fine to coarse).
        bottom_channels: channels of conv6_1.
        deconv_channels: output channels of deconv5, deconv4, deconv3, deconv2 (paper: 512, 256, 128, 64).
    """

    def __init__(self, skip_channels: Sequence[int], bottom_channels: int, deconv_channels: Sequence[int]) -> None:
        super().__init__()
        predict, deconv, upsample = [], [], []
        channels = bottom_channels
        for skip, out in zip(reversed(skip_channels), deconv_channels, strict=True):
            predict.append(nn.Conv2d(channels, 2, 3, padding=1))
            deconv.append(upconv(channels, out))
            upsample.append(nn.ConvTranspose2d(2, 2, 4, stride=2, padding=1, bias=False))
            channels = skip + out + 2
        predict.append(nn.Conv2d(channels, 2, 3, padding=1))
        self.predict_flow = nn.ModuleList(predict)  # predict_flow6 .. predict_flow2
        self.deconv = nn.ModuleList(deconv)  # deconv5 .. deconv2
        self.upsample_flow = nn.ModuleList(upsample)  # upsampled_flow6_to_5 .. upsampled_flow3_to_2

    def forward(self, features: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        x = features[-1]
        predictions = []
        for predict, deconv, upsample, skip in zip(
            self.predict_flow, self.deconv, self.upsample_flow, reversed(features[:-1]), strict=False
        ):
            flow = predict(x)
            predictions.append(flow)
            x = torch.cat([skip, deconv(x), upsample(flow)], dim=1)
        predictions.append(self.predict_flow[-1](x))
        return predictions


class _FlowNet(nn.Module):
    """What FlowNetS and FlowNetC share: input normalisation, padding, the upper encoder conv4 .. conv6_1, the
    decoder and the output contract. A subclass builds its layers up to conv3_1, then calls
    :meth:`build_shared_layers`, and implements :meth:`encode_lower`."""

    def __init__(self, width_multiplier: float, batch_norm: bool, rgb_mean: Sequence[float] | None) -> None:
        super().__init__()
        self.width_multiplier = width_multiplier
        self.batch_norm = batch_norm
        if rgb_mean is None:
            self.rgb_mean = None
        else:
            self.register_buffer("rgb_mean", torch.tensor(rgb_mean, dtype=torch.float32).view(1, 3, 1, 1), False)

    def width(self, channels: int) -> int:
        return scaled(channels, self.width_multiplier)

    def build_shared_layers(self) -> None:
        """The upper encoder on the 256 channels of conv3_1 (conv4 3x3/2 512, conv4_1 3x3 512, conv5 3x3/2 512,
        conv5_1 3x3 512, conv6 3x3/2 1024, conv6_1 3x3 1024) and the refinement part on conv2 (128), conv3_1 (256),
        conv4_1, conv5_1 and conv6_1; then every layer's initialisation (:meth:`init_weights`)."""
        w, bn = self.width, self.batch_norm
        self.conv4 = conv(w(256), w(512), 3, 2, bn)
        self.conv4_1 = conv(w(512), w(512), 3, 1, bn)
        self.conv5 = conv(w(512), w(512), 3, 2, bn)
        self.conv5_1 = conv(w(512), w(512), 3, 1, bn)
        self.conv6 = conv(w(512), w(1024), 3, 2, bn)
        self.conv6_1 = conv(w(1024), w(1024), 3, 1, bn)
        self.decoder = FlowNetDecoder([w(128), w(256), w(512), w(512)], w(1024), [w(c) for c in (512, 256, 128, 64)])
        self.init_weights()

    def init_weights(self) -> None:
        """MSRA (He) initialisation for leaky ReLU 0.1 of every (transposed) convolution, zero biases."""
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(module.weight, a=LEAKY_SLOPE, nonlinearity="leaky_relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def normalise(self, image1: torch.Tensor, image2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.rgb_mean is None:  # the mean of the pair, per sample and channel (FlowNet 2.0's PyTorch code)
            mean = torch.cat([image1, image2], dim=-1).mean(dim=(-2, -1), keepdim=True)
        else:
            mean = self.rgb_mean.to(image1.dtype)
        return image1 - mean, image2 - mean

    def encode_lower(self, image1: torch.Tensor, image2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The decoder's conv2 skip feature (stride 4) and conv3_1 (stride 8) of the normalised image pair."""
        raise NotImplementedError

    def encode(self, image1: torch.Tensor, image2: torch.Tensor) -> list[torch.Tensor]:
        """Encoder features ``[conv2, conv3_1, conv4_1, conv5_1, conv6_1]`` (strides 4 .. 64) for the decoder."""
        conv2, conv3_1 = self.encode_lower(image1, image2)
        conv4_1 = self.conv4_1(self.conv4(conv3_1))
        conv5_1 = self.conv5_1(self.conv5(conv4_1))
        return [conv2, conv3_1, conv4_1, conv5_1, self.conv6_1(self.conv6(conv5_1))]

    def forward(
        self, image1: torch.Tensor, image2: torch.Tensor
    ) -> torch.Tensor | dict[str, torch.Tensor | list[torch.Tensor]]:
        size = (image1.shape[-2], image1.shape[-1])
        image1, image2 = (pad_to_multiple(image, STRIDE, "replicate") for image in (image1, image2))
        raw = self.decoder(self.encode(*self.normalise(image1, image2)))
        final = FLOW_DIVISOR * F.interpolate(raw[-1], scale_factor=4, mode="bilinear", align_corners=False)
        flow = crop_to(final, size)
        if not self.training:
            return flow
        predictions = [
            crop_to_stride(FLOW_DIVISOR * prediction, size, stride)
            for prediction, stride in zip(raw, PREDICTION_STRIDES, strict=True)
        ]
        return {"flow": flow, "predictions": predictions}


_DOC_CONTRACT = """
    Input: ``image1, image2`` ``B, 3, H, W`` RGB in [0, 1], any size (padded internally at the bottom and right to
    multiples of 64 by replicating the border, the flow cropped back). Eval mode returns the flow ``B, 2, H, W`` in
    pixels (u = x, v = y displacement from frame 1 to frame 2): ``predict_flow2`` (stride 4) upsampled bilinearly
    x4 and multiplied by 20. Training mode returns ``{"flow": that flow, "predictions": [flow6, ..., flow2]}``: the
    five predictions of strides 64, 32, 16, 8, 4, coarse to fine, each multiplied by 20 so that they are in pixels of
    the input resolution (the released training regresses ground truth / 20 at every scale, not rescaled per scale),
    cropped to the ``ceil(H / s) x ceil(W / s)`` cells that overlap the input (see
    :class:`~visionbench.losses.flow.MultiScaleEPELoss`, which applies FlowNet's 1/20 again).
"""


class FlowNetS(_FlowNet):
    (
        """FlowNetSimple (Dosovitskiy et al., ICCV 2015): both images stacked as 6 channels through one convolutional
    network, then the refinement part.

    Contracting part (the paper's Fig. 2 and the released model; every convolution followed by a leaky ReLU 0.1):
    conv1 7x7/2 64, conv2 5x5/2 128, conv3 5x5/2 256, conv3_1 3x3 256, conv4 3x3/2 512, conv4_1 3x3 512,
    conv5 3x3/2 512, conv5_1 3x3 512, conv6 3x3/2 1024, conv6_1 3x3 1024 (conv6_1 is in the released model, not
    drawn in the paper's figure). Refinement: :class:`FlowNetDecoder` on conv2 .. conv6_1. The paper's optional
    variational refinement ("+v") is not included. 38.7M parameters at width 1 (the paper: 38M).
"""
        + _DOC_CONTRACT
        + """
    Args:
        width_multiplier: scales every convolution's channels (not the 2-channel flows), for small CPU models.
        batch_norm: BatchNorm after each encoder convolution (FlowNetPytorch's ``flownets_bn``); the paper has none.
        rgb_mean: per-channel mean subtracted from the [0, 1] images; ``None`` subtracts the mean of each pair per
            channel instead.
    """
    )

    def __init__(
        self,
        width_multiplier: float = 1.0,
        batch_norm: bool = False,
        rgb_mean: Sequence[float] | None = RGB_MEAN,
    ) -> None:
        super().__init__(width_multiplier, batch_norm, rgb_mean)
        w, bn = self.width, batch_norm
        self.conv1 = conv(6, w(64), 7, 2, bn)
        self.conv2 = conv(w(64), w(128), 5, 2, bn)
        self.conv3 = conv(w(128), w(256), 5, 2, bn)
        self.conv3_1 = conv(w(256), w(256), 3, 1, bn)
        self.build_shared_layers()

    def encode_lower(self, image1: torch.Tensor, image2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        conv2 = self.conv2(self.conv1(torch.cat([image1, image2], dim=1)))
        return conv2, self.conv3_1(self.conv3(conv2))


class FlowNetC(_FlowNet):
    (
        """FlowNetCorr (Dosovitskiy et al., ICCV 2015): a siamese stream per image, a correlation layer, then FlowNetS's
    upper layers and refinement.

    Siamese part (shared weights): conv1 7x7/2 64, conv2 5x5/2 128, conv3 5x5/2 256 on each image. Correlation of
    the two conv3 features (stride 8): 1x1 patch, maximum displacement 20, displacement stride 2, spatial stride 1,
    normalised by the channels (441 channels, :class:`~visionbench.models.flow.correlation.Correlation`), followed
    by a leaky ReLU 0.1 as the released model. ``conv_redir`` (1x1, 32) of image 1's conv3 is concatenated with it
    (473 channels), then conv3_1 3x3 256, conv4 .. conv6_1 as FlowNetS. The refinement's finest skip is image 1's
    conv2. 39.2M parameters at width 1.
"""
        + _DOC_CONTRACT
        + """
    Args:
        width_multiplier: scales every convolution's channels (not the correlation's 441 nor the flows).
        batch_norm: BatchNorm after each encoder convolution (FlowNetPytorch's ``flownetc_bn``); the paper has none.
        rgb_mean: per-channel mean subtracted from the [0, 1] images; ``None`` subtracts the pair's mean.
        max_displacement: correlation's maximum displacement in conv3 pixels (paper: 20).
        displacement_stride: correlation's displacement stride (paper: 2).
    """
    )

    def __init__(
        self,
        width_multiplier: float = 1.0,
        batch_norm: bool = False,
        rgb_mean: Sequence[float] | None = RGB_MEAN,
        max_displacement: int = 20,
        displacement_stride: int = 2,
    ) -> None:
        super().__init__(width_multiplier, batch_norm, rgb_mean)
        w, bn = self.width, batch_norm
        self.conv1 = conv(3, w(64), 7, 2, bn)
        self.conv2 = conv(w(64), w(128), 5, 2, bn)
        self.conv3 = conv(w(128), w(256), 5, 2, bn)
        self.correlation = Correlation(max_displacement, displacement_stride)
        self.conv_redir = conv(w(256), w(32), 1, 1, bn)
        self.conv3_1 = conv(w(32) + self.correlation.out_channels, w(256), 3, 1, bn)
        self.build_shared_layers()

    def encode_lower(self, image1: torch.Tensor, image2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch = image1.shape[0]
        conv2 = self.conv2(self.conv1(torch.cat([image1, image2], dim=0)))  # both images in one batch
        conv3 = self.conv3(conv2)
        conv3a, conv3b = conv3[:batch], conv3[batch:]
        correlation = F.leaky_relu(self.correlation(conv3a, conv3b), LEAKY_SLOPE)
        conv3_1 = self.conv3_1(torch.cat([self.conv_redir(conv3a), correlation], dim=1))
        return conv2[:batch], conv3_1
