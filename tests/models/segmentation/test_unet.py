import pytest
import torch

from visionbench.models.segmentation import SingleLayerSegmenter, UNet
from visionbench.models.segmentation.unet import UPSAMPLERS


@pytest.mark.parametrize("upsampling", ["transposed", "bilinear"])
@pytest.mark.parametrize("depth", [1, 2, 4])
def test_output_shape_odd_sizes(upsampling: str, depth: int) -> None:
    torch.manual_seed(0)
    model = UNet(num_classes=5, depth=depth, base_channels=4, upsampling=upsampling).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 67, 93))
    assert out.shape == (2, 5, 67, 93)
    assert torch.isfinite(out).all()


def test_tiny_input_smaller_than_padding() -> None:
    model = UNet(num_classes=3, depth=3, base_channels=4).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 5, 3)).shape == (1, 3, 5, 3)


def test_exact_multiple_is_not_padded() -> None:
    model = UNet(num_classes=2, in_channels=1, depth=2, base_channels=4, batch_norm=False).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 1, 32, 16)).shape == (1, 2, 32, 16)


@pytest.mark.parametrize("upsampling", sorted(UPSAMPLERS))
@pytest.mark.parametrize("batch_norm", [True, False])
def test_gradients_reach_every_parameter(upsampling: str, batch_norm: bool) -> None:
    torch.manual_seed(0)
    model = UNet(num_classes=4, depth=2, base_channels=4, upsampling=upsampling, batch_norm=batch_norm)
    out = model(torch.randn(2, 3, 20, 28))
    torch.nn.functional.cross_entropy(out, torch.randint(0, 4, (2, 20, 28))).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert p.grad.abs().sum() > 0, name


def test_state_dict_round_trip() -> None:
    torch.manual_seed(0)
    a = UNet(num_classes=3, depth=2, base_channels=4, upsampling="bilinear")
    a(torch.randn(4, 3, 16, 16))  # move the BN running statistics away from their init
    a.eval()
    b = UNet(num_classes=3, depth=2, base_channels=4, upsampling="bilinear").eval()
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 3, 19, 23)
    with torch.no_grad():
        assert torch.equal(a(x), b(x))


def test_widths_follow_base_channels() -> None:
    model = UNet(num_classes=2, depth=3, base_channels=8)
    assert model.bottleneck[0].out_channels == 64
    assert model.head.in_channels == 8
    assert len(model.encoder) == len(model.decoder) == 3


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"upsampling": "nearest-ish"}, "bilinear.*transposed"),
        ({"depth": 0}, "depth"),
        ({"base_channels": 0}, "base_channels"),
        ({"num_classes": 0}, "num_classes"),
        ({"in_channels": 0}, "in_channels"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    args = {"num_classes": 3, "base_channels": 4, **kwargs}
    with pytest.raises(ValueError, match=match):
        UNet(**args)


@pytest.mark.parametrize("kernel_size", [1, 3])
def test_single_layer(kernel_size: int) -> None:
    model = SingleLayerSegmenter(num_classes=7, kernel_size=kernel_size)
    out = model(torch.randn(2, 3, 13, 17))
    assert out.shape == (2, 7, 13, 17)
    assert sum(p.numel() for p in model.parameters()) == 7 * 3 * kernel_size**2 + 7


@pytest.mark.parametrize("kwargs", [{"kernel_size": 2}, {"kernel_size": 0}, {"num_classes": 0}])
def test_single_layer_bad_arguments(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        SingleLayerSegmenter(**{"num_classes": 3, **kwargs})
