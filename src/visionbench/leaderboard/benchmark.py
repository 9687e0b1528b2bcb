"""Speed columns from a model benchmark CSV, joined to the rows by model.

The CSV has a header and a ``model`` column naming the model config (``segmentation/unet``, as ``model=`` on the
command line) or the model class (``_target_``, full or last component); every other column is a benchmark setting
or measurement. Records are filtered with ``--benchmark-where COLUMN=VALUE`` until one is left per model; with a
``status`` column (``python benchmark.py``'s CSV) only measured records (``ok``) count. Numeric columns are shown next
to the accuracy; text columns are shown when they vary and stated once in the notes when they do not (e.g. the
device); environment columns (``env_*``: torch version, device name, threads, load...) always go to the notes, as
one value or the range of values of the records shown; columns empty in every record shown are left out."""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from visionbench.leaderboard.errors import LeaderboardError
from visionbench.leaderboard.runs import Run

MODEL_COLUMN = "model"
STATUS_COLUMN, MEASURED = "status", "ok"
ENVIRONMENT_PREFIX = "env_"


@dataclass(frozen=True)
class Benchmark:
    """One benchmark record per model: ``shown`` columns, ``constant`` text settings, ``flops`` the FLOPs column (if
    any), ``sources`` the CSV files."""

    records: dict[str, dict[str, str]]
    shown: list[str]
    constant: dict[str, str]
    flops: str | None
    sources: list[Path]

    def record(self, run: Run) -> dict[str, str] | None:
        """The record of the model ``run`` scored (by its ``model`` choice, else its model class)."""
        source = run.trained if run.trained is not None else run
        target = str((run.config.get("model") or {}).get("_target_", ""))
        for key in (source.choices.get("model"), target, target.rsplit(".", 1)[-1]):
            if key and key in self.records:
                return self.records[key]
        return None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            records = list(reader)
            header = reader.fieldnames or []
    except (OSError, csv.Error, UnicodeDecodeError) as error:
        raise LeaderboardError(f"{path}: not a readable CSV file ({error})") from error
    if MODEL_COLUMN not in header:
        raise LeaderboardError(f"{path}: a benchmark CSV needs a '{MODEL_COLUMN}' column; its columns: {header}")
    return records


def _values(records: Sequence[Mapping[str, str]], column: str) -> str:
    """The column's one value, its range (numbers) or its values joined (text) over ``records``."""
    values = sorted({record[column] for record in records})
    if len(values) == 1:
        return values[0]
    if all(_is_number(value) for value in values):
        numbers = sorted(float(value) for value in values)
        return f"{numbers[0]:g}..{numbers[-1]:g}"
    return " | ".join(values)


def read_benchmark(paths: Sequence[Path], where: Mapping[str, str]) -> Benchmark:
    """The records of the CSV files ``paths`` that match every ``where`` column value, one per model; several records
    left for a model are refused, naming the columns they differ in."""
    records = [record for path in paths for record in _read(path)]
    records = [record for record in records if record.get(STATUS_COLUMN, MEASURED) == MEASURED]
    for column, value in where.items():
        if records and column not in records[0]:
            raise LeaderboardError(f"--benchmark-where {column}={value}: no such column; columns: {list(records[0])}")
        records = [record for record in records if record.get(column) == value]
    by_model: dict[str, dict[str, str]] = {}
    for record in records:
        earlier = by_model.setdefault(record[MODEL_COLUMN], record)
        if earlier is not record:
            differ = [column for column in record if record[column] != earlier.get(column)]
            raise LeaderboardError(
                f"{', '.join(map(str, paths))}: several records for model {record[MODEL_COLUMN]} (they differ in "
                f"{', '.join(differ)}); choose one with --benchmark-where COLUMN=VALUE"
            )
    columns = [column for column in (records[0] if records else {}) if column not in (MODEL_COLUMN, STATUS_COLUMN)]
    columns = [column for column in columns if any(record[column] for record in records)]  # empty ones left out
    numeric = [column for column in columns if all(_is_number(record[column] or "nan") for record in records)]
    varying = [column for column in columns if len({record[column] for record in records}) > 1]
    shown = [
        column
        for column in columns
        if (column in numeric or column in varying) and not column.startswith(ENVIRONMENT_PREFIX)
    ]
    constant = {column: _values(records, column) for column in columns if column not in shown}
    flops = next((column for column in numeric if "flops" in column.lower()), None)
    return Benchmark(by_model, shown, constant, flops, list(paths))


def number(record: Mapping[str, str] | None, column: str | None) -> float:
    """``record[column]`` as a float (NaN when absent)."""
    if record is None or column is None or not record.get(column):
        return math.nan
    return float(record[column]) if _is_number(record[column]) else math.nan
