"""ADE20K reader, datamodule and the mmsegmentation-equal pipelines, on the 3-image fixture in the real layout."""

import csv
import random
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from PIL import Image
from torch.utils.data import DataLoader, Subset

from tests.helpers import FIXTURES, compose_config
from visionbench.data.errors import DatasetFormatError, DatasetLayoutError
from visionbench.data.image import IMAGENET_MEAN, IMAGENET_STD
from visionbench.data.loaders import seed_worker_pipeline
from visionbench.data.segmentation.ade20k import (
    ADE20KDataModule,
    ADE20KDataset,
    read_ade20k_mask,
)
from visionbench.data.segmentation.ade20k_classes import CLASS_NAMES, PALETTE, make_palette
from visionbench.data.segmentation.transforms import (
    CatMaxRatioCrop,
    KeepRatioResize,
    PhotoMetricDistortion,
    RandomRescale,
    rescale_size,
    reseed_pipeline,
    segmentation_test_pipeline,
    segmentation_train_pipeline,
)

FIXTURE = FIXTURES / "ade20k" / "ADEChallengeData2016"
VAL_IMAGES = FIXTURE / "images" / "validation"
VAL_MASKS = FIXTURE / "annotations" / "validation"
STEMS = ["ADE_val_00000001", "ADE_val_00000002", "ADE_val_00000003"]


def raw_mask(stem: str) -> np.ndarray:
    """The label PNG read independently of the package (OpenCV, unchanged)."""
    mask = cv2.imread(str(VAL_MASKS / f"{stem}.png"), cv2.IMREAD_UNCHANGED)
    assert mask is not None and mask.ndim == 2 and mask.dtype == np.uint8
    return mask


def rgb_image(stem: str) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(VAL_IMAGES / f"{stem}.jpg")), cv2.COLOR_BGR2RGB)


@pytest.fixture
def broken_root(tmp_path: Path) -> Path:
    """A writable copy of the fixture to break."""
    root = tmp_path / "ADEChallengeData2016"
    shutil.copytree(FIXTURE, root)
    return root


# --------------------------------------------------------------------------------------------------
# Class names and palette
# --------------------------------------------------------------------------------------------------
def test_class_names_are_the_first_synonyms_of_object_info() -> None:
    with (FIXTURE / "objectInfo150.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(CLASS_NAMES) == len(rows) == 150
    assert len(set(CLASS_NAMES)) == 150
    for row, name in zip(rows, CLASS_NAMES, strict=True):
        tokens = row["Name"].split(";")
        words = name.split(" ")
        assert tokens[: len(words)] == words, (row["Idx"], name)  # the CSV writes spaces as ';' too
    assert CLASS_NAMES[:3] == ("wall", "building", "sky")
    assert CLASS_NAMES[64] == "coffee table" and CLASS_NAMES[44] == "chest of drawers"
    assert CLASS_NAMES[-1] == "flag"


def test_palette_is_distinct_and_deterministic() -> None:
    assert PALETTE.shape == (150, 3) and PALETTE.dtype == np.uint8
    assert len({tuple(colour) for colour in PALETTE.tolist()}) == 150
    np.testing.assert_array_equal(make_palette(150), PALETTE)
    assert PALETTE.astype(int).sum(1).min() > 0  # no black (kept for ignored pixels in visualisations)


# --------------------------------------------------------------------------------------------------
# Dataset on the fixture
# --------------------------------------------------------------------------------------------------
def test_fixture_yields_three_samples_with_exact_labels() -> None:
    dataset = ADE20KDataset(FIXTURE, "validation")
    assert len(dataset) == 3
    assert [image.stem for image, _ in dataset.pairs] == STEMS
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1) * 255
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1) * 255
    for index, stem in enumerate(STEMS):
        sample = dataset[index]
        raw = raw_mask(stem)
        expected = np.where(raw == 0, 255, raw.astype(np.int64) - 1)
        assert sample["mask"].dtype == torch.int64
        np.testing.assert_array_equal(sample["mask"].numpy(), expected)
        assert sample["image"].dtype == torch.float32 and sample["image"].shape == (3, *raw.shape)
        restored = (sample["image"] * std + mean).permute(1, 2, 0).numpy()
        np.testing.assert_allclose(restored, rgb_image(stem).astype(np.float32), atol=1e-3)
    assert int(raw_mask(STEMS[0]).max()) <= 150 and (raw_mask(STEMS[0]) == 0).any()


def test_reduce_zero_label_false_keeps_raw_values() -> None:
    dataset = ADE20KDataset(FIXTURE, "val", reduce_zero_label=False)
    np.testing.assert_array_equal(dataset[1]["mask"].numpy(), raw_mask(STEMS[1]))


# --------------------------------------------------------------------------------------------------
# Pipelines
# --------------------------------------------------------------------------------------------------
def test_train_pipeline_shapes_dtypes_and_labels() -> None:
    pipeline = segmentation_train_pipeline(seed=0)
    dataset = ADE20KDataset(FIXTURE, "validation", transform=pipeline)
    for index, stem in enumerate(STEMS):
        for _ in range(2):
            sample = dataset[index]
            assert sample["image"].shape == (3, 512, 512) and sample["image"].dtype == torch.float32
            assert sample["mask"].shape == (512, 512) and sample["mask"].dtype == torch.int64
            values = set(np.unique(sample["mask"].numpy()).tolist())
            allowed = set(np.unique(np.where(raw_mask(stem) == 0, 255, raw_mask(stem).astype(int) - 1)).tolist())
            assert values <= allowed | {255}
            assert values <= set(range(150)) | {255}


def test_train_pipeline_is_reproducible_per_seed() -> None:
    image, mask = rgb_image(STEMS[0]), raw_mask(STEMS[0]) - np.uint8(1)
    outputs = [segmentation_train_pipeline(seed=seed)(image=image, mask=mask) for seed in (3, 3, 4)]
    np.testing.assert_array_equal(outputs[0]["image"], outputs[1]["image"])
    np.testing.assert_array_equal(outputs[0]["mask"], outputs[1]["mask"])
    assert not np.array_equal(outputs[0]["image"], outputs[2]["image"])


def test_pad_fills_image_zero_and_mask_ignore() -> None:
    # a 100x80 image stays smaller than the crop at ratio 1 with scale (200, 100): 100x80 -> 125x100
    pipeline = segmentation_train_pipeline(
        crop_size=(128, 160), scale=(200, 100), ratio_range=(1.0, 1.0), photometric_distortion=False, seed=0
    )
    image = np.full((80, 100, 3), 128, np.uint8)
    mask = np.zeros((80, 100), np.uint8)
    out = pipeline(image=image, mask=mask)
    assert out["image"].shape == (128, 160, 3) and out["mask"].shape == (128, 160)
    assert (out["mask"][:100, :125] == 0).all() and (out["mask"][100:] == 255).all()
    assert (out["mask"][:, 125:] == 255).all()
    assert (out["image"][100:] == 0).all() and (out["image"][:, 125:] == 0).all()
    assert np.abs(out["image"][:100, :125]).max() > 0


def test_test_pipeline_fits_image_and_keeps_mask_resolution() -> None:
    pipeline = segmentation_test_pipeline()
    dataset = ADE20KDataset(FIXTURE, "test", transform=pipeline)
    for index, stem in enumerate(STEMS):
        raw = raw_mask(stem)
        sample = dataset[index]
        height, width = sample["image"].shape[1:]
        assert (width, height) == rescale_size(raw.shape[1], raw.shape[0], (2048, 512))
        assert max(height, width) <= 2048 and min(height, width) <= 512
        assert max(height, width) == 2048 or min(height, width) == 512  # it fills the box
        assert width / height == pytest.approx(raw.shape[1] / raw.shape[0], rel=0.01)
        assert sample["mask"].shape == raw.shape  # original resolution


@pytest.mark.parametrize(
    ("width", "height", "scale", "expected"),
    [
        (683, 512, (2048, 512), (683, 512)),  # short edge already 512
        (500, 364, (2048, 512), (703, 512)),  # 512/364: 500 * 1.40659 = 703.3
        (4000, 500, (2048, 512), (2048, 256)),  # the long edge binds
        (300, 1000, (2048, 512), (512, 1707)),  # portrait: 1000 * 512/300 = 1706.67 -> 1707 (half up)
        (400, 300, (512, 2048), (683, 512)),  # edge order does not matter: 400 * 512/300 = 682.67
        (1024, 1024, (1024, 256), (256, 256)),
    ],
)
def test_rescale_size_matches_the_mmcv_rule(width, height, scale, expected) -> None:
    assert rescale_size(width, height, scale) == expected
    image = np.zeros((height, width, 3), np.uint8)
    out = KeepRatioResize(scale=scale)(image=image, mask=np.zeros((height, width), np.uint8))
    assert out["image"].shape[:2] == (expected[1], expected[0]) == out["mask"].shape


def test_random_rescale_target_is_the_ratio_times_the_scale() -> None:
    # ratio 1.5: target (3072, 768); 400x300 -> min(3072/400, 768/300) = 2.56 -> 1024x768
    transform = RandomRescale(scale=(2048, 512), ratio_range=(1.5, 1.5))
    out = transform(image=np.zeros((300, 400, 3), np.uint8), mask=np.zeros((300, 400), np.uint8))
    assert out["image"].shape == (768, 1024, 3) and out["mask"].shape == (768, 1024)
    # a range: every output is the rescale of the drawn target (int(2048 r), int(512 r)), r in [0.5, 2]
    transform = reseed_pipeline(RandomRescale(scale=(2048, 512), ratio_range=(0.5, 2.0)), 0)
    sizes = set()
    for _ in range(20):
        out = transform(image=np.zeros((300, 400, 3), np.uint8))
        ratio = transform.get_applied_params()["ratio"]
        assert 0.5 <= ratio <= 2.0
        height, width = out["image"].shape[:2]
        assert (width, height) == rescale_size(400, 300, (int(2048 * ratio), int(512 * ratio)))
        sizes.add((height, width))
    assert len(sizes) > 10


def test_mask_resizing_never_creates_new_labels() -> None:
    rng = np.random.default_rng(0)
    # few labels in blobs (where a linear interpolation would create in-between values at the edges)
    mask = rng.choice(np.array([3, 40, 149, 255], np.uint8), size=(37, 53))
    mask = cv2.resize(mask, (211, 149), interpolation=cv2.INTER_NEAREST)
    present = set(np.unique(mask).tolist())
    image = np.zeros((*mask.shape, 3), np.uint8)
    transform = RandomRescale(scale=(2048, 512), ratio_range=(0.1, 3.0))
    for _ in range(15):
        out = transform(image=image, mask=mask)
        assert out["mask"].dtype == np.uint8
        assert set(np.unique(out["mask"]).tolist()) <= present
    pipeline = segmentation_train_pipeline(crop_size=(64, 64), scale=(300, 100), seed=1)
    for _ in range(10):
        assert set(np.unique(pipeline(image=image, mask=mask)["mask"]).tolist()) <= present


def _balanced(mask: np.ndarray, ratio: float = 0.75) -> bool:
    labels, counts = np.unique(mask, return_counts=True)
    counts = counts[labels != 255]
    return len(counts) > 1 and counts.max() / counts.sum() < ratio


def test_cat_max_ratio_crop_avoids_a_dominant_class_when_possible() -> None:
    # 64 x 256: columns 0..191 are class 0, columns 192..255 alternate classes 1/2 (stripes of 4). A 64x64
    # window is balanced only when it starts after column 144: ~25 % of the uniform draws.
    mask = np.zeros((64, 256), np.uint8)
    mask[:, 192:] = np.where((np.arange(64) // 4) % 2 == 0, 1, 2)[None, :]
    image = np.zeros((64, 256, 3), np.uint8)
    rates = {}
    for ratio in (0.75, 1.0):
        crop = CatMaxRatioCrop(64, 64, cat_max_ratio=ratio)
        crop.set_random_state(np.random.default_rng(0), random.Random(0))
        results = [crop(image=image, mask=mask) for _ in range(300)]
        assert all(r["mask"].shape == (64, 64) and r["image"].shape == (64, 64, 3) for r in results)
        rates[ratio] = np.mean([_balanced(r["mask"]) for r in results])
    assert rates[1.0] < 0.4  # no check: uniform windows
    assert rates[0.75] > 0.9  # with the check: 1 - 0.75 ** 11 ~ 0.96
    # the ignore index does not count as a class, and counts use labelled pixels only
    assert not CatMaxRatioCrop(cat_max_ratio=0.75).is_balanced(np.array([[0, 0, 255, 255]], np.uint8))
    assert CatMaxRatioCrop(cat_max_ratio=0.75).is_balanced(np.array([[0, 1, 255, 255, 255]], np.uint8))
    assert not CatMaxRatioCrop(cat_max_ratio=0.75).is_balanced(np.array([[0, 0, 0, 1]], np.uint8))  # 0.75: not <


def test_cat_max_ratio_crop_keeps_the_eleventh_window_when_none_is_balanced() -> None:
    class CountingRandom(random.Random):
        calls = 0

        def randint(self, a, b):
            CountingRandom.calls += 1
            return super().randint(a, b)

    crop = CatMaxRatioCrop(32, 32, cat_max_ratio=0.75)
    crop.set_random_state(np.random.default_rng(0), CountingRandom(0))
    out = crop(image=np.zeros((100, 100, 3), np.uint8), mask=np.full((100, 100), 7, np.uint8))
    assert out["mask"].shape == (32, 32)
    assert CountingRandom.calls == 2 * 11  # (top, left) for the first window and after each of 10 rejections


def _mmseg_photometric_reference(rgb, brightness, contrast, contrast_first, saturation, hue):
    """mmsegmentation's PhotoMetricDistortion formulas, pixel by pixel, on the BGR image mmseg works on."""

    def convert(img, alpha=1, beta=0):
        return np.clip(img.astype(np.float32) * alpha + beta, 0, 255).astype(np.uint8)

    img = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    if brightness is not None:
        img = convert(img, beta=brightness)
    if contrast_first and contrast is not None:
        img = convert(img, alpha=contrast)
    if saturation is not None:
        hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
        hsv[:, :, 1] = convert(hsv[:, :, 1], alpha=saturation)
        img = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
    if hue is not None:
        hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
        hsv[:, :, 0] = (hsv[:, :, 0].astype(int) + hue) % 180
        img = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
    if not contrast_first and contrast is not None:
        img = convert(img, alpha=contrast)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


@pytest.mark.parametrize(
    "params",
    [
        dict(brightness=-31.7, contrast=1.43, contrast_first=True, saturation=1.37, hue=-18),
        dict(brightness=25.2, contrast=0.52, contrast_first=False, saturation=0.61, hue=17),
        dict(brightness=None, contrast=1.2, contrast_first=False, saturation=None, hue=5),
        dict(brightness=None, contrast=None, contrast_first=True, saturation=None, hue=None),
    ],
)
def test_photometric_distortion_is_mmseg_bit_exact(params) -> None:
    image = rgb_image(STEMS[2])
    ours = PhotoMetricDistortion().apply(image.copy(), **params)
    np.testing.assert_array_equal(ours, _mmseg_photometric_reference(image, **params))


def test_photometric_distortion_keeps_uint8_and_draws_mmseg_ranges() -> None:
    image = rgb_image(STEMS[1])
    transform = PhotoMetricDistortion()
    transform.set_random_state(np.random.default_rng(0), random.Random(0))
    hues, changed = set(), 0
    for _ in range(200):
        params = transform.get_params()
        if params["brightness"] is not None:
            assert -32 <= params["brightness"] <= 32
        for key in ("contrast", "saturation"):
            if params[key] is not None:
                assert 0.5 <= params[key] <= 1.5
        if params["hue"] is not None:
            hues.add(params["hue"])
    assert hues <= set(range(-18, 18)) and len(hues) > 25
    for _ in range(10):
        out = transform(image=image)["image"]
        assert out.dtype == np.uint8 and out.shape == image.shape
        changed += int(not np.array_equal(out, image))
    assert changed >= 5
    with pytest.raises(TypeError):
        transform.apply(image.astype(np.float32), brightness=3.0)


# --------------------------------------------------------------------------------------------------
# Malformed datasets
# --------------------------------------------------------------------------------------------------
def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(DatasetLayoutError, match="does not exist") as info:
        ADE20KDataset(tmp_path / "nowhere", "val")
    assert str(tmp_path / "nowhere") in str(info.value) and "annotations/validation" in str(info.value)


def test_missing_annotations_folder(broken_root: Path) -> None:
    shutil.rmtree(broken_root / "annotations")
    with pytest.raises(DatasetLayoutError) as info:
        ADE20KDataset(broken_root, "validation")
    assert str(broken_root / "annotations" / "validation") in str(info.value)
    assert "<root>/images/training/ADE_train_00000001.jpg" in str(info.value)  # the expected tree


def test_missing_training_split_of_the_fixture() -> None:
    datamodule = ADE20KDataModule(root=FIXTURE, num_workers=0)
    with pytest.raises(DatasetLayoutError) as info:
        datamodule.setup("fit")
    assert str(FIXTURE / "images" / "training") in str(info.value)


def test_deleted_mask_names_image_and_mask(broken_root: Path) -> None:
    mask = broken_root / "annotations" / "validation" / f"{STEMS[1]}.png"
    mask.unlink()
    with pytest.raises(DatasetLayoutError) as info:
        ADE20KDataset(broken_root, "val")
    assert str(mask) in str(info.value)
    assert str(broken_root / "images" / "validation" / f"{STEMS[1]}.jpg") in str(info.value)


def test_no_images(broken_root: Path) -> None:
    for image in (broken_root / "images" / "validation").iterdir():
        image.unlink()
    with pytest.raises(DatasetLayoutError, match="no \\*.jpg images") as info:
        ADE20KDataset(broken_root, "val")
    assert str(broken_root / "images" / "validation") in str(info.value)


def test_label_above_150(broken_root: Path) -> None:
    path = broken_root / "annotations" / "validation" / f"{STEMS[2]}.png"
    raw = raw_mask(STEMS[2]).copy()
    raw[5, 7] = 151
    Image.fromarray(raw, mode="L").save(path)
    dataset = ADE20KDataset(broken_root, "val")  # the layout is fine
    with pytest.raises(DatasetFormatError, match="label 151") as info:
        dataset[2]
    assert str(path) in str(info.value)
    with pytest.raises(DatasetFormatError) as info:
        ADE20KDataModule(root=broken_root).read_mask(path)
    assert str(path) in str(info.value)


def test_colour_mask_is_rejected_as_grey_vs_rgb_confusion(broken_root: Path) -> None:
    path = broken_root / "annotations" / "validation" / f"{STEMS[0]}.png"
    colour = PALETTE[np.clip(raw_mask(STEMS[0]).astype(int) - 1, 0, 149)]
    Image.fromarray(colour, mode="RGB").save(path)
    with pytest.raises(DatasetFormatError, match="grey vs RGB confusion") as info:
        ADE20KDataset(broken_root, "val")[0]
    assert str(path) in str(info.value)


def test_equal_channel_rgb_mask_is_read_as_grey(broken_root: Path) -> None:
    path = broken_root / "annotations" / "validation" / f"{STEMS[0]}.png"
    raw = raw_mask(STEMS[0])
    Image.fromarray(np.repeat(raw[..., None], 3, axis=2), mode="RGB").save(path)
    assert Image.open(path).mode == "RGB"
    np.testing.assert_array_equal(read_ade20k_mask(path, reduce_zero_label=False), raw)


def test_size_mismatch_and_corrupt_files(broken_root: Path) -> None:
    mask_path = broken_root / "annotations" / "validation" / f"{STEMS[0]}.png"
    Image.fromarray(raw_mask(STEMS[0])[:-3], mode="L").save(mask_path)
    dataset = ADE20KDataset(broken_root, "val")
    with pytest.raises(DatasetFormatError, match="same size") as info:
        dataset[0]
    assert str(mask_path) in str(info.value)
    image_path = broken_root / "images" / "validation" / f"{STEMS[1]}.jpg"
    image_path.write_bytes(b"not a jpeg")
    with pytest.raises(DatasetFormatError, match="cannot read image") as info:
        dataset[1]
    assert str(image_path) in str(info.value)
    mask_path = broken_root / "annotations" / "validation" / f"{STEMS[2]}.png"
    mask_path.write_bytes(b"\x89PNG broken")
    with pytest.raises(DatasetFormatError, match="cannot read mask") as info:
        dataset[2]
    assert str(mask_path) in str(info.value)


# --------------------------------------------------------------------------------------------------
# Datamodule and Hydra config
# --------------------------------------------------------------------------------------------------
def test_datamodule_from_the_hydra_config(tmp_path: Path) -> None:
    overrides = ["data=segmentation/ade20k", f"data.root={FIXTURE}", "data.num_workers=0"]
    cfg = compose_config("train", overrides, tmp_path / "run")
    assert list(cfg.data.crop_size) == [512, 512] and list(cfg.data.scale) == [2048, 512]
    datamodule = instantiate(cfg.data)
    assert isinstance(datamodule, ADE20KDataModule)
    assert datamodule.num_classes == 150 and datamodule.ignore_index == 255
    assert datamodule.class_names == list(CLASS_NAMES) and datamodule.palette.shape == (150, 3)
    assert datamodule.mean == pytest.approx((123.675 / 255, 116.28 / 255, 103.53 / 255))
    assert datamodule.std == pytest.approx((58.395 / 255, 57.12 / 255, 57.375 / 255))
    datamodule.setup("validate")
    batches = list(datamodule.val_dataloader())
    assert len(batches) == 3
    for batch, stem in zip(batches, STEMS, strict=True):
        assert batch["image"].shape[:2] == (1, 3) and batch["image"].shape[2] == 512
        assert tuple(batch["mask"].shape[1:]) == raw_mask(stem).shape
    datamodule.setup("test")
    assert len(datamodule.test_dataloader()) == 3
    pairs = datamodule.file_pairs("val")
    assert [image.name for image, _ in pairs] == [f"{stem}.jpg" for stem in STEMS]
    labels = datamodule.read_mask(pairs[0][1])
    assert labels.dtype == np.int64 and labels.max() == 255 and labels.min() >= 0
    with pytest.raises(DatasetLayoutError):
        datamodule.file_pairs("train")


def test_default_root_follows_visionbench_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VISIONBENCH_DATA", str(tmp_path / "data"))
    cfg = compose_config("train", ["data=segmentation/ade20k"], tmp_path / "run")
    assert cfg.data.root == f"{tmp_path / 'data'}/ADEChallengeData2016"
    instantiate(cfg.data)  # builds without the data on disk


def test_workers_do_not_repeat_each_others_augmentations() -> None:
    pipeline = segmentation_train_pipeline(crop_size=(64, 64), scale=(256, 64), seed=0)
    dataset = ADE20KDataset(FIXTURE, "val", transform=pipeline)
    loader = DataLoader(
        Subset(dataset, [2, 2, 2, 2]),
        batch_size=1,
        num_workers=2,
        worker_init_fn=seed_worker_pipeline,
        generator=torch.Generator().manual_seed(0),
    )
    images = [batch["image"] for batch in loader]  # workers alternate: 0, 1, 0, 1
    assert not torch.equal(images[0], images[1])
    assert not torch.equal(images[2], images[3])


def test_training_loader_on_a_copy_with_a_training_split(broken_root: Path) -> None:
    for kind in ("images", "annotations"):
        shutil.copytree(broken_root / kind / "validation", broken_root / kind / "training")
    datamodule = ADE20KDataModule(root=broken_root, batch_size=2, num_workers=0, seed=5)
    datamodule.setup("fit")
    assert len(datamodule.train_set) == 3 and datamodule.train_set.folder == "training"
    batches = list(datamodule.train_dataloader())
    assert len(batches) == 1  # drop_last: 3 images -> one full batch of 2
    assert batches[0]["image"].shape == (2, 3, 512, 512) and batches[0]["mask"].shape == (2, 512, 512)
    datamodule_b = ADE20KDataModule(root=broken_root, batch_size=2, num_workers=0, seed=5)
    datamodule_b.setup("fit")
    assert torch.equal(next(iter(datamodule_b.train_dataloader()))["image"], batches[0]["image"])
