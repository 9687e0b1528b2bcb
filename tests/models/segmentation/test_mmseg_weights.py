"""mmsegmentation's ADE20K checkpoints load into FCN / PSPNet / DeepLabV3 / DeepLabV3+ (``model.weights``): the
random-weight checkpoints of ../shared/fixtures/published_weights/, written by mmsegmentation 1.2.2 itself, reproduce
its stored logits within 1e-4 (the README's tolerance) in our models built from conf/model/segmentation/*_mmseg.yaml
with the fixture's tiny sizes; the full-size R-50-D8 / R-101-D8 key lists convert, into the models of the
conf/experiment/ade20k rows, without a missing, extra or mis-shaped key; a wrong file fails naming the keys."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from safetensors.torch import load_file

from tests.helpers import compose_config
from tests.helpers.models import compose_model
from tests.helpers.published_weights import published
from visionbench.models.backbones import ResNet
from visionbench.models.published import convert_state_dict, load_published_weights
from visionbench.models.segmentation import FCN, DeepLabV3, PSPNet
from visionbench.runner.builders import split_weights

TOLERANCE = 1e-4
ARCHITECTURES = ["fcn", "pspnet", "deeplabv3", "deeplabv3plus"]
ADE20K_CLASSES = 150

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_overrides(architecture: str) -> list[str]:
    """Overrides of ``model=segmentation/<architecture>_mmseg`` that give the sizes of mmsegmentation's config in
    ``mmseg_<architecture>_tiny.json``, after checking that the rest of that config is what the YAML builds."""
    config = json.loads(published(f"mmseg_{architecture}_tiny.json").read_text())
    backbone, head, aux = config["backbone"], config["decode_head"], config["auxiliary_head"]
    # ResNetV1c-D8: stride 8 by dilating layer3/layer4, the first block of each at half the dilation
    assert backbone["type"] == "ResNetV1c" and backbone["contract_dilation"] and backbone["style"] == "pytorch"
    assert (backbone["strides"], backbone["dilations"]) == ([1, 2, 1, 1], [1, 1, 2, 4])
    # the auxiliary FCNHead on layer3: one conv of in/4 channels, no concatenation (ours: aux_head=true)
    assert (aux["in_index"], aux["num_convs"], aux["concat_input"]) == (2, 1, False)
    assert aux["channels"] == aux["in_channels"] // 4
    overrides = [
        f"model.backbone.depth={backbone['depth']}",
        f"model.backbone.stem_channels={backbone['stem_channels']}",
        f"model.backbone.base_channels={backbone['base_channels']}",
        f"model.channels={head['channels']}",
    ]
    if "num_convs" in head:
        overrides += [f"model.num_convs={head['num_convs']}", f"model.concat_input={head['concat_input']}"]
    if "pool_scales" in head:
        overrides.append(f"model.bins=[{','.join(map(str, head['pool_scales']))}]")
    if "dilations" in head:
        assert head["dilations"][0] == 1  # mmsegmentation lists the 1x1 branch as dilation 1
        overrides.append(f"model.atrous_rates=[{','.join(map(str, head['dilations'][1:]))}]")
    if "c1_channels" in head:
        overrides.append(f"model.low_level_channels={head['c1_channels']}")
    return overrides


def tiny_model(architecture: str) -> torch.nn.Module:
    """Our ``<architecture>_mmseg`` model at the fixture's tiny sizes, in eval mode, with its weights loaded."""
    config = compose_model("segmentation", f"{architecture}_mmseg", tiny_overrides(architecture))
    model = instantiate(config, num_classes=ADE20K_CLASSES).eval()
    return load_published_weights(model, published(f"mmseg_{architecture}_tiny.safetensors"))


def upsampled(logits: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """``logits`` resized to the image as mmsegmentation's whole-mode inference does."""
    return F.interpolate(logits, size=image.shape[-2:], mode="bilinear", align_corners=False)


def max_difference(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    assert ours.shape == theirs.shape
    return (ours - theirs).abs().max().item()


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_tiny_checkpoint_reproduces_mmsegmentation_logits(architecture: str) -> None:
    io = torch.load(published(f"mmseg_{architecture}_tiny_io.pt"), weights_only=True)
    model = tiny_model(architecture)
    image = io["input"]
    with torch.no_grad():
        features = model.backbone(image)
        decode_logits = model.decode(features)
        aux_logits = model.aux_classifier(features[2])
        output = model(image)
    for ours, theirs in zip(features, io["backbone_feats"], strict=True):
        assert max_difference(ours, theirs) < TOLERANCE
    assert io["decode_logits"].abs().max() > 1  # logits of several units: a real check at 1e-4
    assert max_difference(decode_logits, io["decode_logits"]) < TOLERANCE
    assert max_difference(aux_logits, io["aux_logits"]) < TOLERANCE
    assert max_difference(output["aux"], upsampled(io["aux_logits"], image)) < TOLERANCE
    # mmsegmentation's whole-mode inference: the decode logits upsampled bilinearly (align_corners=False)
    full = io["seg_logits"] if "seg_logits" in io else upsampled(io["decode_logits"], image)
    assert max_difference(output["out"], full) < TOLERANCE
    if "decode_logits_large_first8" in io:  # 37x37 stride-8 features: every tap of the rates 12/24/36 counts
        with torch.no_grad():
            large = model.decode(model.backbone((io["input_large_u8"].float() - 128) / 64))
        assert max_difference(large[:, :8], io["decode_logits_large_first8"]) < TOLERANCE


def test_fcn_predictions_equal_mmsegmentations() -> None:
    io = torch.load(published("mmseg_fcn_tiny_io.pt"), weights_only=True)
    with torch.no_grad():
        prediction = tiny_model("fcn")(io["input"])["out"].argmax(dim=1)
    assert torch.equal(prediction, io["pred_sem_seg"])


def meta_state_dict(key_list: Path) -> dict[str, torch.Tensor]:
    """Empty meta tensors with the keys and shapes of a ``*_keys.json`` list."""
    shapes = json.loads(key_list.read_text())
    return {key: torch.empty(shape, device="meta") for key, shape in shapes.items()}


@pytest.mark.parametrize("depth", [50, 101])
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_full_size_keys_fit_the_ade20k_rows(architecture: str, depth: int, tmp_path: Path) -> None:
    """mmsegmentation's ``<arch>_r<depth>-d8`` ADE20K model, whose checkpoints the rows' published numbers come
    from, converts into the model of ``experiment=ade20k/<arch>_r<depth>-d8_80k``: every key and shape fits."""
    state_dict = meta_state_dict(published(f"mmseg_{architecture}_r{depth}-d8_keys.json"))
    cfg = compose_config("train", [f"experiment=ade20k/{architecture}_r{depth}-d8_80k"], tmp_path)
    with torch.device("meta"):
        model = instantiate(split_weights(cfg.model)[0], num_classes=ADE20K_CLASSES)
    converted = convert_state_dict(model, state_dict, f"{architecture}_r{depth}-d8")
    expected = model.state_dict()
    assert len(converted) == len(state_dict) == len(expected)
    assert sorted(converted) == sorted(expected)
    assert [key for key in expected if converted[key].shape != expected[key].shape] == []


def test_torchvision_style_head_refuses_mmsegmentation_weights_naming_the_keys() -> None:
    backbone = ResNet(18, output_stride=8, deep_stem=True, stem_channels=8, base_channels=8)
    # torchvision's head at mmsegmentation's width: 1x1 projection, extra 3x3 conv before the classifier
    model = DeepLabV3(ADE20K_CLASSES, backbone, aux_head=True, atrous_rates=(12, 24, 36), channels=16)
    with pytest.raises(ValueError, match="do not fit DeepLabV3") as error:
        load_published_weights(model, published("mmseg_deeplabv3_tiny.safetensors"))
    message = str(error.value)
    assert "missing keys: classifier.1.weight" in message  # torchvision's extra 3x3 conv has no counterpart
    mismatch = "1 shape mismatches: classifier.0.project.0.weight: checkpoint (16, 80, 3, 3) vs model (16, 80, 1, 1)"
    assert mismatch in message  # mmsegmentation fuses the ASPP branches by a 3x3 conv, torchvision by a 1x1


def test_another_architectures_checkpoint_is_refused_naming_the_keys() -> None:
    backbone = ResNet(18, output_stride=8, deep_stem=True, stem_channels=8, base_channels=8)
    model = PSPNet(ADE20K_CLASSES, backbone, aux_head=True, channels=16, channel_dropout=True)
    with pytest.raises(ValueError, match="unexpected keys: decode_head.conv_cat.bn.bias"):
        load_published_weights(model, published("mmseg_fcn_tiny.safetensors"))


def test_auxiliary_head_is_dropped_with_a_log_line_when_the_model_has_none(caplog: pytest.LogCaptureFixture) -> None:
    backbone = ResNet(18, output_stride=8, deep_stem=True, stem_channels=8, base_channels=8)
    model = FCN(ADE20K_CLASSES, backbone, channels=16, num_convs=2, concat_input=True, channel_dropout=True).eval()
    with caplog.at_level(logging.INFO, logger="visionbench.models.segmentation.mmseg"):
        load_published_weights(model, published("mmseg_fcn_tiny.safetensors"))
    assert "auxiliary head (8 tensors) is not loaded: FCN was built without one" in caplog.text
    io = torch.load(published("mmseg_fcn_tiny_io.pt"), weights_only=True)
    with torch.no_grad():
        assert max_difference(model(io["input"]), io["seg_logits"]) < TOLERANCE


def test_aspp_bottleneck_channels_are_reordered_pooling_branch_last() -> None:
    """mmsegmentation concatenates [pooling, 1x1, rate 12, 24, 36], ours [1x1, 12, 24, 36, pooling]."""
    weights = load_file(published("mmseg_deeplabv3_tiny.safetensors"))
    model = tiny_model("deeplabv3")
    ours = model.classifier[0].project[0].weight
    theirs = weights["decode_head.bottleneck.conv.weight"]
    width = theirs.shape[1] // 5
    assert torch.equal(ours[:, -width:], theirs[:, :width]) and torch.equal(ours[:, :-width], theirs[:, width:])


def test_default_models_keep_torchvisions_layout() -> None:
    """The mmsegmentation options leave the defaults as they were: torchvision's keys and no channel dropout."""
    model = FCN(ADE20K_CLASSES, ResNet(18, output_stride=8), aux_head=True)
    assert {"classifier.0.weight", "classifier.1.running_var", "classifier.4.bias", "aux_classifier.4.weight"} <= set(
        model.state_dict()
    )
    assert isinstance(model.classifier[3], torch.nn.Dropout) and isinstance(model.aux_classifier[3], torch.nn.Dropout)
    assert ResNet(18).conv1.out_channels == 64 and ResNet(18, deep_stem=True).stem[0].out_channels == 32


def test_a_file_of_unknown_format_names_its_keys(tmp_path: Path) -> None:
    backbone = ResNet(18, output_stride=8, deep_stem=True, stem_channels=8, base_channels=8)
    model = FCN(ADE20K_CLASSES, backbone)
    path = tmp_path / "other.pth"
    torch.save({"encoder.conv.weight": torch.zeros(1)}, path)
    with pytest.raises(ValueError, match="known: mmsegmentation.*first keys: encoder.conv.weight"):
        load_published_weights(model, path)
