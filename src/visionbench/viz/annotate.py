"""Drawing on video frames: segmentation overlays with a legend, flow colour coding with a colour-wheel key, tracked
boxes with ids in stable colours.

Images are ``H,W,3`` uint8 RGB numpy arrays. Every function here returns an image of the frame's own size, with the
annotations drawn inside it (a video keeps one size), and leaves its input unchanged. The text primitives they use
(:mod:`visionbench.viz.text`: title bars, legends, colour scales) are exported here too, for the video writer.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from visionbench.viz.flow import flow_to_colour_and_scale, wheel_key
from visionbench.viz.segmentation import colorize
from visionbench.viz.text import (
    BLACK,
    WHITE,
    TextStyle,
    check_image,
    colour_bar,
    draw_label,
    font_scale,
    legend,
    text_block,
    titled,
)

__all__ = [
    "TextStyle",
    "colour_bar",
    "draw_label",
    "flow_frame",
    "font_scale",
    "id_colours",
    "legend",
    "segmentation_overlay",
    "text_block",
    "titled",
    "tracks_frame",
    "wheel_key",
]

GOLDEN_RATIO_CONJUGATE = 0.6180339887498949


def _blend_into(frame: np.ndarray, patch: np.ndarray, top: int, left: int, opacity: float) -> None:
    """Alpha-blend ``patch`` into ``frame`` at (top, left), in place, cropped to the frame."""
    height = min(patch.shape[0], frame.shape[0] - top)
    width = min(patch.shape[1], frame.shape[1] - left)
    if height <= 0 or width <= 0:
        return
    region = frame[top : top + height, left : left + width]
    region[:] = cv2.addWeighted(patch[:height, :width], opacity, region, 1.0 - opacity, 0.0)


def segmentation_overlay(
    frame: np.ndarray,
    labels: np.ndarray,
    palette: np.ndarray,
    alpha: float = 0.5,
    class_names: Sequence[str] | None = None,
    ignore_index: int = 255,
) -> np.ndarray:
    """The frame with each pixel's class colour blended in: ``(1 - alpha) frame + alpha palette[label]``
    (``ignore_index`` pixels keep the frame's colour), same size as ``frame``.

    With ``class_names``, a legend of the classes present (most pixels first) is drawn in the top-left corner,
    as many as fit in the frame's height (the last line then says how many more there are).
    """
    frame = check_image(frame, "frame")
    labels = np.asarray(labels)
    if labels.shape != frame.shape[:2]:
        raise ValueError(f"labels must be H,W = {frame.shape[:2]} like the frame, got {labels.shape}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    labelled = labels != ignore_index
    out = cv2.addWeighted(frame, 1.0 - alpha, colorize(labels, palette, ignore_index), alpha, 0.0)
    np.copyto(out, frame, where=~labelled[..., None])
    if class_names is None:
        return out
    counts = np.bincount(labels[labelled].ravel().astype(np.int64), minlength=len(palette))
    present = [int(c) for c in np.argsort(-counts, kind="stable") if counts[c] > 0]
    if not present:
        return out
    if max(present) >= len(class_names):
        raise ValueError(f"label {max(present)} has no name among {len(class_names)} class names")
    style = TextStyle.for_image(*out.shape[:2])
    fits = max(1, out.shape[0] // style.line_height)
    shown = present if len(present) <= fits else present[: fits - 1]
    names = [str(class_names[c]) for c in shown]
    swatches = [palette[c] for c in shown]
    if len(shown) < len(present):
        names.append(f"+{len(present) - len(shown)} more")
        swatches.append(WHITE)
    _blend_into(out, legend(names, np.array(swatches), style)[:, : max(out.shape[1] // 2, 1)], 0, 0, 0.8)
    return out


def flow_frame(flow: np.ndarray, max_flow: float | None = None, key: bool = True) -> np.ndarray:
    """Colour-wheel rendering of an ``H,W,2`` flow (:func:`~visionbench.viz.flow.flow_to_colour`), same H,W.

    With ``key``, a small colour-wheel key sits in the bottom-right corner, labelled with the magnitude its rim
    stands for in pixels (``max_flow``, or the largest magnitude in the field when None).
    """
    flow = np.asarray(flow)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"flow must be an H,W,2 array, got {flow.shape}")
    rgb, max_flow = flow_to_colour_and_scale(flow, max_flow=max_flow)
    if not key:
        return rgb
    height, width = rgb.shape[:2]
    style = TextStyle.for_image(height, width)
    size = int(np.clip(min(height, width) // 5, 16, 160))
    margin = style.padding
    if size + 2 * margin > min(height, width):
        return rgb
    wheel, inside = wheel_key(size)
    top, left = height - size - margin, width - size - margin
    region = rgb[top : top + size, left : left + size]
    region[inside] = wheel[inside]
    centre, radius = (left + size // 2, top + size // 2), size // 2
    cv2.circle(rgb, centre, radius, (64, 64, 64), 1, cv2.LINE_AA)
    draw_label(rgb, f"max {max_flow:.3g} px", (left, top - 1), style, BLACK, anchor="bottom")
    return rgb


def id_colours(ids: np.ndarray) -> np.ndarray:
    """One stable, well-separated colour per track id, ``N,3`` uint8 RGB: hue ``id * 0.618...`` (golden-ratio
    steps around the hue circle, so consecutive ids differ strongly), saturation 0.85, value 1.0 for even ids and
    0.8 for odd ones. A function of the id alone: the same id has the same colour in every frame and run."""
    ids = np.asarray(ids, dtype=np.int64)
    hue = (ids.astype(np.float64) * GOLDEN_RATIO_CONJUGATE) % 1.0 * 6.0
    saturation, value = 0.85, np.where(ids % 2 == 0, 1.0, 0.8)
    sector = np.floor(hue).astype(np.int64) % 6
    fraction = hue - np.floor(hue)
    low = value * (1.0 - saturation)
    falling = value * (1.0 - saturation * fraction)
    rising = value * (1.0 - saturation * (1.0 - fraction))
    channels = np.stack([value, falling, low, rising], axis=1)  # indices 0..3 used by the sector table
    table = np.array([[0, 3, 2], [1, 0, 2], [2, 0, 3], [2, 1, 0], [3, 2, 0], [0, 2, 1]])
    rgb = np.take_along_axis(channels, table[sector], axis=1)
    return np.rint(rgb * 255.0).astype(np.uint8)


def tracks_frame(frame: np.ndarray, boxes: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """The frame with one rectangle per track (``boxes`` ``N,4`` left, top, width, height in pixels) in its id's
    colour (:func:`id_colours`) and the id on a label of that colour above the box (inside it at the top edge of
    the frame); same size as ``frame``."""
    out = check_image(frame, "frame").copy()
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    ids = np.asarray(ids).reshape(-1)
    if len(ids) != len(boxes):
        raise ValueError(f"tracks_frame needs one id per box, got {len(boxes)} boxes and {len(ids)} ids")
    style = TextStyle.for_image(*out.shape[:2])
    thickness = style.thickness + 1
    for box, track_id, colour in zip(boxes, ids, id_colours(ids), strict=True):
        if not np.isfinite(box).all():
            continue
        left, top = int(round(box[0])), int(round(box[1]))
        right, bottom = int(round(box[0] + box[2])), int(round(box[1] + box[3]))
        rgb = tuple(int(c) for c in colour)
        cv2.rectangle(out, (left, top), (right, bottom), rgb, thickness, cv2.LINE_AA)
        label_height = style.line_height
        above = top - label_height >= 0
        draw_label(out, str(int(track_id)), (left, top if above else top + thickness), style, rgb,
                   anchor="bottom" if above else "top")  # fmt: skip
    return out
