"""What a tracking evaluation produced, and the columns its per-sequence table shows."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

COLUMNS = ("HOTA", "MOTA", "IDF1", "DetA", "AssA", "MOTP", "IDSW", "FP", "FN", "Frag", "MT", "ML")
"""The columns of the per-sequence table, in order."""


@dataclass(frozen=True)
class TrackingResults:
    """What :meth:`TrackingEvaluation.run` produced: result files, per-sequence and combined scores, speed."""

    result_files: dict[str, Path]
    per_sequence: dict[str, dict[str, float]]
    combined: dict[str, float] | None
    frames: int
    tracking_seconds: float

    @property
    def frames_per_second(self) -> float:
        """Frames tracked per second: the tracker's time (with the frame images DeepSORT reads; SORT runs the
        sequences in lockstep), without reading and writing the text files or scoring."""
        return self.frames / self.tracking_seconds if self.tracking_seconds > 0 else math.inf
