"""Optical-flow pictures: Middlebury colour coding, error maps, arrow plots and comparison panels.

Conventions: numpy flows are ``H,W,2`` (as ``cv2.readOpticalFlow`` returns them), tensors are ``2,H,W``
(the model contract); u = x displacement (right positive), v = y displacement (down positive), in pixels.
Images are ``H,W,3`` uint8 RGB arrays or ``3,H,W`` float tensors in [0, 1]. Every function returns
``H,W,3`` uint8 RGB.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import cv2
import numpy as np
from torch import Tensor

from visionbench.viz.panels import MIN_TILE, enlarge, enlargement, grid, vstack
from visionbench.viz.segmentation import save_png
from visionbench.viz.text import TextStyle, colour_bar, text_block

__all__ = [
    "colour_wheel",
    "flow_to_colour",
    "flow_to_colour_and_scale",
    "wheel_key",
    "known_flow",
    "end_point_error",
    "epe_map",
    "kitti_error_map",
    "flow_arrows",
    "flow_scale_key",
    "flow_panel",
    "flow_panels",
    "save_png",
]

UNKNOWN_FLOW = 1e9  # |u| or |v| at or above this marks unknown flow in .flo files

# Middlebury colour wheel (Baker et al., "A database and evaluation methodology for optical flow", IJCV 2011):
# number of hues in each of the six transitions between the primary and secondary colours.
WHEEL_SEGMENTS = (
    ("red", "yellow", 15),
    ("yellow", "green", 6),
    ("green", "cyan", 4),
    ("cyan", "blue", 11),
    ("blue", "magenta", 13),
    ("magenta", "red", 6),
)
_PRIMARIES = {
    "red": (255, 0, 0),
    "yellow": (255, 255, 0),
    "green": (0, 255, 0),
    "cyan": (0, 255, 255),
    "blue": (0, 0, 255),
    "magenta": (255, 0, 255),
}


def colour_wheel() -> np.ndarray:
    """The 55 colours of the Middlebury wheel, ``55,3`` float64 RGB in 0..255.

    Within each transition from colour A to colour B in n steps, step i (0..n-1) changes the one channel
    that differs, from A's value towards B's, by ``floor(255 i / n)``: red -> yellow raises green,
    yellow -> green lowers red, and so on around the hue circle.
    """
    colours = []
    for start, end, steps in WHEEL_SEGMENTS:
        a, b = np.array(_PRIMARIES[start], dtype=np.float64), np.array(_PRIMARIES[end], dtype=np.float64)
        for i in range(steps):
            ramp = np.floor(255.0 * i / steps)
            colours.append(np.where(a == b, a, np.where(b > a, ramp, 255.0 - ramp)))
    return np.stack(colours)


def _as_flow(flow: np.ndarray | Tensor) -> np.ndarray:
    """``H,W,2`` float64 numpy from an ``H,W,2`` array or a ``2,H,W`` tensor."""
    if isinstance(flow, Tensor):
        if flow.ndim != 3 or flow.shape[0] != 2:
            raise ValueError(f"a flow tensor must be 2,H,W, got {tuple(flow.shape)}")
        return flow.detach().double().cpu().numpy().transpose(1, 2, 0)
    flow = np.asarray(flow, dtype=np.float64)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"a flow array must be H,W,2, got {flow.shape}")
    return flow


def _as_mask(mask: np.ndarray | Tensor | None, shape: tuple[int, int]) -> np.ndarray:
    if mask is None:
        return np.ones(shape, dtype=bool)
    mask = mask.detach().cpu().numpy() if isinstance(mask, Tensor) else np.asarray(mask)
    if mask.shape != shape:
        raise ValueError(f"mask must be H,W = {shape}, got {mask.shape}")
    return mask.astype(bool) if mask.dtype == bool else mask >= 0.5


def _as_image(image: np.ndarray | Tensor) -> np.ndarray:
    """``H,W,3`` uint8 RGB from a uint8 ``H,W,3`` array or a float ``3,H,W`` tensor in [0, 1]."""
    if isinstance(image, Tensor):
        if image.ndim != 3 or image.shape[0] not in (1, 3):
            raise ValueError(f"an image tensor must be 3,H,W in [0, 1], got {tuple(image.shape)}")
        array = image.detach().float().cpu().clamp(0, 1).numpy().transpose(1, 2, 0)
        array = (array * 255.0 + 0.5).astype(np.uint8)
        return np.repeat(array, 3, axis=2) if array.shape[2] == 1 else array
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"an image array must be H,W,3 uint8, got {image.dtype} {image.shape}")
    return image


def known_flow(flow: np.ndarray | Tensor, valid: np.ndarray | Tensor | None = None) -> np.ndarray:
    """Bool ``H,W``: finite flow below the ``.flo`` unknown-flow threshold (1e9), and ``valid`` if given."""
    array = _as_flow(flow)
    known = np.isfinite(array).all(axis=2) & (np.abs(array) < UNKNOWN_FLOW).all(axis=2)
    return known & _as_mask(valid, known.shape)


def flow_to_colour_and_scale(
    flow: np.ndarray | Tensor, valid: np.ndarray | Tensor | None = None, max_flow: float | None = None
) -> tuple[np.ndarray, float]:
    """Middlebury colour coding of a flow field: hue = direction, saturation = magnitude.

    The direction angle ``atan2(-v, -u)`` is mapped linearly onto the 55-colour wheel (interpolating
    between neighbouring colours), so +u (rightwards) is red, +v (downwards) orange-yellow, -u (leftwards)
    cyan-blue and -v (upwards) blue-violet. The colour is desaturated towards white by the magnitude:
    ``1 - r (1 - colour)`` with ``r = |flow| / max_flow``, so zero flow is white and ``|flow| = max_flow``
    the full colour; beyond ``max_flow`` the full colour is darkened to 75 %. Unknown (``|u|`` or ``|v|`` >= 1e9,
    non-finite) and invalid pixels are black.

    Args:
        flow: ``H,W,2`` array or ``2,H,W`` tensor.
        valid: optional bool ``H,W`` mask of pixels to draw.
        max_flow: magnitude mapped to full saturation; None uses the largest magnitude among the drawn
            pixels (the Middlebury convention).

    Returns:
        ``H,W,3`` uint8 RGB and the magnitude drawn at full saturation (``max_flow``, or the largest one).
    """
    array = _as_flow(flow)
    known = known_flow(array, valid)
    u = np.where(known, array[:, :, 0], 0.0)
    v = np.where(known, array[:, :, 1], 0.0)
    magnitude = np.sqrt(u * u + v * v)
    if max_flow is None:
        max_flow = float(magnitude.max(initial=0.0))
    elif max_flow <= 0:
        raise ValueError(f"max_flow must be > 0, got {max_flow}")
    radius = magnitude / (max_flow + np.finfo(np.float64).eps)

    wheel = colour_wheel() / 255.0
    count = len(wheel)
    angle = np.arctan2(-v, -u) / np.pi  # in [-1, 1]; -1 and 1 are both the +u direction
    angle = np.where(angle >= 1.0, -1.0, angle)  # one seam colour whatever the sign of a zero v
    position = (angle + 1.0) / 2.0 * (count - 1)
    lower = np.floor(position).astype(np.int64)
    upper = (lower + 1) % count
    fraction = (position - lower)[..., None]
    colour = (1.0 - fraction) * wheel[lower] + fraction * wheel[upper]

    inside = (radius <= 1.0 + 1e-6)[..., None]  # tolerance: max_flow is often a float32 magnitude
    saturation = np.minimum(radius, 1.0)[..., None]
    colour = np.where(inside, 1.0 - saturation * (1.0 - colour), colour * 0.75)
    rgb = np.floor(255.0 * np.clip(colour, 0.0, 1.0)).astype(np.uint8)
    rgb[~known] = 0
    return rgb, max_flow


def flow_to_colour(
    flow: np.ndarray | Tensor, valid: np.ndarray | Tensor | None = None, max_flow: float | None = None
) -> np.ndarray:
    """The ``H,W,3`` uint8 RGB Middlebury colour coding of :func:`flow_to_colour_and_scale`."""
    return flow_to_colour_and_scale(flow, valid, max_flow)[0]


@lru_cache(maxsize=8)
def wheel_key(size: int) -> tuple[np.ndarray, np.ndarray]:
    """The flow colour coding as a disk, ``(rgb size,size,3, inside mask size,size)``: the colour of each pixel is
    that of a flow pointing from the centre to it, full saturation at the rim (see
    :func:`~visionbench.viz.flow.flow_to_colour`); cached, read-only."""
    if size < 3:
        raise ValueError(f"a colour-wheel key needs size >= 3, got {size}")
    coordinates = (np.arange(size, dtype=np.float64) - (size - 1) / 2.0) / ((size - 1) / 2.0)
    x, y = np.meshgrid(coordinates, coordinates)
    inside = x * x + y * y <= 1.0
    flow = np.stack([np.where(inside, x, 0.0), np.where(inside, y, 0.0)], axis=2)
    rgb = flow_to_colour(flow, max_flow=1.0)
    rgb.flags.writeable = inside.flags.writeable = False  # cached: shared by every caller
    return rgb, inside


def end_point_error(
    pred: np.ndarray | Tensor, target: np.ndarray | Tensor, valid: np.ndarray | Tensor | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(|pred - target| H,W float64, known H,W bool)``: the end-point error where the ground truth is known
    (:func:`known_flow`, and ``valid``), 0 elsewhere."""
    pred_array, target_array = _as_flow(pred), _as_flow(target)
    if pred_array.shape != target_array.shape:
        raise ValueError(f"pred {pred_array.shape} and target {target_array.shape} differ in shape")
    known = known_flow(target_array, valid)
    difference = np.where(known[..., None], pred_array - target_array, 0.0)
    return np.where(known, np.linalg.norm(difference, axis=2), 0.0), known


def epe_map(
    pred: np.ndarray | Tensor,
    target: np.ndarray | Tensor,
    valid: np.ndarray | Tensor | None = None,
    max_error: float | None = None,
    colormap: int = cv2.COLORMAP_INFERNO,
) -> np.ndarray:
    """End-point-error heat map: ``|pred - target|`` scaled by ``max_error`` (None: the largest error shown)
    through an OpenCV colour map (dark = small); pixels with unknown or invalid ground truth are black."""
    error, known = end_point_error(pred, target, valid)
    scale = float(error.max(initial=0.0)) if max_error is None else float(max_error)
    levels = np.clip(error / max(scale, 1e-12) * 255.0, 0, 255).astype(np.uint8)
    rgb = cv2.cvtColor(cv2.applyColorMap(levels, colormap), cv2.COLOR_BGR2RGB)
    rgb[~known] = 0
    return rgb


# KITTI-style error colours: bins of the error relative to the outlier threshold, log2-spaced around 1
# (below 1 = not an outlier: blues; above: yellows to reds). Colours from ColorBrewer's RdYlBu scheme.
KITTI_ERROR_BINS = (0.0, 1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0, 2.0, 4.0, 8.0, 16.0, np.inf)
KITTI_ERROR_COLOURS = np.array(
    [
        [49, 54, 149], [69, 117, 180], [116, 173, 209], [171, 217, 233], [224, 243, 248],
        [254, 224, 144], [253, 174, 97], [244, 109, 67], [215, 48, 39], [165, 0, 38],
    ],
    dtype=np.uint8,
)  # fmt: skip


def kitti_error_map(
    pred: np.ndarray | Tensor,
    target: np.ndarray | Tensor,
    valid: np.ndarray | Tensor | None = None,
    absolute_threshold: float = 3.0,
    relative_threshold: float = 0.05,
) -> np.ndarray:
    """KITTI-style error image: each valid pixel is coloured by ``min(EPE / 3, EPE / (0.05 |gt|))``, its
    error relative to the Fl outlier rule (> 1 means outlier), in the 10 log2-spaced bins
    ``KITTI_ERROR_BINS`` (blue = far below the threshold, red = far above); invalid pixels black."""
    pred_array, target_array = _as_flow(pred), _as_flow(target)
    known = known_flow(target_array, valid)
    difference = np.where(known[..., None], pred_array - target_array, 0.0)
    error = np.linalg.norm(difference, axis=2)
    magnitude = np.linalg.norm(np.where(known[..., None], target_array, 0.0), axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.minimum(error / absolute_threshold, error / (relative_threshold * magnitude))
    relative = np.nan_to_num(relative, nan=0.0, posinf=np.inf)
    index = np.clip(np.searchsorted(np.asarray(KITTI_ERROR_BINS[1:-1]), relative, side="right"), 0, 9)
    rgb = KITTI_ERROR_COLOURS[index]
    rgb[~known] = 0
    return rgb


def flow_arrows(
    image: np.ndarray | Tensor,
    flow: np.ndarray | Tensor,
    valid: np.ndarray | Tensor | None = None,
    step: int = 16,
    scale: float = 1.0,
    colour: tuple[int, int, int] = (255, 255, 0),
    thickness: int = 1,
    min_length: float = 0.5,
) -> np.ndarray:
    """Quiver plot: an arrow from each point of a ``step``-spaced grid (centred in its cell) to where the
    flow moves it, ``scale`` times longer, drawn with ``cv2.arrowedLine`` on a copy of ``image``.
    Arrows shorter than ``min_length`` drawn pixels and unknown/invalid pixels are skipped."""
    canvas = _as_image(image).copy()
    array = _as_flow(flow)
    if array.shape[:2] != canvas.shape[:2]:
        raise ValueError(f"image {canvas.shape[:2]} and flow {array.shape[:2]} differ in size")
    if step < 1:
        raise ValueError(f"step must be >= 1, got {step}")
    known = known_flow(array, valid)
    height, width = known.shape
    for y in range(step // 2, height, step):
        for x in range(step // 2, width, step):
            if not known[y, x]:
                continue
            dx, dy = array[y, x] * scale
            if np.hypot(dx, dy) < min_length:
                continue
            tip = (int(round(x + dx)), int(round(y + dy)))
            cv2.arrowedLine(canvas, (x, y), tip, colour, thickness, cv2.LINE_AA, tipLength=0.3)
    return canvas


FLOW_TITLES = ("frame 1", "ground truth", "prediction", "end-point error", "scale")


def flow_scale_key(height: int, max_flow: float, max_error: float, style: TextStyle) -> np.ndarray:
    """The key column of a flow panel row, on white: the colour wheel (its rim is ``max_flow`` px) and the
    end-point-error colour scale from 0 to ``max_error`` px. ``height`` tall, or taller if the text needs it; as
    wide for any values (so rows of a panel line up)."""
    line = style.line_height
    size = int(np.clip(height // 3, 32, 160))
    wheel, inside = wheel_key(size)
    disk = np.full((size + 2 * style.padding, size + 2 * style.padding, 3), 255, dtype=np.uint8)
    disk[style.padding : -style.padding, style.padding : -style.padding][inside] = wheel[inside]
    widest = style.size("flow max 8.88e+08 px")[0] + 2 * style.padding  # one width whatever the numbers
    caption = text_block([f"flow max {max_flow:.3g} px", "EPE"], style, width=widest)
    bar_length = max(height - disk.shape[0] - caption.shape[0], 3 * line)
    bar = colour_bar(bar_length, max_error, style)
    padded_bar = np.full((bar.shape[0], bar.shape[1] + style.padding, 3), 255, dtype=np.uint8)
    padded_bar[:, style.padding :] = bar
    return vstack([disk, caption, padded_bar], gap=0)


def _flow_row(
    image1: np.ndarray | Tensor,
    target: np.ndarray | Tensor,
    prediction: np.ndarray | Tensor,
    valid: np.ndarray | Tensor | None,
    max_flow: float | None,
    max_error: float | None,
    min_size: int,
) -> list[np.ndarray]:
    """The tiles of one flow panel row (:func:`flow_panel`)."""
    target_array = _as_flow(target)
    known = known_flow(target_array, valid)
    if max_flow is None:
        magnitudes = np.linalg.norm(np.where(known[..., None], target_array, 0.0), axis=2)
        max_flow = max(float(magnitudes.max(initial=0.0)), 1e-6)
    if max_error is None:
        max_error = max(float(end_point_error(prediction, target_array, known)[0].max(initial=0.0)), 1e-6)
    factor = enlargement(*known.shape, min_size)
    tiles = [
        enlarge(_as_image(image1), factor, smooth=True),
        enlarge(flow_to_colour(target_array, known, max_flow), factor),
        enlarge(flow_to_colour(prediction, None, max_flow), factor),
        enlarge(epe_map(prediction, target_array, known, max_error), factor),
    ]
    style = TextStyle.for_image(*tiles[0].shape[:2])
    return [*tiles, flow_scale_key(tiles[0].shape[0], max_flow, max_error, style)]


def flow_panel(
    image1: np.ndarray | Tensor,
    target: np.ndarray | Tensor,
    prediction: np.ndarray | Tensor,
    valid: np.ndarray | Tensor | None = None,
    max_flow: float | None = None,
    max_error: float | None = None,
    gap: int = 2,
    min_size: int = MIN_TILE,
) -> np.ndarray:
    """One titled row: frame 1 | ground truth colour | prediction colour | EPE heat map | scale, ``H,W,3`` uint8.

    Both flows share one colour scale (``max_flow``, default: the largest ground-truth magnitude among valid
    pixels), so equal colours mean equal vectors; the prediction is drawn everywhere, the ground truth and the
    error only where it is valid. The error map runs from 0 to ``max_error`` px (default: the largest error
    shown). The last column is the key: the colour wheel with the magnitude of its rim and the error colour scale
    with its values in pixels. Tiles whose shorter side is below ``min_size`` are enlarged by an integer factor
    (flow and error maps pixel by pixel, the frame bilinearly).
    """
    return grid([_flow_row(image1, target, prediction, valid, max_flow, max_error, min_size)], FLOW_TITLES, gap=gap)


def flow_panels(
    images1: Sequence[Tensor],
    targets: Sequence[Tensor],
    predictions: Sequence[Tensor],
    valids: Sequence[Tensor] | None = None,
    max_flow: float | None = None,
    gap: int = 2,
    min_size: int = MIN_TILE,
) -> np.ndarray:
    """:func:`flow_panel` rows for a batch (``B,3,H,W`` images, ``B,2,H,W`` flows, ``B,H,W`` valid) or lists of
    samples of different sizes, one row per sample (each with its own scales unless ``max_flow`` is given), under
    one set of column titles (repeated over a row whose size differs from the row above)."""
    valids_list: Sequence[Tensor | None] = [None] * len(images1) if valids is None else list(valids)
    rows = [
        _flow_row(image, target, prediction, valid, max_flow, None, min_size)
        for image, target, prediction, valid in zip(images1, targets, predictions, valids_list, strict=True)
    ]
    return grid(rows, FLOW_TITLES, gap=gap)
