"""Class activation maps (Zhou et al. 2016) as a weakly supervised segmenter, and the image-label loss/task."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from tests.helpers import TINY_DATA, compose_config
from visionbench.losses import ConstantWeights, ImageLabelLoss, ScheduledLoss, image_labels
from visionbench.models.backbones import ResNet
from visionbench.models.segmentation.cam import ClassActivationMapSegmenter
from visionbench.runner.evaluate import evaluate
from visionbench.runner.train import train
from visionbench.tasks import ImageLabelSegmentationTask
from visionbench.viz.text import TextStyle


def small_cam(num_classes: int = 4, background_index: int | None = 0) -> ClassActivationMapSegmenter:
    torch.manual_seed(0)
    return ClassActivationMapSegmenter(num_classes, ResNet(18, output_stride=8), background_index=background_index)


def test_image_labels_are_the_classes_present_ignoring_unlabelled_pixels() -> None:
    mask = torch.tensor([[[0, 2], [255, 2]], [[1, 1], [1, 255]]])
    assert image_labels(mask, 4).tolist() == [[1, 0, 1, 0], [0, 1, 0, 0]]
    with pytest.raises(ValueError, match="label 4"):
        image_labels(torch.tensor([[[4]]]), 4)


def test_image_label_loss_is_multilabel_bce_and_ignores_pixel_positions() -> None:
    logits = torch.tensor([[2.0, -1.0, 0.5, 0.0]])
    mask = torch.tensor([[[0, 2, 2, 255]]])
    expected = F.binary_cross_entropy_with_logits(logits, torch.tensor([[1.0, 0.0, 1.0, 0.0]]))
    assert torch.isclose(ImageLabelLoss()(logits, mask), expected)
    assert torch.isclose(ImageLabelLoss()(logits, mask.flip(-1)), expected)
    with pytest.raises(ValueError, match="image-level logits"):
        ImageLabelLoss()(torch.zeros(1, 4, 2, 2), mask)


@pytest.mark.parametrize("size", [(67, 93), (32, 32)])
def test_output_contract_at_odd_sizes(size: tuple[int, int]) -> None:
    model = small_cam().eval()
    with torch.no_grad():
        output = model(torch.randn(2, 3, *size))
    assert output["out"].shape == (2, 4, *size)
    assert output["image_logits"].shape == (2, 4)


def test_image_logits_are_the_gap_classifier_and_maps_localise() -> None:
    """Zhou et al.'s identity: the mean of a class map plus the bias is the classifier logit of the pooled
    features; foreground scores peak at sigmoid(logit) and the background scores the threshold."""
    model = small_cam().eval()
    images = torch.randn(2, 3, 40, 40)
    with torch.no_grad():
        maps, image_logits = model.class_activation_maps(images)
        pooled = model.backbone(images)[-1].mean(dim=(2, 3))
        assert torch.allclose(image_logits, model.classifier(pooled), atol=1e-5)
        scores = model(images)["out"].exp()
    assert torch.allclose(scores[:, 0], torch.full_like(scores[:, 0], model.background_threshold))
    peaks = scores[:, 1:].amax(dim=(2, 3))
    positive = maps[:, 1:].amax(dim=(2, 3)) > 0
    assert torch.allclose(peaks[positive], image_logits[:, 1:].sigmoid()[positive], atol=1e-5)


def test_without_background_every_class_is_localised_by_its_map() -> None:
    model = small_cam(background_index=None).eval()
    with torch.no_grad():
        scores = model(torch.randn(1, 3, 32, 32))["out"].exp()
    assert not torch.allclose(scores[:, 0], torch.full_like(scores[:, 0], 0.2))


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="background_index"):
        ClassActivationMapSegmenter(3, ResNet(18), background_index=3)
    with pytest.raises(ValueError, match="background_threshold"):
        ClassActivationMapSegmenter(3, ResNet(18), background_threshold=1.5)


def test_task_trains_from_image_labels_only() -> None:
    """The training loss is the same for masks with the same classes at different places."""
    loss = ScheduledLoss({"image_labels": ImageLabelLoss()}, ConstantWeights({"image_labels": 1.0}))
    task = ImageLabelSegmentationTask(small_cam(), loss, torch.optim.Adam, None, num_classes=4)
    images = torch.randn(2, 3, 32, 32)
    mask = torch.zeros(2, 32, 32, dtype=torch.long)
    mask[:, :8, :8] = 2
    moved = torch.zeros_like(mask)
    moved[:, -8:, -8:] = 2
    task.eval()
    with torch.no_grad():
        output = task.model(images)
        first, _, logits = task._loss(output, mask)
        second, _, _ = task._loss(output, moved)
    assert torch.equal(first, second)
    assert logits.shape == (2, 4, 32, 32)
    with pytest.raises(KeyError, match="image_logits"):
        task._loss(torch.zeros(2, 4, 32, 32), mask)


def test_trained_cam_run_evaluates_and_writes_activation_maps(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    overrides = ["experiment=synthetic_cam_resnet", *TINY_DATA, "callbacks=minimal"]
    train(compose_config("train", overrides, run))
    best = json.loads((run / "run.json").read_text())["best_checkpoint"]
    evaluation = tmp_path / "eval"
    evaluation.mkdir()
    evaluate(compose_config("evaluate", [f"ckpt_path={run / best}", "num_prediction_images=2"], evaluation))
    metrics = json.loads((evaluation / "metrics.json").read_text())
    assert 0.0 <= metrics["val/mIoU"] <= 1.0
    cam = np.asarray(Image.open(evaluation / "predictions" / "val_cam.png"))
    bar = TextStyle(0.5).line_height  # column titles, and the caption line under the panel
    # 2 samples x (input + 7 class activation maps), 32 px tiles enlarged 6 times
    assert cam.shape == (bar + 2 * 192 + 2 + 2 + bar, 8 * 192 + 7 * 2, 3)
    first_map = cam[bar : bar + 192, 194:386].astype(float)
    assert first_map.std() > 0  # a heat map over the image, not a blank tile
