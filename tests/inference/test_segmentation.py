"""Inference modes (whole image, sliding window, multi-scale + flip): geometry, equivalences, shapes, arguments,
a ground-truth oracle on the real ADE20K fixture, and how SegmentationTask and the prediction panels use them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tests.helpers import FIXTURES
from visionbench.callbacks import SegmentationPredictionImages
from visionbench.inference import MultiScaleFlip, SlidingWindow, WholeImage, resize, window_spans
from visionbench.losses import ScheduledLoss
from visionbench.losses.scheduled import ConstantWeights
from visionbench.metrics import SegmentationMetrics
from visionbench.tasks import SegmentationTask
from visionbench.viz.text import TextStyle

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ADE_ANNOTATIONS = FIXTURES / "ade20k" / "ADEChallengeData2016" / "annotations" / "validation"
ADE_CLASSES = 150
MMSEG_RATIOS = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)


def _integer_conv(in_channels: int, out_channels: int, kernel: int, seed: int = 0, mirror: bool = False) -> nn.Conv2d:
    """A conv with small integer weights (every sum is exact in float32, so equalities can be exact)."""
    generator = torch.Generator().manual_seed(seed)
    conv = nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2, bias=False)
    weight = torch.randint(-3, 4, conv.weight.shape, generator=generator).float()
    if mirror:  # horizontally symmetric kernel: the conv commutes with a horizontal flip
        weight = weight + weight.flip(-1)
    conv.weight.data.copy_(weight)
    return conv.requires_grad_(False)


def _integer_images(*shape: int, seed: int = 1) -> Tensor:
    return torch.randint(-4, 5, shape, generator=torch.Generator().manual_seed(seed)).float()


# --- window geometry ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "crop", "stride", "expected"),
    [
        (683, 512, 341, [(0, 512), (171, 683)]),  # ADE20K's 683 x 512: two columns, the last flush right
        (512, 512, 341, [(0, 512)]),  # exactly one crop
        (300, 512, 341, [(0, 300)]),  # smaller than the crop: one window of the image size
        (1000, 512, 341, [(0, 512), (341, 853), (488, 1000)]),
        (10, 4, 3, [(0, 4), (3, 7), (6, 10)]),
        (11, 4, 3, [(0, 4), (3, 7), (6, 10), (7, 11)]),
        (9, 3, 3, [(0, 3), (3, 6), (6, 9)]),
    ],
)
def test_window_spans_by_hand(size: int, crop: int, stride: int, expected: list[tuple[int, int]]) -> None:
    assert window_spans(size, crop, stride) == expected


@pytest.mark.parametrize(("crop", "stride"), [(4, 3), (5, 5), (7, 2), (512, 341), (16, 11)])
def test_window_count_and_positions_follow_mmsegs_formula(crop: int, stride: int) -> None:
    for size in range(1, 1100, 7):
        spans = window_spans(size, crop, stride)
        assert len(spans) == max(size - crop + stride - 1, 0) // stride + 1
        for index, (start, end) in enumerate(spans):
            assert end == min(index * stride + crop, size) and start == max(end - crop, 0)
            assert end - start == min(crop, size)
        covered = np.zeros(size, dtype=bool)
        for start, end in spans:
            covered[start:end] = True
        assert covered.all()


def test_windows_are_the_grid_of_row_and_column_spans() -> None:
    slide = SlidingWindow(crop_size=(512, 400), stride=(341, 300))
    windows = slide.windows(512, 683)
    assert windows == [(0, 512, 0, 400), (0, 512, 283, 683)]
    assert SlidingWindow(crop_size=4, stride=3).windows(5, 4) == [(0, 4, 0, 4), (1, 5, 0, 4)]


# --- equivalences ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image_size", "crop", "stride", "output_size"),
    [
        ((67, 93), (32, 32), (21, 21), (67, 93)),
        ((67, 93), (32, 40), (16, 40), (130, 181)),  # stride = crop width: windows touch, no overlap
        ((67, 93), (20, 128), (7, 100), (50, 61)),  # crop wider than the image: one column of the image width
        ((32, 32), (512, 512), (341, 341), (32, 32)),  # one window: the whole image
    ],
)
def test_sliding_window_equals_whole_image_for_a_model_without_receptive_field(
    image_size: tuple[int, int], crop: tuple[int, int], stride: tuple[int, int], output_size: tuple[int, int]
) -> None:
    model = _integer_conv(3, 5, kernel=1)
    images = _integer_images(2, 3, *image_size)
    calls: list[tuple[int, ...]] = []

    def forward(x: Tensor) -> Tensor:
        calls.append(tuple(x.shape[-2:]))
        return model(x)

    slide = SlidingWindow(crop, stride)
    slid = slide(forward, images, output_size)
    assert len(calls) == len(slide.windows(*image_size))
    torch.testing.assert_close(slid, WholeImage()(model, images, output_size), rtol=0, atol=0)
    torch.testing.assert_close(slide.logits(model, images), model(images), rtol=0, atol=0)


def test_sliding_window_differs_from_whole_image_when_the_receptive_field_crosses_windows() -> None:
    model = _integer_conv(3, 5, kernel=5)
    images = _integer_images(1, 3, 40, 40)
    slid = SlidingWindow((16, 16), (12, 12))(model, images, (40, 40))
    assert not torch.equal(slid, WholeImage()(model, images, (40, 40)))


@pytest.mark.parametrize(
    ("inner", "kernel"),
    # a flipped image has mirrored windows only if the grid is symmetric, so with sliding windows the model
    # must have no receptive field for the flip to be invisible
    [(WholeImage(), 3), (SlidingWindow((24, 24), (16, 16)), 1)],
    ids=["whole", "slide"],
)
@pytest.mark.parametrize("output_size", [(67, 93), (130, 181)])
def test_flip_at_scale_one_of_a_mirror_symmetric_model_equals_whole_image(inner, kernel: int, output_size) -> None:
    model = _integer_conv(3, 4, kernel=kernel, mirror=True)
    images = _integer_images(2, 3, 67, 93)
    assert torch.equal(model(images.flip(-1)), model(images).flip(-1))  # the model equals its mirror
    tta = MultiScaleFlip(scales=(1.0,), flip=True, inner=inner)(model, images, output_size)
    expected = WholeImage()(model, images, output_size)
    # equal logits up to rounding: vectorised exp at mirrored positions (last bit) and, when resizing, bilinear
    # weights computed at mirrored positions (~1e-7 relative, on logits up to ~100 here)
    torch.testing.assert_close(tta, expected, rtol=0, atol=1e-6 if output_size == (67, 93) else 2e-4)
    torch.testing.assert_close(MultiScaleFlip(scales=(1.0,), flip=False, inner=inner)(model, images, output_size),
                               expected, rtol=0, atol=0)  # fmt: skip


def test_multi_scale_flip_averages_the_probabilities_of_every_resized_and_flipped_input() -> None:
    model = _integer_conv(3, 4, kernel=3, seed=3)
    images = torch.randn(1, 3, 67, 93, generator=torch.Generator().manual_seed(0))
    sizes: list[tuple[int, int]] = []

    def forward(x: Tensor) -> Tensor:
        sizes.append(tuple(x.shape[-2:]))
        return model(x)

    output_size = (130, 181)
    tta = MultiScaleFlip(scales=(0.5, 1.0, 1.5), flip=True)(forward, images, output_size)
    # sizes rounded as mmcv does: int(size * ratio + 0.5); each scale once plain, once flipped
    assert sizes == [(34, 47), (34, 47), (67, 93), (67, 93), (101, 140), (101, 140)]
    expected = torch.zeros_like(tta)
    for size in [(34, 47), (67, 93), (101, 140)]:
        scaled = F.interpolate(images, size=size, mode="bilinear", align_corners=False) if size != (67, 93) else images
        for flip in (False, True):
            logits = model(scaled.flip(-1) if flip else scaled)
            logits = F.interpolate(logits, size=output_size, mode="bilinear", align_corners=False)
            probabilities = logits.softmax(dim=1)
            expected += probabilities.flip(-1) if flip else probabilities
    torch.testing.assert_close(tta, expected / 6, rtol=0, atol=1e-6)  # softmax averaging, not logit averaging


@pytest.mark.parametrize(
    "mode",
    [
        WholeImage(),
        SlidingWindow((32, 32), (21, 21)),
        MultiScaleFlip(),
        MultiScaleFlip(scales=(0.75, 1.3), flip=False, inner=SlidingWindow((40, 40), (27, 27))),
    ],
    ids=["whole", "slide", "tta", "tta_slide"],
)
@pytest.mark.parametrize("output_size", [(130, 181), (67, 93), (31, 45)])
def test_every_mode_returns_probabilities_at_the_output_size(mode, output_size: tuple[int, int]) -> None:
    model = _integer_conv(3, 6, kernel=3)
    probabilities = mode(model, torch.randn(2, 3, 67, 93), output_size)
    assert probabilities.shape == (2, 6, *output_size) and probabilities.dtype == torch.float32
    assert (probabilities >= 0).all()
    torch.testing.assert_close(probabilities.sum(dim=1), torch.ones(2, *output_size))


def test_resize_is_a_no_op_at_the_same_size_and_bilinear_otherwise() -> None:
    x = torch.randn(1, 2, 5, 7)
    assert resize(x, (5, 7)) is x
    expected = F.interpolate(x, size=(9, 4), mode="bilinear", align_corners=False)
    assert torch.equal(resize(x, torch.Size([9, 4])), expected)


def test_arguments_are_validated() -> None:
    for bad in (0, -1, (512, 0), (512,), (512, 512, 3), (51.2, 512), "512", True, None):
        with pytest.raises(ValueError, match="crop_size"):
            SlidingWindow(crop_size=bad)
    for bad in (0, (341, -1), (3.5, 3)):
        with pytest.raises(ValueError, match="stride"):
            SlidingWindow(stride=bad)
    with pytest.raises(ValueError, match=r"stride \(512, 400\) must not exceed crop_size \(512, 341\)"):
        SlidingWindow(crop_size=(512, 341), stride=(512, 400))
    assert SlidingWindow(crop_size=[64, 48], stride=32).stride == (32, 32)  # lists (from YAML) and ints
    for bad in ((), [0.5, 0.0], (-1.0,), "big", None):
        with pytest.raises(ValueError, match="scales"):
            MultiScaleFlip(scales=bad)
    with pytest.raises(ValueError, match="flip"):
        MultiScaleFlip(flip="yes")
    for bad in (42, MultiScaleFlip()):
        with pytest.raises(ValueError, match="inner"):
            MultiScaleFlip(inner=bad)
    model = _integer_conv(3, 2, kernel=1)
    for mode in (WholeImage(), SlidingWindow(), MultiScaleFlip()):
        with pytest.raises(ValueError, match="output_size"):
            mode(model, torch.zeros(1, 3, 8, 8), (0, 8))
        with pytest.raises(ValueError, match="B,3,H,W"):
            mode(model, torch.zeros(3, 8, 8), (8, 8))


def test_reprs_name_the_settings() -> None:
    assert repr(MultiScaleFlip(scales=[1, 2], inner=SlidingWindow(8, 4))) == (
        "MultiScaleFlip(scales=(1.0, 2.0), flip=True, inner=SlidingWindow(crop_size=(8, 8), stride=(4, 4)))"
    )


# --- ground-truth oracle on the real ADE20K fixture ---------------------------------------------------------------
#
# The images carry, in channels 0 and 1, the original-resolution (row, column) coordinates of each pixel: built at
# the annotation's resolution, then bilinearly resized as the test pipeline resizes images. Bilinear resizing keeps
# these coordinates exact (they are linear), so a per-pixel "oracle" model can read, at any scale, window or flip,
# where in the original image each of its input pixels lies, and answer from the ground truth there.
#
# Oracle logits: for each class k, -K * min(d_k^2, 1), with d_k the distance (in original pixels) from the pixel's
# original coordinates to the nearest pixel centre labelled k. At an original pixel centre this is 0 for its own
# class and <= -K for every other. Unlike a one-hot of the nearest pixel's label, these logits vary smoothly, which
# is what survives the modes' bilinear resize of the logits back to the annotation: for an input sampled r original
# pixels apart (r = original size / input size), the resized logits keep the right class first at every labelled
# pixel whenever r < 8/9 (worst case, an isolated pixel: margin K (1 - 1.125 r); a one-hot nearest-label oracle is
# only safe for r < 1/sqrt(2) = 0.707 and does fail at r = 0.8), and trivially at r = 1 (no resize at all).
# ADE20K's test pipeline only upsamples the fixture images (r = 1, 0.711, 0.586), so whole-image and sliding-window
# inference must score exactly 1.0. With multi-scale TTA the ratios 0.5 and 0.75 sample the image more coarsely
# than the annotation (r up to 2): one-pixel structures cannot be reproduced by resizing those logits, and those
# maps are wrong at some boundary pixels; but the ratios 1.0 to 1.75 (with flips, 8 of the 12 averaged maps) all
# have r <= 0.8 and are right with probability ~1, so the average is still right everywhere: exactly 1.0 too.
# (Measured with the one-hot nearest-label oracle instead: full 6-ratio TTA gives 1.0 with the test-pipeline
# resize and 0.9999975 without it, one pixel of ADE_val_00000002 being a 6 to 6 tie.)

ORACLE_SCALE = 1000.0


def _ade_ground_truth() -> list[Tensor]:
    """The fixture's validation annotations as int64 ``H,W``: 0 (unlabelled) -> 255, class k -> k - 1."""
    labels = []
    for path in sorted(ADE_ANNOTATIONS.glob("*.png")):
        raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        assert raw is not None and raw.ndim == 2 and raw.dtype == np.uint8, path
        label = raw.astype(np.int64) - 1
        label[raw == 0] = 255
        labels.append(torch.from_numpy(label))
    assert len(labels) == 3
    return labels


def _ade_test_scale(height: int, width: int) -> tuple[int, int]:
    """mmseg's ADE20K test resize: scale (2048, 512) keeping the aspect ratio, sizes rounded half up."""
    factor = min(2048 / max(height, width), 512 / min(height, width))
    return int(height * factor + 0.5), int(width * factor + 0.5)


def _coordinate_image(height: int, width: int, size: tuple[int, int]) -> Tensor:
    """``1,3,h,w``: (row, column, 0) original pixel coordinates, bilinearly resized to ``size``."""
    rows, columns = torch.meshgrid(
        torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32), indexing="ij"
    )
    return resize(torch.stack([rows, columns, torch.zeros_like(rows)])[None], size)


def _oracle(labels: Tensor, classes: Tensor) -> Callable[[Tensor], Tensor]:
    """Forward pass returning the distance logits above for the classes present (``classes``, in this order)."""
    height, width = labels.shape
    lookup = torch.full((256,), -1, dtype=torch.long)
    lookup[classes] = torch.arange(len(classes))
    compact = lookup[labels]  # channel of each labelled pixel, -1 for unlabelled

    def forward(images: Tensor) -> Tensor:
        rows, columns = images[:, 0], images[:, 1]
        top, left = rows.floor().long(), columns.floor().long()
        nearest = torch.ones((images.shape[0], len(classes), *images.shape[-2:]))  # squared distances, capped at 1
        for dy in (-1, 0, 1, 2):  # every pixel centre closer than 1 in both axes
            for dx in (-1, 0, 1, 2):
                y, x = top + dy, left + dx
                inside = (y >= 0) & (y < height) & (x >= 0) & (x < width)
                channel = compact[y.clamp(0, height - 1), x.clamp(0, width - 1)]
                distance = (rows - y) ** 2 + (columns - x) ** 2
                distance = distance.where(inside & (channel >= 0), torch.tensor(float("inf")))
                nearest.scatter_reduce_(1, channel.clamp_min(0)[:, None], distance[:, None], reduce="amin")
        return -ORACLE_SCALE * nearest

    return forward


def _oracle_miou(mode, test_pipeline: bool) -> tuple[float, list[tuple[int, int]]]:
    """(mIoU over the fixture, input size of every forward pass) of ``mode`` with the oracle as model."""
    metric = SegmentationMetrics(num_classes=ADE_CLASSES)
    passes: list[tuple[int, int]] = []
    for labels in _ade_ground_truth():
        classes = labels[labels != 255].unique()
        size = _ade_test_scale(*labels.shape) if test_pipeline else tuple(labels.shape)
        oracle = _oracle(labels, classes)

        def forward(images: Tensor, oracle=oracle) -> Tensor:
            passes.append(tuple(images.shape[-2:]))
            return oracle(images)

        probabilities = mode(forward, _coordinate_image(*labels.shape, size), tuple(labels.shape))
        assert probabilities.shape == (1, len(classes), *labels.shape)
        metric.update(classes[probabilities.argmax(dim=1)], labels[None])  # back to ADE20K class ids
    return metric.compute()["mIoU"].item(), passes


def test_the_fixture_and_the_test_scale() -> None:
    shapes = [tuple(labels.shape) for labels in _ade_ground_truth()]
    assert shapes == [(512, 683), (364, 500), (300, 400)]
    assert [_ade_test_scale(*shape) for shape in shapes] == [(512, 683), (512, 703), (512, 683)]


@pytest.mark.parametrize("test_pipeline", [True, False], ids=["ade20k_test_resize", "original_size"])
@pytest.mark.parametrize(
    "mode",
    [
        WholeImage(),
        SlidingWindow((512, 512), (341, 341)),  # mmseg's ADE20K setting: 2 windows on a 683 x 512 image
        SlidingWindow((128, 128), (85, 85)),  # many overlapping windows
        SlidingWindow((96, 160), (64, 150)),  # non-square, barely overlapping columns
        MultiScaleFlip(scales=(1.0,), flip=True),
    ],
    ids=["whole", "slide_512", "slide_128", "slide_96x160", "flip"],
)
def test_oracle_scores_exactly_one_with_whole_and_sliding_window_inference(mode, test_pipeline: bool) -> None:
    miou, passes = _oracle_miou(mode, test_pipeline)
    assert miou == 1.0
    sizes = [_ade_test_scale(*labels.shape) if test_pipeline else tuple(labels.shape) for labels in _ade_ground_truth()]
    if isinstance(mode, SlidingWindow):
        windows = [window for size in sizes for window in mode.windows(*size)]
        assert passes == [(bottom - top, right - left) for top, bottom, left, right in windows]
        if mode.crop_size == (512, 512):
            assert len(windows) == (6 if test_pipeline else 4)  # the 683 x 512 image always has 2
        else:
            assert len(windows) >= 8 * len(sizes)
    else:
        assert passes == [size for size in sizes for _ in range(len(passes) // len(sizes))]


@pytest.mark.parametrize("test_pipeline", [True, False], ids=["ade20k_test_resize", "original_size"])
def test_oracle_scores_exactly_one_with_mmsegs_multi_scale_flip(test_pipeline: bool) -> None:
    miou, passes = _oracle_miou(MultiScaleFlip(scales=MMSEG_RATIOS, flip=True), test_pipeline)
    assert len(passes) == 3 * 12 and passes[:12:2] == [(256, 342), (384, 512), (512, 683), (640, 854), (768, 1025),
                                                       (896, 1195)]  # fmt: skip
    assert miou == 1.0
    # the average is what makes it exact: ratio 0.5 alone misses thin structures (0.9915 / 0.9699 measured)
    assert _oracle_miou(MultiScaleFlip(scales=(0.5,), flip=False), test_pipeline)[0] < 0.995


@pytest.mark.slow
def test_oracle_scores_exactly_one_with_multi_scale_flip_of_sliding_windows() -> None:
    tta = MultiScaleFlip(scales=MMSEG_RATIOS, flip=True, inner=SlidingWindow((512, 512), (341, 341)))
    for test_pipeline in (True, False):
        assert _oracle_miou(tta, test_pipeline)[0] == 1.0


# --- the task and the prediction panels ---------------------------------------------------------------------------


class _CountingModel(nn.Module):
    """1x1 conv with an auxiliary head; counts forward passes and remembers the input sizes."""

    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        self.head = nn.Conv2d(3, num_classes, 1)
        self.sizes: list[tuple[int, int]] = []

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        self.sizes.append(tuple(images.shape[-2:]))
        logits = self.head(images)
        return {"out": logits, "aux": 0.5 * logits}


def _task(**kwargs) -> SegmentationTask:
    torch.manual_seed(0)
    loss = ScheduledLoss({"ce": nn.CrossEntropyLoss(ignore_index=255)}, ConstantWeights({"ce": 1.0}))
    return SegmentationTask(_CountingModel(), loss, torch.optim.SGD, None, num_classes=3, **kwargs).eval()


def _batch(image_size=(20, 30), mask_size=(41, 59)) -> dict[str, Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {
        "image": torch.randn(2, 3, *image_size, generator=generator),
        "mask": torch.randint(0, 3, (2, *mask_size), generator=generator),
    }


def _logged_val_loss(task: SegmentationTask, batch: dict[str, Tensor]) -> dict[str, Tensor]:
    logged = {}
    task.log = lambda name, value, **_: logged.__setitem__(name, value)  # outside a Trainer
    with torch.no_grad():
        task.validation_step(batch, 0)
    return logged


def test_task_scores_the_inference_mode_at_the_mask_resolution() -> None:
    batch = _batch()
    slide = SlidingWindow((16, 16), (12, 12))
    for mode, forward_passes in [(WholeImage(), 1), (slide, len(slide.windows(20, 30)) + 1)]:
        task = _task(inference=mode)
        logged = _logged_val_loss(task, batch)
        assert len(task.model.sizes) == forward_passes  # whole: the loss reuses the scored forward pass
        expected = mode(lambda x, task=task: task.model(x)["out"], batch["image"], (41, 59))
        reference = SegmentationMetrics(3)
        reference.update(expected, batch["mask"])
        scored, wanted = task.val_metrics.sample_scores(), reference.sample_scores()
        assert all(np.array_equal(scored[field], wanted[field]) for field in wanted)
        # the loss is always that of the whole-image output (main + 0.4 aux) resized to the mask
        logits = F.interpolate(task.model(batch["image"])["out"], (41, 59), mode="bilinear", align_corners=False)
        ce = F.cross_entropy(logits, batch["mask"], ignore_index=255)
        torch.testing.assert_close(logged["val/loss"], ce + 0.4 * F.cross_entropy(0.5 * logits, batch["mask"]))


def test_task_without_evaluation_loss_makes_no_extra_forward_pass() -> None:
    task = _task(inference=MultiScaleFlip(scales=(0.5, 1.0), flip=False), evaluation_loss=False)
    logged = _logged_val_loss(task, _batch())
    assert task.model.sizes == [(10, 15), (20, 30)] and "val/loss" not in logged
    task = _task(inference=MultiScaleFlip(scales=(1.0,), flip=True))
    logged = _logged_val_loss(task, _batch())
    assert len(task.model.sizes) == 2 and "val/loss" in logged  # the unflipped scale-1 pass gives the loss


def test_task_defaults_to_whole_image_and_class_probabilities_defaults_to_the_image_size() -> None:
    task = _task()
    assert isinstance(task.inference, WholeImage)
    images = _batch()["image"]
    with torch.no_grad():
        probabilities = task.class_probabilities(images)
        assert probabilities.shape == (2, 3, 20, 30)
        torch.testing.assert_close(probabilities, task(images).softmax(dim=1))
        assert task.class_probabilities(images, output_size=(41, 59)).shape == (2, 3, 41, 59)


def test_postprocess_runs_after_the_inference_mode_on_rgb_at_the_mask_resolution() -> None:
    seen = {}

    def postprocess(probabilities: Tensor, rgb: np.ndarray) -> Tensor:
        seen["probabilities"], seen["rgb"] = probabilities.clone(), rgb
        return probabilities.flip(1)  # visibly changes the scored labels

    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    mode = SlidingWindow((16, 16), (12, 12))
    task = _task(inference=mode, postprocess=postprocess, image_mean=mean, image_std=std)
    batch = _batch()
    with torch.no_grad():
        probabilities = task.class_probabilities(batch["image"], output_size=(41, 59))
        expected = mode(lambda x: task.model(x)["out"], batch["image"], (41, 59))
    torch.testing.assert_close(seen["probabilities"], expected)
    torch.testing.assert_close(probabilities, expected.flip(1))
    rgb = seen["rgb"]
    assert rgb.shape == (2, 41, 59, 3) and rgb.dtype == np.uint8
    restored = resize(batch["image"], (41, 59)) * torch.tensor(std)[:, None, None] + torch.tensor(mean)[:, None, None]
    reference = (restored.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    assert np.abs(rgb.astype(int) - reference.astype(int)).max() <= 1


def test_prediction_panels_show_what_is_scored_for_samples_of_different_sizes(tmp_path: Path) -> None:
    task = _task(inference=SlidingWindow((16, 16), (12, 12)))
    generator = torch.Generator().manual_seed(0)
    dataset = [
        {"image": torch.randn(3, 20, 30, generator=generator), "mask": torch.randint(0, 3, (41, 59))},
        {"image": torch.randn(3, 24, 24, generator=generator), "mask": torch.randint(0, 3, (24, 24))},
    ]
    datamodule = SimpleNamespace(
        palette=np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0]], dtype=np.uint8),
        mean=(0.5, 0.5, 0.5),
        std=(0.25, 0.25, 0.25),
        ignore_index=255,
    )
    trainer = SimpleNamespace(datamodule=datamodule, loggers=[])
    callback = SegmentationPredictionImages(tmp_path, num_images=2, probability_maps=True)
    callback._render(trainer, task, dataset, "val")
    panel = cv2.cvtColor(cv2.imread(str(tmp_path / "val.png")), cv2.COLOR_BGR2RGB)
    # tiles enlarged to >= 192 px (41x59 five times, 24x24 eight times), titles over each row (their sizes differ),
    # then one legend line (three classes)
    bar = TextStyle(0.5).line_height
    rows = bar + 205 + 2 + bar + 192
    assert panel.shape == (rows + 2 + bar, 3 * 295 + 2 * 2, 3)
    with torch.no_grad():
        scored = task.class_probabilities(dataset[0]["image"][None], output_size=(41, 59)).argmax(dim=1)[0]
    prediction = panel[bar : bar + 205, 2 * (295 + 2) :]
    assert np.array_equal(prediction, datamodule.palette[scored.numpy()].repeat(5, axis=0).repeat(5, axis=1))
    assert (panel[bar + 205 + 2 : rows, 3 * 192 + 2 * 2 :] == 255).all()  # the narrower row is padded with white
    maps = cv2.imread(str(tmp_path / "val_probabilities.png"))
    assert maps.shape == (rows + 2 + bar, 4 * 295 + 3 * 2, 3)  # input + 3 classes, and a caption line


def test_validation_on_the_ade20k_fixture_scores_at_the_original_resolution(tmp_path: Path) -> None:
    """The real ADE20K evaluation pipeline (image resized to the (2048, 512) scale, mask kept at its size):
    metrics, loss and panels all work at the masks' resolution, with whole-image and sliding-window inference."""
    pl = pytest.importorskip("pytorch_lightning")
    from visionbench.data.segmentation.ade20k import ADE20KDataModule

    datamodule = ADE20KDataModule(root=ADE_ANNOTATIONS.parents[1], num_workers=0)
    datamodule.setup("validate")
    sample = datamodule.val_set[1]
    assert sample["image"].shape == (3, 512, 703) and sample["mask"].shape == (364, 500)
    scores = {}
    for name, mode in {"whole": WholeImage(), "slide": SlidingWindow((256, 256), (171, 171))}.items():
        torch.manual_seed(0)
        loss = ScheduledLoss({"ce": nn.CrossEntropyLoss(ignore_index=255)}, ConstantWeights({"ce": 1.0}))
        task = SegmentationTask(nn.Conv2d(3, 150, 3, padding=1), loss, torch.optim.SGD, None, num_classes=150,
                                inference=mode)  # fmt: skip
        panels = SegmentationPredictionImages(tmp_path / name, num_images=3)
        trainer = pl.Trainer(accelerator="cpu", logger=False, callbacks=[panels], enable_checkpointing=False,
                             enable_progress_bar=False, enable_model_summary=False)  # fmt: skip
        scores[name] = trainer.validate(task, datamodule=datamodule, verbose=False)[0]
        assert 0 <= scores[name]["val/mIoU"] <= 1 and scores[name]["val/loss"] > 0
        panel = cv2.imread(str(tmp_path / name / "val.png"))
        bars = sum(TextStyle.for_image(*size).line_height for size in ((512, 683), (364, 500), (300, 400)))
        assert panel.shape[0] > 512 + 2 + 364 + 2 + 300 + bars  # the masks' sizes, titles and a legend
        assert panel.shape[1] == 3 * 683 + 2 * 2
    assert scores["slide"]["val/loss"] == pytest.approx(scores["whole"]["val/loss"])  # whole-image loss in both
    assert scores["slide"]["val/aAcc"] != scores["whole"]["val/aAcc"]  # windows cut the 3x3 receptive field
