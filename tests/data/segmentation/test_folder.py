"""FolderSegmentationDataModule on tiny datasets written in tmp_path: loading, label mapping, errors, training."""

import itertools
import json
import logging
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from PIL import Image

from tests.helpers import CONF, TINY_UNET, compose_config
from tests.helpers.folder_dataset import CLASSES, IGNORE_COLOUR, PALETTE, H, W, make_dataset, make_labels
from visionbench.data.errors import DatasetFormatError, DatasetLayoutError
from visionbench.data.image import IMAGENET_MEAN, IMAGENET_STD
from visionbench.data.segmentation.folder import (
    FolderSegmentationDataModule,
    MaskReader,
    UnpairedFilesError,
    default_palette,
)
from visionbench.runner.train import train


def denormalize(image: torch.Tensor, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> np.ndarray:
    rgb = image * torch.tensor(std).view(3, 1, 1) * 255 + torch.tensor(mean).view(3, 1, 1) * 255
    return rgb.permute(1, 2, 0).round().numpy().astype(np.int64)


# --------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------
def test_index_masks_load_with_exact_images_labels_and_attributes(tmp_path: Path) -> None:
    written = make_dataset(tmp_path)
    dm = FolderSegmentationDataModule(tmp_path, batch_size=2)
    assert dm.num_classes == 3 and dm.class_names == CLASSES and dm.ignore_index == 255
    assert dm.palette.shape == (3, 3) and dm.palette.dtype == np.uint8 and len({tuple(c) for c in dm.palette}) == 3
    assert dm.mean == IMAGENET_MEAN and dm.std == IMAGENET_STD and dm.val_batch_size == 1
    dm.setup("fit")
    assert len(dm.train_set) == 3 and len(dm.val_set) == 2
    for index, (image, labels) in enumerate(written["train"]):
        item = dm.train_set[index]
        assert item["image"].shape == (3, H, W) and item["image"].dtype == torch.float32
        assert item["mask"].shape == (H, W) and item["mask"].dtype == torch.int64
        assert np.array_equal(item["mask"].numpy(), labels)
        assert np.array_equal(denormalize(item["image"]), image)  # RGB order, ImageNet normalisation
    batch = next(iter(dm.train_dataloader()))
    assert batch["image"].shape == (2, 3, H, W) and batch["mask"].shape == (2, H, W)
    assert set(torch.unique(batch["mask"]).tolist()) <= {0, 1, 2, 255}
    val = next(iter(dm.val_dataloader()))
    assert val["image"].shape == (1, 3, H, W)
    copy = pickle.loads(pickle.dumps(dm.train_set))  # DataLoader workers get a copy (spawn pickles it)
    assert torch.equal(copy[1]["mask"], dm.train_set[1]["mask"])


def test_nothing_is_read_before_use(tmp_path: Path) -> None:
    dm = FolderSegmentationDataModule(tmp_path / "not_there")  # instantiating a config never touches the disk
    with pytest.raises(DatasetLayoutError, match="not_there does not exist"):
        _ = dm.num_classes


def test_classes_from_the_config_replace_classes_txt(tmp_path: Path) -> None:
    make_dataset(tmp_path, classes=None)
    dm = FolderSegmentationDataModule(tmp_path, classes=["a", "b", "c"])
    assert dm.class_names == ["a", "b", "c"] and dm.num_classes == 3
    assert np.array_equal(dm.palette, default_palette(3))


def test_palette_masks_map_each_colour_to_its_class_and_the_ignore_colour_to_255(tmp_path: Path) -> None:
    written = make_dataset(tmp_path, palette=PALETTE)
    dm = FolderSegmentationDataModule(tmp_path, palette=PALETTE, ignore_color=IGNORE_COLOUR)
    assert np.array_equal(dm.palette, np.array(PALETTE, np.uint8))
    dm.setup("fit")
    for index, (_, labels) in enumerate(written["val"]):
        mask = dm.val_set[index]["mask"].numpy()
        assert np.array_equal(mask, labels) and (mask == 255).any() and set(np.unique(mask)) <= {0, 1, 2, 255}


def test_unknown_colour_names_the_file_and_the_colour(tmp_path: Path) -> None:
    make_dataset(tmp_path, palette=PALETTE)
    path = tmp_path / "masks" / "train" / "img_1.png"
    colours = cv2.imread(str(path))
    colours[5:7, 5:9] = (1, 2, 3)  # BGR -> RGB (3, 2, 1)
    cv2.imwrite(str(path), colours)
    dm = FolderSegmentationDataModule(tmp_path, palette=PALETTE)  # no ignore colour: white is unknown too
    with pytest.raises(DatasetFormatError) as info:
        dm.read_mask(path)
    message = str(info.value)
    assert str(path) in message and "(3, 2, 1) x8 px" in message and "(255, 255, 255)" in message


def test_reduce_zero_label_shifts_classes_and_ignores_zero(tmp_path: Path) -> None:
    path = tmp_path / "mask.png"
    cv2.imwrite(str(path), np.array([[0, 1, 2], [3, 255, 1]], np.uint8))
    labels = MaskReader(reduce_zero_label=True)(path)
    assert labels.dtype == np.int64
    assert labels.tolist() == [[255, 0, 1], [2, 255, 0]]


def test_palette_png_index_masks_are_read_as_indices_not_colours(tmp_path: Path) -> None:
    path = tmp_path / "voc_style.png"
    image = Image.fromarray(np.array([[0, 1], [2, 255]], np.uint8), mode="P")
    image.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0] + [224, 224, 192] * 253)
    image.save(path)
    assert MaskReader()(path).tolist() == [[0, 1], [2, 255]]


def test_rgb_mask_with_equal_channels_is_an_index_mask(tmp_path: Path) -> None:
    path = tmp_path / "grey_as_rgb.png"
    cv2.imwrite(str(path), np.repeat(np.array([[0, 2], [1, 255]], np.uint8)[..., None], 3, axis=2))
    assert MaskReader()(path).tolist() == [[0, 2], [1, 255]]


def test_test_split_falls_back_to_val_and_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    make_dataset(tmp_path)
    dm = FolderSegmentationDataModule(tmp_path)
    with caplog.at_level(logging.INFO, logger="visionbench.data.segmentation.folder"):
        dm.setup("test")
    assert dm.test_set.pairs == dm.file_pairs("val")
    assert "the test split is the val split" in caplog.text


def test_a_test_folder_is_used_when_present(tmp_path: Path) -> None:
    make_dataset(tmp_path, splits={"train": 1, "val": 1, "test": 2})
    dm = FolderSegmentationDataModule(tmp_path)
    dm.setup("test")
    assert len(dm.test_set) == 2 and all("/test/" in str(image) for image, _ in dm.test_set.pairs)


def test_nested_folders_pair_by_relative_path(tmp_path: Path) -> None:
    make_dataset(tmp_path)
    for folder in ("images", "masks"):
        (tmp_path / folder / "train" / "city_a").mkdir()
    cv2.imwrite(str(tmp_path / "images" / "train" / "city_a" / "x.jpg"), np.zeros((H, W, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "masks" / "train" / "city_a" / "x.png"), np.zeros((H, W), np.uint8))
    pairs = FolderSegmentationDataModule(tmp_path).file_pairs("train")
    assert len(pairs) == 4
    assert (tmp_path / "images/train/city_a/x.jpg", tmp_path / "masks/train/city_a/x.png") in pairs


# --------------------------------------------------------------------------------------------------
# Transforms and batching
# --------------------------------------------------------------------------------------------------
def documented_train_transform() -> DictConfig:
    """The commented ``train_transform`` example of conf/data/segmentation/folder.yaml."""
    lines = (CONF / "data" / "segmentation" / "folder.yaml").read_text().splitlines()
    start = lines.index("#   train_transform:")
    block = [line[2:] for line in itertools.takewhile(lambda line: line.startswith("#   "), lines[start:])]
    return OmegaConf.create("\n".join(block)).train_transform


def test_hydra_built_albumentations_transforms_apply_to_image_and_mask(tmp_path: Path) -> None:
    make_dataset(tmp_path)
    config = {
        "_target_": "visionbench.data.segmentation.folder.FolderSegmentationDataModule",
        "root": str(tmp_path),
        "batch_size": 3,
        "train_transform": documented_train_transform(),  # scale 0.5-2, pad with ignore to 512, crop 512, flip
        "test_transform": {"_target_": "albumentations.Resize", "height": 16, "width": 20, "interpolation": 0},
    }
    dm = instantiate(config)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["image"].shape == (3, 3, 512, 512) and batch["mask"].dtype == torch.int64
    assert set(torch.unique(batch["mask"]).tolist()) == {0, 1, 2, 255}
    padding = batch["mask"] == 255  # images of at most 64x80: mostly padding, filled with the ignore label
    assert padding.float().mean() > 0.9
    black = denormalize(batch["image"][0]).sum(-1) == 0  # image padding: 0
    assert black[padding[0].numpy()].mean() > 0.95 and not black[~padding[0].numpy()].any()
    val = dm.val_set[0]
    assert val["image"].shape == (3, 16, 20) and val["mask"].shape == (16, 20)


def test_a_normalising_transform_is_refused(tmp_path: Path) -> None:
    import albumentations as A

    make_dataset(tmp_path)
    dm = FolderSegmentationDataModule(tmp_path, train_transform=A.Normalize())
    dm.setup("fit")
    with pytest.raises(TypeError, match="leave Normalize and ToTensorV2 out"):
        dm.train_set[0]


def test_images_of_different_sizes_in_one_batch_get_a_clear_error(tmp_path: Path) -> None:
    make_dataset(tmp_path)
    cv2.imwrite(str(tmp_path / "images" / "train" / "img_0.png"), np.zeros((16, 24, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "masks" / "train" / "img_0.png"), np.zeros((16, 24), np.uint8))
    dm = FolderSegmentationDataModule(tmp_path, batch_size=3)
    dm.setup("fit")
    with pytest.raises(ValueError, match="different sizes"):
        next(iter(dm.train_dataloader()))


# --------------------------------------------------------------------------------------------------
# Errors: each names the offending path
# --------------------------------------------------------------------------------------------------
def _load_everything(dm: FolderSegmentationDataModule) -> None:
    dm.setup("fit")
    for dataset in (dm.train_set, dm.val_set):
        for index in range(len(dataset)):
            dataset[index]


def _break(root: Path, case: str) -> tuple[type[Exception], list[str], dict]:
    """Break a written dataset; return (error type, strings the message must contain, datamodule kwargs)."""
    images, masks = root / "images" / "train", root / "masks" / "train"
    if case == "root missing":
        return DatasetLayoutError, [str(root / "nope"), "expected layout"], {"root": root / "nope"}
    if case == "images split missing":
        for path in (root / "images" / "val").iterdir():
            path.unlink()
        (root / "images" / "val").rmdir()
        return DatasetLayoutError, [str(root / "images" / "val"), "expected layout", "masks/"], {}
    if case == "masks split missing":
        for path in masks.iterdir():
            path.unlink()
        masks.rmdir()
        return DatasetLayoutError, [str(masks), "expected layout"], {}
    if case == "no classes":
        (root / "classes.txt").unlink()
        return DatasetLayoutError, [str(root / "classes.txt"), "data.classes"], {}
    if case == "image without mask":
        (masks / "img_1.png").unlink()
        return UnpairedFilesError, [str(images / "img_1.png"), str(masks / "img_1.png")], {}
    if case == "mask without image":
        (images / "img_2.png").unlink()
        return UnpairedFilesError, [str(masks / "img_2.png"), "has no image"], {}
    if case == "label out of range":
        labels = make_labels(np.random.default_rng(1))
        labels[3, 3] = 7
        cv2.imwrite(str(masks / "img_0.png"), labels)
        return DatasetFormatError, [str(masks / "img_0.png"), "labels 7 outside 0..2"], {}
    if case == "colour mask without palette":
        cv2.imwrite(str(masks / "img_1.png"), np.full((H, W, 3), (142, 0, 0), np.uint8))
        return DatasetFormatError, [str(masks / "img_1.png"), "RGB colour image", "(0, 0, 142)", "data.palette"], {}
    if case == "index mask with palette":
        return DatasetFormatError, [str(masks / "img_0.png"), "single-channel"], {"palette": PALETTE}
    if case == "size mismatch":
        cv2.imwrite(str(masks / "img_2.png"), np.zeros((H, W - 8), np.uint8))
        return DatasetFormatError, [str(images / "img_2.png"), str(masks / "img_2.png"), "32x40", "32x32"], {}
    if case == "corrupt image":
        (images / "img_1.png").write_bytes(b"not an image at all")
        return DatasetFormatError, [str(images / "img_1.png"), "cannot read image"], {}
    if case == "corrupt mask":
        (masks / "img_1.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
        return DatasetFormatError, [str(masks / "img_1.png"), "cannot read mask"], {}
    raise AssertionError(case)


ERROR_CASES = [
    "root missing",
    "images split missing",
    "masks split missing",
    "no classes",
    "image without mask",
    "mask without image",
    "label out of range",
    "colour mask without palette",
    "index mask with palette",
    "size mismatch",
    "corrupt image",
    "corrupt mask",
]


@pytest.mark.parametrize("case", ERROR_CASES)
def test_each_problem_stops_with_a_message_naming_the_path(tmp_path: Path, case: str) -> None:
    make_dataset(tmp_path)
    _load_everything(FolderSegmentationDataModule(tmp_path))  # intact: loads
    error, expected, kwargs = _break(tmp_path, case)
    dm = FolderSegmentationDataModule(**{"root": tmp_path, **kwargs})
    with pytest.raises(error) as info:
        _ = dm.num_classes
        _load_everything(dm)
    for text in expected:
        assert text in str(info.value), (case, text, str(info.value))


def test_config_mistakes_are_refused_at_construction(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="reduce_zero_label"):
        FolderSegmentationDataModule(tmp_path, palette=PALETTE, reduce_zero_label=True)
    with pytest.raises(ValueError, match="3 colours but data.classes lists 2"):
        FolderSegmentationDataModule(tmp_path, classes=["a", "b"], palette=PALETTE)
    with pytest.raises(ValueError, match=r"\[r, g, b\]"):
        FolderSegmentationDataModule(tmp_path, palette=[[0, 0], [1, 1]])
    with pytest.raises(ValueError, match="also a class colour"):
        FolderSegmentationDataModule(tmp_path, palette=PALETTE, ignore_color=[0, 0, 0])
    with pytest.raises(ValueError, match="set palette too"):
        FolderSegmentationDataModule(tmp_path, ignore_color=[255, 255, 255])


# --------------------------------------------------------------------------------------------------
# Training through the Hydra config
# --------------------------------------------------------------------------------------------------
def test_train_py_config_trains_on_a_folder_dataset(tmp_path: Path) -> None:
    data = tmp_path / "data"
    make_dataset(data)
    run = tmp_path / "run"
    run.mkdir()
    overrides = ["data=segmentation/folder", f"data.root={data}", "data.batch_size=3", "trainer.max_epochs=1"]
    overrides += TINY_UNET
    cfg = compose_config("train", overrides, run)
    assert cfg.data.root == str(data)
    score = train(cfg)
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0.0 <= score <= 1.0 and score == metrics["val/mIoU"]
    assert {"val/IoU/road", "test/IoU/car"} <= set(metrics)  # class names from classes.txt; test = val here
    assert metrics["test/mIoU"] == pytest.approx(metrics["val/mIoU"])
