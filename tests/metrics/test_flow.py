"""FlowMetrics: reference values on the real fixtures, pooled vs per-image averaging, occlusion split, per-pair
fields, DDP merging (rows concatenated over ranks, de-duplicated by sample index).

The fixture helpers (``fixture_path``, ``read_sample``) are in tests/helpers/flow_fixtures.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.helpers.flow_fixtures import (
    SINTEL_OCCLUSION,
    ZERO_FLOW,
    fixture_path,
    read_sample,
)
from visionbench.data.flow.io import read_binary_mask_png
from visionbench.metrics import FlowMetrics, end_point_error


def flow_batch(flows: list[list[list[float]]]) -> torch.Tensor:
    """``B,2,1,N`` from per-image lists of (u, v) pairs (one image row of N pixels each)."""
    return torch.tensor(flows, dtype=torch.float32).permute(0, 2, 1)[:, :, None, :]


@pytest.mark.parametrize("name", sorted(ZERO_FLOW))
def test_zero_flow_matches_the_reference_values(name: str) -> None:
    sample = read_sample(name)
    metric = FlowMetrics()
    metric.update(torch.zeros_like(sample["flow"]), sample["flow"], sample["valid"])
    scores = metric.compute()
    epe, px1, px3, px5, fl = ZERO_FLOW[name]
    assert scores["EPE"].item() == pytest.approx(epe, abs=1e-4)
    assert scores["px1"].item() == pytest.approx(px1, abs=1e-4)
    assert scores["px3"].item() == pytest.approx(px3, abs=1e-4)
    assert scores["px5"].item() == pytest.approx(px5, abs=1e-4)
    assert 100 * scores["Fl"].item() == pytest.approx(fl, abs=1e-3)  # README gives Fl in % to 3 decimals
    for key in ("EPE", "px1", "px3", "px5", "Fl"):  # one image: both conventions agree
        assert scores[f"{key}_per_image"].item() == pytest.approx(scores[key].item(), rel=1e-6)
    assert "EPE_noc" not in scores


def test_pooled_and_per_image_averaging_differ_as_defined() -> None:
    # image A: 4 valid pixels with EPE 0.5, 0.5, 2, 2 (gt magnitude 10 -> no outlier: EPE <= 3)
    # image B: 1 valid pixel with EPE 4 and |gt| = 10 (an Fl outlier), 3 invalid pixels holding garbage
    # image C: no valid pixel at all -> skipped by the per-image means, adds nothing to the pooled sums
    target = flow_batch([[[10, 0]] * 4, [[0, 10], [1e10, 1e10], [float("nan"), 0], [0, 0]], [[1, 1]] * 4])
    pred = target.clone()
    pred[0, 0, 0] += torch.tensor([0.5, 0.5, 2.0, 2.0])
    pred[1, 1, 0, 0] += 4.0
    pred[2] += 100.0
    valid = torch.tensor([[[True] * 4], [[True, False, False, False]], [[False] * 4]])

    metric = FlowMetrics()
    metric.update(pred, target, valid)
    scores = {key: value.item() for key, value in metric.compute().items()}

    assert scores["EPE"] == pytest.approx(9 / 5)  # (0.5 + 0.5 + 2 + 2 + 4) / 5 pixels
    assert scores["EPE_per_image"] == pytest.approx((5 / 4 + 4) / 2)  # mean of image means 1.25 and 4
    assert scores["px1"] == pytest.approx(2 / 5) and scores["px1_per_image"] == pytest.approx((2 / 4 + 0) / 2)
    assert scores["px3"] == pytest.approx(4 / 5) and scores["px3_per_image"] == pytest.approx((1 + 0) / 2)
    assert scores["px5"] == pytest.approx(1.0) and scores["px5_per_image"] == pytest.approx(1.0)
    assert scores["Fl"] == pytest.approx(1 / 5) and scores["Fl_per_image"] == pytest.approx((0 + 1) / 2)
    samples = metric.sample_scores()  # the per-pair fields behind them
    assert samples["valid"].tolist() == [4, 1, 0] and samples["fl"].tolist() == [0, 1, 0]
    assert samples["px1"].tolist() == [2, 0, 0] and samples["epe_sum"] == pytest.approx([5.0, 4.0, 0.0])


def test_fl_needs_both_the_absolute_and_the_relative_threshold() -> None:
    target = flow_batch([[[100, 0], [10, 0], [2, 0]]])
    pred = target + flow_batch([[[4, 0], [4, 0], [2.9, 0]]])  # 4 < 5 % of 100; 4 > 3 and > 0.5; 2.9 < 3
    metric = FlowMetrics()
    metric.update(pred, target, torch.ones(1, 1, 3, dtype=torch.bool))
    assert metric.compute()["Fl"].item() == pytest.approx(1 / 3)  # a fraction


def test_thresholds_are_strict_less_than() -> None:
    target = torch.zeros(1, 2, 1, 3)
    pred = flow_batch([[[1, 0], [3, 0], [5, 0]]])  # EPE exactly 1, 3, 5: counted in none of px1, px3, px5
    metric = FlowMetrics()
    metric.update(pred, target, torch.ones(1, 1, 3, dtype=torch.bool))
    scores = metric.compute()
    assert scores["px1"].item() == 0 and scores["px3"].item() == pytest.approx(1 / 3)
    assert scores["px5"].item() == pytest.approx(2 / 3)


def test_occlusion_splits_the_valid_pixels() -> None:
    target = flow_batch([[[1, 0], [1, 0], [1, 0], [1, 0]], [[0, 2], [0, 2], [0, 2], [0, 2]]])
    pred = target + flow_batch([[[0.5, 0], [0.5, 0], [6, 0], [9, 9]], [[0, 1], [0, 1], [0, 1], [0, 1]]])
    valid = torch.tensor([[[True, True, True, False]], [[True] * 4]])
    occluded = torch.tensor([[[False, False, True, True]], [[False] * 4]])  # image 2 has no occluded pixel
    metric = FlowMetrics()
    metric.update(pred, target, valid, occluded)
    scores = {key: value.item() for key, value in metric.compute().items()}

    assert scores["EPE"] == pytest.approx((0.5 + 0.5 + 6 + 4 * 1) / 7)
    assert scores["EPE_noc"] == pytest.approx((0.5 + 0.5 + 4 * 1) / 6)
    assert scores["EPE_occ"] == pytest.approx(6.0)  # the occluded invalid pixel counts nowhere
    assert scores["EPE_noc_per_image"] == pytest.approx((0.5 + 1) / 2)
    assert scores["EPE_occ_per_image"] == pytest.approx(6.0)  # image 2 has no occluded valid pixel: skipped
    assert scores["px1_noc"] == pytest.approx(2 / 6) and scores["px5_occ"] == 0
    assert scores["Fl_occ"] == pytest.approx(1.0) and scores["Fl_noc"] == 0
    samples = metric.sample_scores()
    assert samples["valid_noc"].tolist() == [2, 4] and samples["valid_occ"].tolist() == [1, 0]


def test_sintel_occlusion_split_is_consistent_with_all_pixels() -> None:
    sample = read_sample("sintel")
    occluded = read_binary_mask_png(fixture_path(SINTEL_OCCLUSION, (436, 1024)))
    metric = FlowMetrics()
    metric.update(torch.zeros_like(sample["flow"]), sample["flow"], sample["valid"], torch.from_numpy(occluded)[None])
    scores = {key: value.item() for key, value in metric.compute().items()}
    fraction = occluded.mean()
    assert 0.01 < fraction < 0.05
    assert scores["EPE"] == pytest.approx(2.9831, abs=1e-4)
    mixed = (1 - fraction) * scores["EPE_noc"] + fraction * scores["EPE_occ"]
    assert mixed == pytest.approx(scores["EPE"], rel=1e-6)


def _random_batch(seed: int, batch: int = 3) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    target = torch.randn(batch, 2, 6, 7, generator=generator) * 4
    pred = target + torch.randn(batch, 2, 6, 7, generator=generator) * 3
    valid = torch.rand(batch, 6, 7, generator=generator) > 0.3
    valid[0] = False  # an image without valid pixels
    occlusion = torch.rand(batch, 6, 7, generator=generator) > 0.7
    return pred, target, valid, occlusion


def test_merging_states_equals_one_metric_fed_everything() -> None:
    first, second = _random_batch(0), _random_batch(1, batch=2)
    whole = FlowMetrics()
    whole.update(*first)
    whole.update(*second)
    part_a, part_b = FlowMetrics(), FlowMetrics()
    part_a.update(*first)
    part_b.update(*second)
    part_a.merge_state(part_b)
    expected, merged = whole.compute(), part_a.compute()
    assert expected.keys() == merged.keys()
    for key in expected:
        torch.testing.assert_close(merged[key], expected[key], rtol=1e-6, atol=1e-7)


def test_ranks_rows_are_concatenated_and_padding_repeats_count_once() -> None:
    """What DDP does at compute(): every state concatenated over ranks (emulated by hand), then the rows
    de-duplicated by sample index: a DistributedSampler pads 5 pairs on 2 ranks with a repeat of pair 0."""
    pred, target, valid, occlusion = _random_batch(2, batch=5)
    reference = FlowMetrics()
    reference.update(pred, target, valid, occlusion, torch.arange(5))
    ranks = [FlowMetrics(), FlowMetrics()]
    for metric, pairs in zip(ranks, ([0, 2, 4], [1, 3, 0]), strict=True):
        metric.update(pred[pairs], target[pairs], valid[pairs], occlusion[pairs], torch.tensor(pairs))
    combined = FlowMetrics()
    for name, reduction in combined._reductions.items():
        assert reduction is not None and reduction.__name__ == "dim_zero_cat", name
        setattr(combined, name, torch.cat([torch.cat(getattr(metric, name)) for metric in ranks]))
    for field, values in reference.sample_scores().items():
        np.testing.assert_array_equal(combined.sample_scores()[field], values, err_msg=field)
    expected = {key: value.item() for key, value in reference.compute().items()}
    assert {key: value.item() for key, value in combined.compute().items()} == expected  # the same arithmetic


def test_occlusion_keys_only_after_an_occlusion_mask_and_nan_when_empty() -> None:
    metric = FlowMetrics()
    assert np.isnan(metric.compute()["EPE"].item())
    pred, target, valid, occlusion = _random_batch(4)
    metric.update(pred, target, valid)
    assert "EPE_occ" not in metric.compute()
    metric.update(pred, target, valid, occlusion)
    assert {"EPE_occ", "Fl_noc_per_image", "px3_occ"} <= metric.compute().keys()
    metric.reset()
    assert np.isnan(metric.compute()["EPE"].item())


def test_default_valid_ignores_unknown_flow_and_masks_may_be_float() -> None:
    target = flow_batch([[[1, 0], [1e10, 1e10], [float("inf"), 0]]])
    pred = torch.zeros_like(target)
    implicit, explicit = FlowMetrics(), FlowMetrics()
    implicit.update(pred, target)
    explicit.update(pred, target, torch.tensor([[[1.0, 0.0, 0.0]]]))
    assert implicit.compute()["EPE"].item() == pytest.approx(1.0)
    assert explicit.compute()["EPE"].item() == pytest.approx(1.0)


def test_end_point_error_and_shape_checks() -> None:
    pred = torch.tensor([[[[3.0]], [[4.0]]]])
    assert end_point_error(pred, torch.zeros_like(pred)).item() == pytest.approx(5.0)
    metric = FlowMetrics()
    with pytest.raises(ValueError, match="B,2,H,W"):
        metric.update(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4), torch.ones(1, 4, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="valid"):
        metric.update(torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 4, 4), torch.ones(1, 4, 5, dtype=torch.bool))
