"""torchvision's FCN and DeepLabV3 checkpoints (``fcn_resnet50_coco-1167a1af.pth``, ``deeplabv3_resnet50_coco-
cd0a2569.pth``: 21 classes, auxiliary head) load into ``model=segmentation/fcn_resnet`` / ``segmentation/deeplabv3``
without conversion: our keys and shapes are torchvision's.

torchvision is not importable here, so its state-dict layout is generated from the structure of its source
(torchvision/models/resnet.py, segmentation/fcn.py and segmentation/deeplabv3.py, read on GitHub):

- backbone: ``resnet50(replace_stride_with_dilation=[False, True, True])`` wrapped in ``IntermediateLayerGetter`` (keys
  ``backbone.*`` without ``fc``): stem ``conv1``/``bn1``, Bottleneck units (expansion 4) ``conv1``/``bn1`` (1x1),
  ``conv2``/``bn2`` (3x3), ``conv3``/``bn3`` (1x1), and ``downsample.0``/``downsample.1`` in each stage's first unit;
- ``FCNHead(in, classes)`` = Sequential(conv 3x3 to in/4 without bias, BatchNorm, ReLU, Dropout, conv 1x1 with bias);
  ``classifier = FCNHead(2048)`` for FCN, ``aux_classifier = FCNHead(1024)`` for both;
- ``DeepLabHead(2048, classes)`` = Sequential(ASPP, conv 3x3 256 without bias, BatchNorm, ReLU, conv 1x1 with bias);
  ASPP: ``convs`` = [1x1 conv + BN + ReLU, three 3x3 dilated conv + BN + ReLU, pooling (pool, 1x1 conv, BN, ReLU)],
  ``project`` = (1x1 conv 1280 -> 256, BN, ReLU, Dropout); every ASPP convolution has 256 outputs and no bias.

The generated layouts have exactly the parameter counts torchvision publishes for these weights (``num_params`` of
``FCN_ResNet50_Weights`` / ``DeepLabV3_ResNet50_Weights``). A last test compares with real torchvision where it imports.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from tests.helpers import CONF
from tests.helpers.models import main_output
from visionbench.models.published import load_published_weights
from visionbench.runner.builders import split_weights

Shapes = dict[str, tuple[int, ...]]
NUM_CLASSES = 21
TORCHVISION_PARAMETERS = {"fcn_resnet": 35_322_218, "deeplabv3": 42_004_074}
"""``meta["num_params"]`` of FCN_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1 and DeepLabV3_ResNet50_Weights (same)."""

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def batch_norm(prefix: str, channels: int) -> Shapes:
    return {
        f"{prefix}.weight": (channels,),
        f"{prefix}.bias": (channels,),
        f"{prefix}.running_mean": (channels,),
        f"{prefix}.running_var": (channels,),
        f"{prefix}.num_batches_tracked": (),
    }


def conv_bn(prefix: str, conv: str, norm: str, out_channels: int, in_channels: int, kernel: int) -> Shapes:
    return {
        f"{prefix}{conv}.weight": (out_channels, in_channels, kernel, kernel),
        **batch_norm(prefix + norm, out_channels),
    }


def torchvision_resnet50_backbone() -> Shapes:
    """``backbone.*`` of torchvision's segmentation models on ResNet-50 (no ``fc``: IntermediateLayerGetter)."""
    shapes = conv_bn("backbone.", "conv1", "bn1", 64, 3, 7)
    in_channels = 64
    for stage, (units, width) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512), strict=True), start=1):
        for unit in range(units):
            prefix = f"backbone.layer{stage}.{unit}."
            shapes |= conv_bn(prefix, "conv1", "bn1", width, in_channels, 1)
            shapes |= conv_bn(prefix, "conv2", "bn2", width, width, 3)
            shapes |= conv_bn(prefix, "conv3", "bn3", 4 * width, width, 1)
            if unit == 0:
                shapes |= conv_bn(prefix, "downsample.0", "downsample.1", 4 * width, in_channels, 1)
            in_channels = 4 * width
    return shapes


def fcn_head(prefix: str, in_channels: int) -> Shapes:
    inner = in_channels // 4
    return {
        **conv_bn(prefix, "0", "1", inner, in_channels, 3),
        f"{prefix}4.weight": (NUM_CLASSES, inner, 1, 1),
        f"{prefix}4.bias": (NUM_CLASSES,),
    }


def deeplab_head(prefix: str, in_channels: int) -> Shapes:
    shapes = conv_bn(f"{prefix}0.convs.0.", "0", "1", 256, in_channels, 1)
    for branch in (1, 2, 3):
        shapes |= conv_bn(f"{prefix}0.convs.{branch}.", "0", "1", 256, in_channels, 3)
    shapes |= conv_bn(f"{prefix}0.convs.4.", "1", "2", 256, in_channels, 1)
    shapes |= conv_bn(f"{prefix}0.project.", "0", "1", 256, 5 * 256, 1)
    shapes |= conv_bn(prefix, "1", "2", 256, 256, 3)
    return shapes | {f"{prefix}4.weight": (NUM_CLASSES, 256, 1, 1), f"{prefix}4.bias": (NUM_CLASSES,)}


def torchvision_layout(name: str) -> Shapes:
    """The state-dict layout of torchvision's ``fcn_resnet50`` (``name="fcn_resnet"``) or ``deeplabv3_resnet50``
    (``"deeplabv3"``) with ``num_classes=21, aux_loss=True``."""
    head = fcn_head("classifier.", 2048) if name == "fcn_resnet" else deeplab_head("classifier.", 2048)
    return torchvision_resnet50_backbone() | head | fcn_head("aux_classifier.", 1024)


def our_model(name: str, device: str = "cpu") -> torch.nn.Module:
    """``model=segmentation/<name>`` as its YAML ships it (ResNet-50, auxiliary head), for 21 classes."""
    config, _ = split_weights(OmegaConf.load(CONF / "model" / "segmentation" / f"{name}.yaml"))
    with torch.device(device):
        return instantiate(config, num_classes=NUM_CLASSES)


def parameter_count(shapes: Shapes) -> int:
    statistics = (".running_mean", ".running_var", ".num_batches_tracked")
    return sum(torch.Size(shape).numel() for key, shape in shapes.items() if not key.endswith(statistics))


@pytest.mark.parametrize("name", sorted(TORCHVISION_PARAMETERS))
def test_torchvision_layout_is_our_layout(name: str) -> None:
    layout = torchvision_layout(name)
    assert parameter_count(layout) == TORCHVISION_PARAMETERS[name]  # the generator matches torchvision's own count
    model = our_model(name, device="meta")
    assert {key: tuple(value.shape) for key, value in model.state_dict().items()} == layout


def test_torchvision_fcn_state_dict_loads_through_model_weights(tmp_path: Path) -> None:
    """A file with torchvision's exact keys and shapes loads unconverted (strictly) and its values land."""
    generator = torch.Generator().manual_seed(0)
    state = {
        key: torch.zeros(shape, dtype=torch.int64) if key.endswith("num_batches_tracked") else torch.empty(shape)
        for key, shape in torchvision_layout("fcn_resnet").items()
    }
    state["classifier.4.weight"] = torch.randn(state["classifier.4.weight"].shape, generator=generator)
    state["backbone.layer3.5.bn2.running_var"] = torch.rand(256, generator=generator) + 0.5
    path = tmp_path / "fcn_resnet50_coco.pth"
    torch.save(state, path)
    model = load_published_weights(our_model("fcn_resnet"), path)
    loaded = model.state_dict()
    assert torch.equal(loaded["classifier.4.weight"], state["classifier.4.weight"])
    assert torch.equal(loaded["backbone.layer3.5.bn2.running_var"], state["backbone.layer3.5.bn2.running_var"])


def importable_torchvision_segmentation():
    """torchvision.models.segmentation, or a skip where torchvision does not import (here: CUDA wheels on a CPU
    machine fail with errors other than ImportError)."""
    try:
        from torchvision.models import segmentation
    except Exception as error:  # any import failure means: not available here
        pytest.skip(f"torchvision does not import: {error}")
    return segmentation


@pytest.mark.parametrize(("name", "builder"), [("fcn_resnet", "fcn_resnet50"), ("deeplabv3", "deeplabv3_resnet50")])
def test_real_torchvision_model_loads_and_gives_the_same_logits(name: str, builder: str, tmp_path: Path) -> None:
    segmentation = importable_torchvision_segmentation()
    torch.manual_seed(0)
    reference = getattr(segmentation, builder)(
        weights=None, weights_backbone=None, num_classes=NUM_CLASSES, aux_loss=True
    ).eval()
    path = tmp_path / f"{builder}.pth"
    torch.save(reference.state_dict(), path)
    model = load_published_weights(our_model(name), path).eval()
    image = torch.randn(1, 3, 64, 80, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = reference(image)["out"]
        logits = main_output(model(image))
    assert logits.shape == expected.shape == (1, NUM_CLASSES, 64, 80)
    assert (logits - expected).abs().max() < 1e-4
