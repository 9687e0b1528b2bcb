"""FlowNet's multi-scale EPE and RAFT's sequence loss: known values on constructed inputs, the validity mask, the
target downsampling, the gamma weights and the shipped loss configs."""

import math

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from tests.helpers import CONF
from visionbench.losses import MultiScaleEPELoss, ScheduledLoss, SequenceLoss
from visionbench.losses.flow import downsample_flow, prediction_stride


def constant(value: tuple[float, float], batch: int, height: int, width: int) -> torch.Tensor:
    return torch.tensor(value).view(1, 2, 1, 1).expand(batch, 2, height, width).clone()


def all_valid(batch: int, height: int, width: int) -> torch.Tensor:
    return torch.ones(batch, height, width, dtype=torch.bool)


# ---------------------------------------------------------------------------------------------------------- strides


@pytest.mark.parametrize(("height", "width"), [(64, 64), (37, 53), (436, 1024), (1, 1), (5, 200)])
def test_prediction_stride_recovers_every_power_of_two(height: int, width: int) -> None:
    for stride in (1, 2, 4, 8, 16, 32, 64):
        size = (math.ceil(height / stride), math.ceil(width / stride))
        found = prediction_stride(size, (height, width))
        assert (math.ceil(height / found), math.ceil(width / found)) == size
        assert found <= stride  # a smaller stride is only returned when both pool the same pixels (one cell)
        if found != stride:
            assert size == (1, 1)


def test_prediction_stride_rejects_foreign_sizes() -> None:
    with pytest.raises(ValueError, match="power-of-two"):
        prediction_stride((7, 7), (64, 64))


def test_downsample_flow_averages_valid_vectors_per_cell() -> None:
    flow = torch.arange(2 * 4 * 6, dtype=torch.float32).view(1, 2, 4, 6)
    valid = all_valid(1, 4, 6)
    valid[0, 0, 0] = False
    flow[0, :, 0, 0] = float("nan")  # invalid values are never read
    valid[0, 2:, 4:] = False  # a whole cell without valid pixels
    target, cell_valid = downsample_flow(flow, valid, 2)
    assert target.shape == (1, 2, 2, 3)
    assert cell_valid.tolist() == [[[True, True, True], [True, True, False]]]
    # top-left cell: pixels (0,1), (1,0), (1,1) of the u channel hold 1, 6, 7
    assert target[0, 0, 0, 0].item() == pytest.approx((1 + 6 + 7) / 3)
    assert target[0, 0, 0, 1].item() == pytest.approx((2 + 3 + 8 + 9) / 4)  # a full cell: area interpolation
    assert torch.isfinite(target).all()


def test_downsample_flow_pads_partial_cells_with_invalid_pixels() -> None:
    flow = constant((1.0, -2.0), 1, 5, 3)
    flow[:, :, 4, :] = 10.0  # the last row alone fills the second cell row of stride 4
    target, cell_valid = downsample_flow(flow, all_valid(1, 5, 3), 4)
    assert target.shape == (1, 2, 2, 1) and cell_valid.all()
    assert target[0, :, 0, 0].tolist() == [1.0, -2.0]
    assert target[0, :, 1, 0].tolist() == [10.0, 10.0]  # mean of valid pixels only, not diluted by padding


# ---------------------------------------------------------------------------------------------------- multi-scale


def flownet_predictions(batch: int, height: int, width: int, value: tuple[float, float]) -> list[torch.Tensor]:
    return [constant(value, batch, math.ceil(height / s), math.ceil(width / s)) for s in (64, 32, 16, 8, 4)]


def test_multiscale_epe_known_value() -> None:
    batch, height, width = 2, 64, 64
    output = {"predictions": flownet_predictions(batch, height, width, (3.0, 4.0))}  # error (3, 4): EPE 5 px
    loss = MultiScaleEPELoss()(output, torch.zeros(batch, 2, height, width), all_valid(batch, height, width))
    cells = [1, 4, 16, 64, 256]  # per image, strides 64 .. 4
    expected = sum(w * 0.05 * 5.0 * n for w, n in zip((0.32, 0.08, 0.02, 0.01, 0.005), cells, strict=True))
    assert loss.item() == pytest.approx(expected)


def test_multiscale_epe_mean_reduction_and_weights_order() -> None:
    batch, height, width = 1, 37, 53
    predictions = flownet_predictions(batch, height, width, (0.0, 0.0))
    predictions[0] = predictions[0] + 20.0  # only the coarsest (stride 64) is wrong: EPE 20 * sqrt(2)
    loss = MultiScaleEPELoss(weights=(1.0, 0.0, 0.0, 0.0, 0.0), flow_scale=1.0, reduction="mean")
    value = loss({"predictions": predictions}, torch.zeros(batch, 2, height, width), all_valid(batch, height, width))
    assert value.item() == pytest.approx(20 * math.sqrt(2), rel=1e-6)
    with pytest.raises(ValueError, match="5 predictions but 2 loss weights"):
        MultiScaleEPELoss(weights=(1.0, 1.0))({"predictions": predictions}, torch.zeros(batch, 2, height, width))


def test_multiscale_epe_respects_the_valid_mask() -> None:
    torch.manual_seed(0)
    batch, height, width = 2, 40, 24
    predictions = [p.requires_grad_() for p in flownet_predictions(batch, height, width, (1.0, 1.0))]
    flow = torch.randn(batch, 2, height, width)
    valid = all_valid(batch, height, width)
    valid[:, :, :8] = False  # the left 8 columns: whole cells at strides 4 and 8
    loss = MultiScaleEPELoss()
    reference = loss({"predictions": predictions}, flow, valid)
    corrupted = flow.clone()
    corrupted[:, :, :, :8] = float("nan")
    value = loss({"predictions": predictions}, corrupted, valid)
    assert value.item() == pytest.approx(reference.item())
    value.backward()
    assert predictions[-1].grad[..., :2].abs().sum() == 0  # stride-4 cells made only of invalid pixels
    assert predictions[-1].grad[..., 2:].abs().sum() > 0
    empty = loss({"predictions": predictions}, flow, torch.zeros_like(valid))
    assert empty.item() == 0.0


# ------------------------------------------------------------------------------------------------------- sequence


def test_sequence_loss_gamma_weights() -> None:
    batch, height, width = 1, 8, 8
    flow = torch.zeros(batch, 2, height, width)
    errors = (4.0, 2.0, 1.0)  # u and v both off by e: L1 mean over the 2 channels is e
    output = {"predictions": [constant((e, -e), batch, height, width) for e in errors]}
    value = SequenceLoss(gamma=0.8)(output, flow, all_valid(batch, height, width))
    assert value.item() == pytest.approx(0.8**2 * 4.0 + 0.8 * 2.0 + 1.0)
    only_last = SequenceLoss(gamma=0.0)(output, flow, all_valid(batch, height, width))
    assert only_last.item() == pytest.approx(1.0)


def test_sequence_loss_masks_invalid_and_large_flows() -> None:
    batch, height, width = 1, 4, 5
    flow = torch.zeros(batch, 2, height, width)
    flow[0, :, 0, 0] = float("nan")  # invalid, never read
    flow[0, 0, 1, 1] = 400.0  # not below max_flow: excluded
    flow[0, 1, 2, 2] = 399.0  # below: kept
    valid = all_valid(batch, height, width)
    valid[0, 0, 0] = False
    prediction = torch.zeros(batch, 2, height, width, requires_grad=True)
    output = {"predictions": [prediction]}
    value = SequenceLoss(max_flow=400.0)(output, flow, valid)
    assert value.item() == pytest.approx(399.0 / (2 * height * width))  # RAFT: averaged over all entries
    value_valid = SequenceLoss(max_flow=400.0, average_over="valid")(output, flow, valid)
    assert value_valid.item() == pytest.approx(399.0 / (2 * (height * width - 2)))
    value.backward()
    assert prediction.grad[0, :, 0, 0].abs().sum() == 0 and prediction.grad[0, :, 1, 1].abs().sum() == 0
    assert prediction.grad[0, 1, 2, 2] != 0


def test_sequence_loss_without_mask_treats_finite_pixels_as_valid() -> None:
    flow = torch.ones(1, 2, 3, 3)
    output = {"predictions": [torch.zeros(1, 2, 3, 3)]}
    assert SequenceLoss()(output, flow).item() == pytest.approx(1.0)


def test_invalid_options_are_rejected() -> None:
    with pytest.raises(ValueError, match="average_over"):
        SequenceLoss(average_over="pixels")
    with pytest.raises(ValueError, match="reduction"):
        MultiScaleEPELoss(reduction="none")


# -------------------------------------------------------------------------------------------------------- configs


@pytest.mark.parametrize(("name", "term", "cls"), [
    ("flow_multiscale_epe", "multiscale_epe", MultiScaleEPELoss),
    ("flow_sequence", "sequence", SequenceLoss),
])  # fmt: skip
def test_loss_configs_build_a_scheduled_loss(name: str, term: str, cls: type) -> None:
    loss = instantiate(OmegaConf.load(CONF / "loss" / f"{name}.yaml"))
    assert isinstance(loss, ScheduledLoss) and isinstance(loss.terms[term], cls)
    batch, height, width = 1, 64, 64
    if cls is MultiScaleEPELoss:
        output = {"predictions": flownet_predictions(batch, height, width, (1.0, 0.0))}
    else:
        output = {"predictions": [constant((1.0, 0.0), batch, height, width)] * 3}
    total, values = loss(output, torch.zeros(batch, 2, height, width))  # dense target: the mask is optional
    assert total.item() == pytest.approx(values[term].item()) and total.item() > 0
