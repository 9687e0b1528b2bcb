"""SoftDiceLoss and the epoch-scheduled weighted loss."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import Tensor, nn

from visionbench.losses import ConstantWeights, LinearBlend, ScheduledLoss, SoftDiceLoss, SwitchAtEpoch

# ---------------------------------------------------------------- SoftDiceLoss


def _example(dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 4, 5, generator=gen, dtype=dtype)
    target = torch.randint(0, 3, (2, 4, 5), generator=gen)
    target[0, 0] = 255
    target[1, :, 4] = 255
    return logits, target


def test_dice_hand_computed_uniform_prediction() -> None:
    # 2 classes, 4 pixels all of class 0, uniform logits -> p = 0.5 everywhere.
    # class 0: intersection 4 * 0.5 = 2, sum p = 2, sum y = 4 -> dice (2*2 + 1) / (2 + 4 + 1) = 5/7.
    # class 1 has no GT pixel -> left out of the mean. loss = 1 - 5/7 = 2/7.
    loss = SoftDiceLoss(smooth=1.0)(torch.zeros(1, 2, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long))
    torch.testing.assert_close(loss, torch.tensor(2 / 7))


def test_dice_gradcheck_float64() -> None:
    logits, target = _example(torch.float64)
    logits = logits[:, :, :2, :3].clone().requires_grad_(True)
    target = target[:, :2, :3]
    loss_fn = SoftDiceLoss()
    assert torch.autograd.gradcheck(lambda x: loss_fn(x, target), (logits,))


def test_dice_gradients_finite_nonzero_and_zero_on_ignored_pixels() -> None:
    logits, target = _example()
    logits.requires_grad_(True)
    SoftDiceLoss()(logits, target).backward()
    grad = logits.grad.permute(0, 2, 3, 1)  # B, H, W, C
    assert torch.isfinite(grad).all()
    ignored = target == 255
    assert torch.equal(grad[ignored], torch.zeros_like(grad[ignored]))
    assert (grad[~ignored].abs().sum(dim=-1) > 0).all()


def test_dice_ignored_pixels_do_not_change_the_loss() -> None:
    logits, target = _example()
    loss_fn = SoftDiceLoss()
    loss = loss_fn(logits, target)
    # Anything at the ignored pixels: same loss.
    changed = torch.where((target == 255).unsqueeze(1), torch.randn_like(logits) * 10, logits)
    assert torch.equal(loss_fn(changed, target), loss)
    # The last column of image 1 is ignored: dropping it from both images (and ignoring it in image 0 too)
    # gives the loss of the cropped batch.
    target_masked = target.clone()
    target_masked[:, :, 4] = 255
    torch.testing.assert_close(loss_fn(logits, target_masked), loss_fn(logits[..., :4], target[..., :4]))


def test_dice_perfect_prediction_near_zero_and_worse_is_higher() -> None:
    _, target = _example()
    valid_target = target.masked_fill(target == 255, 0)
    perfect = nn.functional.one_hot(valid_target, 3).permute(0, 3, 1, 2).float() * 50
    wrong = nn.functional.one_hot((valid_target + 1) % 3, 3).permute(0, 3, 1, 2).float() * 50
    loss_fn = SoftDiceLoss()
    perfect_loss = loss_fn(perfect, target)
    uniform_loss = loss_fn(torch.zeros_like(perfect), target)
    wrong_loss = loss_fn(wrong, target)
    assert perfect_loss < 1e-6
    assert perfect_loss < uniform_loss < wrong_loss
    assert wrong_loss > 0.9


def test_dice_all_ignored_batch_is_zero_with_graph() -> None:
    logits = torch.randn(1, 3, 2, 2, requires_grad=True)
    loss = SoftDiceLoss()(logits, torch.full((1, 2, 2), 255))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(logits.grad, torch.zeros_like(logits))


def test_dice_shape_mismatch_raises() -> None:
    with pytest.raises(ValueError, match="do not match"):
        SoftDiceLoss()(torch.zeros(1, 3, 4, 4), torch.zeros(1, 4, 5, dtype=torch.long))


# ---------------------------------------------------------------- schedules and ScheduledLoss


class CountingTerm(nn.Module):
    """Returns a fixed value (attached to the logits' graph) and counts its calls."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value
        self.calls = 0

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        self.calls += 1
        return logits.sum() * 0 + self.value


def test_switch_at_epoch_switches_exactly_at_the_configured_epoch() -> None:
    terms = {"ce": CountingTerm(2.0), "dice": CountingTerm(3.0)}
    schedule = SwitchAtEpoch(before={"ce": 1.0, "dice": 0.0}, after={"ce": 0.0, "dice": 1.0}, switch_epoch=5)
    loss = ScheduledLoss(terms, schedule)
    logits, target = torch.zeros(1, 2, 2, 2, requires_grad=True), torch.zeros(1, 2, 2, dtype=torch.long)
    for epoch in range(8):
        loss.set_epoch(epoch)
        total, values = loss(logits, target)
        if epoch < 5:
            assert loss.weights == {"ce": 1.0, "dice": 0.0}
            assert set(values) == {"ce"} and total.item() == 2.0
        else:
            assert loss.weights == {"ce": 0.0, "dice": 1.0}
            assert set(values) == {"dice"} and total.item() == 3.0
    assert terms["ce"].calls == 5 and terms["dice"].calls == 3


def test_scheduled_loss_weighted_sum_and_detached_values() -> None:
    loss = ScheduledLoss({"a": CountingTerm(2.0), "b": CountingTerm(3.0)}, ConstantWeights({"a": 0.5, "b": 2.0}))
    logits = torch.zeros(1, 2, 2, 2, requires_grad=True)
    total, values = loss(logits, torch.zeros(1, 2, 2, dtype=torch.long))
    assert total.item() == 0.5 * 2.0 + 2.0 * 3.0
    assert total.requires_grad
    assert {name: v.item() for name, v in values.items()} == {"a": 2.0, "b": 3.0}
    assert not any(v.requires_grad for v in values.values())


def test_scheduled_loss_uses_epoch_zero_before_set_epoch() -> None:
    schedule = SwitchAtEpoch(before={"ce": 1.0, "dice": 0.0}, after={"ce": 0.0, "dice": 1.0}, switch_epoch=0)
    loss = ScheduledLoss({"ce": CountingTerm(1.0), "dice": CountingTerm(1.0)}, schedule)
    assert loss.weights == {"ce": 0.0, "dice": 1.0}


@pytest.mark.parametrize(
    ("epoch", "expected"),
    [(0, 1.0), (2, 1.0), (3, 0.75), (4, 0.5), (6, 0.0), (10, 0.0)],
)
def test_linear_blend(epoch: int, expected: float) -> None:
    schedule = LinearBlend(start={"ce": 1.0, "dice": 0.0}, end={"ce": 0.0, "dice": 1.0}, start_epoch=2, end_epoch=6)
    weights = schedule.weights(epoch)
    assert weights["ce"] == pytest.approx(expected)
    assert weights["dice"] == pytest.approx(1.0 - expected)


YAML = """
_target_: visionbench.losses.ScheduledLoss
terms:
  ce: {_target_: torch.nn.CrossEntropyLoss, ignore_index: 255}
  dice: {_target_: visionbench.losses.SoftDiceLoss, ignore_index: 255}
schedule:
  _target_: visionbench.losses.SwitchAtEpoch
  switch_epoch: 5
  before: {ce: 1.0, dice: 0.0}
  after: {ce: 0.0, dice: 1.0}
"""


def test_scheduled_loss_from_hydra_yaml() -> None:
    loss = instantiate(OmegaConf.create(YAML))
    assert isinstance(loss, ScheduledLoss)
    assert isinstance(loss.terms["ce"], nn.CrossEntropyLoss) and isinstance(loss.terms["dice"], SoftDiceLoss)
    logits, target = _example()
    total, values = loss(logits, target)
    torch.testing.assert_close(total, nn.functional.cross_entropy(logits, target, ignore_index=255))
    assert set(values) == {"ce"}
    loss.set_epoch(5)
    total, values = loss(logits, target)
    torch.testing.assert_close(total, SoftDiceLoss()(logits, target))
    assert set(values) == {"dice"}


def test_mismatched_term_names_raise_clear_errors() -> None:
    terms = {"ce": CountingTerm(1.0), "dice": CountingTerm(1.0)}
    with pytest.raises(ValueError, match=r"missing weights for \['dice'\]"):
        ScheduledLoss(terms, ConstantWeights({"ce": 1.0}))
    with pytest.raises(ValueError, match=r"unknown terms \['focal'\]"):
        ScheduledLoss(terms, ConstantWeights({"ce": 1.0, "dice": 0.0, "focal": 1.0}))
    with pytest.raises(ValueError, match="same terms"):
        SwitchAtEpoch(before={"ce": 1.0}, after={"dice": 1.0}, switch_epoch=1)
    with pytest.raises(ValueError, match="same terms"):
        LinearBlend(start={"ce": 1.0}, end={"ce": 0.0, "dice": 1.0}, start_epoch=0, end_epoch=1)


def test_invalid_schedules_raise() -> None:
    with pytest.raises(ValueError, match="end_epoch > start_epoch"):
        LinearBlend(start={"ce": 1.0}, end={"ce": 0.0}, start_epoch=3, end_epoch=3)
    with pytest.raises(ValueError, match="weight 0 to every term"):
        ScheduledLoss({"ce": CountingTerm(1.0)}, ConstantWeights({"ce": 0.0}))


def test_dice_matches_direct_one_hot_formula() -> None:
    logits, target = _example(torch.float64)
    valid = (target != 255).unsqueeze(1)
    probs = logits.softmax(dim=1) * valid
    one_hot = nn.functional.one_hot(target.masked_fill(target == 255, 0), 3).permute(0, 3, 1, 2) * valid
    intersection = (probs * one_hot).sum(dim=(0, 2, 3))
    cardinality = probs.sum(dim=(0, 2, 3)) + one_hot.sum(dim=(0, 2, 3))
    present = one_hot.sum(dim=(0, 2, 3)) > 0
    expected = 1 - ((2 * intersection + 1) / (cardinality + 1))[present].mean()
    torch.testing.assert_close(SoftDiceLoss()(logits, target), expected)
