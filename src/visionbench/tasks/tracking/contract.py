"""The tracking problem's contract: trackers are not trained; evaluate.py runs them over a MOT benchmark with
:class:`~visionbench.tasks.tracking.evaluation.TrackingEvaluation`, ranked by HOTA (max)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from rich.table import Table

from visionbench.metrics.tracking import (
    COUNT_FIELDS,
    TrackingScores,
    combine_sequences,
    sequence_fields,
    sequences_from_fields,
)
from visionbench.metrics.tracking.clear import INTEGER_FIELDS as CLEAR_COUNTS
from visionbench.metrics.tracking.identity import INTEGER_FIELDS as IDENTITY_COUNTS
from visionbench.models.parameters import count_parameters
from visionbench.tasks.contract import EvaluationOutcome, Headline, ProblemContract
from visionbench.tasks.tracking.results import COLUMNS, TrackingResults

COMBINED = "COMBINED"
"""Row name of the combination over sequences (TrackEval's ``COMBINED_SEQ``)."""
TRACKING_COUNTS = frozenset({*COUNT_FIELDS, *CLEAR_COUNTS, *IDENTITY_COUNTS, "TP", "FP", "FN"})
"""metrics.json fields that count detections, identities, frames or events."""
NON_RATIO_UNITS = {"FPS": "frames/s", "MOTP_sum": "IoU sum"}
"""Units of the other fields that are not ratios."""


def scalar_scores(scores: Mapping[str, object]) -> dict[str, float]:
    """The numbers of a score dict (HOTA's per-alpha arrays are left out)."""
    return {key: value for key, value in scores.items() if isinstance(value, int | float)}


def score_metrics(
    split: str, combined: TrackingScores | None, per_sequence: Mapping[str, TrackingScores]
) -> dict[str, float]:
    """``<split>/<field>`` for the combination over sequences and ``<split>/<sequence>/<field>`` per sequence."""
    metrics: dict[str, float] = {}
    if combined is not None:
        metrics.update({f"{split}/{key}": value for key, value in scalar_scores(combined).items()})
    for name, scores in per_sequence.items():
        metrics.update({f"{split}/{name}/{key}": value for key, value in scalar_scores(scores).items()})
    return metrics


def tracking_metrics(results: TrackingResults, split: str) -> dict[str, float]:
    """metrics.json of a tracking evaluation: :func:`score_metrics` and ``<split>/FPS`` (frames per second of
    tracking)."""
    return {f"{split}/FPS": results.frames_per_second, **score_metrics(split, results.combined, results.per_sequence)}


def sequence_scores(results: TrackingResults) -> dict[str, np.ndarray]:
    """The per-sample scores of a tracking evaluation: ``sample_id`` (the names of the sequences with ground truth,
    in benchmark order) and every per-sequence field (:func:`~visionbench.metrics.tracking.sequence_fields`)."""
    names = np.array(list(results.per_sequence), dtype=np.str_)
    return {"sample_id": names, **sequence_fields(list(results.per_sequence.values()))}


def _cell(value: float) -> str:
    return str(int(value)) if isinstance(value, int) else f"{100 * value:.2f}"


def sequence_table(results: TrackingResults, title: str) -> Table:
    """Per-sequence table (ratios in percent, counts as integers) with the combined row last; sequences tracked
    without ground truth get a row saying they are not scored (and not in the combination)."""
    table = Table(title=title)
    table.add_column("sequence")
    for column in COLUMNS:
        table.add_column(column, justify="right")
    for name in results.result_files:
        if name in results.per_sequence:
            table.add_row(name, *(_cell(results.per_sequence[name][column]) for column in COLUMNS))
        else:
            table.add_row(name, "not scored: no ground truth", *([""] * (len(COLUMNS) - 1)), style="dim")
    if results.combined is not None:
        table.add_row(COMBINED, *(_cell(results.combined[column]) for column in COLUMNS), style="bold")
    return table


class TrackingContract(ProblemContract):
    """Multi-object tracking by detection: nothing to train; evaluated by running the tracker (``setup.model``)
    with ``setup.task`` over the benchmark ``setup.data`` (its config names the split), writing the official result
    files, and scoring them with TrackEval's semantics."""

    name = "tracking"
    headline = Headline("HOTA", "max")
    trains = False
    runs_own_evaluation = True
    leaderboard_metrics = ("MOTA", "IDF1", "DetA", "AssA", "IDSW", "FP", "FN", "FPS")
    metric_modules = ("visionbench.metrics.tracking",)

    def metric_unit(self, metric: str) -> str:
        """Counts (IDSW, FP, FN, ... also per sequence, ``<sequence>/IDSW``) and frames per second; ratios else."""
        field = metric.rsplit("/", 1)[-1]
        return "count" if field in TRACKING_COUNTS else NON_RATIO_UNITS.get(field, "fraction")

    def nothing_to_train(self) -> str:
        return (
            "task=tracking runs trackers, which have nothing to train: `python evaluate.py task=tracking "
            "[model=tracking/<sort|deepsort>] [data=tracking/<benchmark>]`; DeepSORT's appearance model is trained "
            "with `python train.py task=reid`"
        )

    def evaluate(self, setup: DictConfig, output_dir: Path) -> EvaluationOutcome:
        evaluation = instantiate(setup.task)
        tracker = instantiate(setup.model)
        benchmark = instantiate(setup.data)
        results = evaluation.run(tracker, benchmark, output_dir, int(setup.get("num_prediction_images") or 0))
        split = str(getattr(benchmark, "split", "test"))
        source = {
            "tracker": OmegaConf.to_container(setup.model, resolve=True),
            "data": OmegaConf.to_container(setup.data, resolve=True),
            "task": OmegaConf.to_container(setup.task, resolve=True),
            "rules": benchmark.benchmark,
            "result_files": {name: str(path) for name, path in results.result_files.items()},
        }
        summary = {"tracker": type(tracker).__name__, "frames per second": f"{results.frames_per_second:.1f}"}
        unscored = [name for name in results.result_files if name not in results.per_sequence]
        if results.combined is None:
            summary["scores"] = "none: no sequence has ground truth (results written for submission)"
        elif unscored:
            summary["not scored"] = f"{len(unscored)} sequence(s) without ground truth: {', '.join(unscored)}"
        title = f"{benchmark.benchmark} rules, {len(results.result_files)} sequences"
        tables = [sequence_table(results, title)] if results.per_sequence else []
        scores = {split: sequence_scores(results)} if results.per_sequence else {}
        metrics = tracking_metrics(results, split)
        return EvaluationOutcome(metrics, source, tables, summary, split, scores, count_parameters(tracker))

    def video_annotator(self, model: Any, datamodule: None, settings: Any) -> Any:
        """The tracker (``model``) over the detections file of the video, boxes with ids drawn on the frames and
        the MOTChallenge result file (:class:`~visionbench.video.tracking.TrackingAnnotator`)."""
        from visionbench.video.tracking import TrackingAnnotator  # video I/O is loaded by infer.py only

        return TrackingAnnotator(model, settings)

    def metrics_from_scores(self, scores: Mapping[str, np.ndarray], split: str) -> dict[str, float]:
        """The combined and per-sequence entries of metrics.json (all but ``FPS``, a timing) from the per-sequence
        fields: per-sequence scores as stored, the combination recomputed by TrackEval's rules."""
        names = [str(name) for name in scores["sample_id"]]
        fields = {key: values for key, values in scores.items() if key != "sample_id"}
        per_sequence = dict(zip(names, sequences_from_fields(fields, len(names)), strict=True))
        combined = combine_sequences(list(per_sequence.values())) if per_sequence else None
        return score_metrics(split, combined, per_sequence)
