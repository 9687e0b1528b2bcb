"""ResNet (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016, arXiv:1512.03385) as a
multi-level feature extractor with torchvision's parameter names, dilation for dense prediction and the
deep "V1c" stem of mmsegmentation."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from visionbench.utils.checkpoints import load_state_dict_checked, read_checkpoint

__all__ = ["ResNet", "BasicBlock", "Bottleneck"]


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with an identity (or projected) shortcut: ResNet-18/34.

    With ``dilation > 1`` only the first 3x3 convolution is dilated, as in mmsegmentation's BasicBlock
    (torchvision refuses dilation in this block).
    """

    expansion = 1

    def __init__(self, in_channels: int, planes: int, stride: int, dilation: int, downsample: nn.Module | None):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, planes, 3, stride, padding=dilation, dilation=dilation, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 -> 3x3 -> 1x1 (x4 channels) with the stride and dilation on the 3x3 ("ResNet v1.5"): ResNet-50/101."""

    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int, dilation: int, downsample: nn.Module | None):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


ARCHITECTURES: dict[int, tuple[type[BasicBlock] | type[Bottleneck], tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
}
"""Block type and number of blocks per stage for each supported depth (torchvision's table)."""

DILATED_STAGES = {32: (False, False), 16: (False, True), 8: (True, True)}
"""Output stride -> whether layer3 / layer4 trade their stride 2 for dilation (torchvision's
``replace_stride_with_dilation[1:]``; mmsegmentation's ``-d8`` is ``strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4)``)."""


class ResNet(nn.Module):
    """ResNet-18/34/50/101 backbone returning the four stage features (He et al., CVPR 2016).

    Parameter names and shapes are torchvision's (``conv1``, ``bn1``, ``layer1``..``layer4``, and ``fc``
    when ``with_classifier``), so torchvision ImageNet checkpoints load directly. Bottlenecks put the stride
    on the 3x3 convolution (torchvision's "v1.5").

    Output stride 16 or 8 replaces the stride of layer4 (and layer3) by dilation exactly as torchvision's
    ``replace_stride_with_dilation`` and mmsegmentation's ``-d8``/``-d16`` backbones: the first block of a
    dilated stage keeps the previous dilation, the following blocks use 2 (or 4 for layer4 at OS 8).

    ``deep_stem=True`` is mmsegmentation's ``ResNetV1c`` (Bag of Tricks, He et al. 2019): the 7x7 stem
    convolution becomes three 3x3 convolutions 3->32 (stride 2)->32->64 (``stem_channels / 2``, ``/ 2``,
    ``stem_channels``), each followed by BN and ReLU. Its stem parameters are then named as in mmsegmentation,
    ``stem.0``/``stem.1`` (conv, BN), ``stem.3``/``stem.4``, ``stem.6``/``stem.7``, instead of ``conv1``/``bn1``;
    all other names are unchanged, so mmsegmentation's ``ResNetV1c`` state dicts load under its ``backbone.``
    prefix (``-d8``: ``strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4), contract_dilation=True`` is ``output_stride=8``).

    Input ``B, in_channels, H, W`` (any size); ``forward`` returns ``[layer1, layer2, layer3, layer4]`` with
    ``out_channels`` channels at ``strides`` (strides round up for sizes that are not multiples).

    Args:
        depth: 18, 34, 50 or 101.
        output_stride: 32 (classification), 16 or 8 (dilated, for dense prediction).
        deep_stem: use the V1c three-conv stem.
        weights: path of a local state-dict file (a torchvision ImageNet checkpoint such as
            ``resnet50-11ad3fa6.pth``, or one saved from this class) loaded after construction. ``fc.*`` keys
            are ignored without the classifier; missing, unexpected and mis-shaped keys raise with their names.
        in_channels: input image channels.
        with_classifier: keep global average pooling and the ``fc`` layer (ImageNet classifier, class
            activation maps); see :meth:`classify`.
        num_classes: outputs of ``fc`` when ``with_classifier``.
        stem_channels: output channels of the stem (64 in every standard ResNet; mmsegmentation's
            ``stem_channels``).
        base_channels: width of layer1 (``planes``), doubled at each later stage; the stage outputs have
            ``base_channels * 2**i * expansion`` channels (64 as standard; mmsegmentation's ``base_channels``).
    """

    def __init__(
        self,
        depth: int = 50,
        output_stride: int = 32,
        deep_stem: bool = False,
        weights: str | Path | None = None,
        in_channels: int = 3,
        with_classifier: bool = False,
        num_classes: int = 1000,
        stem_channels: int = 64,
        base_channels: int = 64,
    ) -> None:
        super().__init__()
        if depth not in ARCHITECTURES:
            raise ValueError(f"unsupported ResNet depth {depth}; choose one of {sorted(ARCHITECTURES)}")
        if output_stride not in DILATED_STAGES:
            raise ValueError(f"output_stride must be one of {sorted(DILATED_STAGES)}, got {output_stride}")
        block, blocks_per_stage = ARCHITECTURES[depth]
        self.depth = depth
        self.output_stride = output_stride
        self.deep_stem = deep_stem
        self.with_classifier = with_classifier
        if deep_stem:
            half = stem_channels // 2
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, half, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(half),
                nn.ReLU(inplace=True),
                nn.Conv2d(half, half, 3, padding=1, bias=False),
                nn.BatchNorm2d(half),
                nn.ReLU(inplace=True),
                nn.Conv2d(half, stem_channels, 3, padding=1, bias=False),
                nn.BatchNorm2d(stem_channels),
                nn.ReLU(inplace=True),
            )
        else:
            self.conv1 = nn.Conv2d(in_channels, stem_channels, 7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(stem_channels)
            self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)

        channels, dilation, stride_so_far = stem_channels, 1, 4
        strides, out_channels = [], []
        dilate = (False, False, *DILATED_STAGES[output_stride])
        for index, num_blocks in enumerate(blocks_per_stage):
            planes, stride = base_channels * 2**index, 1 if index == 0 else 2
            first_dilation = dilation
            if dilate[index]:
                dilation, stride = dilation * stride, 1
            stride_so_far *= stride
            width = planes * block.expansion
            downsample = None
            if stride != 1 or channels != width:
                downsample = nn.Sequential(nn.Conv2d(channels, width, 1, stride, bias=False), nn.BatchNorm2d(width))
            layer = [block(channels, planes, stride, first_dilation, downsample)]
            layer += [block(width, planes, 1, dilation, None) for _ in range(num_blocks - 1)]
            self.add_module(f"layer{index + 1}", nn.Sequential(*layer))
            channels = width
            strides.append(stride_so_far)
            out_channels.append(width)
        self.strides: tuple[int, int, int, int] = tuple(strides)
        self.out_channels: tuple[int, int, int, int] = tuple(out_channels)

        if with_classifier:
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(channels, num_classes)
        self._init_weights()
        if weights is not None:
            self.load_weights(weights)

    def _init_weights(self) -> None:
        """torchvision's initialisation: He (fan-out) normal convolutions, BN scale 1 and shift 0."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def load_weights(self, path: str | Path) -> None:
        """Load a plain state-dict file (torchvision names); ``fc.*`` is dropped when there is no classifier."""
        state_dict = read_checkpoint(path)
        if not self.with_classifier:
            state_dict = {key: value for key, value in state_dict.items() if not key.startswith("fc.")}
        load_state_dict_checked(self, state_dict, source=str(path))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x) if self.deep_stem else self.relu(self.bn1(self.conv1(x)))
        x = self.maxpool(x)
        features = []
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = layer(x)
            features.append(x)
        return features

    def classify(self, layer4: torch.Tensor) -> torch.Tensor:
        """Classifier logits ``B, num_classes`` from the last stage feature (global average pool + ``fc``).

        For class activation maps (Zhou et al. 2016), the map of class ``c`` is
        ``torch.einsum("k,bkhw->bhw", self.fc.weight[c], layer4)``.
        """
        if not self.with_classifier:
            raise RuntimeError("this ResNet was built without a classifier (with_classifier=False)")
        return self.fc(torch.flatten(self.avgpool(layer4), 1))
