"""Embedded multi-object tracking benchmark: procedurally generated pedestrian-like sequences with exact ground
truth, written to disk in the MOTChallenge layout and read back with :class:`~.mot.MotBenchmark`.

The scene is a street seen from a raised camera: a ground plane below a horizon, so an object's height in the
image grows with the image row of its feet (perspective) and nearer objects (feet lower) occlude farther ones.
Objects (aspect ~0.4, per-identity size factor) walk left or right with noisy constant velocity (a random walk on
the speed, never reversing), drift slowly in depth, enter at the image borders and leave at the opposite one.
Crossings of objects at different depths make the farther one disappear for several frames behind the nearer:
the public detector then misses it, so an IoU-only tracker that forgets a track after one missed frame (SORT,
``max_age=1``) starts a new identity, while an appearance-based tracker can re-identify it.

Appearance: every identity has a consistent look (head tone, shirt colour with one of five patterns - plain,
horizontal or vertical stripes, two-tone, checks - in a second colour, trouser colour, sometimes a bag) drawn in
box-normalised coordinates so it scales with the object, with per-frame brightness jitter, a leg-swing walking
cycle, shading, a textured background and pixel noise. Colours come from small palettes and a fraction
(``similar_prob``) of identities copy another identity's look but for one attribute, so some identities look alike.

Files (frames 1-based, boxes left, top, width, height in pixels, two decimals):

- ``gt/gt.txt``: 9 columns, MOT17 style ``frame,id,left,top,width,height,1,1,visibility``; an identity has one
  row in every frame from its entry (>= 30% of its box inside the image) to its exit (< 20% inside), occluded or
  not, so its rows are contiguous in time. ``visibility`` is the fraction of the (unclipped) box that is inside
  the image and not covered by the boxes of nearer objects. Boxes are not clipped to the image.
- ``det/det.txt``: 10 columns ``frame,-1,left,top,width,height,score,-1,-1,-1``. Each ground-truth box is
  detected with probability ``1 - p_miss``, where ``p_miss = miss_rate`` at visibility >= 0.5 and rises linearly
  to 1 at visibility 0.1; the detected box is the true box with Gaussian noise (centre ``box_noise`` x size,
  log-size ``box_noise``), clipped to the image; score ~ N(0.9 - 0.4 (1 - visibility), 0.08). False positives:
  Poisson(``fp_rate``) per frame, pedestrian-shaped boxes at random places, score ~ U(0.05, 0.7).
- ``img1/000001.jpg``: JPEG quality 95 (``image_format=".png"`` for lossless frames; PNG of noisy frames is ~4x
  larger), ``seqinfo.ini`` (frameRate 30).

Generation is deterministic per (seed, split, sequence index) with separate random streams for motion,
appearance, rendering and detections (changing a detection knob leaves motion and frames unchanged).
:class:`SyntheticMOT` caches each split under ``<root>/synthetic_mot-<split>-<hash of every parameter>/``,
generated in a temporary folder next to it and renamed into place when complete, so an interrupted run never
leaves a half dataset that is later reused. It is evaluated with the MOT17 rules (9-column ground truth, every
box class 1, flag 1, so the distractor preprocessing removes nothing).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import cv2
import numpy as np

from visionbench.data.errors import DatasetLayoutError
from visionbench.data.tracking.mot import MotBenchmark
from visionbench.data.tracking.mot_io import SequenceInfo, write_seqinfo, write_seqmap

__all__ = [
    "BENCHMARK_NAME",
    "GENERATOR_VERSION",
    "SyntheticMOT",
    "SyntheticMotParams",
    "write_synthetic_mot",
    "write_synthetic_sequence",
]

BENCHMARK_NAME = "SyntheticMOT"
"""Folder name of the benchmark inside a generated dataset (``<dir>/SyntheticMOT/<split>/<sequence>``)."""

GENERATOR_VERSION = 2
"""Part of the cache hash: bump when the generator's output changes."""

_SPLITS = {"train": 0, "val": 1, "test": 2}
DEFAULT_NUM_SEQUENCES = {"train": 4, "val": 2, "test": 2}
_MARKER = "synthetic_mot.json"  # written last: a folder holding it is complete

# Scene geometry, as fractions of the image height.
_HORIZON = 0.3  # feet at this row would have height 0
_NEAREST_HEIGHT = 0.45  # box height with the feet on the bottom row
_FEET_RANGE = (0.55, 1.0)  # rows where feet may be
_ENTER_INSIDE, _EXIT_INSIDE = 0.3, 0.2  # fraction of the box inside the image to enter / to leave
_OCCLUSION_MISS = (0.5, 0.1)  # p_miss = miss_rate at visibility >= 0.5, 1 at visibility <= 0.1

# Palettes (RGB). Small on purpose: identities share colours, so a single colour never identifies them.
_SHIRTS = np.array(
    [
        [200, 40, 40],
        [40, 70, 190],
        [30, 140, 60],
        [230, 200, 40],
        [235, 235, 230],
        [45, 45, 50],
        [140, 140, 145],
        [120, 60, 160],
        [230, 120, 30],
        [80, 180, 200],
    ],
    dtype=np.float32,
)
_TROUSERS = np.array([[35, 45, 90], [30, 30, 32], [110, 110, 115], [100, 70, 45], [190, 170, 130]], dtype=np.float32)
_SKIN = np.array([[235, 195, 165], [200, 150, 110], [150, 100, 70], [95, 65, 45]], dtype=np.float32)
_NUM_PATTERNS = 5  # plain, horizontal stripes, vertical stripes, two-tone, checks


@dataclass(frozen=True)
class SyntheticMotParams:
    """Every knob of one generated split (all of them enter the cache hash).

    Args:
        num_frames: frames per sequence.
        height, width: frame size in pixels.
        max_objects: objects in the scene at once (new ones enter while fewer are present).
        spawn_prob: probability per frame that a new object enters while fewer than ``max_objects`` are present.
        min_speed, max_speed: walking speed range, pixels per frame for the nearest objects (scaled by depth).
        speed_noise: standard deviation of the per-frame random walk of the speed.
        miss_rate: probability that an unoccluded object (visibility >= 0.5) is not detected.
        fp_rate: mean number of false-positive detections per frame.
        box_noise: detection box noise relative to the box size.
        noise_std: pixel noise standard deviation (0-255 scale).
        similar_prob: probability that a new identity copies an earlier identity's look but for one attribute.
        frame_rate: ``seqinfo.ini`` frameRate.
        image_format: ``".jpg"`` or ``".png"``.
    """

    num_frames: int = 150
    height: int = 240
    width: int = 320
    max_objects: int = 8
    spawn_prob: float = 0.1
    min_speed: float = 1.0
    max_speed: float = 3.0
    speed_noise: float = 0.05
    miss_rate: float = 0.05
    fp_rate: float = 0.5
    box_noise: float = 0.04
    noise_std: float = 5.0
    similar_prob: float = 0.3
    frame_rate: int = 30
    image_format: str = ".jpg"

    def __post_init__(self) -> None:
        for item in fields(self):  # normalise types (Hydra passes 1 for 1.0): equal knobs hash equally
            object.__setattr__(self, item.name, type(item.default)(getattr(self, item.name)))
        if self.num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {self.num_frames}")
        if self.height < 64 or self.width < 64:
            raise ValueError(f"frames must be at least 64x64, got {self.height}x{self.width}")
        if self.max_objects < 1:
            raise ValueError(f"max_objects must be >= 1, got {self.max_objects}")
        if not 0 < self.min_speed <= self.max_speed:
            raise ValueError(f"need 0 < min_speed <= max_speed, got {self.min_speed}, {self.max_speed}")
        for name in ("spawn_prob", "miss_rate", "similar_prob"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be a probability, got {getattr(self, name)}")
        if min(self.fp_rate, self.box_noise, self.noise_std, self.speed_noise) < 0:
            raise ValueError("fp_rate, box_noise, noise_std and speed_noise must be >= 0")
        if self.image_format not in (".jpg", ".png"):
            raise ValueError(f"image_format must be '.jpg' or '.png', got {self.image_format!r}")


# --------------------------------------------------------------------------------------------------
# Scene
# --------------------------------------------------------------------------------------------------
@dataclass
class _Look:
    skin: np.ndarray
    shirt: np.ndarray
    pattern: int
    pattern_colour: np.ndarray
    pattern_period: float
    pattern_split: float
    trousers: np.ndarray
    bag: np.ndarray | None


@dataclass
class _Object:
    x: float  # centre column
    feet: float  # bottom row
    direction: int  # +1 right, -1 left
    speed: float  # at the nearest depth
    drift: float  # rows per frame
    size: float  # height factor
    aspect: float
    look: _Look
    phase: float
    # waiting (entering, no id yet) -> tracked (has an id, in gt.txt) -> leaving (drawn, not in gt.txt) -> gone
    state: str = "waiting"
    track_id: int = 0


def _jitter(rng: np.random.Generator, colour: np.ndarray, amount: float = 14.0) -> np.ndarray:
    return np.clip(colour + rng.normal(0, amount, 3), 0, 255).astype(np.float32)


def _new_look(rng: np.random.Generator, earlier: list[_Look], similar_prob: float) -> _Look:
    if earlier and rng.random() < similar_prob:
        base = earlier[int(rng.integers(len(earlier)))]
        look = _Look(**{k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in vars(base).items()})
        change = int(rng.integers(4))  # the one attribute that differs
        if change == 0:
            look.trousers = _jitter(rng, _TROUSERS[rng.integers(len(_TROUSERS))])
        elif change == 1:
            look.pattern = int((look.pattern + rng.integers(1, _NUM_PATTERNS)) % _NUM_PATTERNS)
        elif change == 2:
            look.pattern_colour = _jitter(rng, _SHIRTS[rng.integers(len(_SHIRTS))])
        else:
            look.bag = None if look.bag is not None else _jitter(rng, _SHIRTS[rng.integers(len(_SHIRTS))])
        look.shirt = _jitter(rng, look.shirt, 6.0)
        return look
    shirt, second = rng.choice(len(_SHIRTS), size=2, replace=False)
    return _Look(
        skin=_jitter(rng, _SKIN[rng.integers(len(_SKIN))], 8.0),
        shirt=_jitter(rng, _SHIRTS[shirt]),
        pattern=int(rng.integers(_NUM_PATTERNS)),
        pattern_colour=_jitter(rng, _SHIRTS[second]),
        pattern_period=float(rng.uniform(0.07, 0.14)),
        pattern_split=float(rng.uniform(0.35, 0.65)),
        trousers=_jitter(rng, _TROUSERS[rng.integers(len(_TROUSERS))]),
        bag=_jitter(rng, _SHIRTS[rng.integers(len(_SHIRTS))]) if rng.random() < 0.3 else None,
    )


def _box(obj: _Object, params: SyntheticMotParams) -> np.ndarray:
    """left, top, width, height of an object."""
    height = _object_height(obj.feet, params) * obj.size
    width = height * obj.aspect
    return np.array([obj.x - width / 2, obj.feet - height, width, height])


def _object_height(feet: float, params: SyntheticMotParams) -> float:
    horizon = _HORIZON * params.height
    return _NEAREST_HEIGHT * params.height * (feet - horizon) / (params.height - horizon)


def _inside_fraction(box: np.ndarray, params: SyntheticMotParams) -> float:
    left, top, width, height = box
    inside_w = max(0.0, min(left + width, params.width) - max(left, 0.0))
    inside_h = max(0.0, min(top + height, params.height) - max(top, 0.0))
    return inside_w * inside_h / (width * height)


def _spawn(rng: np.random.Generator, params: SyntheticMotParams, looks: list[_Look], at_border: bool) -> _Object:
    lo, hi = _FEET_RANGE
    feet = float(rng.uniform(lo, hi) * params.height)
    direction = 1 if rng.random() < 0.5 else -1
    look = _new_look(rng, looks, params.similar_prob)
    looks.append(look)
    obj = _Object(
        x=0.0,
        feet=feet,
        direction=direction,
        speed=float(rng.uniform(params.min_speed, params.max_speed)),
        drift=float(rng.normal(0, 0.15)),
        size=float(rng.uniform(0.85, 1.15)),
        aspect=float(rng.uniform(0.36, 0.46)),
        look=look,
        phase=float(rng.uniform(0, 2 * math.pi)),
    )
    width = _box(obj, params)[2]
    if at_border:  # just outside, walking in
        obj.x = -width / 2 if direction > 0 else params.width + width / 2
    else:
        obj.x = float(rng.uniform(0, params.width))
    return obj


def _step(obj: _Object, rng: np.random.Generator, params: SyntheticMotParams) -> None:
    depth_scale = _object_height(obj.feet, params) / (_NEAREST_HEIGHT * params.height)
    obj.speed = float(np.clip(obj.speed + rng.normal(0, params.speed_noise), params.min_speed / 2, params.max_speed))
    obj.drift = float(np.clip(obj.drift + rng.normal(0, 0.03), -0.4, 0.4))
    obj.x += obj.direction * obj.speed * depth_scale
    obj.feet += obj.drift
    lo, hi = _FEET_RANGE[0] * params.height, _FEET_RANGE[1] * params.height
    if not lo <= obj.feet <= hi:
        obj.feet = float(np.clip(obj.feet, lo, hi))
        obj.drift = -obj.drift
    obj.phase += 0.25 * obj.speed * depth_scale


# --------------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------------
def _background(rng: np.random.Generator, params: SyntheticMotParams) -> np.ndarray:
    h, w = params.height, params.width
    horizon = int(_HORIZON * h)
    image = np.empty((h, w, 3), np.float32)
    image[:horizon] = rng.uniform(120, 200, 3)  # facades
    image[horizon:] = rng.uniform(80, 140, 3)  # pavement
    rows = np.arange(h, dtype=np.float32)[:, None, None]
    image[horizon:] *= 0.85 + 0.3 * (rows[horizon:] - horizon) / max(h - horizon, 1)
    x = 0
    while x < w:  # a row of buildings with windows
        x1 = min(w, x + int(rng.integers(w // 10, w // 3)))
        top = int(rng.integers(0, max(horizon // 2, 1)))
        colour = rng.uniform(70, 210, 3)
        image[top:horizon, x:x1] = colour
        window = colour * rng.uniform(0.4, 0.7)
        for wy in range(top + 4, horizon - 6, 12):
            for wx in range(x + 3, x1 - 6, 10):
                image[wy : wy + 6, wx : wx + 5] = window
        x = x1
    # pavement tiles, then low-frequency texture (mostly luminance)
    image[horizon:, :: max(w // 12, 4)] *= 0.85
    image[horizon :: max(h // 16, 4)] *= 0.88
    coarse = rng.normal(0, 1, (h // 12 + 2, w // 12 + 2, 3)).astype(np.float32)
    coarse = 0.8 * coarse.mean(axis=2, keepdims=True) + 0.35 * coarse
    image += 16 * cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    return image


def _draw(canvas: np.ndarray, box: np.ndarray, obj: _Object, brightness: float) -> None:
    left, top, width, height = box
    h, w = canvas.shape[:2]
    x0, x1 = max(int(math.floor(left)), 0), min(int(math.ceil(left + width)), w)
    y0, y1 = max(int(math.floor(top)), 0), min(int(math.ceil(top + height)), h)
    if x1 <= x0 or y1 <= y0:
        return
    u = ((np.arange(x0, x1, dtype=np.float32) + 0.5 - left) / width)[None, :]
    v = ((np.arange(y0, y1, dtype=np.float32) + 0.5 - top) / height)[:, None]
    look = obj.look
    patch = canvas[y0:y1, x0:x1]
    shade = (1.0 - 0.3 * (2 * u - 1) ** 2)[..., None] * brightness

    swing = 0.07 * math.sin(obj.phase)
    legs = (v >= 0.58) & (((u >= 0.14 + swing) & (u <= 0.47 + swing)) | ((u >= 0.53 - swing) & (u <= 0.86 - swing)))
    patch[:] = np.where(legs[..., None], look.trousers * shade, patch)

    torso = (v >= 0.15) & (v < 0.6) & (u >= 0.08) & (u <= 0.92)
    tv = (v - 0.15) / 0.45  # 0..1 over the torso
    period = look.pattern_period
    if look.pattern == 1:
        second = (np.floor(tv / period) % 2 == 1) & (u >= 0)
    elif look.pattern == 2:
        second = (np.floor(u / (2 * period)) % 2 == 1) & (v >= 0)
    elif look.pattern == 3:
        second = (tv >= look.pattern_split) & (u >= 0)
    elif look.pattern == 4:
        second = (np.floor(u / (2 * period)) + np.floor(tv / (2 * period))) % 2 == 1
    else:
        second = np.zeros(torso.shape, bool)
    shirt = np.where(second[..., None], look.pattern_colour, look.shirt)
    patch[:] = np.where(torso[..., None], shirt * shade, patch)
    if look.bag is not None:
        bag = (v >= 0.32) & (v <= 0.55) & (u >= 0.78) & (u <= 1.0)
        patch[:] = np.where(bag[..., None], look.bag * shade, patch)
    head = ((u - 0.5) / 0.19) ** 2 + ((v - 0.08) / 0.075) ** 2 <= 1
    patch[:] = np.where(head[..., None], look.skin * shade, patch)


# --------------------------------------------------------------------------------------------------
# One sequence
# --------------------------------------------------------------------------------------------------
def write_synthetic_sequence(
    directory: str | os.PathLike, name: str, params: SyntheticMotParams, seed: Sequence[int] | int
) -> Path:
    """Generate one sequence into ``directory`` (created; must not exist): ``seqinfo.ini``, ``img1/``,
    ``gt/gt.txt``, ``det/det.txt``. ``seed`` (an int or a tuple of ints) fixes every random stream."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=False)
    (directory / "img1").mkdir()
    (directory / "gt").mkdir()
    (directory / "det").mkdir()
    write_seqinfo(
        directory / "seqinfo.ini",
        SequenceInfo(
            name, "img1", params.frame_rate, params.num_frames, params.width, params.height, params.image_format
        ),
    )
    entropy = list(seed) if isinstance(seed, Sequence) else [int(seed)]
    motion_rng, look_rng, render_rng, det_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(entropy).spawn(4)
    )
    background = _background(render_rng, params)
    looks: list[_Look] = []
    objects = [_spawn(look_rng, params, looks, at_border=False) for _ in range(max(params.max_objects - 2, 1))]
    next_id = 1
    gt_lines: list[str] = []
    det_lines: list[str] = []
    encode = [cv2.IMWRITE_JPEG_QUALITY, 95] if params.image_format == ".jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 1]
    area = params.height * params.width

    for frame in range(1, params.num_frames + 1):
        if frame > 1:
            for obj in objects:
                _step(obj, motion_rng, params)
            present = sum(obj.state != "gone" for obj in objects)
            if present < params.max_objects and motion_rng.random() < params.spawn_prob:
                objects.append(_spawn(look_rng, params, looks, at_border=True))
        boxes = {}
        for obj in objects:
            box = _box(obj, params)
            inside = _inside_fraction(box, params)
            if obj.state == "waiting" and inside >= _ENTER_INSIDE:
                obj.state, obj.track_id = "tracked", next_id
                next_id += 1
            elif obj.state == "tracked" and inside < _EXIT_INSIDE:
                obj.state = "leaving"
            walking_away = (obj.x - params.width / 2) * obj.direction > 0
            if inside == 0.0 and (obj.state == "leaving" or obj.state == "waiting" and walking_away):
                obj.state = "gone"
            if obj.state != "gone":
                boxes[id(obj)] = box
        drawn = sorted((obj for obj in objects if id(obj) in boxes), key=lambda o: o.feet)  # far to near

        # visibility: nearest first, each box covers what is behind it
        covered = np.zeros((params.height, params.width), bool)
        visibility = {}
        for obj in reversed(drawn):
            left, top, width, height = boxes[id(obj)]
            x0, x1 = int(round(max(left, 0))), int(round(min(left + width, params.width)))
            y0, y1 = int(round(max(top, 0))), int(round(min(top + height, params.height)))
            if x1 > x0 and y1 > y0:
                region = covered[y0:y1, x0:x1]
                visibility[id(obj)] = min(1.0, float((~region).sum()) / (width * height))
                region[:] = True
            else:
                visibility[id(obj)] = 0.0

        canvas = background.copy()
        for obj in drawn:
            _draw(canvas, boxes[id(obj)], obj, float(render_rng.uniform(0.88, 1.12)))
        canvas += render_rng.standard_normal(canvas.shape, dtype=np.float32) * params.noise_std
        image = np.clip(canvas + 0.5, 0, 255).astype(np.uint8)
        path = directory / "img1" / f"{frame:06d}{params.image_format}"
        if not cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), encode):
            raise OSError(f"{path}: could not write the frame")

        # ground truth and detections
        frame_dets = []
        for obj in drawn:
            if obj.state != "tracked":
                continue
            box = np.round(boxes[id(obj)], 2)
            vis = round(visibility[id(obj)], 4)
            gt_lines.append(f"{frame},{obj.track_id},{box[0]:.2f},{box[1]:.2f},{box[2]:.2f},{box[3]:.2f},1,1,{vis:.4f}")
            full, none = _OCCLUSION_MISS
            p_miss = params.miss_rate + (1 - params.miss_rate) * min(max((full - vis) / (full - none), 0.0), 1.0)
            if det_rng.random() < p_miss:
                continue
            left, top, width, height = box
            cx = left + width / 2 + det_rng.normal(0, params.box_noise * width)
            cy = top + height / 2 + det_rng.normal(0, params.box_noise * height)
            width *= math.exp(det_rng.normal(0, params.box_noise))
            height *= math.exp(det_rng.normal(0, params.box_noise))
            score = float(np.clip(det_rng.normal(0.9 - 0.4 * (1 - vis), 0.08), 0.01, 1.0))
            frame_dets.append((cx - width / 2, cy - height / 2, width, height, score))
        for _ in range(int(det_rng.poisson(params.fp_rate))):
            feet = det_rng.uniform(*_FEET_RANGE) * params.height
            height = _object_height(feet, params) * det_rng.uniform(0.8, 1.2)
            width = height * det_rng.uniform(0.35, 0.5)
            cx = det_rng.uniform(0, params.width)
            frame_dets.append((cx - width / 2, feet - height, width, height, float(det_rng.uniform(0.05, 0.7))))
        for left, top, width, height, score in frame_dets:
            x0, y0 = max(left, 0.0), max(top, 0.0)
            x1, y1 = min(left + width, params.width), min(top + height, params.height)
            if x1 - x0 >= 2 and y1 - y0 >= 2 and (x1 - x0) * (y1 - y0) < area:
                det_lines.append(f"{frame},-1,{x0:.2f},{y0:.2f},{x1 - x0:.2f},{y1 - y0:.2f},{score:.4f},-1,-1,-1")
        objects = [obj for obj in objects if obj.state != "gone"]

    (directory / "gt" / "gt.txt").write_text("".join(line + "\n" for line in gt_lines))
    (directory / "det" / "det.txt").write_text("".join(line + "\n" for line in det_lines))
    return directory


# --------------------------------------------------------------------------------------------------
# A split, cached
# --------------------------------------------------------------------------------------------------
def _sequence_names(split: str, num_sequences: int) -> list[str]:
    return [f"synth-{split}-{index + 1:02d}" for index in range(num_sequences)]


def write_synthetic_mot(
    directory: str | os.PathLike,
    split: str = "test",
    num_sequences: int | None = None,
    seed: int = 0,
    params: SyntheticMotParams | None = None,
) -> Path:
    """Generate one split into ``directory`` (must not exist): ``SyntheticMOT/<split>/synth-<split>-NN/`` per
    sequence, ``seqmaps/SyntheticMOT-<split>.txt`` and, last, ``synthetic_mot.json`` (the parameters).
    Sequence ``i`` is seeded with ``(seed, split index, i)``; train, val and test never share a sequence."""
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {sorted(_SPLITS)}, got {split!r}")
    params = params or SyntheticMotParams()
    num_sequences = DEFAULT_NUM_SEQUENCES[split] if num_sequences is None else int(num_sequences)
    if num_sequences < 1:
        raise ValueError(f"num_sequences must be >= 1, got {num_sequences}")
    directory = Path(directory)
    if directory.exists():
        raise FileExistsError(f"{directory} already exists; a synthetic dataset is never written over a folder")
    names = _sequence_names(split, num_sequences)
    for index, name in enumerate(names):
        write_synthetic_sequence(directory / BENCHMARK_NAME / split / name, name, params, (seed, _SPLITS[split], index))
    (directory / "seqmaps").mkdir()
    write_seqmap(directory / "seqmaps" / f"{BENCHMARK_NAME}-{split}.txt", names)
    description = _description(split, num_sequences, seed, params)
    (directory / _MARKER).write_text(json.dumps(description, indent=2, sort_keys=True) + "\n")
    return directory


def _description(split: str, num_sequences: int, seed: int, params: SyntheticMotParams) -> dict:
    return {
        "generator_version": GENERATOR_VERSION,
        "split": split,
        "num_sequences": num_sequences,
        "seed": seed,
        "params": asdict(params),
    }


class SyntheticMOT(MotBenchmark):
    """The embedded synthetic tracking benchmark (module docstring), one split, generated on first use and
    cached under ``<root>/synthetic_mot-<split>-<hash>/`` (``dataset_dir``), then read as a MOTChallenge split
    with the MOT17 rules. A complete cached folder is reused; a folder of that name that is not a complete
    dataset with these parameters is an error (never overwritten).

    Args:
        root: cache folder (created).
        split: ``"train"`` (e.g. re-identification training), ``"val"`` or ``"test"`` (tracking evaluation);
            each split has its own seeds.
        num_sequences: sequences in the split (``None``: 4 for train, 2 for val and test).
        num_frames: frames per sequence.
        image_size: (height, width) of the frames.
        seed: base seed.
        sequences: read only these sequence names (all are generated).
        **knobs: the other fields of :class:`SyntheticMotParams` (max_objects, miss_rate, fp_rate, ...).
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "test",
        num_sequences: int | None = None,
        num_frames: int = 150,
        image_size: Sequence[int] = (240, 320),
        seed: int = 0,
        sequences: Sequence[str] | None = None,
        **knobs: float | int | str,
    ) -> None:
        if split not in _SPLITS:
            raise ValueError(f"split must be one of {sorted(_SPLITS)}, got {split!r}")
        height, width = (int(s) for s in image_size)
        self.params = SyntheticMotParams(num_frames=int(num_frames), height=height, width=width, **knobs)
        self.num_sequences = DEFAULT_NUM_SEQUENCES[split] if num_sequences is None else int(num_sequences)
        if self.num_sequences < 1:
            raise ValueError(f"num_sequences must be >= 1, got {self.num_sequences}")
        self.seed = int(seed)
        self.cache_root = Path(root)
        self.description = _description(split, self.num_sequences, self.seed, self.params)
        digest = hashlib.sha256(json.dumps(self.description, sort_keys=True).encode()).hexdigest()[:12]
        self.dataset_dir = self.cache_root / f"synthetic_mot-{split}-{digest}"
        super().__init__(
            self.dataset_dir / BENCHMARK_NAME,
            benchmark=BENCHMARK_NAME,
            split=split,
            sequences=sequences,
            seqmap=self.dataset_dir / "seqmaps" / f"{BENCHMARK_NAME}-{split}.txt",
            rules="MOT17",
        )

    def is_complete(self) -> bool:
        """Whether ``dataset_dir`` holds a complete dataset generated with these parameters."""
        marker = self.dataset_dir / _MARKER
        try:
            return json.loads(marker.read_text()) == json.loads(json.dumps(self.description))
        except (OSError, ValueError):
            return False

    def generate(self) -> Path:
        """Generate the split unless a complete copy is cached; returns ``dataset_dir``."""
        if self.is_complete():
            return self.dataset_dir
        if self.dataset_dir.exists():
            raise DatasetLayoutError(
                f"{self.dataset_dir} exists but is not a complete synthetic MOT dataset with these parameters "
                f"(no matching {_MARKER}); remove it to regenerate"
            )
        self.cache_root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{self.dataset_dir.name}.", suffix=".tmp", dir=self.cache_root))
        try:
            write_synthetic_mot(staging / "data", self.split, self.num_sequences, self.seed, self.params)
            try:
                os.rename(staging / "data", self.dataset_dir)
            except OSError:
                if not self.is_complete():  # not a concurrent writer finishing first
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return self.dataset_dir

    def _prepare(self) -> None:
        self.generate()
