"""The learned flow networks (FlowNetS/C, RAFT, RAFT-small, FlowFormer) at tiny widths: the layout of their
training-mode predictions, iteration counts, overfitting one synthetic pair, the correlation layer against a plain
reference, and the paper sizes of the model configs. The contract every flow method follows (shapes at any size,
batch independence, gradients, state-dict round trip) is in test_contract.py."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from torch import nn

from tests.helpers import CONF
from tests.models.flow.pairs import images
from tests.models.flow.tiny import TINY, tiny_flow_model, training_loss
from visionbench.losses.flow import prediction_stride
from visionbench.models.flow.correlation import (
    CorrelationPyramid,
    all_pairs_correlation,
    coords_grid,
    displacement_correlation,
)
from visionbench.models.flow.flowformer import FlowFormer
from visionbench.models.flow.flownet import PREDICTION_STRIDES, FlowNetC, FlowNetS
from visionbench.models.flow.raft import RAFT, RAFTSmall
from visionbench.models.flow.update import convex_upsample
from visionbench.runner.builders import build_model

MODELS: dict[str, Callable[[], nn.Module]] = {
    **{name: partial(tiny_flow_model, name) for name in TINY},
    "flownets_bn": partial(tiny_flow_model, "flownets", "model.batch_norm=true", "model.rgb_mean=null"),
}
"""Tiny versions of every network (tests/models/flow/tiny.py); the paper sizes are checked by the parameter counts
and configs below."""


# ------------------------------------------------------------------------------------ predictions and iterations


@pytest.mark.parametrize("name", sorted(MODELS))
def test_training_predictions_layout(name: str) -> None:
    """FlowNet: one prediction per stride 64 .. 4 covering the input; RAFT and FlowFormer: the full-resolution flow
    after every iteration, the last one being the flow."""
    torch.manual_seed(0)
    model = MODELS[name]().train()
    output = model(*images(2, 37, 53))
    predictions = output["predictions"]
    if name.startswith("flownet"):
        assert [tuple(p.shape[-2:]) for p in predictions] == [
            (math.ceil(37 / s), math.ceil(53 / s)) for s in PREDICTION_STRIDES
        ]
        assert [prediction_stride(tuple(p.shape[-2:]), (37, 53)) for p in predictions] == list(PREDICTION_STRIDES)
    else:
        assert len(predictions) == model.iters
        assert all(p.shape == (2, 2, 37, 53) for p in predictions)
        assert predictions[-1] is output["flow"]


@pytest.mark.parametrize("model_class", [RAFT, RAFTSmall])
def test_iteration_counts(model_class: type) -> None:
    torch.manual_seed(0)
    model = model_class(iters=3, eval_iters=5, width_multiplier=0.125)
    pair = images(1, 24, 32)
    assert len(model.train()(*pair)["predictions"]) == 3
    assert len(model(*pair, iters=1)["predictions"]) == 1
    with torch.no_grad():
        model.eval()
        assert torch.equal(model(*pair), model(*pair, iters=5))
        assert not torch.equal(model(*pair), model(*pair, iters=4))
    assert model_class(iters=7, eval_iters=None).eval_iters == 7


@pytest.mark.parametrize("name", ["flownets", "raft_small"])
def test_eval_flow_equals_training_flow_without_batch_norm(name: str) -> None:
    torch.manual_seed(0)
    model = MODELS[name]()
    if hasattr(model, "iters"):
        model.eval_iters = model.iters
    pair = images(1, 33, 47)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(*pair), model.train()(*pair)["flow"])


# ------------------------------------------------------------------------------------------------------ overfitting


def smooth_image(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """A smooth random RGB image defined everywhere, so that a shifted copy is exact at sub-pixel shifts."""
    generator = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 3, 6, 1, 1, generator=generator) * 0.25
    phase = torch.rand(3, 6, 1, 1, generator=generator) * 2 * math.pi
    return 0.5 + 0.5 * torch.sin(a * x + b * y + phase).mean(dim=1)


def shifted_pair(
    size: int, shift: tuple[float, float]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Frame 2 is frame 1 moved by ``shift`` (frame2(p + shift) = frame1(p)); the validity mask keeps the pixels
    that stay inside frame 2."""
    ys, xs = torch.meshgrid(
        torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32), indexing="ij"
    )
    frame1 = smooth_image(xs, ys)[None]
    frame2 = smooth_image(xs - shift[0], ys - shift[1])[None]
    flow = torch.tensor(shift).view(1, 2, 1, 1).expand(1, 2, size, size)
    inside = (xs + shift[0] >= 0) & (xs + shift[0] <= size - 1) & (ys + shift[1] >= 0) & (ys + shift[1] <= size - 1)
    return frame1, frame2, flow, inside[None]


OVERFIT = {  # name: (steps, learning rate)
    "flownets": (30, 2e-3),
    "flownetc": (30, 2e-3),
    "raft": (30, 2e-3),
    "raft_small": (30, 2e-3),
    "flowformer": (50, 2e-3),
}


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n == "flowformer" else n for n in sorted(OVERFIT)]
)
def test_overfits_one_shifted_pair(name: str) -> None:
    steps, lr = OVERFIT[name]
    torch.manual_seed(0)
    model = MODELS[name]().train()
    frame1, frame2, flow, valid = shifted_pair(64, (2.5, -1.5))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss = training_loss(model)

    def epe(estimate: torch.Tensor) -> float:
        return torch.linalg.vector_norm(estimate - flow, dim=1)[valid].mean().item()

    for step in range(steps):
        output = model(frame1, frame2)
        if step == 0:
            initial = epe(output["flow"].detach())
        optimizer.zero_grad()
        loss(output, flow, valid).backward()
        optimizer.step()
    with torch.no_grad():
        final = epe(model(frame1, frame2)["flow"])
    assert final <= 0.2 * initial, f"EPE {initial:.3f} -> {final:.3f}"


# ------------------------------------------------------------------------------------------------------ correlation


def naive_correlation(features1: torch.Tensor, features2: torch.Tensor, reach: int, stride: int) -> torch.Tensor:
    """FlowNet's correlation written out pixel by pixel: zero outside frame 2, normalised by the channels."""
    batch, channels, height, width = features1.shape
    displacements = range(-(reach // stride) * stride, reach + 1, stride)
    maps = []
    for dy in displacements:
        for dx in displacements:
            out = torch.zeros(batch, height, width, dtype=features1.dtype)
            for y in range(height):
                for x in range(width):
                    if 0 <= y + dy < height and 0 <= x + dx < width:
                        out[:, y, x] = (features1[:, :, y, x] * features2[:, :, y + dy, x + dx]).sum(dim=1) / channels
            maps.append(out)
    return torch.stack(maps, dim=1)


@pytest.mark.parametrize(("reach", "stride", "size"), [(4, 2, (6, 7)), (3, 1, (5, 4)), (5, 2, (3, 9)), (20, 2, (4, 5))])
def test_correlation_equals_the_naive_reference(reach: int, stride: int, size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    features1 = torch.randn(2, 5, *size, requires_grad=True)
    features2 = torch.randn(2, 5, *size, requires_grad=True)
    fast = displacement_correlation(features1, features2, reach, stride)
    reference = naive_correlation(features1, features2, reach, stride)
    assert fast.shape == (2, len(range(-(reach // stride) * stride, reach + 1, stride)) ** 2, *size)
    torch.testing.assert_close(fast, reference, rtol=0, atol=1e-5)
    weights = torch.randn_like(fast)
    grads = torch.autograd.grad((fast * weights).sum(), (features1, features2))
    reference_grads = torch.autograd.grad((reference * weights).sum(), (features1, features2))
    for grad, reference_grad in zip(grads, reference_grads, strict=True):
        torch.testing.assert_close(grad, reference_grad, rtol=0, atol=1e-5)


def test_correlation_gradcheck_and_flownet_channels() -> None:
    torch.manual_seed(0)
    features = [torch.randn(1, 3, 4, 5, dtype=torch.float64, requires_grad=True) for _ in range(2)]
    assert torch.autograd.gradcheck(lambda a, b: displacement_correlation(a, b, 2, 1), features)
    assert FlowNetC(width_multiplier=1 / 16).correlation.out_channels == 441


def test_correlation_saves_only_its_inputs_for_backward() -> None:
    """No B,C,D,H,W product volume is kept for the backward pass: the saved tensors are the two inputs (one
    zero-padded by the maximum displacement)."""
    features1 = torch.randn(1, 16, 12, 12, requires_grad=True)
    features2 = torch.randn(1, 16, 12, 12, requires_grad=True)
    saved: list[int] = []

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        saved.append(tensor.numel())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        displacement_correlation(features1, features2, 4, 2).sum().backward()
    assert sum(saved) == 16 * 12 * 12 + 16 * 20 * 20


def test_correlation_pyramid_lookup_reads_the_volume() -> None:
    torch.manual_seed(0)
    features1, features2 = torch.randn(2, 1, 8, 6, 7).unbind(0)
    volume = all_pairs_correlation(features1, features2)
    pyramid = CorrelationPyramid(volume, levels=2, radius=1)
    assert [tuple(v.shape[-2:]) for v in pyramid.pyramid] == [(6, 7), (3, 3)]
    coords = coords_grid(1, 6, 7, volume) + torch.tensor([1.0, -1.0]).view(1, 2, 1, 1)  # look at (x + 1, y - 1)
    sampled = pyramid.lookup(coords)
    assert sampled.shape == (1, 2 * 9, 6, 7)
    dense = volume.view(6, 7, 6, 7)  # frame-1 y, x, frame-2 y, x
    y, x = 3, 2
    # channel 4 is the centre offset of level 0, channel 5 the offset (dx=+1, dy=0)
    assert sampled[0, 4, y, x].item() == pytest.approx(dense[y, x, y - 1, x + 1].item(), abs=1e-5)
    assert sampled[0, 5, y, x].item() == pytest.approx(dense[y, x, y - 1, x + 2].item(), abs=1e-5)
    assert sampled[0, 4, 0, x].item() == pytest.approx(0.0, abs=1e-5)  # row -1 lies outside frame 2: zero
    expected = (features1[0, :, y, x] * features2[0, :, y - 1, x + 1]).sum() / math.sqrt(8)
    assert dense[y, x, y - 1, x + 1].item() == pytest.approx(expected.item(), abs=1e-5)


def test_convex_upsampling_with_a_peaked_mask_repeats_each_vector() -> None:
    flow = torch.randn(1, 2, 3, 4)
    mask = torch.full((1, 9, 8, 8, 3, 4), -1e4)
    mask[:, 4] = 0.0  # all weight on the centre neighbour
    up = convex_upsample(flow, mask.view(1, 9 * 64, 3, 4))
    torch.testing.assert_close(up, 8 * F.interpolate(flow, scale_factor=8, mode="nearest"))


# ------------------------------------------------------------------------------------------------ sizes and configs


@pytest.mark.parametrize(("config", "model_class", "parameters"), [
    ("flownets", FlowNetS, 38_676_506),
    ("flownetc", FlowNetC, 39_175_290),
    ("raft", RAFT, 5_257_536),  # the released RAFT (paper: 5.3M)
    ("raft_small", RAFTSmall, 990_162),  # the released RAFT-small (paper: 1.0M)
    ("flowformer", FlowFormer, 9_782_897),  # with RAFT's CNN encoders instead of Twins-SVT-large
])  # fmt: skip
def test_configs_build_the_paper_sizes(config: str, model_class: type, parameters: int) -> None:
    model = build_model(OmegaConf.load(CONF / "model" / "flow" / f"{config}.yaml"))
    assert type(model) is model_class
    assert sum(p.numel() for p in model.parameters()) == parameters


def test_raft_paper_dimensions() -> None:
    raft, small = RAFT(), RAFTSmall()
    assert (raft.hidden_dim, raft.context_dim, small.hidden_dim, small.context_dim) == (128, 128, 96, 64)
    assert raft.update_block.motion_encoder.corr[0].in_channels == 4 * 81
    assert small.update_block.motion_encoder.corr[0].in_channels == 4 * 49
    assert raft.update_block.mask is not None and small.update_block.mask is None
