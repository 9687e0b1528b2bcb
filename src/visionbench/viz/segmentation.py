"""Segmentation panels: input | ground truth | prediction, coloured with a class palette."""

from collections.abc import Sequence
from pathlib import Path

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
        columns = [
            denormalize(image, mean, std),
            colorize(target.cpu().numpy(), palette, ignore_index),
            colorize(prediction.cpu().numpy(), palette, ignore_index),
        ]
        height = columns[0].shape[0]
        spacer = np.full((height, gap, 3), 255, dtype=np.uint8)
        rows.append(np.concatenate([columns[0], spacer, columns[1], spacer, columns[2]], axis=1))
    width = rows[0].shape[1]
    spaced = []
    for row in rows:
        spaced += [row, np.full((gap, width, 3), 255, dtype=np.uint8)]
    return np.concatenate(spaced[:-1], axis=0)


def save_png(array: np.ndarray, path: str | Path) -> Path:
    """Write an ``H,W,3`` uint8 array as PNG, creating the parent folder; refuses to overwrite a file."""
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"refusing to overwrite existing image {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path
