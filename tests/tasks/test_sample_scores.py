"""Per-sample scores and the contracts that read them: metrics recomputed from the per-sample fields equal the
metrics' own numbers, resampled headlines equal a direct recomputation on the repeated samples, the evaluation steps
collect sample ids in dataset order, and the metric code hash."""

import math
import pickle
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, RandomSampler

from tests.helpers import FIXTURES
from visionbench.data.loaders import IndexedSamples
from visionbench.data.tracking.mot_io import read_mot_table, write_results
from visionbench.losses import ScheduledLoss
from visionbench.losses.scheduled import ConstantWeights
from visionbench.metrics import FlowMetrics, ReidMetrics, SegmentationMetrics
from visionbench.metrics.tracking import combine_sequences, evaluate_sequence, sequence_fields
from visionbench.tasks import FlowTask, ReidTask, SegmentationTask
from visionbench.tasks.contract import ProblemContract, source_hash
from visionbench.tasks.tracking.contract import TrackingContract, score_metrics

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SEGMENTATION = SegmentationTask.contract
FLOW = FlowTask.contract
REID = ReidTask.contract
TUD_CAMPUS = FIXTURES / "mot" / "MOT15" / "train" / "TUD-Campus"


def _with_ids(samples: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    samples = dict(samples)
    return {"sample_id": np.array([f"s{i}" for i in samples.pop("index")]), **samples}


def _segmentation_scores(seed: int = 0, images: int = 6, classes: int = 5) -> dict[str, np.ndarray]:
    """Per-image areas of random predictions; class 4 occurs (predicted or labelled) in images 0 and 1 only."""
    generator = torch.Generator().manual_seed(seed)
    target = torch.randint(0, classes - 1, (images, 6, 7), generator=generator)
    preds = torch.randint(0, classes - 1, (images, 6, 7), generator=generator)
    target[0, 0, :3], preds[1, 2, 2] = classes - 1, classes - 1
    target[:, -1] = 255
    metric = SegmentationMetrics(classes)
    metric.update(preds, target, torch.arange(images))
    return _with_ids(metric.sample_scores())


def _flow_scores(seed: int = 0, pairs: int = 6) -> tuple[FlowMetrics, dict[str, np.ndarray]]:
    generator = torch.Generator().manual_seed(seed)
    target = torch.randn(pairs, 2, 5, 6, generator=generator) * 4
    pred = target + torch.randn(pairs, 2, 5, 6, generator=generator) * 3
    valid = torch.rand(pairs, 5, 6, generator=generator) > 0.3
    valid[0] = False  # a pair without a valid pixel
    occlusion = torch.rand(pairs, 5, 6, generator=generator) > 0.7
    metric = FlowMetrics()
    metric.update(pred, target, valid, occlusion, torch.arange(pairs))
    return metric, _with_ids(metric.sample_scores())


def _draws(samples: int, resamples: int = 40, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.multinomial(samples, np.full(samples, 1 / samples)) for _ in range(resamples)])


def _repeated(scores: dict[str, np.ndarray], draws: np.ndarray) -> dict[str, np.ndarray]:
    return {field: np.repeat(values, draws, axis=0) for field, values in scores.items()}


# ---------------------------------------------------------------------------------------------------- recomputation
def test_metrics_from_scores_are_the_metrics_own_numbers() -> None:
    metric, scores = _flow_scores()
    computed = {f"val/{name}": value.item() for name, value in metric.compute().items()}
    assert FLOW.metrics_from_scores(scores, "val") == computed  # exactly, _noc / _occ included
    assert {"val/EPE_occ", "val/Fl_noc_per_image"} <= computed.keys() and 0 <= computed["val/Fl"] <= 1

    generator = torch.Generator().manual_seed(2)
    embeddings, ids = torch.randn(24, 8, generator=generator), torch.randint(0, 4, (24,), generator=generator)
    reid = ReidMetrics(ranks=(1, 3))
    reid.update(embeddings, ids, torch.arange(24) % 3 == 0, torch.arange(24))
    computed = {f"test/{name}": value.item() for name, value in reid.compute().items()}
    assert REID.metrics_from_scores(_with_ids(reid.sample_scores()), "test") == computed

    scores = _segmentation_scores()
    recomputed = SEGMENTATION.metrics_from_scores(scores, "val", class_names=list("abcde"))
    assert {"val/mIoU", "val/IoU/e", "val/Dice/a"} <= recomputed.keys()
    assert SEGMENTATION.metrics_from_scores(scores, "val").keys() == {"val/aAcc", "val/mIoU", "val/mAcc", "val/mDice"}


def test_tracking_metrics_are_recomputed_from_the_per_sequence_fields(tmp_path: Path) -> None:
    """Every per-sequence and combined entry, also for a sequence scored by TrackEval's early return (no tracker
    box: its MLR is 1 where the ratio formula would give another value)."""
    gt = read_mot_table(TUD_CAMPUS / "gt" / "gt.txt", "gt")
    shifted = gt.boxes + np.array([3.0, -2.0, 0.0, 0.0])
    tables = {
        "perfect": write_results(tmp_path / "perfect.txt", gt.frames, gt.ids, gt.boxes),
        "switched": write_results(tmp_path / "switched.txt", gt.frames, gt.ids + 100 * (gt.frames > 30), shifted),
        "silent": write_results(tmp_path / "silent.txt", gt.frames[:0], gt.ids[:0], gt.boxes[:0]),
    }
    per_sequence = {
        name: evaluate_sequence(gt, read_mot_table(path, "result"), 71, "MOT15") for name, path in tables.items()
    }
    scores = {"sample_id": np.array(list(per_sequence)), **sequence_fields(list(per_sequence.values()))}
    expected = score_metrics("train", combine_sequences(list(per_sequence.values())), per_sequence)
    recomputed = TrackingContract().metrics_from_scores(scores, "train")
    assert recomputed == expected and recomputed["train/silent/MLR"] == 1.0
    assert all(type(recomputed[key]) is type(value) for key, value in expected.items())  # ints stay ints


# ---------------------------------------------------------------------------------------------------- resampling
def test_segmentation_resamples_equal_the_metric_on_the_repeated_images() -> None:
    scores = _segmentation_scores()
    draws = _draws(6)
    draws[0] = [0, 0, 1, 2, 1, 2]  # neither image with class 4: it is dropped from that resample's mean
    vectorised = SEGMENTATION.resampled_headline(scores, draws)
    direct = [SEGMENTATION.metrics_from_scores(_repeated(scores, row), "x")["x/mIoU"] for row in draws]
    assert vectorised.tolist() == direct  # integer sums, then the same float arithmetic: exact
    only_four = SEGMENTATION.metrics_from_scores(_repeated(scores, draws[0]), "x", class_names=list("abcde"))
    assert math.isnan(only_four["x/IoU/e"]) and not math.isnan(vectorised[0])
    headline = SEGMENTATION.metrics_from_scores(scores, "x")["x/mIoU"]
    assert SEGMENTATION.resampled_headline(scores, np.ones((2, 6), dtype=np.int64)).tolist() == [headline] * 2


def test_flow_resamples_equal_the_metric_on_the_repeated_pairs() -> None:
    _, scores = _flow_scores()
    draws = _draws(6)
    vectorised = FLOW.resampled_headline(scores, draws)
    direct = np.array([FLOW.metrics_from_scores(_repeated(scores, row), "x")["x/EPE"] for row in draws])
    np.testing.assert_allclose(vectorised, direct, rtol=1e-13)  # float sums in another order
    ones = np.ones((3, 6), dtype=np.int64)
    assert FLOW.resampled_headline(scores, ones).tolist() == [FLOW.metrics_from_scores(scores, "x")["x/EPE"]] * 3


def test_the_default_resample_recomputes_the_metrics_on_the_repeated_samples() -> None:
    scores = {"sample_id": np.array(["q0", "q1", "q2"]), "ap": np.array([0.2, 0.5, 1.0]), "rank1": np.array([0, 1, 1])}
    draws = np.array([[1, 1, 1], [3, 0, 0], [0, 1, 2], [1, 0, 4]])
    expected = [(0.2 + 0.5 + 1.0) / 3, 0.2, (0.5 + 2.0) / 3, (0.2 + 4.0) / 5]
    np.testing.assert_allclose(REID.resampled_headline(scores, draws), expected, rtol=1e-15)
    for counts, match in [
        (np.ones((2, 4), int), "B x 3"),
        (np.ones((2, 3)), "integer"),
        (-np.ones((1, 3), int), ">= 0"),
    ]:
        with pytest.raises(ValueError, match=match):
            REID.resampled_headline(scores, counts)


# ---------------------------------------------------------------------------------------------------- collection
class _Images(Dataset):
    """Eight 3x8x8 images with masks; sample ``i`` is named ``img<i>``."""

    def __init__(self) -> None:
        generator = torch.Generator().manual_seed(0)
        self.images = torch.randn(8, 3, 8, 8, generator=generator)
        self.masks = torch.randint(0, 3, (8, 8, 8), generator=generator)

    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"image": self.images[index], "mask": self.masks[index]}

    def sample_id(self, index: int) -> str:
        return f"img{index}"


def _validate(loader: DataLoader) -> SegmentationTask:
    torch.manual_seed(0)
    loss = ScheduledLoss({"ce": nn.CrossEntropyLoss()}, ConstantWeights({"ce": 1.0}))
    task = SegmentationTask(nn.Conv2d(3, 3, 1), loss, torch.optim.SGD, None, num_classes=3)
    trainer = pl.Trainer(
        accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False,
    )  # fmt: skip
    trainer.validate(task, loader, verbose=False)
    return task


def test_evaluation_epochs_keep_scores_named_by_the_dataset_in_its_order() -> None:
    dataset = _Images()
    indexed = _validate(DataLoader(IndexedSamples(dataset), batch_size=3)).split_scores["val"]
    assert indexed["sample_id"].tolist() == [f"img{i}" for i in range(8)]
    plain = _validate(DataLoader(dataset, batch_size=3)).split_scores["val"]  # no index: the loader's order
    for field, values in indexed.items():
        np.testing.assert_array_equal(plain[field], values)
    with pytest.raises(RuntimeError, match="does not read the dataset in order"):
        _validate(DataLoader(dataset, batch_size=3, sampler=RandomSampler(dataset)))


def test_indexed_samples_add_the_index_to_dict_samples_only() -> None:
    wrapped = IndexedSamples(_Images())
    assert wrapped[5]["index"] == 5 and wrapped.sample_id(5) == "img5" and len(wrapped) == 8
    assert IndexedSamples([(1, 2)])[0] == (1, 2)
    assert pickle.loads(pickle.dumps(wrapped)).sample_id(2) == "img2"  # as DataLoader workers receive it


def test_metric_code_hashes_the_metric_sources() -> None:
    assert SEGMENTATION.metric_code() != FLOW.metric_code() != TrackingContract().metric_code()
    assert SEGMENTATION.metric_code() == source_hash(
        ["visionbench.metrics.segmentation", "visionbench.metrics.samples"]
    )
    assert source_hash(["visionbench.metrics.tracking"]) != source_hash(["visionbench.metrics.tracking.hota"])
    assert ProblemContract().metric_code() == source_hash([])
