"""Tiny segmentation models for the tests: ``conf/model/segmentation/<name>.yaml`` composed with ``model_size=small``
(ResNet-18 backbones) and the overrides in :data:`TINY` (fewer channels, the same code paths)."""

from hydra.utils import instantiate
from omegaconf import DictConfig
from torch import nn

from tests.helpers.models import compose_model

NUM_CLASSES = 5
VGG_WIDTH = 1 / 16
REFINENET_WIDTH = 16

TINY: dict[str, list[str]] = {
    **{f"fcn{variant}": [f"model.backbone.width_multiplier={VGG_WIDTH}"] for variant in ("32s", "16s", "8s")},
    "refinenet": [f"model.width={REFINENET_WIDTH}", "model.crp_blocks=2"],
    "refinenet_lw": [f"model.width={REFINENET_WIDTH}"],
    "unet": ["model.depth=2", "model.base_channels=4"],
    "unet_multi_input": ["model.depth=2", "model.base_channels=4"],
    "unet_resnet": ["model.decoder_channels=[32,16,8,8,4]"],
}
"""Overrides that shrink a model further than ``model_size=small``; a config without an entry is tested at its
``model_size=small`` size."""


def tiny_config(name: str, *overrides: str) -> DictConfig:
    """The model config ``model=segmentation/<name>`` at ``model_size=small`` with :data:`TINY` and ``overrides``."""
    return compose_model("segmentation", name, [*TINY.get(name, []), *overrides])


def tiny_segmenter(name: str, *overrides: str, num_classes: int = NUM_CLASSES) -> nn.Module:
    """The model of :func:`tiny_config` for ``num_classes`` classes."""
    return instantiate(tiny_config(name, *overrides), num_classes=num_classes)


def input_channels(config: DictConfig) -> int:
    """The image channels a model config expects: 3, or its ``in_channels``, or the sum of its stacked inputs."""
    if "input_channels" in config:
        return sum(config.input_channels)
    return config.get("in_channels", 3)
