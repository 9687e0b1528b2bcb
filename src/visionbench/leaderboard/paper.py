"""Paper tables (``experiments/<name>.yaml``): published numbers next to the runs that reproduce them.

A table names its problem, its metrics (column label -> metrics.json key and the unit of the published numbers:
``percent``, ``fraction``, ``px`` or ``count``; optionally a ``match`` of its own, for tables whose columns are
different datasets) and its rows: which runs reproduce the row (``match``: dotted keys of the run's config, or config
group choices such as ``experiment``), the published numbers (null where the source has none), the tolerance
(absolute, in the published unit), the source and optionally the command that makes a matching run. Each row and
metric gets the reproduced value (mean over the matching runs' seeds, converted to the published unit), the
difference, and a status: within tolerance | outside | not run | no published number.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

import yaml

from visionbench.leaderboard.errors import LeaderboardError, MixedRunsError
from visionbench.leaderboard.grouping import SeedStats, run_setup, seed_stats
from visionbench.leaderboard.layout import Cell, Column, Table
from visionbench.leaderboard.protocol import check_protocol, check_samples, run_contract
from visionbench.leaderboard.runs import Run
from visionbench.leaderboard.settings import ABSENT, canonical, config_hash, select
from visionbench.leaderboard.table import provenance_cells, provenance_columns

UNITS = ("percent", "fraction", "px", "count")
WITHIN, OUTSIDE, NOT_RUN, NO_PUBLISHED = "within tolerance", "outside", "not run", "no published number"
PROJECT_DIR = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class PaperMetric:
    """A column: its ``label``, the metrics.json ``key`` (``<split>/<metric>``), the published ``unit``, and the
    ``match`` a run must also satisfy for this column (e.g. the dataset)."""

    label: str
    key: str
    unit: str
    match: Mapping[str, Any]

    @property
    def split(self) -> str:
        return self.key.split("/", 1)[0]

    @property
    def metric(self) -> str:
        return self.key.split("/", 1)[1]


@dataclass(frozen=True)
class PaperRow:
    """A row: which runs reproduce it, the published numbers and tolerances by metric label, source, command."""

    name: str
    match: Mapping[str, Any]
    published: Mapping[str, float | None]
    tolerance: Mapping[str, float]
    source: str
    command: str | None


@dataclass(frozen=True)
class PaperTable:
    """A paper table read from ``path``."""

    path: Path
    title: str
    problem: str
    description: str
    metrics: list[PaperMetric]
    rows: list[PaperRow]


def find_table(name: str) -> Path:
    """``name`` as a YAML file, or ``experiments/<name>.yaml`` in the current folder or the project."""
    candidates = [Path(name)] if name.endswith((".yaml", ".yml")) else []
    candidates += [Path("experiments") / f"{name}.yaml", PROJECT_DIR / "experiments" / f"{name}.yaml"]
    for path in candidates:
        if path.is_file():
            return path
    listing = sorted(path.stem for path in (PROJECT_DIR / "experiments").glob("*.yaml"))
    raise LeaderboardError(f"--table {name}: no such paper table (experiments/: {', '.join(listing) or 'none'})")


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise LeaderboardError(f"{where}: expected a mapping, found {type(value).__name__} {value!r}")
    return value


def _number(value: Any, where: str, optional: bool) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LeaderboardError(f"{where}: expected a number{' or null' if optional else ''}, found {value!r}")
    return float(value)


def _text(value: Any, where: str, required: bool) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value:
        raise LeaderboardError(f"{where}: expected a non-empty string, found {value!r}")
    return value


def load_table(path: Path) -> PaperTable:
    """Read and check the paper table at ``path``; every error names the file and the key."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise LeaderboardError(f"{path}: cannot read the paper table ({error})") from error
    data = _mapping(data, str(path))
    metrics = []
    for label, spec in _mapping(data.get("metrics"), f"{path}: metrics").items():
        where = f"{path}: metrics.{label}"
        spec = _mapping(spec, where)
        key, unit = _text(spec.get("key"), f"{where}.key", True), spec.get("unit")
        if key.count("/") < 1:
            raise LeaderboardError(f"{where}.key: expected <split>/<metric> (e.g. val/mIoU), found {key!r}")
        if unit not in UNITS:
            raise LeaderboardError(f"{where}.unit: expected one of {', '.join(UNITS)}, found {unit!r}")
        metrics.append(PaperMetric(str(label), key, unit, _mapping(spec.get("match"), f"{where}.match")))
    if not metrics:
        raise LeaderboardError(f"{path}: metrics: the table names no metric")
    labels = [metric.label for metric in metrics]
    rows = []
    for name, spec in _mapping(data.get("rows"), f"{path}: rows").items():
        where = f"{path}: rows.{name}"
        spec = _mapping(spec, where)
        published_spec = _mapping(spec.get("published"), f"{where}.published")
        tolerance_spec = _mapping(spec.get("tolerance"), f"{where}.tolerance")
        for section, values in (("published", published_spec), ("tolerance", tolerance_spec)):
            unknown = sorted(set(map(str, values)) - set(labels))
            if unknown:
                raise LeaderboardError(f"{where}.{section}: unknown metric(s) {unknown}; the table's: {labels}")
        published = {label: _number(published_spec.get(label), f"{where}.published.{label}", True) for label in labels}
        tolerance = {}
        for label in labels:
            if published[label] is not None:
                tolerance[label] = _number(tolerance_spec.get(label), f"{where}.tolerance.{label}", False)
        match = _mapping(spec.get("match"), f"{where}.match")
        if not match:
            raise LeaderboardError(f"{where}.match: a row needs the keys its runs match (e.g. experiment: ...)")
        source = _text(spec.get("source"), f"{where}.source", True)
        rows.append(PaperRow(str(name), match, published, tolerance, source, _text(spec.get("command"), "", False)))
    return PaperTable(
        path,
        _text(data.get("title"), f"{path}: title", True),
        _text(data.get("problem"), f"{path}: problem", True),
        _text(data.get("description"), f"{path}: description", False),
        metrics,
        rows,
    )


WEIGHTS_SUFFIX = "weights"
"""Keys ending so name a weights file (``model.weights``), matched by file name."""


def _same(actual: Any, expected: Any) -> bool:
    if isinstance(actual, int | float) and isinstance(expected, int | float):
        return float(actual) == float(expected)
    return canonical(actual) == canonical(expected)


def matches(run: Run, match: Mapping[str, Any]) -> bool:
    """Whether ``run`` satisfies every ``key: value`` of ``match``: a config group choice of the run (an evaluate
    run's own, else its training run's), else a dotted key of its config; a weights file (``model.weights``) matches
    by its file name, wherever the run read it from."""
    for key, expected in match.items():
        choices = [run.choices] + ([run.trained.choices] if run.trained is not None else [])
        choice = next((source[key] for source in choices if source.get(key) is not None), ABSENT)
        if choice is not ABSENT:
            if str(choice) != str(expected):
                return False
        else:
            actual = select(run.config, key)
            if key.endswith(WEIGHTS_SUFFIX) and isinstance(actual, str) and isinstance(expected, str):
                actual, expected = PurePath(actual).name, PurePath(expected).name  # a released file, wherever it is
            if actual is ABSENT or not _same(actual, expected):
                return False
    return True


def _factor(table: PaperTable, metric: PaperMetric, ours: str) -> float:
    if metric.unit == "percent" and ours == "fraction":
        return 100.0
    if metric.unit == ours:
        return 1.0
    raise LeaderboardError(
        f"{table.path}: metrics.{metric.label}.unit is {metric.unit}, but {metric.key} is in {ours} here; "
        "the published unit must be percent or fraction for a ratio, and the metric's own unit otherwise"
    )


@dataclass(frozen=True)
class Reproduction:
    """One row and metric: the matching runs, their stats in the published unit, the difference and the status."""

    runs: list[Run]
    stats: SeedStats
    published: float | None
    difference: float
    status: str


def _status(stats: SeedStats, published: float | None, tolerance: float | None) -> tuple[float, str]:
    if math.isnan(stats.mean):
        return math.nan, NOT_RUN if published is not None else NO_PUBLISHED
    if published is None or tolerance is None:
        return math.nan, NO_PUBLISHED
    difference = stats.mean - published
    # a difference equal to the tolerance up to float rounding (60.1 - 60.0 = 0.0999999...) is within it
    return difference, WITHIN if abs(difference) <= tolerance + 1e-9 else OUTSIDE


def reproduce(
    table: PaperTable, runs: Sequence[Run], allowed: Collection[str] = ()
) -> dict[tuple[str, str], Reproduction]:
    """Every row and metric of ``table`` (keyed ``(row name, metric label)``) against ``runs``, all of the table's
    problem; the runs of one column must share the protocol and samples, those of one cell one setup."""
    contracts = {run.name: run_contract(run) for run in runs}
    foreign = [name for name, contract in contracts.items() if contract.name != table.problem]
    if foreign:
        raise MixedRunsError(f"{table.path} is a {table.problem} table; runs of another problem: {', '.join(foreign)}")
    results: dict[tuple[str, str], Reproduction] = {}
    for metric in table.metrics:
        column: list[Run] = []
        for row in table.rows:
            cell = [
                run
                for run in runs
                if matches(run, row.match) and matches(run, metric.match) and run.metrics.get(metric.key) is not None
            ]
            hashes = {config_hash(run_setup(run, allowed).settings): run for run in cell}
            if len(hashes) > 1:
                names = ", ".join(run.name for run in hashes.values())
                raise LeaderboardError(
                    f"{table.path}: rows.{row.name} matches runs of {len(hashes)} different setups ({names}); make its "
                    "match more specific"
                )
            factor = _factor(table, metric, contracts[cell[0].name].metric_unit(metric.metric)) if cell else 1.0
            stats = seed_stats([float(run.metrics[metric.key]) * factor for run in cell])
            difference, status = _status(stats, row.published[metric.label], row.tolerance.get(metric.label))
            results[(row.name, metric.label)] = Reproduction(
                cell, stats, row.published[metric.label], difference, status
            )
            column += cell
        if column:
            check_protocol(f"{table.path} {metric.label}", column, contracts[column[0].name], allowed)
            check_samples(f"{table.path} {metric.label}", metric.split, column, allowed)
    return results


def paper_table(table: PaperTable, runs: Sequence[Run], allowed: Collection[str] = ()) -> Table:
    """The reproduced-vs-published :class:`Table` of ``table`` and ``runs``; a table of our own (no row has a
    published number) shows the measured values without the published, difference and status columns."""
    results = reproduce(table, runs, allowed)
    compared = any(value is not None for row in table.rows for value in row.published.values())
    columns = [Column("row", "row")]
    for metric in table.metrics:
        unit = "%" if metric.unit == "percent" else metric.unit
        group = f"{metric.label} ({metric.key})"
        columns.append(Column(f"{metric.label} reproduced ({unit})", f"reproduced ({unit})", group))
        if compared:
            columns += [
                Column(f"{metric.label} published ({unit})", f"published ({unit})", group),
                Column(f"{metric.label} difference ({unit})", f"Δ ({unit})", group),
                Column(f"{metric.label} status", "status", group),
            ]
        columns.append(Column(f"{metric.label} n", "n", group))
    columns += [Column("source", "source"), Column("command", "command")]
    columns += provenance_columns([metric.label for metric in table.metrics])
    rows = []
    for row in table.rows:
        cells = [Cell(row.name, row.name, {"": row.name})]
        row_runs: list[Run] = []
        manifests: list[tuple[str, Sequence[Run]]] = []
        for metric in table.metrics:
            result = results[(row.name, metric.label)]
            stats, decimals = result.stats, _decimals(metric.unit)
            text = _format(stats.mean, decimals)
            if stats.n >= 2:
                text += f" ± {_format(stats.high - stats.mean, decimals)}"
            fields = {"": stats.mean, "std": stats.std, "ci_low": stats.low, "ci_high": stats.high}
            cells.append(Cell(text, None if math.isnan(stats.mean) else stats.mean, fields))
            if compared:
                cells += [
                    Cell(_format(result.published, decimals), result.published, {"": result.published}),
                    Cell(_format(result.difference, decimals, signed=True), result.difference, {"": result.difference}),
                    Cell(result.status, result.status, {"": result.status}, strong=result.status == OUTSIDE),
                ]
            cells.append(Cell(str(stats.n), stats.n))
            row_runs += [run for run in result.runs if all(run is not other for other in row_runs)]
            manifests.append((metric.split, result.runs))
        cells += [
            Cell(row.source, row.source, {"": row.source}),
            Cell(row.command or "", row.command, {"": row.command}),
        ]
        rows.append(cells + provenance_cells(row_runs, manifests, allowed))
    notes = [table.description] if table.description else []
    notes.append(
        "reproduced: mean ± half-width of the 95 % Student-t interval over the matching runs' seeds, in the table's "
        "unit"
        + (
            "; Δ = reproduced - published; within tolerance: |Δ| <= the row's tolerance (same unit)."
            if compared
            else "."
        )
    )
    matched = {id(run) for result in results.values() for run in result.runs}
    notes += [f"Matched no row: {run.name}." for run in runs if id(run) not in matched]
    return Table(table.title, columns, rows, notes, 1)


def _decimals(unit: str) -> int:
    return {"percent": 2, "fraction": 4, "px": 3, "count": 0}[unit]


def _format(value: float | None, decimals: int, signed: bool = False) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:{'+' if signed else ''}.{decimals}f}"
