"""The segmentation zoo (FCN on ResNet and VGG-16, DeepLabV3/V3+, PSPNet, RefineNet): torchvision's parameter
counts, the B,C,H,W contract for any size, aux outputs, gradients, state-dict round trip, channels_last,
bf16 autocast and the YAML configs."""

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from tests.helpers import FIXTURES, compose_config
from tests.models.segmentation.test_pspnet_refinenet import MODELS as PSPNET_REFINENET_MODELS
from visionbench.models.backbones import VGG16, ResNet
from visionbench.models.segmentation.deeplab import DeepLabV3, DeepLabV3Plus
from visionbench.models.segmentation.fcn import FCN, FCNVGG, bilinear_kernel

COUNTS = json.loads((FIXTURES / "reference_models/parameter_counts.json").read_text())
NUM_CLASSES = 5
VGG_WIDTH = 1 / 16

SMALL_MODELS: dict[str, Callable[[], torch.nn.Module]] = {
    "fcn_resnet": lambda: FCN(NUM_CLASSES, ResNet(18, output_stride=8)),
    "fcn_resnet_aux": lambda: FCN(NUM_CLASSES, ResNet(18, output_stride=8), aux_head=True),
    "deeplabv3": lambda: DeepLabV3(NUM_CLASSES, ResNet(18, output_stride=8)),
    "deeplabv3_aux": lambda: DeepLabV3(NUM_CLASSES, ResNet(18, output_stride=16), aux_head=True),
    "deeplabv3plus": lambda: DeepLabV3Plus(NUM_CLASSES, ResNet(18, output_stride=16)),
    "deeplabv3plus_dense_aux": lambda: DeepLabV3Plus(
        NUM_CLASSES, ResNet(18, output_stride=16, deep_stem=True), separable=False, aux_head=True
    ),
    **{f"fcn{v}": (lambda v=v: FCNVGG(NUM_CLASSES, VGG16(VGG_WIDTH), variant=v)) for v in ("32s", "16s", "8s")},
    **PSPNET_REFINENET_MODELS,
}


def main_output(output: torch.Tensor | dict[str, torch.Tensor]) -> torch.Tensor:
    return output["out"] if isinstance(output, dict) else output


def num_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


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


@pytest.mark.parametrize("name", sorted(SMALL_MODELS))
def test_output_shape_for_odd_sizes(name: str) -> None:
    torch.manual_seed(0)
    model = SMALL_MODELS[name]().eval()
    with torch.no_grad():
        output = model(torch.randn(2, 3, 67, 93))
        # 33x47 leaves PSPNet a 5x6 map at stride 8 (smaller than the 6x6 bin) and RefineNet a 2x2 layer4
        for size in [(33, 47), (5, 3)]:
            assert main_output(model(torch.randn(1, 3, *size))).shape == (1, NUM_CLASSES, *size)
    if name.endswith("aux"):
        assert set(output) == {"out", "aux"}
        assert output["aux"].shape == (2, NUM_CLASSES, 67, 93)
    else:
        assert isinstance(output, torch.Tensor)
    assert main_output(output).shape == (2, NUM_CLASSES, 67, 93)


@pytest.mark.parametrize("name", sorted(SMALL_MODELS))
def test_gradients_reach_every_parameter(name: str) -> None:
    torch.manual_seed(0)
    model = SMALL_MODELS[name]()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, target = torch.randn(2, 3, 19, 27), torch.randint(0, NUM_CLASSES, (2, 19, 27))
    # two steps: FCN's score layers start at zero (as in the paper), so the backbone's gradient is zero at first
    for _ in range(2):
        optimizer.zero_grad()
        output = model(x)
        outputs = output.values() if isinstance(output, dict) else [output]
        sum(torch.nn.functional.cross_entropy(o, target) for o in outputs).backward()
        optimizer.step()
    for parameter_name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, parameter_name


@pytest.mark.parametrize("name", sorted(SMALL_MODELS))
def test_state_dict_round_trip(name: str) -> None:
    torch.manual_seed(0)
    source = SMALL_MODELS[name]()
    source(torch.randn(2, 3, 24, 24))  # move the BN running statistics away from their initial values
    copy = SMALL_MODELS[name]()
    copy.load_state_dict(source.state_dict())
    x = torch.randn(1, 3, 21, 30)
    with torch.no_grad():
        assert torch.equal(main_output(source.eval()(x)), main_output(copy.eval()(x)))


@pytest.mark.parametrize("name", sorted(SMALL_MODELS))
def test_channels_last_and_bf16_autocast(name: str) -> None:
    torch.manual_seed(0)
    model = SMALL_MODELS[name]().eval()
    x = torch.randn(2, 3, 29, 35)
    with torch.no_grad():
        reference = main_output(model(x))
        channels_last = main_output(
            model.to(memory_format=torch.channels_last)(x.to(memory_format=torch.channels_last))
        )
        torch.testing.assert_close(channels_last, reference, rtol=1e-4, atol=1e-4)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low_precision = main_output(model(x))
    assert low_precision.shape == (2, NUM_CLASSES, 29, 35)
    assert torch.isfinite(low_precision).all()


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
    model = instantiate(cfg.model, num_classes=7).eval()
    if backbone == "vgg":
        assert model.variant == config.removeprefix("fcn")
    else:
        assert model.backbone.depth == 18
    with torch.no_grad():
        assert main_output(model(torch.randn(1, 3, 33, 45))).shape == (1, 7, 33, 45)
