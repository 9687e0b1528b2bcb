"""Machine-readable run files (metrics.json, run.json) and the rich tables printed at the end of a run."""

import json
import math
import sys
from collections.abc import Mapping
from pathlib import Path

from rich.console import Console
from rich.table import Table

from visionbench.tasks.contract import ProblemContract
from visionbench.utils.atomic import write_text_atomically


def write_json(data: Mapping, path: Path) -> Path:
    """Write ``data`` as indented JSON (NaN -> null), atomically; refuses to overwrite an existing file."""
    clean = {key: (None if isinstance(value, float) and math.isnan(value) else value) for key, value in data.items()}
    if not write_text_atomically(path, json.dumps(clean, indent=2, sort_keys=True) + "\n", replace=False):
        raise FileExistsError(f"refusing to overwrite {path}")
    return path


def headline_row(contract: ProblemContract, metrics: Mapping[str, float], split: str | None = None) -> dict[str, str]:
    """``{"<split>/<headline metric>": value}`` of ``split``, or of the first split in ``metrics`` that has the
    headline score (evaluations score the split their config names, e.g. MOT15's ``train``); empty when none does
    (e.g. a tracking run without ground truth)."""
    keys = [contract.headline.key(split)] if split else [key for key in metrics if key.count("/") == 1]
    for key in keys:
        if key.split("/")[1] == contract.headline.metric and metrics.get(key) is not None:
            return {key: f"{metrics[key]:.4f}"}
    return {}


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
