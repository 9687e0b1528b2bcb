"""Training curves from a run's CSV logger file (``<run>/csv/**/metrics.csv``, Lightning's CSVLogger: one line per
logging call, a column per logged name, empty where a line does not log it)."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

Curve = tuple[list[float], list[float]]
"""Steps and values."""


def metrics_file(run_dir: Path) -> Path | None:
    """The run's CSV logger file (the newest when there are several versions), None without one."""
    files = sorted((run_dir / "csv").glob("**/metrics.csv"), key=lambda path: path.stat().st_mtime)
    return files[-1] if files else None


def training_curves(run_dir: Path, names: Sequence[str]) -> dict[str, Curve]:
    """The logged values of each of ``names`` against the training step (names never logged are left out; a file
    that cannot be parsed gives no curves)."""
    path = metrics_file(run_dir)
    if path is None:
        return {}
    curves: dict[str, Curve] = {}
    try:
        with path.open(newline="") as handle:
            for line in csv.DictReader(handle):
                step = float(line.get("step") or "nan")
                for name in names:
                    text = line.get(name)
                    if text and not math.isnan(step):
                        steps, values = curves.setdefault(name, ([], []))
                        steps.append(step)
                        values.append(float(text))
    except (OSError, csv.Error, ValueError):
        return {}
    return curves
