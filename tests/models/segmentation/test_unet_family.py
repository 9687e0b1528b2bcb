import json
from pathlib import Path

import pytest
import torch

from tests.helpers import FIXTURES
from visionbench.models.backbones.resnet import ResNet
from visionbench.models.segmentation.unet import UPSAMPLERS, EncoderPool, MaxUnpoolUp, MultiInputUNet, UNet
from visionbench.models.segmentation.unet3d import UNet3D
from visionbench.models.segmentation.unet_resnet import UNetResNet

PARAMETER_COUNTS = FIXTURES / "reference_models" / "parameter_counts.json"


def test_the_five_upsampling_choices_are_offered() -> None:
    assert set(UPSAMPLERS) == {"nearest", "bilinear", "max_unpool", "transposed", "pixel_shuffle"}


@pytest.mark.parametrize("upsampling", sorted(UPSAMPLERS))
def test_every_upsampling_keeps_the_input_size(upsampling: str) -> None:
    torch.manual_seed(0)
    model = UNet(num_classes=5, depth=2, base_channels=4, upsampling=upsampling).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 67, 93))
    assert out.shape == (1, 5, 67, 93)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("upsampling", sorted(UPSAMPLERS))
def test_every_upsampling_trains_every_parameter(upsampling: str) -> None:
    torch.manual_seed(0)
    model = UNet(num_classes=3, depth=2, base_channels=4, upsampling=upsampling)
    out = model(torch.randn(2, 3, 67, 93))
    torch.nn.functional.cross_entropy(out, torch.randint(0, 3, (2, 67, 93))).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("upsampling", sorted(UPSAMPLERS))
def test_encoder_records_pool_indices_only_for_max_unpool(upsampling: str) -> None:
    model = UNet(num_classes=2, depth=1, base_channels=4, upsampling=upsampling)
    _, indices = model.pool(torch.randn(1, 4, 6, 6))
    assert (indices is not None) == (upsampling == "max_unpool")


def test_unknown_upsampling_lists_all_choices() -> None:
    with pytest.raises(ValueError, match="bilinear.*max_unpool.*nearest.*pixel_shuffle.*transposed"):
        UNet(num_classes=2, upsampling="bicubic")


def test_max_unpool_puts_values_back_at_the_pooled_argmax() -> None:
    x = torch.tensor(
        [
            [1.0, 5.0, 0.0, 2.0],
            [3.0, 2.0, 7.0, 1.0],
            [0.0, 0.0, 4.0, 6.0],
            [9.0, 1.0, 3.0, 2.0],
        ]
    ).view(1, 1, 4, 4)
    pooled, indices = EncoderPool(record_indices=True)(x)
    assert pooled.flatten().tolist() == [5.0, 7.0, 9.0, 6.0]
    up = MaxUnpoolUp(1, 1)
    with torch.no_grad():
        up.proj.weight.fill_(1.0)
        up.proj.bias.zero_()
        out = up(torch.tensor([[10.0, 20.0], [30.0, 40.0]]).view(1, 1, 2, 2), indices)
    expected = torch.tensor(
        [
            [0.0, 10.0, 0.0, 0.0],
            [0.0, 0.0, 20.0, 0.0],
            [0.0, 0.0, 0.0, 40.0],
            [30.0, 0.0, 0.0, 0.0],
        ]
    ).view(1, 1, 4, 4)
    assert torch.equal(out, expected)


def test_max_unpool_without_indices_fails_clearly() -> None:
    with pytest.raises(ValueError, match="indices"):
        MaxUnpoolUp(2, 2)(torch.randn(1, 2, 3, 3))


def small_unet_resnet(**kwargs) -> UNetResNet:
    return UNetResNet(4, ResNet(18, **kwargs), decoder_channels=(32, 16, 8, 8, 4))


@pytest.mark.parametrize("deep_stem", [False, True])
def test_unet_resnet_keeps_the_input_size(deep_stem: bool) -> None:
    torch.manual_seed(0)
    model = small_unet_resnet(deep_stem=deep_stem).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 67, 93))
    assert out.shape == (1, 4, 67, 93)
    assert torch.isfinite(out).all()


def test_unet_resnet34_has_smp_parameter_count() -> None:
    counts = json.loads(PARAMETER_COUNTS.read_text())
    with torch.device("meta"):
        model = UNetResNet(150, ResNet(34))
    assert (
        sum(p.numel() for p in model.parameters())
        == counts["segmentation_models_pytorch.Unet(encoder_name='resnet34', classes=150)"]
    )


def test_unet_resnet_trains_every_parameter() -> None:
    torch.manual_seed(0)
    model = small_unet_resnet()
    model(torch.randn(2, 3, 32, 32)).square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_frozen_encoder_gets_no_gradients_and_keeps_its_statistics() -> None:
    torch.manual_seed(0)
    model = UNetResNet(3, ResNet(18), decoder_channels=(32, 16, 8, 8, 4), freeze_encoder=True).train()
    assert not model.backbone.training and model.decoder.training
    running_mean = model.backbone.bn1.running_mean.clone()
    model(torch.randn(2, 3, 32, 32)).square().mean().backward()
    assert torch.equal(model.backbone.bn1.running_mean, running_mean)
    for name, p in model.named_parameters():
        assert (p.grad is None) == name.startswith("backbone."), name


def test_unet_resnet_uses_the_backbone_weights_file(tmp_path: Path) -> None:
    torch.manual_seed(0)
    path = tmp_path / "resnet18.pth"
    torch.save(ResNet(18).state_dict(), path)
    model = small_unet_resnet(weights=path)
    assert torch.equal(model.backbone.conv1.weight, torch.load(path)["conv1.weight"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"backbone": ResNet(18, output_stride=8)}, "output_stride"),
        ({"decoder_channels": (8, 8, 8, 8)}, "decoder_channels"),
        ({"num_classes": 0}, "num_classes"),
    ],
)
def test_unet_resnet_bad_arguments(kwargs: dict, match: str) -> None:
    args = {"num_classes": 3, "backbone": ResNet(18), **kwargs}
    with pytest.raises(ValueError, match=match):
        UNetResNet(**args)


def count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("fusion", ["early", "late"])
def test_multi_input_unet_keeps_the_input_size(fusion: str) -> None:
    torch.manual_seed(0)
    model = MultiInputUNet(5, [3, 1], fusion=fusion, depth=2, base_channels=4).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 4, 67, 93))
    assert out.shape == (1, 5, 67, 93)


def test_early_fusion_is_one_unet_on_the_stacked_channels() -> None:
    model = MultiInputUNet(5, [3, 1, 2], fusion="early", depth=2, base_channels=4)
    assert len(model.branches) == 1
    assert count(model) == count(UNet(5, in_channels=6, depth=2, base_channels=4))


def test_late_fusion_averages_one_unet_per_input() -> None:
    torch.manual_seed(0)
    model = MultiInputUNet(2, [3, 1], fusion="late", depth=1, base_channels=4).eval()
    assert [branch.encoder[0][0].in_channels for branch in model.branches] == [3, 1]
    x = torch.randn(1, 4, 8, 8)
    with torch.no_grad():
        expected = (model.branches[0](x[:, :3]) + model.branches[1](x[:, 3:])) / 2
        assert torch.allclose(model(x), expected)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"fusion": "middle"}, "early.*late"),
        ({"input_channels": []}, "input_channels"),
        ({"input_channels": [3, 0]}, "input_channels"),
    ],
)
def test_multi_input_unet_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        MultiInputUNet(**{"num_classes": 2, "input_channels": [3, 1], "base_channels": 4, **kwargs})


def test_multi_input_unet_rejects_a_wrong_channel_count() -> None:
    with pytest.raises(ValueError, match="stacked into 4 channels, got 3"):
        MultiInputUNet(2, [3, 1], depth=1, base_channels=4)(torch.randn(1, 3, 8, 8))


@pytest.mark.parametrize("size", [(9, 13, 11), (3, 2, 5), (8, 8, 8)])
def test_unet3d_keeps_the_volume_size(size: tuple[int, int, int]) -> None:
    torch.manual_seed(0)
    model = UNet3D(num_classes=3, in_channels=2, depth=2, base_channels=2).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 2, *size))
    assert out.shape == (1, 3, *size)
    assert torch.isfinite(out).all()


def test_unet3d_trains_every_parameter() -> None:
    torch.manual_seed(0)
    model = UNet3D(num_classes=2, depth=2, base_channels=2)
    out = model(torch.randn(2, 1, 8, 12, 8))
    torch.nn.functional.cross_entropy(out, torch.randint(0, 2, (2, 8, 12, 8))).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert isinstance(model.encoder[0][0], torch.nn.Conv3d)


@pytest.mark.parametrize("name", ["num_classes", "in_channels", "depth", "base_channels"])
def test_unet3d_bad_arguments(name: str) -> None:
    with pytest.raises(ValueError, match=name):
        UNet3D(**{"num_classes": 2, name: 0})
