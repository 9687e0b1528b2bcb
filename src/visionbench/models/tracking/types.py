"""The one tracker interface: a frame's detections in, that frame's confirmed tracks out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


def _empty_boxes() -> np.ndarray:
    return np.zeros((0, 4), dtype=np.float64)


@dataclass(frozen=True)
class Detections:
    """One frame's detections.

    ``boxes`` (N, 4) float64 in pixels as x1, y1, x2, y2 (MOTChallenge files store left, top, width, height;
    convert with :func:`ltwh_to_xyxy`); ``scores`` (N,) float64; ``classes`` (N,) int64; ``features`` an optional
    (N, D) float32 appearance embedding per detection (DeepSORT computes them from the frame when absent).
    """

    boxes: np.ndarray = field(default_factory=_empty_boxes)
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0))
    classes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    features: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.boxes)


@dataclass(frozen=True)
class Tracks:
    """The tracks a tracker reports for one frame.

    ``ids`` (M,) int64, 1-based and never reused within a sequence; ``boxes`` (M, 4) float64 x1, y1, x2, y2;
    ``detection_index`` (M,) int64: index into the frame's :class:`Detections` the track was matched to (-1 when
    the track is reported without a detection this frame); ``scores`` and ``classes`` are those of the matched
    detection (for an unmatched track, of the last detection it was matched to).
    """

    ids: np.ndarray
    boxes: np.ndarray
    detection_index: np.ndarray
    scores: np.ndarray
    classes: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


class Tracker(Protocol):
    """Online multi-object tracker: ``reset()`` before a sequence, then ``update`` once per frame in order."""

    def reset(self) -> None: ...

    def update(self, detections: Detections, frame: np.ndarray | None = None) -> Tracks: ...


def ltwh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) left, top, width, height -> x1, y1, x2, y2."""
    return np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:4]], axis=1)


def xyxy_to_ltwh(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) x1, y1, x2, y2 -> left, top, width, height."""
    return np.concatenate([boxes[:, :2], boxes[:, 2:4] - boxes[:, :2]], axis=1)
