"""Backbones: torchvision's exact names/shapes/counts, output strides, the V1c stem and checked weight loading."""

import json
from pathlib import Path

import pytest
import torch

from tests.helpers import FIXTURES
from visionbench.models.backbones import VGG16, ResNet
from visionbench.models.backbones.vgg import convert_torchvision_vgg16
from visionbench.utils.checkpoints import CheckpointError

REFERENCE = FIXTURES / "reference_models"
COUNTS = json.loads((REFERENCE / "parameter_counts.json").read_text())


def reference_shapes(net: str) -> dict[str, list[int]]:
    return json.loads((REFERENCE / f"torchvision_{net}_state_dict.json").read_text())


def shapes(state_dict: dict[str, torch.Tensor]) -> dict[str, list[int]]:
    return {key: list(value.shape) for key, value in state_dict.items()}


def num_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("depth", [18, 34, 50, 101])
def test_resnet_state_dict_and_count_equal_torchvision(depth: int) -> None:
    model = ResNet(depth, with_classifier=True)
    assert shapes(model.state_dict()) == reference_shapes(f"resnet{depth}")
    assert num_parameters(model) == COUNTS[f"torchvision.models.resnet{depth}()"]


@pytest.mark.parametrize("depth", [18, 50])
def test_resnet_without_classifier_has_torchvision_keys_minus_fc(depth: int) -> None:
    expected = {k: v for k, v in reference_shapes(f"resnet{depth}").items() if not k.startswith("fc.")}
    assert shapes(ResNet(depth, output_stride=8).state_dict()) == expected


def test_vgg16_features_equal_torchvision_and_fc_layers_are_its_classifier_as_convolutions() -> None:
    reference = reference_shapes("vgg16")
    model = VGG16()
    ours = shapes(model.state_dict())
    assert {k: v for k, v in ours.items() if k.startswith("features.")} == {
        k: v for k, v in reference.items() if k.startswith("features.")
    }
    assert ours["fc6.weight"] == [4096, 512, 7, 7] and ours["fc7.weight"] == [4096, 4096, 1, 1]
    fake_torchvision = {key: torch.empty(shape) for key, shape in reference.items()}
    assert shapes(convert_torchvision_vgg16(fake_torchvision)) == ours
    classifier6 = 4096 * 1000 + 1000  # ImageNet's classifier, not part of FCN's backbone
    assert num_parameters(model) == COUNTS["torchvision.models.vgg16()"] - classifier6


@pytest.mark.parametrize(("output_stride", "sizes"), [(32, [16, 8, 4, 2]), (16, [16, 8, 4, 4]), (8, [16, 8, 8, 8])])
def test_resnet_output_stride(output_stride: int, sizes: list[int]) -> None:
    model = ResNet(18, output_stride=output_stride).eval()
    with torch.no_grad():
        features = model(torch.randn(1, 3, 64, 64))
    assert [f.shape[-1] for f in features] == sizes
    assert [f.shape[1] for f in features] == list(model.out_channels) == [64, 128, 256, 512]
    assert model.strides == tuple(64 // s for s in sizes)


def test_resnet50_dilation_follows_torchvision() -> None:
    model = ResNet(50, output_stride=8)
    assert model.out_channels == (256, 512, 1024, 2048) and model.strides == (4, 8, 8, 8)
    # first block of a dilated stage keeps the previous dilation (torchvision's previous_dilation)
    assert [block.conv2.dilation[0] for block in model.layer3] == [1] + [2] * 5
    assert [block.conv2.dilation[0] for block in model.layer4] == [2, 4, 4]
    assert model.layer3[0].conv2.stride == (1, 1) and model.layer3[0].downsample[0].stride == (1, 1)
    assert ResNet(50, output_stride=16).strides == (4, 8, 16, 16)


def test_v1c_deep_stem() -> None:
    model = ResNet(18, deep_stem=True).eval()
    ours = shapes(model.state_dict())
    stem = {k: v for k, v in ours.items() if k.startswith("stem.")}
    assert {k: v for k, v in stem.items() if k.endswith(".weight")} == {
        "stem.0.weight": [32, 3, 3, 3],
        "stem.1.weight": [32],
        "stem.3.weight": [32, 32, 3, 3],
        "stem.4.weight": [32],
        "stem.6.weight": [64, 32, 3, 3],
        "stem.7.weight": [64],
    }
    rest = {k: v for k, v in reference_shapes("resnet18").items() if not k.startswith(("fc.", "conv1.", "bn1."))}
    assert {k: v for k, v in ours.items() if not k.startswith("stem.")} == rest
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 32))[0].shape == (1, 64, 8, 8)


def test_torchvision_style_checkpoint_loads_and_fc_is_skipped(tmp_path: Path) -> None:
    source = ResNet(18, with_classifier=True)
    path = tmp_path / "resnet18.pth"
    torch.save(source.state_dict(), path)
    backbone = ResNet(18, weights=path)
    assert not hasattr(backbone, "fc")
    assert torch.equal(backbone.layer4[1].conv2.weight, source.layer4[1].conv2.weight)
    classifier = ResNet(18, weights=path, with_classifier=True)
    assert torch.equal(classifier.fc.weight, source.fc.weight)
    assert classifier.classify(torch.randn(2, 512, 3, 3)).shape == (2, 1000)
    with pytest.raises(RuntimeError, match="without a classifier"):
        backbone.classify(torch.randn(2, 512, 3, 3))


def test_wrong_checkpoint_names_the_offending_keys(tmp_path: Path) -> None:
    state_dict = ResNet(18, with_classifier=True).state_dict()
    state_dict["layer1.0.convX.weight"] = state_dict.pop("layer1.0.conv1.weight")
    state_dict["bn1.weight"] = torch.ones(32)
    path = tmp_path / "broken.pth"
    torch.save(state_dict, path)
    with pytest.raises(ValueError) as error:
        ResNet(18, weights=path)
    message = str(error.value)
    assert "missing keys: layer1.0.conv1.weight" in message
    assert "unexpected keys: layer1.0.convX.weight" in message
    assert "bn1.weight: checkpoint (32,) vs model (64,)" in message
    assert str(path) in message
    with pytest.raises(ValueError, match=r"missing keys:.*stem\.0\.weight"):
        ResNet(18, deep_stem=True, weights=tmp_path / "broken.pth")
    with pytest.raises(CheckpointError, match=r"absent\.pth does not exist$"):
        ResNet(18, weights=tmp_path / "absent.pth")


def to_torchvision_vgg16(model: VGG16) -> dict[str, torch.Tensor]:
    """The state dict torchvision's vgg16 (at this width) would have: fc layers flattened, classifier.6 added."""
    state_dict = {k: v for k, v in model.state_dict().items() if k.startswith("features.")}
    for ours, theirs in (("fc6", "classifier.0"), ("fc7", "classifier.3")):
        state_dict[f"{theirs}.weight"] = model.state_dict()[f"{ours}.weight"].flatten(1)
        state_dict[f"{theirs}.bias"] = model.state_dict()[f"{ours}.bias"]
    fc_width = model.out_channels[-1]
    state_dict["classifier.6.weight"], state_dict["classifier.6.bias"] = torch.randn(1000, fc_width), torch.zeros(1000)
    return state_dict


def test_vgg16_loads_torchvision_checkpoint_and_reports_wrong_ones(tmp_path: Path) -> None:
    source = VGG16(width_multiplier=1 / 16)
    path = tmp_path / "vgg16.pth"
    torch.save(to_torchvision_vgg16(source), path)
    loaded = VGG16(width_multiplier=1 / 16, weights=path)
    for key, value in source.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    with pytest.raises(ValueError) as error:
        VGG16(width_multiplier=1 / 8, weights=path)
    assert "features.0.weight: checkpoint (4, 3, 3, 3) vs model (8, 3, 3, 3)" in str(error.value)
    assert "fc6.weight: checkpoint (256, 32, 7, 7) vs model (512, 64, 7, 7)" in str(error.value)


def test_vgg16_features() -> None:
    model = VGG16(width_multiplier=1 / 16).eval()
    with torch.no_grad():
        features = model(torch.randn(1, 3, 224, 230))
    assert [tuple(f.shape[1:]) for f in features] == [(16, 28, 29), (32, 14, 15), (32, 7, 8), (256, 1, 2)]
    assert model.out_channels == (16, 32, 32, 256)


@pytest.mark.parametrize("kwargs", [{"depth": 20}, {"output_stride": 4}], ids=["depth", "output_stride"])
def test_resnet_rejects_unsupported_settings(kwargs: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        ResNet(**kwargs)


def test_resnet_other_input_channels() -> None:
    model = ResNet(18, in_channels=1).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 1, 33, 47))[3].shape == (1, 512, 2, 2)
