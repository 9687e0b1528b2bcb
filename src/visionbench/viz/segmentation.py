"""Segmentation panels: input | ground truth | prediction, coloured with a class palette."""

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from torch import Tensor

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


def prediction_panels(
    images: Tensor,
    targets: Tensor,
    predictions: Tensor,
    palette: np.ndarray,
    mean: Sequence[float],
    std: Sequence[float],
    ignore_index: int = 255,
    gap: int = 2,
) -> np.ndarray:
    """One row per sample, three columns (input, ground truth, prediction), as one ``H,W,3`` uint8 image."""
    rows = []
    for image, target, prediction in zip(images, targets, predictions, strict=True):
        rows.append([
            denormalize(image, mean, std),
            colorize(target.cpu().numpy(), palette, ignore_index),
            colorize(prediction.cpu().numpy(), palette, ignore_index),
        ])  # fmt: skip
    return tile(rows, gap)


def probability_panels(
    images: Tensor, probabilities: Tensor, mean: Sequence[float], std: Sequence[float], gap: int = 2
) -> np.ndarray:
    """One row per sample: the input, then the probability map of each class in grey levels (white = 1)."""
    rows = []
    for image, class_probabilities in zip(images, probabilities, strict=True):
        grey = (class_probabilities.float().clamp(0, 1).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
        rows.append([denormalize(image, mean, std), *(np.repeat(m[..., None], 3, axis=2) for m in grey)])
    return tile(rows, gap)


def activation_map_panels(
    images: Tensor, maps: Tensor, mean: Sequence[float], std: Sequence[float], gap: int = 2
) -> np.ndarray:
    """One row per sample: the input, then each class activation map (``B,C,H,W``, ReLU and scaled by its own
    maximum) as a jet heat map blended half and half with the input."""
    rows = []
    for image, class_maps in zip(images, maps, strict=True):
        rgb = denormalize(image, mean, std)
        positive = class_maps.float().relu()
        scaled = positive / positive.amax(dim=(1, 2), keepdim=True).clamp_min(1e-12)
        heat = (scaled.cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
        coloured = [cv2.cvtColor(cv2.applyColorMap(m, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB) for m in heat]
        rows.append([rgb, *(cv2.addWeighted(rgb, 0.5, c, 0.5, 0.0) for c in coloured)])
    return tile(rows, gap)


def tile(rows: Sequence[Sequence[np.ndarray]], gap: int = 2) -> np.ndarray:
    """Lay out equally sized ``H,W,3`` uint8 tiles in rows and columns separated by ``gap`` white pixels."""
    height, width = rows[0][0].shape[:2]
    columns = max(len(row) for row in rows)
    canvas = np.full(
        (len(rows) * (height + gap) - gap, columns * (width + gap) - gap, 3), 255, dtype=np.uint8
    )  # fmt: skip
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            top, left = r * (height + gap), c * (width + gap)
            canvas[top : top + height, left : left + width] = cell
    return canvas


def save_png(array: np.ndarray, path: str | Path) -> Path:
    """Write an ``H,W,3`` uint8 array as PNG, creating the parent folder; refuses to overwrite a file."""
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"refusing to overwrite existing image {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path
