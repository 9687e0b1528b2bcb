"""Tracking-by-detection evaluation: run a tracker over a MOTChallenge benchmark, write results, score them."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import ClassVar

import numpy as np

from visionbench.data.tracking.mot import MotBenchmark, MotSequence
from visionbench.data.tracking.mot_io import MotTable, read_mot_table, write_results
from visionbench.metrics.tracking import combine_sequences, evaluate_sequence
from visionbench.models.tracking.run import track_sequence, track_sequences
from visionbench.models.tracking.types import Tracker
from visionbench.tasks.contract import ProblemContract
from visionbench.tasks.tracking.contract import TrackingContract
from visionbench.tasks.tracking.frames import write_track_frames
from visionbench.tasks.tracking.results import TrackingResults

TrackRows = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
"""One sequence's reported tracks: frames, ids, boxes (left, top, width, height), scores."""


class TrackingEvaluation:
    """Runs any tracker with the :class:`~visionbench.models.tracking.types.Tracker` interface over every
    sequence of a :class:`~visionbench.data.tracking.mot.MotBenchmark` and scores it with TrackEval's semantics.

    For each sequence the tracker is reset, fed each frame's public detections (``det/det.txt``, those scoring
    at least ``min_score``) and, if it asks for them (``tracker.needs_frames``), the frame image. Its tracks are
    written to ``<output_dir>/data/<sequence>.txt`` in the official results format (TrackEval's tracker folder
    layout), then read back and scored against ``gt/gt.txt`` with the benchmark's rules (MOT16/17/20: distractor
    preprocessing), exactly as the files would be scored by the official evaluator. Sequences without ground
    truth (test splits) are tracked and written but not scored.

    Args:
        min_score: detections scoring below are dropped before tracking (SORT's reference: none).
    """

    contract: ClassVar[ProblemContract] = TrackingContract()

    def __init__(self, min_score: float = -math.inf) -> None:
        self.min_score = min_score

    def run(
        self, tracker: Tracker, benchmark: MotBenchmark, output_dir: str | Path, num_images: int = 0
    ) -> TrackingResults:
        """Track, write and score every sequence (see the class docstring); with ``num_images``, also draw the
        tracks on the first ``num_images`` frames of each sequence that has images, into
        ``<output_dir>/predictions/<sequence>/`` (:func:`~visionbench.tasks.tracking.frames.write_track_frames`)."""
        data_dir = Path(output_dir) / "data"
        data_dir.mkdir(parents=True, exist_ok=False)
        sequences = list(benchmark.sequences)
        tracks, seconds = self.track(tracker, sequences)
        result_files: dict[str, Path] = {}
        per_sequence: dict[str, dict[str, float]] = {}
        for sequence, rows in zip(sequences, tracks, strict=True):
            result_files[sequence.name] = write_results(data_dir / f"{sequence.name}.txt", *rows)
            write_track_frames(sequence, *rows[:3], Path(output_dir) / "predictions", num_images)
            if sequence.has_ground_truth:
                results = read_mot_table(result_files[sequence.name], "result")
                per_sequence[sequence.name] = evaluate_sequence(
                    sequence.ground_truth, results, sequence.num_frames, benchmark.benchmark
                )
        combined = combine_sequences(list(per_sequence.values())) if per_sequence else None
        frames = sum(sequence.num_frames for sequence in sequences)
        return TrackingResults(result_files, per_sequence, combined, frames, seconds)

    def track(self, tracker: Tracker, sequences: list[MotSequence]) -> tuple[list[TrackRows], float]:
        """Each sequence's ``(frames, ids, boxes ltwh, scores)`` and the seconds the tracker took. Trackers that
        read no frames get all sequences at once (SORT runs them in lockstep, with the same results)."""
        detections = [self.usable(sequence.detections) for sequence in sequences]
        lengths = [sequence.num_frames for sequence in sequences]
        start = time.perf_counter()
        if getattr(tracker, "needs_frames", False):
            tracks = [
                track_sequence(tracker, table, length, sequence.read_image)
                for sequence, table, length in zip(sequences, detections, lengths, strict=True)
            ]
        else:
            tracks = track_sequences(tracker, detections, lengths)
        return tracks, time.perf_counter() - start

    def usable(self, detections: MotTable) -> MotTable:
        """The detections scoring at least ``min_score``."""
        if not math.isfinite(self.min_score):
            return detections
        return detections.select(detections.confidences >= self.min_score)
