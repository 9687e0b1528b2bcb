"""Panel layout: tiles enlarged to a readable size, laid out in rows under column titles, with a footer (a legend).

A panel is a grid whose rows are samples and whose columns are views of a sample (input, ground truth,
prediction, ...). Small tiles (synthetic data at 32 or 48 px) are enlarged by an integer factor, with
nearest-neighbour sampling for maps whose pixels are values (labels, flow colours, errors) and linear sampling for
photographs; real images, already large, are kept as they are. All images are ``H,W,3`` uint8 RGB.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from visionbench.viz.text import WHITE, TextStyle, titled

MIN_TILE = 192
"""Default shortest tile side in pixels: smaller tiles are enlarged to at least this."""


def enlargement(height: int, width: int, min_size: int = MIN_TILE) -> int:
    """The integer factor that brings the shorter side of a ``height x width`` tile to at least ``min_size``
    (1 for tiles already that large)."""
    return max(1, math.ceil(min_size / max(min(height, width), 1)))


def enlarge(image: np.ndarray, factor: int, smooth: bool = False) -> np.ndarray:
    """``image`` scaled by the integer ``factor``: every pixel repeated (``smooth`` False: labels, flow colours,
    errors keep their exact values) or bilinear interpolation (``smooth``: photographs)."""
    if factor == 1:
        return image
    height, width = image.shape[:2]
    interpolation = cv2.INTER_LINEAR if smooth else cv2.INTER_NEAREST
    return cv2.resize(image, (width * factor, height * factor), interpolation=interpolation)


def _hstack(tiles: Sequence[np.ndarray], gap: int) -> np.ndarray:
    """Tiles side by side, ``gap`` white pixels apart, top-aligned (shorter ones padded below with white)."""
    height = max(tile.shape[0] for tile in tiles)
    width = sum(tile.shape[1] for tile in tiles) + gap * (len(tiles) - 1)
    canvas = np.full((height, width, 3), WHITE, dtype=np.uint8)
    left = 0
    for tile in tiles:
        canvas[: tile.shape[0], left : left + tile.shape[1]] = tile
        left += tile.shape[1] + gap
    return canvas


def vstack(parts: Sequence[np.ndarray], gap: int = 2) -> np.ndarray:
    """Images one under the other, ``gap`` white pixels apart, left-aligned (narrower ones padded with white)."""
    width = max(part.shape[1] for part in parts)
    height = sum(part.shape[0] for part in parts) + gap * (len(parts) - 1)
    canvas = np.full((height, width, 3), WHITE, dtype=np.uint8)
    top = 0
    for part in parts:
        canvas[top : top + part.shape[0], : part.shape[1]] = part
        top += part.shape[0] + gap
    return canvas


def grid(
    rows: Sequence[Sequence[np.ndarray]],
    titles: Sequence[str] | None = None,
    footer: np.ndarray | None = None,
    gap: int = 2,
) -> np.ndarray:
    """Lay out rows of tiles, ``gap`` white pixels apart, into one image.

    With ``titles`` (one per column), each tile of the first row gets its column's title in a bar above it, and so
    does every later row whose tile sizes differ from the row above (so the titles stay over their columns when
    samples differ in size). The text size follows the row's first tile (:func:`~visionbench.viz.annotate.
    font_scale`). ``footer`` (e.g. a legend) goes under the last row. Rows narrower than the widest are padded on
    the right with white.
    """
    if not rows or any(not row for row in rows):
        raise ValueError("a panel needs at least one row and at least one tile per row")
    if titles is not None and any(len(row) > len(titles) for row in rows):
        raise ValueError(f"{len(titles)} column titles for rows of up to {max(len(row) for row in rows)} tiles")
    lines, previous = [], None
    for row in rows:
        sizes = [tile.shape[:2] for tile in row]
        if titles is not None and sizes != previous:
            style = TextStyle.for_image(*row[0].shape[:2])
            row = [titled(tile, title, style) for tile, title in zip(row, titles, strict=False)]
        lines.append(_hstack(row, gap))
        previous = sizes
    return vstack([*lines, footer] if footer is not None else lines, gap)
