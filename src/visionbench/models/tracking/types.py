"""The one tracker interface: a frame's detections in, that frame's confirmed tracks out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from visionbench.data.tracking.boxes import Detections


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
