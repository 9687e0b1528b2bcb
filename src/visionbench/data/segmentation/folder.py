"""Your own segmentation data in a plain folder layout: :class:`FolderSegmentationDataModule`.

Layout (``<name>`` may include sub-folders; an image and its mask share the relative path and name)::

    <root>/
      classes.txt                one class name per line, in label order (or the ``classes`` argument)
      images/{train,val[,test]}/<name>.{jpg,jpeg,png,bmp,tif,tiff}
      masks/{train,val[,test]}/<name>.png

When neither ``images/test`` nor ``masks/test`` exists, the test split is the val split (logged).

Masks are PNG files, read in one of two ways:

* **index masks** (default): a single-channel PNG (8 or 16 bit, or a palette "P" PNG as written by PASCAL VOC
  tools, whose indices are read, not its colours) whose pixel values are the class ids ``0..C-1``;
  ``ignore_index`` (255) marks unlabelled pixels. With ``reduce_zero_label`` (mmsegmentation's option, for
  masks where 0 means "unlabelled" and classes start at 1, like ADE20K) 0 becomes ``ignore_index`` and every
  other value ``k`` becomes ``k - 1``. An RGB mask whose three channels are equal is read as an index mask.
* **colour masks** (when ``palette`` is given): RGB PNGs painted with one colour per class; every pixel's
  colour is mapped to its class, the ``ignore_color`` colour(s) to ``ignore_index``; any other colour is an
  error naming the file and the colours.

Every problem stops with :class:`~visionbench.data.errors.DatasetLayoutError` (missing root, folder, class
list, unpaired file: the message prints the expected layout) or
:class:`~visionbench.data.errors.DatasetFormatError` (unreadable file, grey/colour mode confusion, unknown
colour, label out of range, image/mask size mismatch), naming the offending path. ``python check_dataset.py
data=segmentation/folder data.root=<root>`` lists every problem of a dataset at once (see :mod:`~.check`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset, default_collate

from visionbench.data.datamodule import VisionDataModule
from visionbench.data.errors import DatasetFormatError, DatasetLayoutError, root_hint
from visionbench.data.image import IMAGENET_MEAN, IMAGENET_STD, read_png_header, read_rgb_image
from visionbench.data.segmentation.check import IMAGE_WITHOUT_MASK, LAYOUT, MASK_WITHOUT_IMAGE
from visionbench.data.segmentation.transforms import reseed_transform

__all__ = [
    "IMAGE_EXTENSIONS",
    "FolderSegmentationDataModule",
    "FolderSegmentationDataset",
    "MaskReader",
    "UnpairedFilesError",
    "collate_segmentation",
    "default_palette",
    "expected_layout",
    "find_pairs",
    "read_class_names",
]

log = logging.getLogger(__name__)

SPLITS: tuple[str, ...] = ("train", "val", "test")
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
MASK_EXTENSION = ".png"
CLASSES_FILE = "classes.txt"
MAX_LISTED = 10  # unpaired files named in an error message (all are in UnpairedFilesError.problems)

_INDEX_MODES = {"1", "L", "P", "I", "I;16", "I;16L", "I;16B", "I;16N"}
_COLOUR_MODES = {"RGB", "RGBA", "RGBX", "RGBa"}


def expected_layout(root: str | Path) -> str:
    """The folder tree this reader expects, for error messages."""
    exts = " ".join(IMAGE_EXTENSIONS[1:])
    return (
        "expected layout:\n"
        f"  {root}/\n"
        f"    {CLASSES_FILE}           one class name per line, in label order (or data.classes=[...])\n"
        "    images/\n"
        f"      train/<name>.jpg    (also {exts}; <name> may include sub-folders)\n"
        "      val/<name>.jpg\n"
        "      test/<name>.jpg     optional: the val split is used when images/test and masks/test are absent\n"
        "    masks/\n"
        "      train/<name>.png    same relative path and name as its image; pixel value = class id,\n"
        "      val/<name>.png      255 = ignore (or RGB colours when data.palette is set)\n"
        "      test/<name>.png\n"
        f"  {root_hint('my_dataset')}"  # conf/data/segmentation/folder.yaml's default folder name
    )


def _layout_error(message: str, path: Path | None = None) -> DatasetLayoutError:
    error = DatasetLayoutError(message)
    error.path = path  # the offending path, for tools such as the dataset check (OSError.filename would change str())
    return error


def _missing_root(root: Path) -> DatasetLayoutError:
    state = "is not a folder" if root.exists() else "does not exist"
    return _layout_error(f"dataset root {root} {state}\n{expected_layout(root)}", root)


class UnpairedFilesError(DatasetLayoutError):
    """Images without a mask, masks without an image, or two images sharing one name, in one split.

    Besides the message (which names the first :data:`MAX_LISTED` files), it carries every problem, so that
    :func:`~.check.check_segmentation_dataset` can list them all and go on checking the rest:

    Attributes:
        pairs: the ``(image, mask)`` pairs that did match.
        problems: ``(kind, path, message)`` per unpaired file; ``kind`` is one of
            :data:`~.check.IMAGE_WITHOUT_MASK`, :data:`~.check.MASK_WITHOUT_IMAGE`,
            :data:`~visionbench.data.segmentation.check.LAYOUT`.
    """

    def __init__(self, message: str, pairs: list[tuple[Path, Path]], problems: list[tuple[str, Path, str]]) -> None:
        super().__init__(message)
        self.pairs = pairs
        self.problems = problems
        self.path = problems[0][1] if problems else None


# --------------------------------------------------------------------------------------------------
# Files on disk
# --------------------------------------------------------------------------------------------------
def _files_by_name(folder: Path) -> dict[str, list[Path]]:
    """Visible files below ``folder`` keyed by relative path without extension (POSIX)."""
    found: dict[str, list[Path]] = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts) or not path.is_file():
            continue
        found.setdefault(relative.with_suffix("").as_posix(), []).append(path)
    return found


def find_pairs(root: str | Path, split: str) -> list[tuple[Path, Path]]:
    """``(image, mask)`` pairs of ``<root>/images/<split>`` and ``<root>/masks/<split>``, sorted by name.

    No fallback here (see :meth:`FolderSegmentationDataModule.file_pairs` for test -> val).

    Raises:
        DatasetLayoutError: the root or a split folder is missing, or the split holds no image.
        UnpairedFilesError: an image has no mask, a mask has no image, or two images share a name.
    """
    root = Path(root)
    if not root.is_dir():
        raise _missing_root(root)
    images_dir, masks_dir = root / "images" / split, root / "masks" / split
    for folder in (images_dir, masks_dir):
        if not folder.is_dir():
            raise _layout_error(f"missing folder {folder} for the {split} split\n{expected_layout(root)}", folder)

    images = {
        name: [p for p in paths if p.suffix.lower() in IMAGE_EXTENSIONS]
        for name, paths in _files_by_name(images_dir).items()
    }
    images = {name: paths for name, paths in images.items() if paths}
    all_masks = _files_by_name(masks_dir)
    masks = {name: [p for p in paths if p.suffix.lower() == MASK_EXTENSION] for name, paths in all_masks.items()}
    masks = {name: paths[0] for name, paths in masks.items() if paths}
    if not images and not masks:
        raise _layout_error(
            f"no image in {images_dir} (extensions {', '.join(IMAGE_EXTENSIONS)})\n{expected_layout(root)}",
            images_dir,
        )

    pairs: list[tuple[Path, Path]] = []
    problems: list[tuple[str, Path, str]] = []
    for name in sorted(set(images) | set(masks)):
        candidates, mask = images.get(name, []), masks.get(name)
        if len(candidates) > 1:
            listed = " and ".join(str(p) for p in candidates)
            problems.append((LAYOUT, candidates[0], f"images {listed} share the name '{name}' (one mask each)"))
        elif candidates and mask is None:
            expected = masks_dir / f"{name}{MASK_EXTENSION}"
            others = [p for p in all_masks.get(name, []) if p.suffix.lower() != MASK_EXTENSION]
            hint = f" (found {others[0]}: masks must be PNG files)" if others else ""
            problems.append((IMAGE_WITHOUT_MASK, candidates[0], f"image {candidates[0]} has no mask {expected}{hint}"))
        elif mask is not None and not candidates:
            expected = images_dir / f"{name}.{{{','.join(e[1:] for e in IMAGE_EXTENSIONS)}}}"
            problems.append((MASK_WITHOUT_IMAGE, mask, f"mask {mask} has no image {expected}"))
        elif candidates:
            pairs.append((candidates[0], mask))
    if problems:
        counts = {kind: sum(k == kind for k, _, _ in problems) for kind in (IMAGE_WITHOUT_MASK, MASK_WITHOUT_IMAGE)}
        lines = [message for _, _, message in problems[:MAX_LISTED]]
        if len(problems) > MAX_LISTED:
            lines.append(f"... and {len(problems) - MAX_LISTED} more")
        summary = (
            f"{split} split: {counts[IMAGE_WITHOUT_MASK]} image(s) without mask, "
            f"{counts[MASK_WITHOUT_IMAGE]} mask(s) without image, "
            f"{len(problems) - sum(counts.values())} ambiguous name(s) in {images_dir} and {masks_dir}"
        )
        message = summary + ":\n  " + "\n  ".join(lines) + f"\n{expected_layout(root)}"
        raise UnpairedFilesError(message, pairs, problems)
    return pairs


def read_class_names(path: str | Path) -> list[str]:
    """Class names from a text file, one per line in label order (blank lines are skipped)."""
    path = Path(path)
    if not path.is_file():
        raise _layout_error(
            f"no class names: {path} is missing (one class name per line) and data.classes is not set", path
        )
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetFormatError(f"cannot read the class list {path}: {error}") from error
    names = [line.strip() for line in lines if line.strip()]
    if not names:
        raise DatasetFormatError(f"the class list {path} is empty (expected one class name per line)")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise DatasetFormatError(f"the class list {path} names these classes more than once: {duplicates}")
    return names


def default_palette(num_classes: int) -> np.ndarray:
    """Distinct colours ``(num_classes, 3)`` uint8: PASCAL VOC's bit-interleaved colour map (class 0 black)."""
    palette = np.zeros((num_classes, 3), np.uint8)
    for index in range(num_classes):
        value, r, g, b = index, 0, 0, 0
        for shift in range(7, -1, -1):
            r |= (value & 1) << shift
            g |= ((value >> 1) & 1) << shift
            b |= ((value >> 2) & 1) << shift
            value >>= 3
        palette[index] = (r, g, b)
    return palette


def _colours(value: Any, name: str) -> np.ndarray:
    """A list of ``[r, g, b]`` (or a single one) as ``(N, 3)`` uint8, validated."""
    entries = list(value)
    if entries and isinstance(entries[0], (int, np.integer)):
        entries = [entries]  # a single [r, g, b]
    colours = []
    for entry in entries:
        channels = list(entry) if hasattr(entry, "__iter__") else [entry]
        if len(channels) != 3 or not all(isinstance(c, (int, np.integer)) and 0 <= c <= 255 for c in channels):
            raise ValueError(f"{name} needs [r, g, b] colours of integers in 0..255, got {list(channels)}")
        colours.append([int(c) for c in channels])
    if not colours:
        raise ValueError(f"{name} is empty")
    array = np.array(colours, dtype=np.uint8)
    if len({tuple(c) for c in colours}) != len(colours):
        raise ValueError(f"{name} lists a colour more than once: {colours}")
    return array


def _codes(colours: np.ndarray) -> np.ndarray:
    colours = colours.astype(np.int64)
    return (colours[..., 0] << 16) | (colours[..., 1] << 8) | colours[..., 2]


class MaskReader:
    """Reads one mask PNG into ``H,W`` int64 training labels (picklable, for DataLoader workers).

    Args:
        palette: ``None`` to read index masks, or one ``[r, g, b]`` per class to read colour masks.
        ignore_colors: with a palette, colour(s) read as ``ignore_index`` (e.g. ``[255, 255, 255]``).
        ignore_index: label of unlabelled pixels.
        reduce_zero_label: index masks only: 0 -> ``ignore_index``, ``k`` -> ``k - 1`` (``ignore_index`` stays).

    Labels are not checked against the number of classes here (the dataset does that), so that the dataset
    check can report the values it finds.
    """

    def __init__(
        self,
        palette: Any = None,
        ignore_colors: Any = None,
        ignore_index: int = 255,
        reduce_zero_label: bool = False,
    ) -> None:
        self.palette = None if palette is None else _colours(palette, "palette")
        self.ignore_colors = None if ignore_colors is None else _colours(ignore_colors, "ignore_color")
        if self.ignore_colors is not None and self.palette is None:
            raise ValueError("ignore_color only applies to colour masks: set palette too")
        if self.palette is not None and reduce_zero_label:
            raise ValueError(
                "reduce_zero_label applies to index masks; with a palette, give the unlabelled colour as ignore_color"
            )
        self.ignore_index = int(ignore_index)
        self.reduce_zero_label = bool(reduce_zero_label)
        self._lut: dict[int, int] = {}
        if self.palette is not None:
            self._lut = {int(code): label for label, code in enumerate(_codes(self.palette))}
            for code in [] if self.ignore_colors is None else _codes(self.ignore_colors):
                if int(code) in self._lut:
                    raise ValueError(f"ignore_color {self._colour(int(code))} is also a class colour of the palette")
                self._lut[int(code)] = self.ignore_index

    @staticmethod
    def _colour(code: int) -> tuple[int, int, int]:
        return (code >> 16) & 255, (code >> 8) & 255, code & 255

    def _describe(self, codes: np.ndarray, counts: np.ndarray, limit: int = 5) -> str:
        order = np.argsort(-counts, kind="stable")[:limit]
        shown = ", ".join(f"{self._colour(int(codes[i]))} x{int(counts[i])} px" for i in order)
        return shown + (f" and {len(codes) - limit} more" if len(codes) > limit else "")

    def __call__(self, path: str | Path) -> np.ndarray:
        try:
            read_png_header(path)
            with Image.open(path) as image:
                image.load()
                mode = image.mode
                if self.palette is not None and mode in _COLOUR_MODES | {"P", "PA"}:
                    array = np.asarray(image.convert("RGB"))
                else:
                    array = np.asarray(image)
        except DatasetFormatError:
            raise
        except (OSError, UnidentifiedImageError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
            raise DatasetFormatError(f"cannot read mask {path}: {error}") from error
        if mode in ("LA", "La", "PA"):
            array, mode = array[..., 0], mode[0]
        if self.palette is not None:
            if array.ndim != 3:
                raise DatasetFormatError(
                    f"mask {path} is a single-channel (mode {mode}) image, but data.palette is set, so RGB colour "
                    "masks are expected; remove data.palette to read index masks (pixel value = class id)"
                )
            return self._from_colours(array[..., :3], path)
        if mode in _COLOUR_MODES:
            rgb = array[..., :3]
            if not (np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2])):
                codes, counts = np.unique(_codes(rgb).ravel(), return_counts=True)
                raise DatasetFormatError(
                    f"mask {path} is an RGB colour image (colours {self._describe(codes, counts)}), but index masks "
                    "are expected (single channel, pixel value = class id) because data.palette is not set; set "
                    "data.palette to one [r, g, b] per class (and data.ignore_color) to read colour masks"
                )
            array = rgb[..., 0]
        elif mode not in _INDEX_MODES:
            raise DatasetFormatError(
                f"mask {path} has the unsupported image mode {mode}: expected a single-channel index PNG "
                "(8 or 16 bit) or, with data.palette, an RGB PNG"
            )
        labels = array.astype(np.int64)
        if self.reduce_zero_label:
            ignored = (labels == 0) | (labels == self.ignore_index)
            labels = np.where(ignored, self.ignore_index, labels - 1)
        return labels

    def _from_colours(self, rgb: np.ndarray, path: str | Path) -> np.ndarray:
        codes, inverse = np.unique(_codes(rgb).ravel(), return_inverse=True)
        labels = np.array([self._lut.get(int(code), -1) for code in codes], dtype=np.int64)
        unknown = labels < 0
        if unknown.any():
            counts = np.bincount(inverse.ravel(), minlength=len(codes))
            raise DatasetFormatError(
                f"mask {path} has colours that are not in data.palette (nor data.ignore_color): "
                f"{self._describe(codes[unknown], counts[unknown])}"
            )
        return labels[inverse].reshape(rgb.shape[:2])


# --------------------------------------------------------------------------------------------------
# Dataset and DataModule
# --------------------------------------------------------------------------------------------------
def collate_segmentation(samples: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """``default_collate`` with a clear error when the samples of a batch differ in size."""
    sizes = sorted({tuple(sample["image"].shape[-2:]) for sample in samples})
    if len(sizes) > 1:
        listed = ", ".join(f"{h}x{w}" for h, w in sizes[:5])
        raise ValueError(
            f"a batch holds images of different sizes ({listed}): use a batch size of 1 (data.val_batch_size, "
            "data.batch_size) or crop/resize to one size in data.train_transform / data.test_transform"
        )
    return default_collate(samples)


class FolderSegmentationDataset(Dataset):
    """Image/mask file pairs read on access, checked, transformed and normalised.

    Args:
        pairs: ``(image path, mask path)`` pairs, e.g. from :func:`find_pairs`.
        read_mask: ``path -> H,W int64 labels`` (a :class:`MaskReader`; picklable for DataLoader workers).
        num_classes: labels must be in ``0..num_classes-1`` or ``ignore_index``.
        ignore_index: label of unlabelled pixels.
        transform: optional albumentations transform ``transform(image=, mask=) -> {"image", "mask"}`` applied to
            the uint8 RGB image and the labels before normalisation (it must not normalise nor make tensors).
        mean, std: per-channel normalisation in the [0, 1] scale.
        image_root: the folder the images' names are relative to (``<root>/images/<split>``): sample ``i`` is named
            (:meth:`sample_id`) by its image's path relative to it, without extension; None: the images' common
            folder.

    Items are ``{"image": float32 (3, H, W) normalised, "mask": int64 (H, W)}``. Reading an item raises
    :class:`~visionbench.data.errors.DatasetFormatError` (naming the file) for an unreadable image or mask,
    an image/mask size mismatch or a label out of range.
    """

    def __init__(
        self,
        pairs: Sequence[tuple[Path, Path]],
        read_mask: Callable[[Path], np.ndarray],
        num_classes: int,
        ignore_index: int = 255,
        transform: Callable[..., dict[str, Any]] | None = None,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        image_root: str | Path | None = None,
    ) -> None:
        if not pairs:
            raise ValueError("a FolderSegmentationDataset needs at least one (image, mask) pair")
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(f"mean and std need 3 entries and std > 0, got {mean}, {std}")
        self.pairs = [(Path(image), Path(mask)) for image, mask in pairs]
        parents = [str(image.parent) for image, _ in self.pairs]
        self.image_root = Path(os.path.commonpath(parents) if image_root is None else image_root)
        self.read_mask = read_mask
        self.num_classes = int(num_classes)
        self.ignore_index = int(ignore_index)
        self.transform = transform
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        # uint8 masks go through every albumentations/OpenCV transform; wider label ranges need int32.
        small = 0 <= self.ignore_index <= 255 and self.num_classes <= 255
        self._mask_dtype = np.uint8 if small else np.int32
        self._mean_t = torch.tensor(self.mean, dtype=torch.float32).view(3, 1, 1) * 255.0
        self._std_t = torch.tensor(self.std, dtype=torch.float32).view(3, 1, 1) * 255.0

    def __len__(self) -> int:
        return len(self.pairs)

    def reseed(self, seed: int) -> None:
        reseed_transform(self.transform, seed)

    def sample_id(self, index: int) -> str:
        """The name of sample ``index``: its image's path relative to ``image_root``, without extension (POSIX)."""
        return self.pairs[index][0].relative_to(self.image_root).with_suffix("").as_posix()

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Sample ``index`` before transforms: ``(image H,W,3 uint8 RGB, labels H,W int64)``, checked."""
        image_path, mask_path = self.pairs[index]
        image = read_rgb_image(image_path)
        labels = self.read_mask(mask_path)
        if image.shape[:2] != labels.shape:
            raise DatasetFormatError(
                f"image {image_path} is {image.shape[0]}x{image.shape[1]} (HxW) but its mask {mask_path} is "
                f"{labels.shape[0]}x{labels.shape[1]}"
            )
        bad = ((labels < 0) | (labels >= self.num_classes)) & (labels != self.ignore_index)
        if bad.any():
            values = np.unique(labels[bad])
            shown = ", ".join(str(v) for v in values[:10]) + (" ..." if len(values) > 10 else "")
            raise DatasetFormatError(
                f"mask {mask_path} has labels {shown} outside 0..{self.num_classes - 1} (num_classes="
                f"{self.num_classes}) that are not the ignore index {self.ignore_index}; check the class list, "
                "or set data.reduce_zero_label=true if 0 marks unlabelled pixels and classes start at 1"
            )
        return image, labels

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        image, labels = self.load(index)
        mask = labels.astype(self._mask_dtype)
        if self.transform is not None:
            out = self.transform(image=image, mask=mask)
            image, mask = out["image"], out["mask"]
            if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3:
                raise TypeError(
                    "the transform must return the image as an H,W,3 uint8 array: leave Normalize and ToTensorV2 "
                    f"out (the dataset normalises with data.mean/std), got {type(image).__name__} "
                    f"{getattr(image, 'dtype', '')}"
                )
        tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float()
        tensor = (tensor - self._mean_t) / self._std_t
        return {"image": tensor, "mask": torch.from_numpy(np.ascontiguousarray(mask).astype(np.int64))}


class FolderSegmentationDataModule(VisionDataModule):
    """LightningDataModule over a custom dataset in the folder layout of this module's docstring.

    Args:
        root: dataset root holding ``images/``, ``masks/`` and (unless ``classes`` is given) ``classes.txt``.
        classes: class names in label order; ``None`` reads ``<root>/classes.txt``.
        palette: ``None``: masks are index PNGs. Or one ``[r, g, b]`` per class: masks are colour PNGs, mapped
            colour -> class. Also the visualisation colours (generated when ``None``).
        ignore_color: with ``palette``, the colour (or list of colours) of unlabelled pixels -> ``ignore_index``.
        ignore_index: label of unlabelled pixels in the loaded masks (255, as the task and losses expect).
        reduce_zero_label: index masks with 0 = unlabelled and classes from 1: 0 -> ignore, ``k`` -> ``k - 1``.
        mean, std: per-channel normalisation in the [0, 1] scale (ImageNet's by default).
        batch_size: training batch size (the images of a batch must share one size: crop/resize in
            ``train_transform`` unless every image has the same size).
        val_batch_size: val/test batch size; 1 by default, so images of any size are evaluated whole.
        num_workers: DataLoader worker processes.
        seed: seed of the training shuffle and of ``train_transform``'s random stream (per worker and rank).
        train_transform, test_transform: optional albumentations transforms (e.g. ``albumentations.Compose``
            built by Hydra) of training / val and test samples, applied to the uint8 image and the labels before
            normalisation; none by default.

    Nothing is read in ``__init__``: the class list is read on first use of ``num_classes`` / ``class_names`` /
    ``palette``, the file lists in ``setup``, the files when items are loaded.

    Attributes: ``num_classes``, ``class_names``, ``palette`` ((num_classes, 3) uint8), ``ignore_index``,
    ``mean``, ``std``, ``batch_size``, ``val_batch_size``, ``num_workers``. Dataset-check contract (see
    :mod:`visionbench.data.segmentation.check`): :meth:`file_pairs` and :meth:`read_mask`.
    """

    name = "folder"

    def __init__(
        self,
        root: str | Path,
        classes: Sequence[str] | None = None,
        palette: Sequence[Sequence[int]] | None = None,
        ignore_color: Sequence[int] | Sequence[Sequence[int]] | None = None,
        ignore_index: int = 255,
        reduce_zero_label: bool = False,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        batch_size: int = 8,
        val_batch_size: int = 1,
        num_workers: int = 0,
        seed: int = 0,
        train_transform: Callable[..., dict[str, Any]] | None = None,
        test_transform: Callable[..., dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(batch_size, val_batch_size, num_workers, seed, collate_fn=collate_segmentation)
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(f"mean and std need 3 entries and std > 0, got {list(mean)}, {list(std)}")
        if int(ignore_index) < 0:
            raise ValueError(f"ignore_index must be >= 0 (it is stored in PNG masks), got {ignore_index}")
        self.root = Path(str(root))
        self.ignore_index = int(ignore_index)
        self.reduce_zero_label = bool(reduce_zero_label)
        self.mask_reader = MaskReader(palette, ignore_color, self.ignore_index, self.reduce_zero_label)
        self.mean: tuple[float, float, float] = tuple(float(m) for m in mean)
        self.std: tuple[float, float, float] = tuple(float(s) for s in std)
        self.train_transform = train_transform
        self.test_transform = test_transform
        self._class_names: list[str] | None = None
        if classes is not None:
            names = [str(name) for name in classes]
            if not names or len(set(names)) != len(names):
                raise ValueError(f"classes must be a non-empty list of distinct names, got {names}")
            self._class_names = self._validated(names, "data.classes")
        # Plain Python values only (Hydra hands over ListConfigs, which checkpoints loaded with weights_only refuse).
        reader = self.mask_reader
        self.save_hyperparameters(
            {
                "root": str(self.root),
                "classes": self._class_names,
                "palette": None if reader.palette is None else reader.palette.tolist(),
                "ignore_color": None if reader.ignore_colors is None else reader.ignore_colors.tolist(),
                "ignore_index": self.ignore_index,
                "reduce_zero_label": self.reduce_zero_label,
                "mean": list(self.mean),
                "std": list(self.std),
                "batch_size": self.batch_size,
                "val_batch_size": self.val_batch_size,
                "num_workers": self.num_workers,
                "seed": self.seed,
            },
            logger=False,
        )
        self._logged_fallback = False

    # ---- classes -----------------------------------------------------------------------------------
    def _validated(self, names: list[str], source: str) -> list[str]:
        """Check the class list against the palette and ignore_index: a config error (ValueError) for
        ``data.classes``, a dataset error (DatasetFormatError) for classes.txt."""
        error = ValueError if source == "data.classes" else DatasetFormatError
        palette = self.mask_reader.palette
        if palette is not None and len(palette) != len(names):
            raise error(f"data.palette has {len(palette)} colours but {source} lists {len(names)} classes")
        if self.ignore_index < len(names):
            raise error(f"ignore_index {self.ignore_index} is a class id ({source} lists {len(names)} classes)")
        return names

    def _classes(self) -> list[str]:
        if self._class_names is None:
            if not self.root.is_dir():
                raise _missing_root(self.root)
            path = self.root / CLASSES_FILE
            self._class_names = self._validated(read_class_names(path), str(path))
        return self._class_names

    @property
    def class_names(self) -> list[str]:
        """Class names in label order (from ``classes`` or ``<root>/classes.txt``)."""
        return list(self._classes())

    @property
    def num_classes(self) -> int:
        return len(self._classes())

    @property
    def palette(self) -> np.ndarray:
        """Colour of each class, ``(num_classes, 3)`` uint8 RGB: the given palette, else generated."""
        given = self.mask_reader.palette
        return given.copy() if given is not None else default_palette(self.num_classes)

    # ---- dataset-check contract --------------------------------------------------------------------
    def file_pairs(self, split: str) -> list[tuple[Path, Path]]:
        """``(image, mask)`` pairs of ``split`` (train, val or test; test falls back to val when absent).

        Raises :class:`~visionbench.data.errors.DatasetLayoutError` (an :class:`UnpairedFilesError` listing
        every unpaired file, with the matched pairs, when some image or mask has no partner).
        """
        return find_pairs(self.root, self._folder(split))

    def _folder(self, split: str) -> str:
        """The folder (under ``images/`` and ``masks/``) that ``split`` reads: its own, or val for an absent test."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        has_test = (self.root / "images" / "test").exists() or (self.root / "masks" / "test").exists()
        if split == "test" and not has_test:
            if self.root.is_dir() and not self._logged_fallback:
                log.info("%s has no images/test nor masks/test: the test split is the val split", self.root)
                self._logged_fallback = True
            return "val"
        return split

    def read_mask(self, path: str | Path) -> np.ndarray:
        """Mask file -> ``H,W`` int64 training labels; raises :class:`~visionbench.data.errors.DatasetFormatError`."""
        return self.mask_reader(path)

    # ---- Lightning ---------------------------------------------------------------------------------
    def make_split(self, split: str) -> FolderSegmentationDataset:
        return FolderSegmentationDataset(
            self.file_pairs(split),
            self.mask_reader,
            self.num_classes,
            self.ignore_index,
            transform=self.train_transform if split == "train" else self.test_transform,
            mean=self.mean,
            std=self.std,
            image_root=self.root / "images" / self._folder(split),
        )
