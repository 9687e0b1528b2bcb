"""Boxes and detections of multi-object tracking: one frame's detections and the MOTChallenge box conversions."""

from __future__ import annotations

from dataclasses import dataclass, field

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


def ltwh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) left, top, width, height -> x1, y1, x2, y2."""
    return np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:4]], axis=1)


def xyxy_to_ltwh(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) x1, y1, x2, y2 -> left, top, width, height."""
    return np.concatenate([boxes[:, :2], boxes[:, 2:4] - boxes[:, :2]], axis=1)
