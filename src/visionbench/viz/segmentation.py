"""Segmentation panels: input | ground truth | prediction coloured with a class palette, under column titles and
over a legend of the classes shown; per-class probability and activation maps; PNG/JPEG writing."""

import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from torch import Tensor

from visionbench.viz.panels import MIN_TILE, enlarge, enlargement, grid, vstack
from visionbench.viz.text import TextStyle, legend, text_block

IGNORE_COLOUR = (255, 255, 255)


def colorize(labels: np.ndarray, palette: np.ndarray, ignore_index: int = 255) -> np.ndarray:
    """Map an ``H,W`` label map to ``H,W,3`` uint8 colours; ``ignore_index`` pixels are white."""
    palette = np.asarray(palette, dtype=np.uint8)
    safe = np.where(labels == ignore_index, 0, labels)
    if safe.max(initial=0) >= len(palette):
        raise ValueError(f"label {int(safe.max())} has no colour in a palette of {len(palette)} entries")
    coloured = palette[safe]
    coloured[labels == ignore_index] = IGNORE_COLOUR
    return coloured


def denormalize(image: Tensor, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """Undo ``(x - mean) / std`` on a ``3,H,W`` tensor and return ``H,W,3`` uint8 RGB."""
    array = image.detach().float().cpu().numpy().transpose(1, 2, 0)
    array = array * np.asarray(std, dtype=np.float32) + np.asarray(mean, dtype=np.float32)
    return (np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


PREDICTION_TITLES = ("input", "ground truth", "prediction")


def _labels(mask: Tensor | np.ndarray) -> np.ndarray:
    return mask.detach().cpu().numpy() if isinstance(mask, Tensor) else np.asarray(mask)


def _class_names(class_names: Sequence[str] | None, count: int) -> list[str]:
    """The given names, or ``class <index>`` for each of ``count`` classes."""
    if class_names is None:
        return [f"class {index}" for index in range(count)]
    if len(class_names) < count:
        raise ValueError(f"{len(class_names)} class names for {count} classes")
    return [str(name) for name in class_names]


def class_legend(
    label_maps: Sequence[np.ndarray],
    palette: np.ndarray,
    style: TextStyle,
    width: int,
    class_names: Sequence[str] | None = None,
    ignore_index: int = 255,
) -> np.ndarray:
    """Legend of the classes that occur in ``label_maps`` (in class order; "ignored" in white when the ignore
    index occurs), ``width`` px wide, entries flowing in rows (:func:`~visionbench.viz.text.legend`)."""
    palette = np.asarray(palette, dtype=np.uint8)
    values = np.unique(np.concatenate([np.unique(labels) for labels in label_maps]))
    classes = [int(value) for value in values if value != ignore_index]
    names = _class_names(class_names, len(palette))
    entries = [names[index] for index in classes]
    colours = [palette[index] for index in classes]
    if ignore_index in values:
        entries.append("ignored")
        colours.append(np.array(IGNORE_COLOUR, dtype=np.uint8))
    return legend(entries, np.array(colours), style, width=width)


def prediction_panels(
    images: Sequence[Tensor],
    targets: Sequence[Tensor],
    predictions: Sequence[Tensor],
    palette: np.ndarray,
    mean: Sequence[float],
    std: Sequence[float],
    ignore_index: int = 255,
    gap: int = 2,
    class_names: Sequence[str] | None = None,
    min_size: int = MIN_TILE,
) -> np.ndarray:
    """One row per sample (input, ground truth, prediction) under column titles, over a legend of the classes
    shown, as one ``H,W,3`` uint8 image.

    ``images`` are normalised ``3,H,W`` tensors, ``targets`` and ``predictions`` ``H,W`` label maps of the same
    size: a batch, or lists of samples of different sizes. Tiles whose shorter side is below ``min_size`` are
    enlarged by an integer factor (labels pixel by pixel, the input bilinearly).
    """
    rows, label_maps = [], []
    for image, target, prediction in zip(images, targets, predictions, strict=True):
        target, prediction = _labels(target), _labels(prediction)
        factor = enlargement(*target.shape, min_size)
        rows.append([
            enlarge(denormalize(image, mean, std), factor, smooth=True),
            enlarge(colorize(target, palette, ignore_index), factor),
            enlarge(colorize(prediction, palette, ignore_index), factor),
        ])  # fmt: skip
        label_maps += [target, prediction]
    panel = grid(rows, PREDICTION_TITLES, gap=gap)
    style = TextStyle.for_image(*rows[0][0].shape[:2])
    return vstack([panel, class_legend(label_maps, palette, style, panel.shape[1], class_names, ignore_index)], gap)


def _map_panels(
    images: Sequence[Tensor],
    maps: Sequence[list[np.ndarray]],
    titles: Sequence[str],
    caption: str,
    mean: Sequence[float],
    std: Sequence[float],
    gap: int,
    min_size: int,
) -> np.ndarray:
    """Rows of the input then one ``H,W,3`` map per class (enlarged pixel by pixel), under ``titles``, over a
    one-line ``caption``."""
    rows = []
    for image, class_maps in zip(images, maps, strict=True):
        factor = enlargement(*class_maps[0].shape[:2], min_size)
        rows.append(
            [enlarge(denormalize(image, mean, std), factor, smooth=True)] + [enlarge(m, factor) for m in class_maps]
        )
    panel = grid(rows, titles, gap=gap)
    style = TextStyle.for_image(*rows[0][0].shape[:2])
    return vstack([panel, text_block([caption], style, width=panel.shape[1])], gap)


def probability_panels(
    images: Sequence[Tensor],
    probabilities: Sequence[Tensor],
    mean: Sequence[float],
    std: Sequence[float],
    gap: int = 2,
    class_names: Sequence[str] | None = None,
    min_size: int = MIN_TILE,
) -> np.ndarray:
    """One row per sample: the input, then the probability map of each class (``C,H,W``) in grey levels (white =
    1), titled with the class names; small tiles enlarged as in :func:`prediction_panels`."""
    maps = []
    for class_probabilities in probabilities:
        grey = (class_probabilities.float().clamp(0, 1).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
        maps.append([np.repeat(m[..., None], 3, axis=2) for m in grey])
    titles = ["input", *_class_names(class_names, len(maps[0]))]
    caption = "softmax probability of each class: black 0, white 1"
    return _map_panels(images, maps, titles, caption, mean, std, gap, min_size)


def activation_map_panels(
    images: Sequence[Tensor],
    maps: Sequence[Tensor],
    mean: Sequence[float],
    std: Sequence[float],
    gap: int = 2,
    class_names: Sequence[str] | None = None,
    min_size: int = MIN_TILE,
) -> np.ndarray:
    """One row per sample: the input, then each class activation map (``C,H,W``, ReLU and scaled by its own
    maximum) as a jet heat map blended half and half with the input, titled with the class names."""
    blended = []
    for image, class_maps in zip(images, maps, strict=True):
        rgb = denormalize(image, mean, std)
        positive = class_maps.float().relu()
        scaled = positive / positive.amax(dim=(1, 2), keepdim=True).clamp_min(1e-12)
        heat = (scaled.cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
        coloured = [cv2.cvtColor(cv2.applyColorMap(m, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB) for m in heat]
        blended.append([cv2.addWeighted(rgb, 0.5, c, 0.5, 0.0) for c in coloured])
    titles = ["input", *_class_names(class_names, len(blended[0]))]
    caption = "class activation maps, each scaled to its own maximum: blue low, red high"
    return _map_panels(images, blended, titles, caption, mean, std, gap, min_size)


IMAGE_FORMATS = {".png": ("PNG", {}), ".jpg": ("JPEG", {"quality": 95}), ".jpeg": ("JPEG", {"quality": 95})}


def save_image(array: np.ndarray, path: str | Path) -> Path:
    """Write an ``H,W,3`` uint8 RGB array as PNG or JPEG (quality 95), by the file's suffix, creating the parent
    folder; the file appears complete (written to a temporary name, then renamed); refuses to overwrite a file."""
    path = Path(path)
    if path.suffix.lower() not in IMAGE_FORMATS:
        raise ValueError(f"{path}: unsupported image suffix; expected one of {sorted(IMAGE_FORMATS)}")
    if path.exists():
        raise FileExistsError(f"refusing to overwrite existing image {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    image_format, options = IMAGE_FORMATS[path.suffix.lower()]
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        Image.fromarray(array).save(temporary, format=image_format, **options)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def save_png(array: np.ndarray, path: str | Path) -> Path:
    """:func:`save_image` for a ``.png`` path."""
    if Path(path).suffix.lower() != ".png":
        raise ValueError(f"{path}: save_png writes .png files")
    return save_image(array, path)
