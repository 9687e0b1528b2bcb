"""evaluate.py for trackers: run the configured tracker over a MOT benchmark, write results, metrics and tables."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf
from rich.table import Table

from visionbench.runner.reporting import print_tables, summary_table, write_json
from visionbench.tasks.tracking import HEADLINE, TrackingEvaluation, TrackingResults

COMBINED = "COMBINED"
"""Row name of the combination over sequences (TrackEval's ``COMBINED_SEQ``)."""


def is_tracking(cfg: DictConfig) -> bool:
    """Whether ``cfg.task`` is a tracking evaluation (trackers are run, not trained by Lightning)."""
    target = OmegaConf.select(cfg, "task._target_")
    return target is not None and issubclass(get_class(target), TrackingEvaluation)


def scalar_scores(scores: Mapping[str, object]) -> dict[str, float]:
    """The numbers of a score dict (HOTA's per-alpha arrays are left out)."""
    return {key: value for key, value in scores.items() if isinstance(value, int | float)}


def tracking_metrics(results: TrackingResults, split: str) -> dict[str, float]:
    """metrics.json of a tracking evaluation: ``<split>/<field>`` for the combination over sequences,
    ``<split>/<sequence>/<field>`` per sequence, ``<split>/FPS`` (frames per second of tracking)."""
    metrics: dict[str, float] = {f"{split}/FPS": results.frames_per_second}
    if results.combined is not None:
        metrics.update({f"{split}/{key}": value for key, value in scalar_scores(results.combined).items()})
    for name, scores in results.per_sequence.items():
        metrics.update({f"{split}/{name}/{key}": value for key, value in scalar_scores(scores).items()})
    return metrics


def _cell(value: float) -> str:
    return str(int(value)) if isinstance(value, int) else f"{100 * value:.2f}"


def sequence_table(results: TrackingResults, title: str) -> Table:
    """Per-sequence table (ratios in percent, counts as integers) with the combined row last."""
    table = Table(title=title)
    table.add_column("sequence")
    for field in HEADLINE:
        table.add_column(field, justify="right")
    rows = dict(results.per_sequence)
    if results.combined is not None:
        rows[COMBINED] = results.combined
    for name, scores in rows.items():
        cells = (_cell(scores[field]) for field in HEADLINE)
        table.add_row(name, *cells, style="bold" if name == COMBINED else None)
    return table


def evaluate_tracking(setup: DictConfig, output_dir: Path) -> dict[str, float]:
    """Run ``setup.model`` (a tracker) with ``setup.task`` over ``setup.data`` (a MOT benchmark): result files in
    ``<output_dir>/data/<sequence>.txt``, ``metrics.json``, ``source.json`` and the per-sequence table."""
    evaluation: TrackingEvaluation = instantiate(setup.task)
    tracker = instantiate(setup.model)
    benchmark = instantiate(setup.data)
    results = evaluation.run(tracker, benchmark, output_dir)
    split = str(getattr(benchmark, "split", "test"))
    metrics = tracking_metrics(results, split)
    write_json(metrics, output_dir / "metrics.json")
    write_json(
        {
            "tracker": OmegaConf.to_container(setup.model, resolve=True),
            "data": OmegaConf.to_container(setup.data, resolve=True),
            "task": OmegaConf.to_container(setup.task, resolve=True),
            "rules": benchmark.benchmark,
            "result_files": {name: str(path) for name, path in results.result_files.items()},
        },
        output_dir / "source.json",
    )
    rows = {"tracker": type(tracker).__name__, "frames per second": f"{results.frames_per_second:.1f}"}
    if results.combined is None:
        rows["scores"] = "none: no sequence has ground truth (results written for submission)"
    rows["outputs"] = str(output_dir)
    tables = [sequence_table(results, f"{benchmark.benchmark} rules, {len(results.result_files)} sequences")]
    print_tables(*(tables if results.per_sequence else []), summary_table(rows))
    return metrics
