"""Machine-readable run files (metrics.json, run.json) and the rich tables printed at the end of a run."""

import json
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

SCORE_PREFIXES = ("val/", "test/")


def write_json(data: Mapping, path: Path) -> Path:
    """Write ``data`` as indented JSON (NaN -> null); refuses to overwrite an existing file."""
    if path.exists():
        raise FileExistsError(f"refusing to overwrite {path}")
    clean = {key: (None if isinstance(value, float) and math.isnan(value) else value) for key, value in data.items()}
    path.write_text(json.dumps(clean, indent=2, sort_keys=True) + "\n")
    return path


def flat_metrics(
    results: Mapping[str, float], per_class: Mapping[str, Mapping[str, Sequence[float]]], class_names: Sequence[str]
) -> dict[str, float]:
    """Flat ``stage/metric`` scores and ``stage/<metric>/<class>`` per-class scores (losses are left out)."""
    flat = {key: float(value) for key, value in results.items() if key.startswith(SCORE_PREFIXES) and "loss" not in key}
    for stage, metrics in per_class.items():
        for metric, values in metrics.items():
            for name, value in zip(class_names, values, strict=True):
                flat[f"{stage}/{metric}/{name}"] = float(value)
    return flat


HEADLINE_METRICS = ("mIoU", "EPE", "mAP")
"""The score printed first for a split: the first of these the task logged."""


def task_metrics(results: Mapping[str, float], task: object) -> dict[str, float]:
    """:func:`flat_metrics` of a task's results, with its per-class scores when it has any (segmentation)."""
    return flat_metrics(results, getattr(task, "per_class_scores", {}), getattr(task, "class_names", []))


def task_tables(task: object) -> list[Table]:
    """The per-class tables of a task's latest evaluations (none for tasks without classes)."""
    scores = getattr(task, "per_class_scores", {})
    return [per_class_table(stage, stage_scores, task.class_names) for stage, stage_scores in scores.items()]


def headline(metrics: Mapping[str, float], stage: str) -> tuple[str, float]:
    """``(name, value)`` of the split's headline score, e.g. ``("test/mIoU", 0.91)`` or ``("val/EPE", 1.3)``."""
    for name in HEADLINE_METRICS:
        if f"{stage}/{name}" in metrics:
            return f"{stage}/{name}", metrics[f"{stage}/{name}"]
    return f"{stage}/-", float("nan")


def _percent(value: float) -> str:
    return "-" if value is None or math.isnan(value) else f"{100 * value:.2f}"


def per_class_table(stage: str, scores: Mapping[str, Sequence[float]], class_names: Sequence[str]) -> Table:
    """Per-class IoU / Acc / Dice in percent ('-' for classes absent from prediction and ground truth)."""
    table = Table(title=f"{stage}: per-class scores (%)")
    table.add_column("class")
    for metric in scores:
        table.add_column(metric, justify="right")
    for index, name in enumerate(class_names):
        table.add_row(name, *(_percent(values[index]) for values in scores.values()))
    return table


def summary_table(rows: Mapping[str, str]) -> Table:
    """A two-column key/value table."""
    table = Table(title="run summary", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    for key, value in rows.items():
        table.add_row(key, value)
    return table


def print_tables(*tables: Table) -> None:
    """Print to the terminal at its width; to a file or pipe (logs, CI) at 200 columns so wide tables stay whole."""
    console = Console(width=None if sys.stdout.isatty() else 200)
    for table in tables:
        console.print(table)
