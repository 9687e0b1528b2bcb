"""DenseCRF post-processing: it sharpens a noisy prediction, its contract, and `evaluate.py postprocess=crf`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from torch import Tensor, nn

from tests.helpers import TINY, compose_config
from visionbench.losses import ScheduledLoss
from visionbench.losses.scheduled import ConstantWeights
from visionbench.postprocess import DenseCRF
from visionbench.runner.evaluate import evaluate
from visionbench.runner.train import train
from visionbench.tasks import SegmentationTask

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PALETTE = np.array([[30, 40, 50], [200, 60, 60], [60, 180, 90]], dtype=np.uint8)


def _scene(height: int = 32, width: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Labels ``H,W`` (background, a rectangle, a disc) and a matching noisy uint8 RGB image ``H,W,3``."""
    labels = np.zeros((height, width), dtype=np.int64)
    labels[6:22, 5:18] = 1
    yy, xx = np.mgrid[:height, :width]
    labels[(yy - 18) ** 2 + (xx - 29) ** 2 < 64] = 2
    rng = np.random.default_rng(0)
    image = np.clip(PALETTE[labels] + rng.normal(0.0, 8.0, (height, width, 3)), 0, 255).astype(np.uint8)
    return labels, image


def _noisy_probabilities(labels: np.ndarray, noise: float = 1.0, seed: int = 0) -> Tensor:
    """Softmax ``1,C,H,W`` of the one-hot truth plus Gaussian noise: the arg-max is wrong at many pixels."""
    one_hot = F.one_hot(torch.from_numpy(labels), 3).permute(2, 0, 1).float()
    noisy = one_hot + noise * torch.randn(one_hot.shape, generator=torch.Generator().manual_seed(seed))
    return noisy.softmax(dim=0).unsqueeze(0)


def _mean_iou(prediction: np.ndarray, labels: np.ndarray) -> float:
    classes = np.union1d(np.unique(prediction), np.unique(labels))
    return float(np.mean([((prediction == c) & (labels == c)).sum() / ((prediction == c) | (labels == c)).sum()
                          for c in classes]))  # fmt: skip


def test_crf_sharpens_a_noisy_prediction_toward_the_true_segmentation() -> None:
    labels, image = _scene()
    probs = _noisy_probabilities(labels)
    noisy_iou = _mean_iou(probs[0].argmax(dim=0).numpy(), labels)
    refined_iou = _mean_iou(DenseCRF()(probs, image[None])[0].argmax(dim=0).numpy(), labels)
    assert noisy_iou < 0.6
    assert refined_iou > 0.9 and refined_iou > noisy_iou + 0.3
    # each kernel alone helps too (the bilateral one more: it follows the colour edges)
    smooth_only = DenseCRF(bilateral_weight=0)(probs, image[None])[0].argmax(dim=0).numpy()
    appearance_only = DenseCRF(gaussian_weight=0)(probs, image[None])[0].argmax(dim=0).numpy()
    assert noisy_iou < _mean_iou(smooth_only, labels) < _mean_iou(appearance_only, labels)


def test_output_contract_batch_dtype_and_tensor_images() -> None:
    labels, image = _scene(20, 24)
    probs = torch.cat([_noisy_probabilities(labels, seed=0), _noisy_probabilities(labels, seed=1)])
    images = np.stack([image, image[::-1].copy()])
    crf = DenseCRF(iterations=3)
    refined = crf(probs, images)
    assert refined.shape == probs.shape and refined.dtype == torch.float32 and refined.device == probs.device
    torch.testing.assert_close(refined.sum(dim=1), torch.ones(2, 20, 24), atol=1e-5, rtol=0)
    assert (refined >= 0).all()
    # per image: the batch result is the result of each image alone; tensors and arrays give the same
    torch.testing.assert_close(refined[1:], crf(probs[1:], images[1:]))
    torch.testing.assert_close(refined, crf(probs, torch.from_numpy(images)))
    assert crf(probs.double(), images).dtype == torch.float64


def test_without_pairwise_kernels_the_marginals_are_the_clipped_input() -> None:
    labels, image = _scene(8, 10)
    probs = _noisy_probabilities(labels)
    probs[0, :, 0, 0] = torch.tensor([1.0, 0.0, 0.0])  # clipped to 1e-5 before -log
    refined = DenseCRF(bilateral_weight=0, gaussian_weight=0)(probs, image[None])
    expected = probs.clamp_min(1e-5)
    torch.testing.assert_close(refined, expected / expected.sum(dim=1, keepdim=True), atol=1e-6, rtol=1e-5)


def test_bad_inputs_and_arguments_raise() -> None:
    labels, image = _scene(8, 10)
    probs = _noisy_probabilities(labels)
    with pytest.raises(ValueError, match=r"uint8 of shape \(1, 8, 10, 3\)"):
        DenseCRF()(probs, image[None].astype(np.float32))
    with pytest.raises(ValueError, match=r"uint8 of shape \(1, 8, 10, 3\)"):
        DenseCRF()(probs, image[None, :, :9])
    with pytest.raises(ValueError, match="B,C,H,W"):
        DenseCRF()(probs[0], image)
    with pytest.raises(ValueError, match="iterations"):
        DenseCRF(iterations=0)
    with pytest.raises(ValueError, match="weights"):
        DenseCRF(bilateral_weight=-1)
    with pytest.raises(ValueError, match="standard deviations"):
        DenseCRF(bilateral_rgb_std=0)
    with pytest.raises(ValueError, match="min_probability"):
        DenseCRF(min_probability=0)


def test_a_task_with_a_postprocess_needs_the_normalisation() -> None:
    loss = ScheduledLoss({"ce": nn.CrossEntropyLoss()}, ConstantWeights({"ce": 1.0}))
    with pytest.raises(ValueError, match="image_mean and image_std"):
        SegmentationTask(nn.Conv2d(3, 3, 1), loss, torch.optim.SGD, None, num_classes=3, postprocess=DenseCRF())


def test_postprocess_option_composes_in_the_evaluation_config(tmp_path: Path) -> None:
    assert compose_config("evaluate", [], tmp_path).postprocess is None
    cfg = compose_config("evaluate", ["postprocess=crf", "postprocess.bilateral_weight=5"], tmp_path)
    crf = instantiate(cfg.postprocess)
    assert isinstance(crf, DenseCRF) and crf.bilateral_weight == 5.0
    assert (crf.iterations, crf.bilateral_xy_std, crf.bilateral_rgb_std) == (10, 67.0, 3.0)
    assert (crf.gaussian_weight, crf.gaussian_xy_std) == (3.0, 3.0)


def test_evaluate_with_postprocess_crf_end_to_end(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    train(compose_config("train", TINY, run))
    scores = {}
    for name, overrides in {"plain": [], "crf": ["postprocess=crf", "postprocess.iterations=2"]}.items():
        out = tmp_path / name
        out.mkdir()
        evaluate(compose_config("evaluate", [f"run_dir={run}", "num_prediction_images=1", *overrides], out))
        scores[name] = json.loads((out / "metrics.json").read_text())
        source = json.loads((out / "source.json").read_text())
        assert (source["postprocess"] is None) == (name == "plain")
    assert source["postprocess"]["_target_"] == "visionbench.postprocess.DenseCRF"
    assert source["postprocess"]["iterations"] == 2
    for name in scores:
        assert 0.0 <= scores[name]["val/mIoU"] <= 1.0 and 0.0 <= scores[name]["val/aAcc"] <= 1.0
    trained = json.loads((run / "metrics.json").read_text())
    assert abs(scores["plain"]["val/mIoU"] - trained["val/mIoU"]) < 1e-4
