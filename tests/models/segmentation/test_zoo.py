"""The segmentation zoo (FCN on ResNet and VGG-16, DeepLabV3/V3+): torchvision's parameter counts and key layout,
atrous rates, FCN-VGG's upsampling and the YAML configs with small backbones. The contract every model follows
(shapes at any size, aux outputs, gradients, state-dict round trip, channels_last, bf16) is in test_contract.py."""

import json
from pathlib import Path

import pytest
import torch

from tests.helpers import FIXTURES, compose_config
from tests.helpers.models import main_output, num_parameters
from tests.models.segmentation.tiny import NUM_CLASSES, VGG_WIDTH
from visionbench.models.backbones import VGG16, ResNet
from visionbench.models.segmentation.deeplab import DeepLabV3, DeepLabV3Plus
from visionbench.models.segmentation.fcn import FCN, FCNVGG, bilinear_kernel
from visionbench.runner.builders import build_model

COUNTS = json.loads((FIXTURES / "reference_models/parameter_counts.json").read_text())


@pytest.mark.parametrize(("name", "architecture"), [("fcn", FCN), ("deeplabv3", DeepLabV3)])
@pytest.mark.parametrize("depth", [50, 101])
def test_parameter_counts_equal_torchvision(name: str, architecture: type, depth: int) -> None:
    model = architecture(150, ResNet(depth, output_stride=8), aux_head=True)
    reference = f"torchvision.models.segmentation.{name}_resnet{depth}(num_classes=150, aux_loss={{}})"
    assert num_parameters(model) == COUNTS[reference.format(True)]
    assert num_parameters(model) - num_parameters(model.aux_classifier) == COUNTS[reference.format(False)]


def test_key_layout_is_torchvisions() -> None:
    keys = set(DeepLabV3(NUM_CLASSES, ResNet(18, output_stride=8), aux_head=True).state_dict())
    assert {
        "backbone.conv1.weight",
        "classifier.0.convs.0.0.weight",
        "classifier.0.convs.3.0.weight",
        "classifier.0.convs.4.1.weight",
        "classifier.0.project.0.weight",
        "classifier.1.weight",
        "classifier.2.running_var",
        "classifier.4.bias",
        "aux_classifier.0.weight",
        "aux_classifier.4.bias",
    } <= keys


@pytest.mark.parametrize(("output_stride", "rates"), [(8, (12, 24, 36)), (16, (6, 12, 18))])
def test_atrous_rates_follow_output_stride(output_stride: int, rates: tuple[int, ...]) -> None:
    backbone = ResNet(18, output_stride=output_stride)
    model = DeepLabV3(NUM_CLASSES, backbone)
    assert model.atrous_rates == rates
    assert [branch[0].dilation[0] for branch in model.classifier[0].convs[1:4]] == list(rates)
    assert DeepLabV3Plus(NUM_CLASSES, backbone, atrous_rates=(2, 3, 4)).atrous_rates == (2, 3, 4)


def test_fcn_vgg_upsampling_is_bilinear_and_the_last_one_fixed() -> None:
    assert torch.allclose(bilinear_kernel(4)[0], torch.tensor([0.25, 0.75, 0.75, 0.25]) * 0.25)
    model = FCNVGG(NUM_CLASSES, VGG16(VGG_WIDTH), variant="8s")
    assert len(model.upsample_skips) == len(model.score_pools) == 2
    assert "final_kernel" not in model.state_dict()  # fixed bilinear interpolation: not a parameter
    weight = model.upsample_skips[0].weight
    assert torch.equal(weight[1, 1], bilinear_kernel(4)) and weight[0, 1].abs().sum() == 0
    assert len(FCNVGG(NUM_CLASSES, VGG16(VGG_WIDTH), variant="32s").upsample_skips) == 0
    with pytest.raises(ValueError, match="variant"):
        FCNVGG(NUM_CLASSES, VGG16(VGG_WIDTH), variant="4s")


SMALL_BACKBONE = {"resnet": ["model.backbone.depth=18"], "vgg": [f"model.backbone.width_multiplier={VGG_WIDTH}"]}


@pytest.mark.parametrize(
    ("config", "backbone"),
    [
        ("fcn_resnet", "resnet"),
        ("fcn32s", "vgg"),
        ("fcn16s", "vgg"),
        ("fcn8s", "vgg"),
        ("deeplabv3", "resnet"),
        ("deeplabv3plus", "resnet"),
    ],
)
def test_config_instantiates_with_small_backbone(config: str, backbone: str, tmp_path: Path) -> None:
    cfg = compose_config("train", [f"model=segmentation/{config}", *SMALL_BACKBONE[backbone]], tmp_path)
    model = build_model(cfg.model, num_classes=7).eval()
    if backbone == "vgg":
        assert model.variant == config.removeprefix("fcn")
    else:
        assert model.backbone.depth == 18
    with torch.no_grad():
        assert main_output(model(torch.randn(1, 3, 33, 45))).shape == (1, 7, 33, 45)
