"""Text on images, sized for reading at 1x: a font scale from the image size, labels on filled boxes, title bars,
blocks of lines, colour legends and colour scales.

Images are ``H,W,3`` uint8 RGB numpy arrays. Text uses OpenCV's Hershey simplex font with a scale chosen from the
image size (:func:`font_scale`), readable from 192 px panel tiles and 240 px frames up to 4K frames. Functions that
build an image (a title bar, a legend, a colour scale) return a new one; :func:`draw_label` draws into the image it
is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "BLACK",
    "WHITE",
    "TextStyle",
    "check_image",
    "colour_bar",
    "draw_label",
    "font_scale",
    "legend",
    "text_block",
    "titled",
]

FONT = cv2.FONT_HERSHEY_SIMPLEX
BLACK, WHITE = (0, 0, 0), (255, 255, 255)
MIN_SCALE, MAX_SCALE = 0.5, 2.0
"""Font scales used: 0.5 (capitals ~10 px high) is the smallest that reads well at 1x; 2.0 suits 4K frames."""
PIXELS_PER_SCALE = 540
"""Shorter image side per unit of font scale: 1.0 on 540 px, 2.0 on 1080 px (clipped to the range above)."""


def font_scale(height: int, width: int) -> float:
    """Font scale for text on an ``height x width`` image: ``min(height, width) / 540`` in [0.5, 2.0]."""
    return float(np.clip(min(height, width) / PIXELS_PER_SCALE, MIN_SCALE, MAX_SCALE))


@dataclass(frozen=True)
class TextStyle:
    """A font scale with the stroke thickness and padding that go with it (thicker strokes on larger text)."""

    scale: float

    @classmethod
    def for_image(cls, height: int, width: int) -> TextStyle:
        """The style of :func:`font_scale` for an image of this size."""
        return cls(font_scale(height, width))

    @property
    def thickness(self) -> int:
        return max(1, round(1.5 * self.scale))

    @property
    def padding(self) -> int:
        return max(2, round(6 * self.scale))

    def size(self, text: str) -> tuple[int, int, int]:
        """``(width, height above the baseline, depth below it)`` of ``text`` in pixels."""
        (width, height), baseline = cv2.getTextSize(text, FONT, self.scale, self.thickness)
        return width, height, baseline

    @property
    def line_height(self) -> int:
        """Height of one line of text with padding above and below (the same for every text)."""
        _, height, baseline = self.size("Ag")
        return height + baseline + 2 * self.padding

    def fitted(self, text: str, width: int) -> TextStyle:
        """This style, shrunk (down to 60 % of its scale, not below 0.35) until ``text`` fits in ``width`` px."""
        style = self
        floor = max(0.35, 0.6 * self.scale)
        while style.size(text)[0] + 2 * style.padding > width and style.scale > floor:
            style = TextStyle(max(floor, style.scale * 0.9))
        return style


def check_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"{name} must be an H,W,3 uint8 RGB array, got {image.dtype} {image.shape}")
    return image


def _text_colour(background: Sequence[int]) -> tuple[int, int, int]:
    """Black on light backgrounds, white on dark ones (ITU-R BT.601 luma)."""
    red, green, blue = (int(c) for c in background)
    return BLACK if 0.299 * red + 0.587 * green + 0.114 * blue > 140 else WHITE


def draw_label(
    image: np.ndarray,
    text: str,
    origin: tuple[int, int],
    style: TextStyle,
    background: Sequence[int] = BLACK,
    anchor: str = "top",
) -> tuple[int, int, int, int]:
    """Draw ``text`` on a filled box of ``background`` colour into ``image`` (in place), in a contrasting colour.

    ``origin`` is the box's top-left corner (``anchor="top"``) or bottom-left corner (``anchor="bottom"``); the box
    is moved inside the image when it would leave it. Returns the box ``(left, top, right, bottom)`` drawn.
    """
    if anchor not in ("top", "bottom"):
        raise ValueError(f"anchor must be 'top' or 'bottom', got {anchor!r}")
    text_width, text_height, baseline = style.size(text)
    box_width, box_height = text_width + 2 * style.padding, text_height + baseline + 2 * style.padding
    left, y = origin
    top = y if anchor == "top" else y - box_height
    left = int(np.clip(left, 0, max(image.shape[1] - box_width, 0)))
    top = int(np.clip(top, 0, max(image.shape[0] - box_height, 0)))
    colour = tuple(int(c) for c in background)
    cv2.rectangle(image, (left, top), (left + box_width - 1, top + box_height - 1), colour, cv2.FILLED)
    baseline_y = top + style.padding + text_height
    cv2.putText(image, text, (left + style.padding, baseline_y), FONT, style.scale, _text_colour(colour),
                style.thickness, cv2.LINE_AA)  # fmt: skip
    return left, top, left + box_width, top + box_height


def text_block(
    lines: Sequence[str], style: TextStyle, width: int | None = None, background: Sequence[int] = WHITE
) -> np.ndarray:
    """Lines of text, left-aligned, one per :attr:`TextStyle.line_height`, on a ``background`` image as wide as the
    longest line (or ``width``)."""
    if not lines:
        raise ValueError("text_block needs at least one line")
    needed = max(style.size(line)[0] for line in lines) + 2 * style.padding
    block = np.full((style.line_height * len(lines), width or needed, 3), background, dtype=np.uint8)
    for row, line in enumerate(lines):
        draw_label(block, line, (0, row * style.line_height), style, background)
    return block


def titled(image: np.ndarray, title: str, style: TextStyle | None = None) -> np.ndarray:
    """``image`` under a white bar with ``title`` centred in black (H grows by one line of ``style``; W is kept).

    Without ``style`` the font scale follows the image size (:func:`font_scale`); a title wider than the image is
    drawn smaller (see :meth:`TextStyle.fitted`), and cut where it still does not fit.
    """
    image = check_image(image)
    height, width = image.shape[:2]
    style = style or TextStyle.for_image(height, width)
    bar = np.full((style.line_height, width, 3), WHITE, dtype=np.uint8)  # as high for every title of this style
    fitted = style.fitted(title, width)
    text_width = fitted.size(title)[0] + 2 * fitted.padding
    draw_label(bar, title, ((width - text_width) // 2, (style.line_height - fitted.line_height) // 2), fitted, WHITE)
    return np.concatenate([bar, image], axis=0)


def _entry(name: str, colour: Sequence[int], style: TextStyle) -> np.ndarray:
    """One legend entry: a colour swatch (outlined in grey, so white shows) and the name, on white."""
    line = style.line_height
    swatch = line - 2 * style.padding
    text_width = style.size(name)[0]
    entry = np.full((line, swatch + text_width + 4 * style.padding, 3), WHITE, dtype=np.uint8)
    top, left = style.padding, style.padding
    cv2.rectangle(entry, (left, top), (left + swatch - 1, top + swatch - 1), tuple(int(c) for c in colour), cv2.FILLED)
    cv2.rectangle(entry, (left, top), (left + swatch - 1, top + swatch - 1), (128, 128, 128), 1)
    draw_label(entry, name, (left + swatch + style.padding, 0), style, WHITE)
    return entry


def legend(
    names: Sequence[str], colours: np.ndarray | Sequence[Sequence[int]], style: TextStyle, width: int | None = None
) -> np.ndarray:
    """A colour legend on white: one swatch + name per entry, one entry per line (``width`` None), or entries
    flowing left to right in rows no wider than ``width`` (the image is then exactly ``width`` wide)."""
    colours = np.asarray(colours, dtype=np.uint8).reshape(-1, 3)
    if len(names) != len(colours) or not len(names):
        raise ValueError(f"legend needs one colour per name and at least one entry, got {len(names)} names and "
                         f"{len(colours)} colours")  # fmt: skip
    entries = [_entry(name, colour, style) for name, colour in zip(names, colours, strict=True)]
    if width is None:
        width = max(entry.shape[1] for entry in entries)
        rows = [[entry] for entry in entries]
    else:
        rows, used = [[]], 0
        for entry in entries:
            entry = entry[:, :width]  # a name too long for a whole row is cut
            if rows[-1] and used + entry.shape[1] > width:
                rows.append([])
                used = 0
            rows[-1].append(entry)
            used += entry.shape[1]
    line = style.line_height
    canvas = np.full((line * len(rows), width, 3), WHITE, dtype=np.uint8)
    for row_index, row in enumerate(rows):
        left = 0
        for entry in row:
            canvas[row_index * line : (row_index + 1) * line, left : left + entry.shape[1]] = entry
            left += entry.shape[1]
    return canvas


def colour_bar(
    length: int, max_value: float, style: TextStyle, colormap: int = cv2.COLORMAP_INFERNO, unit: str = "px"
) -> np.ndarray:
    """A vertical colour scale ``length`` px tall, 0 at the bottom and ``max_value`` at the top, as drawn by the
    OpenCV ``colormap`` over ``[0, max_value]``, with tick labels (0, half, max and the ``unit``) on its right, on
    white."""
    line = style.line_height
    if length < 2 * line:
        raise ValueError(f"a colour bar needs length >= {2 * line} px at font scale {style.scale}, got {length}")
    bar_width = max(8, line // 2)
    levels = np.linspace(255, 0, length).round().astype(np.uint8)[:, None]
    bar = cv2.cvtColor(cv2.applyColorMap(np.repeat(levels, bar_width, axis=1), colormap), cv2.COLOR_BGR2RGB)
    ticks = [(0, max_value), (length // 2, max_value / 2), (length - 1, 0.0)]
    labels = [f"{value:.3g} {unit}" if row == 0 else f"{value:.3g}" for row, value in ticks]
    label_width = max(style.size(label)[0] for label in labels) + 2 * style.padding
    canvas = np.full((length, bar_width + 3 + label_width, 3), WHITE, dtype=np.uint8)
    canvas[:, :bar_width] = bar
    for (row, _), label in zip(ticks, labels, strict=True):
        cv2.line(canvas, (bar_width, row), (bar_width + 2, row), BLACK, 1)
        _, text_height, baseline = style.size(label)
        top = row - (text_height + baseline) // 2 - style.padding
        draw_label(canvas, label, (bar_width + 3, top), style, WHITE)
    return canvas
