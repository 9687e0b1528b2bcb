"""PSPNet, RefineNet and Light-Weight RefineNet: the papers' building blocks and the YAML configs.

The contract every model follows (any input size, aux outputs, gradients, state-dict round trip, channels_last,
bf16) is in test_contract.py."""

from pathlib import Path

import pytest
import torch

from tests.helpers import compose_config
from tests.helpers.models import main_output, num_parameters
from tests.models.segmentation.tiny import REFINENET_WIDTH, tiny_segmenter
from visionbench.models.backbones import ResNet
from visionbench.models.segmentation.pspnet import PSPNet
from visionbench.models.segmentation.refinenet import ChainedResidualPooling, RefineNet, RefineNetBlock
from visionbench.runner.builders import build_model


def test_pyramid_pooling_bins_1_2_3_6() -> None:
    model = tiny_segmenter("pspnet", "model.aux_head=false").eval()
    pyramid = model.classifier[0]
    pooled_sizes = []
    for branch in pyramid.branches:
        branch[0].register_forward_hook(lambda module, args, out: pooled_sizes.append(tuple(out.shape[-2:])))
    with torch.no_grad():
        model(torch.randn(1, 3, 33, 47))  # a 5x6 feature map
    assert model.bins == (1, 2, 3, 6)
    assert pooled_sizes == [(1, 1), (2, 2), (3, 3), (6, 6)]
    in_channels = model.backbone.out_channels[-1]
    assert [branch[1].out_channels for branch in pyramid.branches] == [in_channels // 4] * 4
    assert pyramid.out_channels == 2 * in_channels


def test_chained_residual_pooling_chains() -> None:
    torch.manual_seed(0)
    crp = ChainedResidualPooling(4, num_blocks=3).eval()
    assert len(crp.blocks) == 3
    pool_inputs, block_outputs = [], []
    for block in crp.blocks:
        block[0].register_forward_hook(lambda module, args, out: pool_inputs.append(args[0]))
        block.register_forward_hook(lambda module, args, out: block_outputs.append(out))
    x = torch.randn(1, 4, 9, 11)
    with torch.no_grad():
        out = crp(x)
    # each pooling block reads the previous block's output (the chain), and the output sums them all
    assert torch.equal(pool_inputs[0], torch.relu(x))
    for previous, following in zip(block_outputs[:-1], pool_inputs[1:], strict=True):
        assert torch.equal(previous, following)
    torch.testing.assert_close(out, torch.relu(x) + sum(block_outputs))
    assert crp.blocks[0][0].kernel_size == 5 and crp.blocks[0][0].stride == 1
    assert crp.blocks[0][1].kernel_size == (3, 3)
    assert ChainedResidualPooling(4, num_blocks=3, kernel_size=1).blocks[0][1].kernel_size == (1, 1)


def test_refinenet_cascade_layout() -> None:
    model = tiny_segmenter("refinenet")
    assert len(model.refine) == 4
    width = REFINENET_WIDTH
    assert [block.out_channels for block in model.refine] == [2 * width, width, width, width]
    assert model.refine[0].fusion is None  # RefineNet-4 has a single input
    assert all(len(block.adapt[0]) == 2 and len(block.output) == 1 for block in model.refine)
    assert all(len(block.crp.blocks) == 2 for block in model.refine)
    assert len(model.final_rcus) == 2
    light = tiny_segmenter("refinenet_lw")
    assert all(len(block.adapt[0]) == 0 and len(block.output) == 0 for block in light.refine)
    assert len(light.final_rcus) == 0
    decoder = [light.projections, light.refine]
    assert {m.kernel_size for part in decoder for m in part.modules() if isinstance(m, torch.nn.Conv2d)} == {(1, 1)}
    with pytest.raises(ValueError, match="num_blocks"):
        RefineNetBlock([8], crp_blocks=0)


def test_light_weight_has_far_fewer_parameters() -> None:
    standard, light = tiny_segmenter("refinenet"), tiny_segmenter("refinenet_lw")
    decoder = num_parameters(standard) - num_parameters(standard.backbone)
    light_decoder = num_parameters(light) - num_parameters(light.backbone)
    assert light_decoder * 10 < decoder
    # the papers' ResNet-101 models (Light-Weight RefineNet, Table 1): RefineNet 118M, Light-Weight 46M parameters
    with torch.device("meta"):
        assert round(num_parameters(RefineNet(21, ResNet(101))) / 1e6) == 118
        assert round(num_parameters(RefineNet(21, ResNet(101), light_weight=True)) / 1e6) == 46


@pytest.mark.parametrize(("config", "light_weight"), [("pspnet", None), ("refinenet", False), ("refinenet_lw", True)])
def test_config_instantiates_with_small_backbone(config: str, light_weight: bool | None, tmp_path: Path) -> None:
    overrides = [f"model=segmentation/{config}", "model.backbone.depth=18"]
    if light_weight is not None:
        overrides.append(f"model.width={REFINENET_WIDTH}")
    cfg = compose_config("train", overrides, tmp_path)
    model = build_model(cfg.model, num_classes=7).eval()
    assert model.backbone.depth == 18
    if light_weight is None:
        assert isinstance(model, PSPNet) and model.aux_classifier is not None and model.bins == (1, 2, 3, 6)
        assert model.backbone.output_stride == 8
    else:
        assert isinstance(model, RefineNet) and model.light_weight is light_weight
        assert model.backbone.output_stride == 32
    with torch.no_grad():
        assert main_output(model(torch.randn(1, 3, 33, 45))).shape == (1, 7, 33, 45)
