"""ADE20K / SceneParsing benchmark (ADEChallengeData2016, 150 classes) in its released layout.

Layout (as extracted from the official ``ADEChallengeData2016.zip``)::

    ADEChallengeData2016/
      images/training/ADE_train_00000001.jpg ...       20210 RGB JPEGs
      images/validation/ADE_val_00000001.jpg ...        2000 RGB JPEGs
      annotations/training/ADE_train_00000001.png ...   L-mode (8-bit grey) PNGs, same stem as the image:
      annotations/validation/ADE_val_00000001.png ...   0 = unlabeled, 1..150 = classes
      objectInfo150.csv, sceneCategories.txt           (not read: the class names ship in the package)

Labels follow mmsegmentation's ``reduce_zero_label=True``: raw value 0 (unlabeled) becomes the ignore
index 255 and raw value ``k`` becomes class ``k - 1``, so classes are 0..149 (names in
:mod:`visionbench.data.segmentation.ade20k_classes`).

Mask files: a single-channel PNG (L, or P / I / I;16 holding the indices) is read as is. A 3- or 4-channel
PNG is accepted only when its three colour channels are equal at every pixel (a grey index map saved as
RGB: the value is the label) and, for RGBA, fully opaque; an RGB PNG whose channels differ is a
colour-coded mask (e.g. the full ADE20K release's ``*_seg.png`` or a visualisation), not the label PNG,
and is rejected with an explanation. Every problem raises :class:`~visionbench.data.errors.DatasetLayoutError`
(missing root, folder or file) or :class:`~visionbench.data.errors.DatasetFormatError` (unreadable file, wrong
mask mode, label > 150, image/mask size mismatch) naming the offending path and the expected layout.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from visionbench.data.datamodule import VisionDataModule
from visionbench.data.errors import DatasetFormatError, DatasetLayoutError, root_hint
from visionbench.data.image import IMAGENET_MEAN, IMAGENET_STD, read_png_header, read_rgb_image
from visionbench.data.segmentation.ade20k_classes import CLASS_NAMES, PALETTE
from visionbench.data.segmentation.transforms import (
    reseed_transform,
    segmentation_test_pipeline,
    segmentation_train_pipeline,
)

__all__ = [
    "EXPECTED_LAYOUT",
    "ADE20KDataModule",
    "ADE20KDataset",
    "ade20k_file_pairs",
    "read_ade20k_mask",
    "read_ade20k_raw_mask",
    "reduce_zero_label_map",
]

IGNORE_INDEX = 255
MAX_RAW_LABEL = 150
SPLIT_FOLDERS = {"train": "training", "val": "validation", "test": "validation", "training": "training",
                 "validation": "validation"}  # fmt: skip
IMAGE_SUFFIX = ".jpg"
MASK_SUFFIX = ".png"
_SINGLE_CHANNEL_MODES = {"L", "P", "I", "I;16", "I;16B", "I;16L"}
_COLOUR_MODES = {"RGB", "RGBA"}

EXPECTED_LAYOUT = f"""expected the released ADEChallengeData2016 layout:
  <root>/images/training/ADE_train_00000001.jpg ...
  <root>/images/validation/ADE_val_00000001.jpg ...
  <root>/annotations/training/ADE_train_00000001.png ...   (8-bit single-channel PNG, same stem as the image)
  <root>/annotations/validation/ADE_val_00000001.png ...
where <root> is the extracted ADEChallengeData2016 folder:
  {root_hint("ADEChallengeData2016")}"""


def _folder(split: str) -> str:
    if split not in SPLIT_FOLDERS:
        raise ValueError(f"split must be one of {sorted(SPLIT_FOLDERS)}, got {split!r}")
    return SPLIT_FOLDERS[split]


def ade20k_file_pairs(root: str | os.PathLike, split: str) -> list[tuple[Path, Path]]:
    """Sorted ``(image, mask)`` paths of one split (``train``/``training``, ``val``/``test``/``validation``).

    Raises :class:`DatasetLayoutError` naming the offending path when the root or a split folder is missing,
    the image folder holds no ``*.jpg``, or an image has no mask of the same stem.
    """
    folder = _folder(split)
    root = Path(root)
    if not root.is_dir():
        state = "is not a folder" if root.exists() else "does not exist"
        raise DatasetLayoutError(f"ADE20K root {root} {state}; {EXPECTED_LAYOUT}")
    image_dir = root / "images" / folder
    mask_dir = root / "annotations" / folder
    for directory in (image_dir, mask_dir):
        if not directory.is_dir():
            raise DatasetLayoutError(f"ADE20K folder {directory} is missing (split {split!r}); {EXPECTED_LAYOUT}")
    with os.scandir(image_dir) as entries:
        images = sorted(Path(e.path) for e in entries if e.name.endswith(IMAGE_SUFFIX) and e.is_file())
    if not images:
        raise DatasetLayoutError(f"no *{IMAGE_SUFFIX} images in {image_dir} (split {split!r}); {EXPECTED_LAYOUT}")
    with os.scandir(mask_dir) as entries:
        mask_names = {e.name for e in entries if e.name.endswith(MASK_SUFFIX)}
    pairs = []
    for image in images:
        mask_name = image.stem + MASK_SUFFIX
        if mask_name not in mask_names:
            raise DatasetLayoutError(
                f"image {image} has no mask: expected {mask_dir / mask_name} (same stem, .png); {EXPECTED_LAYOUT}"
            )
        pairs.append((image, mask_dir / mask_name))
    return pairs


def read_ade20k_raw_mask(path: str | os.PathLike) -> np.ndarray:
    """The raw label PNG as an ``H,W`` uint8 array (0 = unlabeled, 1..150 = classes), checked.

    Raises :class:`DatasetFormatError` for an unreadable file, a colour (RGB with differing channels) mask,
    any other unsupported mode, or a value above 150.
    """
    path = Path(path)
    try:
        read_png_header(path)
        with Image.open(path) as image:
            mode = image.mode
            array = np.asarray(image)
    except FileNotFoundError:
        raise DatasetLayoutError(f"mask {path} does not exist; {EXPECTED_LAYOUT}") from None
    except DatasetFormatError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise DatasetFormatError(f"cannot read mask {path} (corrupt or not a PNG): {error}") from error
    if mode in _COLOUR_MODES:
        colour = array[..., :3]
        if mode == "RGBA" and (array[..., 3] != 255).any():
            raise DatasetFormatError(
                f"mask {path} is an RGBA PNG with transparent pixels; ADE20K label masks are 8-bit single-channel "
                "(L-mode) PNGs whose pixel value is the label (0 = unlabeled, 1..150)"
            )
        if not ((colour[..., 0] == colour[..., 1]).all() and (colour[..., 1] == colour[..., 2]).all()):
            raise DatasetFormatError(
                f"mask {path} is a colour {mode} image (its channels differ): grey vs RGB confusion. ADE20K label "
                "masks are 8-bit single-channel (L-mode) PNGs whose pixel value is the label (0 = unlabeled, "
                "1..150), not colour-coded visualisations (such as the full ADE20K release's *_seg.png); use the "
                "annotations/ folder of ADEChallengeData2016. (A 3-channel PNG with all channels equal is accepted "
                "and read as grey.)"
            )
        array = colour[..., 0]
    elif mode not in _SINGLE_CHANNEL_MODES:
        raise DatasetFormatError(
            f"mask {path} has PIL mode {mode!r}; ADE20K label masks are 8-bit single-channel (L-mode) PNGs "
            "(0 = unlabeled, 1..150)"
        )
    if array.ndim != 2:
        raise DatasetFormatError(f"mask {path} has shape {array.shape}, expected H,W (a single-channel PNG)")
    if array.size and int(array.max()) > MAX_RAW_LABEL:
        bad = int(array.max())
        count = int((array > MAX_RAW_LABEL).sum())
        raise DatasetFormatError(
            f"mask {path} holds label {bad} ({count} pixels above {MAX_RAW_LABEL}); ADE20K masks hold "
            f"0 = unlabeled and 1..{MAX_RAW_LABEL} = classes"
        )
    if array.size and int(array.min()) < 0:
        raise DatasetFormatError(f"mask {path} holds negative label {int(array.min())}")
    return array.astype(np.uint8, copy=False)


def reduce_zero_label_map(raw: np.ndarray) -> np.ndarray:
    """Raw ``0..150`` -> training labels: 0 -> 255 (ignore), ``k`` -> ``k - 1`` (uint8)."""
    raw = raw.astype(np.uint8, copy=False)
    return (raw - np.uint8(1)).astype(np.uint8)  # uint8 wrap-around maps 0 to 255


def read_ade20k_mask(path: str | os.PathLike, reduce_zero_label: bool = True) -> np.ndarray:
    """A checked mask as ``H,W`` uint8 training labels: :func:`reduce_zero_label_map` of the raw values, or
    the raw 0..150 values when ``reduce_zero_label`` is False."""
    raw = read_ade20k_raw_mask(path)
    return reduce_zero_label_map(raw) if reduce_zero_label else raw


class ADE20KDataset(Dataset):
    """One split of ADEChallengeData2016: ``{"image": float32 3,H,W normalised, "mask": int64 H,W}``.

    Args:
        root: the ``ADEChallengeData2016`` folder.
        split: ``training``/``train`` or ``validation``/``val``/``test`` (the test split's labels are not
            public, so ``test`` reads the validation images).
        transform: albumentations-style callable ``(image=H,W,3 uint8 RGB, mask=H,W uint8) -> dict``; if its
            output image is uint8 it is normalised here with ``mean``/``std``, a float output is taken as
            already normalised (the pipelines of :mod:`visionbench.data.segmentation.transforms` normalise). None: no
            resizing, only normalisation.
        reduce_zero_label: map raw 0 -> 255 (ignore) and ``k`` -> ``k - 1`` (mmsegmentation's ADE20K setting).
            False keeps the raw values 0..150 (0 = unlabeled as a class of its own).
        mean, std: normalisation ([0, 1] scale) for transforms that return uint8 images.

    The file list is built (and the layout checked) at construction; every file's content is checked when it
    is read. ``reseed(seed)`` reseeds an albumentations pipeline (used by
    :func:`~visionbench.data.loaders.seed_worker_pipeline`).
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "validation",
        transform: Callable[..., dict[str, Any]] | None = None,
        reduce_zero_label: bool = True,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> None:
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(f"mean and std need 3 entries and std > 0, got {mean}, {std}")
        self.root = Path(root)
        self.split = split
        self.folder = _folder(split)
        self.transform = transform
        self.reduce_zero_label = bool(reduce_zero_label)
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.pairs = ade20k_file_pairs(self.root, split)
        self._mean_255 = np.array(self.mean, np.float32).reshape(3, 1, 1) * np.float32(255)
        self._std_255 = np.array(self.std, np.float32).reshape(3, 1, 1) * np.float32(255)

    def __len__(self) -> int:
        return len(self.pairs)

    def reseed(self, seed: int) -> None:
        reseed_transform(self.transform, seed)

    def sample_id(self, index: int) -> str:
        """The name of sample ``index``: its image's file stem (``ADE_val_00000001``)."""
        return self.pairs[index][0].stem

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Sample ``index`` before any transform: ``(image H,W,3 uint8 RGB, labels H,W uint8)``."""
        image_path, mask_path = self.pairs[index]
        image = read_rgb_image(image_path, apply_exif_orientation=True, missing_hint=EXPECTED_LAYOUT)
        mask = read_ade20k_mask(mask_path, self.reduce_zero_label)
        if image.shape[:2] != mask.shape:
            raise DatasetFormatError(
                f"image {image_path} is {image.shape[1]}x{image.shape[0]} (WxH) but its mask {mask_path} is "
                f"{mask.shape[1]}x{mask.shape[0]}; they must have the same size"
            )
        return image, mask

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        image, mask = self.load(index)
        if self.transform is not None:
            out = self.transform(image=image, mask=mask)
            image, mask = out["image"], out["mask"]
        # HWC -> CHW and normalisation in numpy: torch's multi-threaded copy kernels are ~10x slower on this
        # small, single-sample work when the cores are busy (measured with benchmarks/ade20k_loader.py).
        chw = np.ascontiguousarray(np.asarray(image).transpose(2, 0, 1))
        if chw.dtype == np.uint8:
            chw = (chw.astype(np.float32) - self._mean_255) / self._std_255
        else:
            chw = chw.astype(np.float32, copy=False)
        return {"image": torch.from_numpy(chw), "mask": torch.from_numpy(np.ascontiguousarray(mask, dtype=np.int64))}


class ADE20KDataModule(VisionDataModule):
    """ADE20K (SceneParsing, 150 classes) with mmsegmentation's recipe.

    Splits: ``train`` reads ``training`` (20210 images), ``val`` and ``test`` both read ``validation`` (2000
    images): the ADE20K test set's labels are not public (its scores come from the benchmark server), so
    published numbers are validation numbers. Training samples go through
    :func:`~visionbench.data.segmentation.transforms.segmentation_train_pipeline` (random rescale of ``scale`` by
    ``ratio_range``, ``crop_size`` crop with ``cat_max_ratio``, flip, photometric distortion, normalise, pad);
    evaluation samples through :func:`~.transforms.segmentation_test_pipeline` (image resized
    to fit ``scale``, mask at the original resolution: the task resizes the logits to it), one image per
    batch by default since the sizes differ.

    Nothing is read at construction (configs build without the data); ``setup`` checks the layout of the
    splits it needs and raises :class:`~visionbench.data.errors.DatasetLayoutError` naming the missing path.

    Args:
        root: the extracted ``ADEChallengeData2016`` folder.
        batch_size: training batch size per process (mmsegmentation's ADE20K configs use 16 in total: 4 GPUs x 4
            images, so 4 per process under 4-GPU DDP).
        val_batch_size: validation/test batch size (1: images have different sizes).
        num_workers: DataLoader worker processes.
        crop_size: training crop ``(height, width)``.
        scale: resize target edges ``(long, short)``; ``ratio_range`` scales it at random in training.
        ratio_range: range of the training scale ratio.
        cat_max_ratio: maximum share of one class in a training crop (1 disables the check).
        flip_prob: horizontal flip probability.
        photometric_distortion: apply mmsegmentation's PhotoMetricDistortion in training.
        reduce_zero_label: raw 0 -> ignore, ``k`` -> ``k - 1`` (150 classes); False keeps 0 as a class
            ("unlabeled", 151 classes).
        seed: seeds the training shuffle and the augmentation streams (per worker).
        pin_memory: DataLoader pin_memory (useful on GPU).
        drop_last: drop the last incomplete training batch (mmsegmentation's iteration-based sampler always
            yields full batches); a training set smaller than one batch still gives its one partial batch.

    Attributes: ``num_classes``, ``class_names``, ``palette`` ((num_classes, 3) uint8), ``ignore_index`` (255),
    ``mean`` and ``std`` (ImageNet, [0, 1] scale). Dataset-check contract: :meth:`file_pairs`,
    :meth:`read_mask`.
    """

    name = "ade20k"
    ignore_index: int = IGNORE_INDEX

    def __init__(
        self,
        root: str | os.PathLike,
        batch_size: int = 16,
        val_batch_size: int = 1,
        num_workers: int = 4,
        crop_size: Sequence[int] = (512, 512),
        scale: Sequence[int] = (2048, 512),
        ratio_range: Sequence[float] = (0.5, 2.0),
        cat_max_ratio: float = 0.75,
        flip_prob: float = 0.5,
        photometric_distortion: bool = True,
        reduce_zero_label: bool = True,
        seed: int = 0,
        pin_memory: bool = False,
        drop_last: bool = True,
    ) -> None:
        super().__init__(batch_size, val_batch_size, num_workers, seed, pin_memory, drop_last)
        self.root = Path(root)
        self.crop_size = tuple(int(v) for v in crop_size)
        self.scale = tuple(int(v) for v in scale)
        self.ratio_range = tuple(float(v) for v in ratio_range)
        self.cat_max_ratio = float(cat_max_ratio)
        self.flip_prob = float(flip_prob)
        self.photometric_distortion = bool(photometric_distortion)
        self.reduce_zero_label = bool(reduce_zero_label)
        if self.reduce_zero_label:
            self.class_names: list[str] = list(CLASS_NAMES)
            self.palette: np.ndarray = PALETTE.copy()
        else:
            self.class_names = ["unlabeled", *CLASS_NAMES]
            self.palette = np.concatenate([np.zeros((1, 3), np.uint8), PALETTE])
        self.num_classes: int = len(self.class_names)
        self.mean: tuple[float, float, float] = IMAGENET_MEAN
        self.std: tuple[float, float, float] = IMAGENET_STD
        # Build the pipelines now: invalid recipe numbers fail at construction, not at setup.
        self.train_transform = segmentation_train_pipeline(
            crop_size=self.crop_size,
            scale=self.scale,
            ratio_range=self.ratio_range,
            cat_max_ratio=self.cat_max_ratio,
            flip_prob=self.flip_prob,
            photometric_distortion=self.photometric_distortion,
            mean=self.mean,
            std=self.std,
            ignore_index=self.ignore_index,
            seed=self.seed,
        )
        self.test_transform = segmentation_test_pipeline(scale=self.scale, mean=self.mean, std=self.std)

    # ---- dataset-check contract ----------------------------------------------------------------------
    def file_pairs(self, split: str) -> list[tuple[Path, Path]]:
        """``(image, mask)`` paths of ``split`` (train / val / test), checked for the released layout."""
        if split not in ("train", "val", "test"):
            raise ValueError(f"split must be train, val or test, got {split!r}")
        return ade20k_file_pairs(self.root, split)

    def read_mask(self, path: Path) -> np.ndarray:
        """``H,W`` int64 training labels of one mask file (0..num_classes-1, 255 = ignore), checked."""
        return read_ade20k_mask(path, self.reduce_zero_label).astype(np.int64)

    # ---- Lightning ------------------------------------------------------------------------------------
    def make_split(self, split: str) -> ADE20KDataset:
        transform = self.train_transform if split == "train" else self.test_transform
        return ADE20KDataset(
            self.root, split, transform=transform, reduce_zero_label=self.reduce_zero_label, mean=self.mean,
            std=self.std,
        )  # fmt: skip
