"""The segmentation model contract, for every ``conf/model/segmentation/*.yaml`` (found by a glob, built at
``model_size=small`` with the tiny overrides of tests/models/segmentation/tiny.py): ``B,C_in,H,W`` images to
``B,num_classes,H,W`` logits at any size, aux outputs as optional dict entries, gradients into every parameter, a
state-dict round trip, deterministic eval, channels_last and bf16 autocast. Architecture-specific checks
(parameter counts, layouts) are in the other test modules of this folder."""

import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate

from tests.helpers.models import main_output, model_config_names
from tests.models.segmentation.tiny import NUM_CLASSES, input_channels, tiny_config

CONFIGS = model_config_names("segmentation")
VARIANTS = [
    ("deeplabv3", "model.backbone.output_stride=16"),
    ("deeplabv3plus", "model.separable=false", "model.backbone.deep_stem=true"),
]
"""Settings that take other code paths than a config's defaults, tested like the configs themselves."""
RELATIVE_TOLERANCE = {"cam_resnet": 1e-3}
"""Relative tolerance of the channels_last logits where 1e-4 is too tight: CAM's logits are logarithms of scores
normalised by their maximum (down to log 1e-6), which magnify rounding differences."""
CASES = [pytest.param(name, (), id=name) for name in CONFIGS] + [
    pytest.param(name, overrides, id=f"{name}[{','.join(overrides)}]") for name, *overrides in VARIANTS
]


def build(name: str, overrides: tuple[str, ...]) -> tuple[torch.nn.Module, int]:
    """The tiny model of ``model=segmentation/<name>`` with ``overrides``, and the image channels it expects."""
    config = tiny_config(name, *overrides)
    return instantiate(config, num_classes=NUM_CLASSES), input_channels(config)


def check_outputs(output: torch.Tensor | dict[str, torch.Tensor], batch: int, size: tuple[int, int]) -> None:
    """Logits ``B,C,H,W``; other dict entries per pixel (``B,C,H,W``) or per image (``B,C``)."""
    assert main_output(output).shape == (batch, NUM_CLASSES, *size)
    assert torch.isfinite(main_output(output)).all()
    if isinstance(output, dict):
        for key, value in output.items():
            assert value.shape in {(batch, NUM_CLASSES, *size), (batch, NUM_CLASSES)}, key


def test_every_config_is_found() -> None:
    assert len(CONFIGS) >= 14, CONFIGS  # a broken glob must not leave the tests below with nothing to check
    assert {"unet", "fcn8s", "deeplabv3plus", "pspnet", "refinenet"} <= set(CONFIGS)


@pytest.mark.parametrize(("name", "overrides"), CASES)
def test_output_contract_at_odd_sizes(name: str, overrides: tuple[str, ...]) -> None:
    config = tiny_config(name, *overrides)
    # a model with an aux head returns {"out", "aux"} with it and the logits tensor without it
    aux_settings = [config.aux_head, not config.aux_head] if "aux_head" in config else [None]
    for aux_head in aux_settings:
        torch.manual_seed(0)
        extra = () if aux_head is None else (f"model.aux_head={aux_head}",)
        model, channels = build(name, (*overrides, *extra))
        model.eval()
        with torch.no_grad():
            output = model(torch.randn(2, channels, 67, 93))
            check_outputs(output, 2, (67, 93))
            # 33x47 leaves PSPNet a 5x6 map at stride 8 (smaller than the 6x6 bin) and RefineNet a 2x2 layer4
            for size in [(33, 47), (5, 3)]:
                check_outputs(model(torch.randn(1, channels, *size)), 1, size)
        if aux_head:
            assert set(output) == {"out", "aux"} and output["aux"].shape == (2, NUM_CLASSES, 67, 93)
        elif aux_head is not None:
            assert isinstance(output, torch.Tensor)


@pytest.mark.parametrize(("name", "overrides"), CASES)
def test_gradients_reach_every_parameter(name: str, overrides: tuple[str, ...]) -> None:
    torch.manual_seed(0)
    model, channels = build(name, overrides)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, target = torch.randn(2, channels, 19, 27), torch.randint(0, NUM_CLASSES, (2, 19, 27))
    labels = torch.randint(0, 2, (2, NUM_CLASSES)).float()
    # two steps: FCN's score layers start at zero (as in the paper), so the backbone's gradient is zero at first
    for _ in range(2):
        optimizer.zero_grad()
        output = model(x)
        outputs = output.values() if isinstance(output, dict) else [output]
        loss = sum(
            F.cross_entropy(o, target) if o.dim() == 4 else F.binary_cross_entropy_with_logits(o, labels)
            for o in outputs
        )
        loss.backward()
        optimizer.step()
    missing = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert missing == []


@pytest.mark.parametrize(("name", "overrides"), CASES)
def test_state_dict_round_trip(name: str, overrides: tuple[str, ...]) -> None:
    torch.manual_seed(0)
    source, channels = build(name, overrides)
    source(torch.randn(2, channels, 24, 24))  # move the BN running statistics away from their initial values
    copy, _ = build(name, overrides)
    copy.load_state_dict(source.state_dict())
    x = torch.randn(1, channels, 21, 30)
    with torch.no_grad():
        assert torch.equal(main_output(source.eval()(x)), main_output(copy.eval()(x)))


@pytest.mark.parametrize(("name", "overrides"), CASES)
def test_eval_is_deterministic_channels_last_and_bf16(name: str, overrides: tuple[str, ...]) -> None:
    """In eval mode (dropout off, BN running statistics) the same images give the same logits, in channels_last
    memory format too; under bf16 autocast they are finite."""
    torch.manual_seed(0)
    model, channels = build(name, overrides)
    model.eval()
    x = torch.randn(2, channels, 29, 35)
    with torch.no_grad():
        reference = main_output(model(x))
        assert torch.equal(main_output(model(x)), reference)
        channels_last = main_output(
            model.to(memory_format=torch.channels_last)(x.to(memory_format=torch.channels_last))
        )
        torch.testing.assert_close(channels_last, reference, rtol=RELATIVE_TOLERANCE.get(name, 1e-4), atol=1e-4)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low_precision = main_output(model(x))
    assert low_precision.shape == (2, NUM_CLASSES, 29, 35)
    assert torch.isfinite(low_precision).all()
