"""FocalLoss, LovaszSoftmaxLoss and SoftJaccardLoss: reference values, ignore semantics, use in ScheduledLoss."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import Tensor, nn

from tests.helpers import CONF
from visionbench.losses import (
    FocalLoss,
    LovaszSoftmaxLoss,
    ScheduledLoss,
    SoftDiceLoss,
    SoftJaccardLoss,
    lovasz_softmax,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _example(dtype: torch.dtype = torch.float32, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Logits 2,3,4,5 and a target with an ignored row (image 0) and an ignored column (image 1)."""
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, 3, 4, 5, generator=gen, dtype=dtype)
    target = torch.randint(0, 3, (2, 4, 5), generator=gen)
    target[0, 0] = 255
    target[1, :, 4] = 255
    return logits, target


LOSSES: dict[str, Callable[[], nn.Module]] = {
    "focal": FocalLoss,
    "focal_alpha": lambda: FocalLoss(gamma=1.5, alpha=[0.25, 1.0, 2.0]),
    "focal_gamma_half": lambda: FocalLoss(gamma=0.5),
    "lovasz": LovaszSoftmaxLoss,
    "lovasz_all_per_image": lambda: LovaszSoftmaxLoss(classes="all", per_image=True),
    "jaccard": SoftJaccardLoss,
}

# ---------------------------------------------------------------- common contract


@pytest.mark.parametrize("name", LOSSES)
def test_ignored_pixels_get_zero_gradient_and_do_not_change_the_loss(name: str) -> None:
    loss_fn = LOSSES[name]()
    logits, target = _example()
    logits.requires_grad_(True)
    loss = loss_fn(logits, target)
    loss.backward()
    grad = logits.grad.permute(0, 2, 3, 1)  # B, H, W, C
    ignored = target == 255
    assert loss.ndim == 0 and torch.isfinite(grad).all()
    assert torch.equal(grad[ignored], torch.zeros_like(grad[ignored]))
    assert grad[~ignored].abs().sum() > 0
    changed = torch.where(ignored.unsqueeze(1), torch.randn_like(logits) * 10, logits)
    torch.testing.assert_close(loss_fn(changed.detach(), target), loss.detach(), rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", LOSSES)
def test_all_ignored_batch_is_zero_with_graph(name: str) -> None:
    logits = torch.randn(1, 3, 2, 2, requires_grad=True)
    loss = LOSSES[name]()(logits, torch.full((1, 2, 2), 255))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(logits.grad, torch.zeros_like(logits))


@pytest.mark.parametrize("name", LOSSES)
def test_perfect_prediction_is_lower_than_uniform_and_wrong(name: str) -> None:
    _, target = _example()
    valid_target = target.masked_fill(target == 255, 0)
    perfect = F.one_hot(valid_target, 3).permute(0, 3, 1, 2).float() * 20
    wrong = F.one_hot((valid_target + 1) % 3, 3).permute(0, 3, 1, 2).float() * 20
    loss_fn = LOSSES[name]()
    assert loss_fn(perfect, target) < 1e-4
    assert loss_fn(perfect, target) < loss_fn(torch.zeros_like(perfect), target) < loss_fn(wrong, target)


@pytest.mark.parametrize("name", LOSSES)
def test_shape_mismatch_raises(name: str) -> None:
    with pytest.raises(ValueError, match="do not match"):
        LOSSES[name]()(torch.zeros(1, 3, 4, 4), torch.zeros(1, 4, 5, dtype=torch.long))


@pytest.mark.parametrize("loss_fn", [FocalLoss(), LovaszSoftmaxLoss(), SoftJaccardLoss()], ids=type)
def test_gradcheck_float64(loss_fn: nn.Module) -> None:
    logits, target = _example(torch.float64)
    logits = logits[:, :, :2, :3].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: loss_fn(x, target[:, :2, :3]), (logits,))


# ---------------------------------------------------------------- FocalLoss


def test_focal_with_gamma_zero_is_cross_entropy() -> None:
    logits, target = _example()
    torch.testing.assert_close(
        FocalLoss(gamma=0.0)(logits, target), F.cross_entropy(logits, target, ignore_index=255), rtol=0, atol=0
    )


def test_focal_matches_the_formula_with_alpha() -> None:
    logits, target = _example(torch.float64)
    alpha = torch.tensor([0.25, 1.0, 2.0], dtype=torch.float64)
    valid = target != 255
    labels = target[valid]
    p_t = logits.softmax(dim=1).permute(0, 2, 3, 1)[valid].gather(1, labels.unsqueeze(1)).squeeze(1)
    per_pixel = -alpha[labels] * (1 - p_t) ** 2 * p_t.log()
    loss_fn = FocalLoss(gamma=2.0, alpha=alpha.tolist())
    torch.testing.assert_close(loss_fn(logits, target), per_pixel.mean())
    torch.testing.assert_close(FocalLoss(alpha=alpha.tolist(), reduction="sum")(logits, target), per_pixel.sum())


def test_focal_down_weights_easy_pixels() -> None:
    # an easy pixel (p_t = 0.9) keeps 1% of its cross-entropy, a hard one (p_t = 0.1) 81%
    target = torch.zeros(1, 1, 1, dtype=torch.long)
    for p_t in (0.9, 0.1):
        logits = torch.tensor([p_t, 1 - p_t]).log().view(1, 2, 1, 1)
        expected = (1 - p_t) ** 2 * -torch.tensor(p_t).log()
        torch.testing.assert_close(FocalLoss(gamma=2.0)(logits, target), expected)


def test_focal_invalid_arguments_raise() -> None:
    with pytest.raises(ValueError, match="gamma"):
        FocalLoss(gamma=-1.0)
    with pytest.raises(ValueError, match="reduction"):
        FocalLoss(reduction="none")
    with pytest.raises(ValueError, match="alpha has 2 weights for 3 classes"):
        FocalLoss(alpha=[1.0, 2.0])(*_example())


# ---------------------------------------------------------------- LovaszSoftmaxLoss


def _jaccard_loss_of_set(errors: set[int], ground_truth: set[int]) -> float:
    return len(errors) / len(errors | ground_truth) if errors else 0.0


def _lovasz_extension_brute_force(errors: list[float], ground_truth: set[int]) -> float:
    """Lovasz extension as the Choquet integral: integral over t in [0, 1] of J({i: m_i >= t}) dt."""
    levels = sorted(set(errors) | {0.0}, reverse=True)
    return sum(
        (high - low) * _jaccard_loss_of_set({i for i, m in enumerate(errors) if m >= high}, ground_truth)
        for high, low in itertools.pairwise(levels)
    )


def _lovasz_brute_force(probs: Tensor, target: Tensor, classes: list[int]) -> float:
    """Mean over ``classes`` of the Lovasz extension at the errors of the valid pixels (probs C,N, target N)."""
    valid = [i for i in range(target.numel()) if target[i] != 255]
    values = []
    for c in classes:
        ground_truth = {k for k, i in enumerate(valid) if target[i] == c}
        errors = [abs(float(target[i] == c) - float(probs[c, i])) for i in valid]
        values.append(_lovasz_extension_brute_force(errors, ground_truth))
    return sum(values) / len(values)


def test_lovasz_equals_the_choquet_integral_of_the_jaccard_loss() -> None:
    logits, target = _example(torch.float64)
    probs = logits.softmax(dim=1)
    flat_probs = probs.transpose(0, 1).flatten(1)
    present = sorted(int(c) for c in target.unique() if c != 255)
    expected = _lovasz_brute_force(flat_probs, target.flatten(), present)
    assert LovaszSoftmaxLoss()(logits, target).item() == pytest.approx(expected, abs=1e-12)
    expected_all = _lovasz_brute_force(flat_probs, target.flatten(), [0, 1, 2])
    assert LovaszSoftmaxLoss(classes="all")(logits, target).item() == pytest.approx(expected_all, abs=1e-12)
    expected_one = _lovasz_brute_force(flat_probs, target.flatten(), [1])
    assert LovaszSoftmaxLoss(classes=[1])(logits, target).item() == pytest.approx(expected_one, abs=1e-12)
    per_image = [
        _lovasz_brute_force(probs[b].flatten(1), target[b].flatten(), [c for c in present if (target[b] == c).any()])
        for b in range(2)
    ]
    assert LovaszSoftmaxLoss(per_image=True)(logits, target).item() == pytest.approx(sum(per_image) / 2, abs=1e-12)


def test_lovasz_at_a_hard_prediction_is_one_minus_iou() -> None:
    gen = torch.Generator().manual_seed(1)
    target = torch.randint(0, 3, (2, 5, 6), generator=gen)
    target[0, 0, :3] = 255
    prediction = torch.randint(0, 3, (2, 5, 6), generator=gen)
    probs = F.one_hot(prediction, 3).permute(0, 3, 1, 2).double()
    valid = target != 255
    ious = []
    for c in range(3):
        intersection = ((prediction == c) & (target == c) & valid).sum()
        union = (((prediction == c) | (target == c)) & valid).sum()
        ious.append(intersection / union)
    expected = 1 - torch.stack(ious).mean()
    torch.testing.assert_close(lovasz_softmax(probs, target), expected.double())
    # and through the module, with logits whose softmax is one-hot up to float64 rounding
    torch.testing.assert_close(LovaszSoftmaxLoss()(probs * 100, target), expected.double())


def test_lovasz_invalid_classes_raise() -> None:
    with pytest.raises(ValueError, match="classes must be one of"):
        LovaszSoftmaxLoss(classes="absent")
    with pytest.raises(ValueError, match=r"classes \[0, 3\] are not all in 0..2"):
        LovaszSoftmaxLoss(classes=[0, 3])(*_example())


# ---------------------------------------------------------------- SoftJaccardLoss


def test_jaccard_matches_direct_one_hot_formula() -> None:
    logits, target = _example(torch.float64)
    valid = (target != 255).unsqueeze(1)
    probs = logits.softmax(dim=1) * valid
    one_hot = F.one_hot(target.masked_fill(target == 255, 0), 3).permute(0, 3, 1, 2) * valid
    intersection = (probs * one_hot).sum(dim=(0, 2, 3))
    union = probs.sum(dim=(0, 2, 3)) + one_hot.sum(dim=(0, 2, 3)) - intersection
    present = one_hot.sum(dim=(0, 2, 3)) > 0
    expected = 1 - ((intersection + 1) / (union + 1))[present].mean()
    torch.testing.assert_close(SoftJaccardLoss()(logits, target), expected)


def test_jaccard_and_dice_are_related_by_j_equals_d_over_2_minus_d() -> None:
    # without smoothing and with one class present, soft IoU = Dice / (2 - Dice)
    logits = torch.randn(1, 2, 3, 3, dtype=torch.float64)
    target = torch.zeros(1, 3, 3, dtype=torch.long)
    dice = 1 - SoftDiceLoss(smooth=0.0)(logits, target)
    torch.testing.assert_close(1 - SoftJaccardLoss(smooth=0.0)(logits, target), dice / (2 - dice))


# ---------------------------------------------------------------- configs and schedules


@pytest.mark.parametrize(
    ("option", "term_type"),
    [("focal", FocalLoss), ("lovasz", LovaszSoftmaxLoss), ("jaccard", SoftJaccardLoss)],
)
def test_loss_configs_build_a_scheduled_loss(option: str, term_type: type) -> None:
    loss = instantiate(OmegaConf.load(CONF / "loss" / f"{option}.yaml"))
    assert isinstance(loss, ScheduledLoss) and isinstance(loss.terms[option], term_type)
    logits, target = _example()
    total, values = loss(logits, target)
    torch.testing.assert_close(total, term_type()(logits, target))
    assert set(values) == {option}


def test_ce_then_lovasz_schedule_switches() -> None:
    loss = instantiate(OmegaConf.load(CONF / "loss" / "ce_then_lovasz.yaml"))
    logits, target = _example()
    total, values = loss(logits, target)
    torch.testing.assert_close(total, F.cross_entropy(logits, target, ignore_index=255))
    loss.set_epoch(loss.schedule.switch_epoch)
    total, values = loss(logits, target)
    torch.testing.assert_close(total, LovaszSoftmaxLoss()(logits, target))
    assert set(values) == {"lovasz"}
