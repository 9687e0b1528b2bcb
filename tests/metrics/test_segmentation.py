"""SegmentationMetrics: hand-computed cases, ignore_index, input forms, per-image areas, ADE20K fixture, DDP (with a
DistributedSampler's padding repeats)."""

from __future__ import annotations

import math
import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from PIL import Image

from tests.helpers import FIXTURES
from visionbench.metrics import SegmentationMetrics, scores_from_confusion_matrix

ADE_ROOT = FIXTURES / "ade20k" / "ADEChallengeData2016"
NAN = float("nan")


def _assert_scores(scores: dict[str, torch.Tensor], expected: dict[str, float | list[float]]) -> None:
    for name, value in expected.items():
        torch.testing.assert_close(scores[name], torch.tensor(value, dtype=torch.float64), equal_nan=True, msg=name)


def _areas(metric: SegmentationMetrics) -> dict[str, list]:
    """The metric's per-image areas as lists (``index`` included)."""
    return {field: values.tolist() for field, values in metric.sample_scores().items()}


def test_hand_computed_3x3() -> None:
    # target        pred
    # 0 0 1         0 1 1
    # 1 2 2         1 2 0
    # confusion (rows GT, cols pred): [[1,1,0],[0,2,0],[1,0,1]]
    # intersect [1,2,1], GT area [2,2,2], pred area [2,3,1], union [3,3,2]
    # IoU  [1/3, 2/3, 1/2] -> mIoU 0.5;  Acc [1/2, 1, 1/2] -> mAcc 2/3
    # Dice [2/4, 4/5, 2/3] -> mDice (0.5 + 0.8 + 2/3) / 3 = 59/90;  aAcc 4/6
    target = torch.tensor([[[0, 0, 1], [1, 2, 2]]])
    preds = torch.tensor([[[0, 1, 1], [1, 2, 0]]])
    metric = SegmentationMetrics(num_classes=3)
    metric.update(preds, target)
    areas = metric.sample_scores()
    assert all(areas[field].dtype == np.int64 for field in ("intersection", "union", "pred_area", "label_area"))
    assert _areas(metric) == {
        "index": [0],
        "intersection": [[1, 2, 1]],
        "union": [[3, 3, 2]],
        "pred_area": [[2, 3, 1]],
        "label_area": [[2, 2, 2]],
    }
    _assert_scores(
        metric.compute(),
        {
            "aAcc": 4 / 6,
            "mIoU": 0.5,
            "mAcc": 2 / 3,
            "mDice": 59 / 90,
            "IoU": [1 / 3, 2 / 3, 1 / 2],
            "Acc": [1 / 2, 1.0, 1 / 2],
            "Dice": [1 / 2, 4 / 5, 2 / 3],
        },
    )


def test_absent_class_dropped_but_predicted_absent_class_counts_zero() -> None:
    # 4 classes. target     pred
    #            0 0 0      0 0 2
    #            1 1 1      1 1 1
    #            0 1 0      0 1 0
    # class 3: in neither -> union 0 -> NaN everywhere, dropped from every mean.
    # class 2: predicted once, no GT -> union 1, IoU = Dice = 0 (counted), Acc NaN (no GT pixel).
    # confusion [[4,0,1,0],[0,4,0,0],[0,0,0,0],[0,0,0,0]]
    # intersect [4,4,0,0], GT [5,4,0,0], pred [4,4,1,0], union [5,4,1,0]
    # IoU [4/5, 1, 0, nan] -> mIoU 1.8/3 = 0.6;  Acc [4/5, 1, nan, nan] -> mAcc 0.9
    # Dice [8/9, 1, 0, nan] -> mDice (17/9)/3 = 17/27;  aAcc 8/9
    target = torch.tensor([[[0, 0, 0], [1, 1, 1], [0, 1, 0]]])
    preds = torch.tensor([[[0, 0, 2], [1, 1, 1], [0, 1, 0]]])
    metric = SegmentationMetrics(num_classes=4)
    metric.update(preds, target)
    _assert_scores(
        metric.compute(),
        {
            "aAcc": 8 / 9,
            "mIoU": 0.6,
            "mAcc": 0.9,
            "mDice": 17 / 27,
            "IoU": [0.8, 1.0, 0.0, NAN],
            "Acc": [0.8, 1.0, NAN, NAN],
            "Dice": [8 / 9, 1.0, 0.0, NAN],
        },
    )


def test_ignore_index_pixels_excluded() -> None:
    # The pixels with target 255 are wrong (or even out of range) in the prediction but do not count:
    # the remaining 4 pixels are all correct, confusion diag(1, 2, 1).
    target = torch.tensor([[[0, 255, 1], [1, 2, 255]]])
    preds = torch.tensor([[[0, 1, 1], [1, 2, 7]]])
    metric = SegmentationMetrics(num_classes=3, ignore_index=255)
    metric.update(preds, target)
    areas = _areas(metric)
    assert areas["intersection"] == areas["union"] == areas["pred_area"] == areas["label_area"] == [[1, 2, 1]]
    scores = metric.compute()
    for name in ("aAcc", "mIoU", "mAcc", "mDice"):
        assert scores[name].item() == 1.0


def test_logits_probabilities_and_labels_agree() -> None:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 5, 6, 7, generator=gen)
    target = torch.randint(0, 5, (2, 6, 7), generator=gen)
    target[0, :2] = 255
    results = []
    for preds in (logits, logits.softmax(dim=1), logits.argmax(dim=1)):
        metric = SegmentationMetrics(num_classes=5)
        metric.update(preds, target)
        results.append((_areas(metric), metric.compute()))
    for areas, scores in results[1:]:
        assert areas == results[0][0]
        for name, value in scores.items():
            torch.testing.assert_close(value, results[0][1][name], equal_nan=True)


def test_accumulates_dataset_level_totals_over_updates() -> None:
    gen = torch.Generator().manual_seed(1)
    preds = torch.randint(0, 4, (3, 5, 5), generator=gen)
    target = torch.randint(0, 4, (3, 5, 5), generator=gen)
    whole, parts = SegmentationMetrics(4), SegmentationMetrics(4)
    whole.update(preds, target)
    for i in range(3):
        parts.update(preds[i : i + 1], target[i : i + 1])
    assert _areas(whole) == _areas(parts) and len(_areas(whole)["index"]) == 3
    parts.reset()
    assert _areas(parts)["intersection"] == []


def test_deterministic_mode_gives_same_counts() -> None:
    gen = torch.Generator().manual_seed(2)
    preds = torch.randint(0, 150, (1, 64, 64), generator=gen)
    target = torch.randint(0, 150, (1, 64, 64), generator=gen)
    reference = SegmentationMetrics(150)
    reference.update(preds, target)
    torch.use_deterministic_algorithms(True)
    try:
        metric = SegmentationMetrics(150)
        metric.update(preds, target)
    finally:
        torch.use_deterministic_algorithms(False)
    assert _areas(metric) == _areas(reference)


def test_empty_confusion_matrix_is_nan() -> None:
    scores = scores_from_confusion_matrix(torch.zeros(3, 3, dtype=torch.long))
    assert all(torch.isnan(value).all() for value in scores.values())


@pytest.mark.parametrize(
    ("preds", "target", "match"),
    [
        (torch.zeros(1, 3, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long), "C=4"),
        (torch.zeros(1, 2, 3, dtype=torch.long), torch.zeros(1, 2, 2, dtype=torch.long), "shape"),
        (torch.zeros(1, 2, 2, dtype=torch.long), torch.full((1, 2, 2), 4), "target has values outside"),
        (torch.full((1, 2, 2), 5), torch.zeros(1, 2, 2, dtype=torch.long), "preds have labels outside"),
    ],
)
def test_invalid_inputs_raise(preds: torch.Tensor, target: torch.Tensor, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SegmentationMetrics(num_classes=4).update(preds, target)


# ---------------------------------------------------------------- ADE20K fixture (real annotation PNGs)


def _ade_targets() -> list[np.ndarray]:
    """ADE20K annotations with reduce_zero_label: 0 (unlabeled) -> 255, 1..150 -> 0..149."""
    paths = sorted((ADE_ROOT / "annotations" / "validation").glob("*.png"))
    assert len(paths) == 3
    targets = []
    for path in paths:
        label = np.asarray(Image.open(path), dtype=np.int64)
        targets.append(np.where(label == 0, 255, label - 1))
    return targets


def _numpy_scores(preds: list[np.ndarray], targets: list[np.ndarray], num_classes: int) -> dict[str, float]:
    """Independent reference: mmseg-style per-image intersection/union histograms, summed over images."""
    intersect = np.zeros(num_classes)
    area_pred = np.zeros(num_classes)
    area_label = np.zeros(num_classes)
    for pred, target in zip(preds, targets, strict=True):
        keep = target != 255
        pred, target = pred[keep], target[keep]
        intersect += np.bincount(pred[pred == target], minlength=num_classes)
        area_pred += np.bincount(pred, minlength=num_classes)
        area_label += np.bincount(target, minlength=num_classes)
    union = area_pred + area_label - intersect
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "aAcc": intersect.sum() / area_label.sum(),
            "mIoU": np.nanmean(intersect / union),
            "mAcc": np.nanmean(intersect / area_label),
            "mDice": np.nanmean(2 * intersect / (area_pred + area_label)),
        }


def test_ade20k_ground_truth_as_prediction_scores_one() -> None:
    metric = SegmentationMetrics(num_classes=150)
    targets = _ade_targets()
    for target in targets:
        t = torch.from_numpy(target)[None]
        metric.update(t, t)
    scores = metric.compute()
    for name in ("aAcc", "mIoU", "mAcc", "mDice"):
        assert scores[name].item() == 1.0
    present = np.unique(np.concatenate([t.ravel() for t in targets]))
    present = present[present != 255]
    assert torch.isnan(scores["IoU"]).logical_not().nonzero().flatten().tolist() == present.tolist()


def test_ade20k_corrupted_prediction_matches_numpy() -> None:
    rng = np.random.default_rng(0)
    targets = _ade_targets()
    preds = []
    for target in targets:
        pred = np.where(target == 255, rng.integers(0, 150, target.shape), target)
        noisy = rng.random(target.shape) < 0.2  # 20 % random classes, many of them absent from the GT
        pred = np.where(noisy, rng.integers(0, 150, target.shape), pred)
        h, w = target.shape
        pred[: h // 3, : w // 3] = np.roll(pred[: h // 3, : w // 3], 7, axis=1)  # a shifted block
        preds.append(pred)
    metric = SegmentationMetrics(num_classes=150)
    for pred, target in zip(preds, targets, strict=True):
        metric.update(torch.from_numpy(pred)[None], torch.from_numpy(target)[None])
    scores = metric.compute()
    expected = _numpy_scores(preds, targets, 150)
    for name, value in expected.items():
        assert 0.0 < value < 1.0
        assert math.isclose(scores[name].item(), value, rel_tol=1e-6), name


# ---------------------------------------------------------------- DDP (2 processes, gloo on CPU)


def _ddp_worker(rank: int, world_size: int, port: int, out_dir: str, preds: torch.Tensor, target: torch.Tensor):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size)
    try:
        # 5 images, 2 ranks: a DistributedSampler gives rank 0 images 0, 2, 4 and rank 1 images 1, 3 and 0 again
        # (padding to equal shares); rank 0 in two batches, rank 1 in one.
        metric = SegmentationMetrics(num_classes=5)
        batches = [[0, 2], [4]] if rank == 0 else [[1, 3, 0]]
        for images in batches:
            metric.update(preds[images], target[images], torch.tensor(images))
        samples = {field: torch.from_numpy(values) for field, values in metric.sample_scores().items()}
        torch.save({"scores": metric.compute(), "samples": samples}, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ddp_two_processes_match_single_process(tmp_path: Path) -> None:
    gen = torch.Generator().manual_seed(3)
    logits = torch.randn(5, 5, 8, 8, generator=gen)
    target = torch.randint(0, 5, (5, 8, 8), generator=gen)
    target[:, 0] = 255
    single = SegmentationMetrics(num_classes=5)
    single.update(logits, target, torch.arange(5))
    expected, expected_samples = single.compute(), single.sample_scores()

    mp.spawn(_ddp_worker, args=(2, _free_port(), str(tmp_path), logits, target), nprocs=2, join=True)
    for rank in range(2):
        result = torch.load(tmp_path / f"rank{rank}.pt")
        for name, value in expected.items():  # the repeated image 0 counts once, as in one process
            torch.testing.assert_close(result["scores"][name], value, equal_nan=True, rtol=0, atol=0, msg=name)
        for field, values in expected_samples.items():
            assert result["samples"][field].tolist() == values.tolist(), field
