"""The leaderboard of runs of one problem: rows sorted by the headline metric in its direction, a column group per
dataset and split (headline and secondary metrics over the seeds, the mark of the paired bootstrap against the best
row), parameters, training time, speed columns of a benchmark, and each row's provenance."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from visionbench.leaderboard.benchmark import Benchmark, number
from visionbench.leaderboard.bootstrap import RESAMPLES, Mark, mark_rows
from visionbench.leaderboard.errors import LeaderboardError
from visionbench.leaderboard.grouping import ColumnGroup, Grouping, Row, SeedStats, group_runs, run_setup, seed_stats
from visionbench.leaderboard.layout import PROVENANCE, Cell, Column, Table, Unit
from visionbench.leaderboard.protocol import check_problem, check_protocol, check_samples
from visionbench.leaderboard.runs import Run
from visionbench.leaderboard.settings import config_hash
from visionbench.tasks.contract import ProblemContract

SHORT_HASH = 12


@dataclass(frozen=True)
class Options:
    """How to build a leaderboard: ``by`` row keys (default: the differing ones), protocol keys ``allow_mixed``,
    the ``split`` shown, the secondary ``metrics`` (default: the problem's), ratios in ``percent``, bootstrap
    ``resamples`` and ``seed``, a ``benchmark`` for speed columns and a ``title``."""

    by: Sequence[str] = ()
    allow_mixed: Sequence[str] = ()
    split: str | None = None
    metrics: Sequence[str] = ()
    percent: bool = False
    resamples: int = RESAMPLES
    seed: int = 0
    benchmark: Benchmark | None = None
    title: str | None = None


@dataclass
class Leaderboard:
    """Rows (sorted, best first in the first column group) with their metrics' :class:`SeedStats` and bootstrap
    :class:`Mark` per column group."""

    contract: ProblemContract
    grouping: Grouping
    metrics: dict[ColumnGroup, list[str]]
    options: Options
    stats: dict[tuple[int, ColumnGroup, str], SeedStats] = field(default_factory=dict)
    marks: dict[ColumnGroup, list[Mark]] = field(default_factory=dict)

    @property
    def rows(self) -> list[Row]:
        return self.grouping.rows

    def unit(self, metric: str) -> Unit:
        return Unit(self.contract.metric_unit(metric), self.options.percent)


def _shown_metrics(contract: ProblemContract, runs: Sequence[Run], split: str, chosen: Sequence[str]) -> list[str]:
    headline = contract.headline.metric
    logged = {
        key.split("/", 1)[1]
        for run in runs
        for key, value in run.metrics.items()
        if key.startswith(f"{split}/") and key.count("/") == 1 and isinstance(value, int | float)
    }
    wanted = list(chosen or contract.leaderboard_metrics or sorted(logged))
    return [headline] + [metric for metric in wanted if metric in logged and metric != headline]


def _sort_key(row: Row, groups: Sequence[ColumnGroup], contract: ProblemContract) -> tuple[float, ...]:
    """Rows scored in the first column group first, best first; then by the next column group."""
    sign = -1.0 if contract.headline.direction == "max" else 1.0
    key: list[float] = []
    for group in groups:
        mean = seed_stats(
            [run.metrics.get(contract.headline.key(group.split)) for run in row.cells.get(group, [])]
        ).mean
        key += [1.0, 0.0] if math.isnan(mean) else [0.0, sign * mean]
    return tuple(key)


def build_leaderboard(runs: Sequence[Run], options: Options) -> Leaderboard:
    """Group ``runs`` into rows and column groups, refuse mixed problems, samples or protocols, average the seeds,
    sort, and mark each column group's best row and those the paired bootstrap cannot tell from it."""
    contract = check_problem(runs)
    grouping = group_runs(runs, contract.headline.metric, options.by, options.allow_mixed, options.split)
    metrics = {}
    for group in grouping.groups:
        members = [run for row in grouping.rows for run in row.cells.get(group, [])]
        check_protocol(group.label, members, contract, options.allow_mixed)
        check_samples(group.label, group.split, members, options.allow_mixed)
        metrics[group] = _shown_metrics(contract, members, group.split, options.metrics)
    unknown = [metric for metric in options.metrics if not any(metric in shown for shown in metrics.values())]
    if unknown:
        logged = sorted({key.split("/", 1)[1] for run in runs for key in run.metrics if key.count("/") == 1})
        raise LeaderboardError(f"--metrics {' '.join(unknown)}: not in any run's metrics.json; logged: {logged}")
    grouping.check_repeats()
    grouping.rows.sort(key=lambda row: _sort_key(row, grouping.groups, contract))
    board = Leaderboard(contract, grouping, metrics, options)
    for index, row in enumerate(grouping.rows):
        for group, shown in metrics.items():
            for metric in shown:
                values = [run.metrics.get(f"{group.split}/{metric}") for run in row.cells.get(group, [])]
                board.stats[(index, group, metric)] = seed_stats(values)
    for group in grouping.groups:
        cells = [row.cells.get(group, []) for row in grouping.rows]
        means = [board.stats[(index, group, contract.headline.metric)].mean for index in range(len(cells))]
        scores = [[run.scores(group.split) for run in runs] for runs in cells]
        usable = [None if not runs or any(item is None for item in runs) else runs for runs in scores]
        board.marks[group] = mark_rows(contract, means, usable, options.resamples, options.seed)
    return board


def _stats_cell(stats: SeedStats, unit: Unit, strong: bool) -> Cell:
    text = unit.format(stats.mean)
    if stats.n >= 2:
        text += f" ± {unit.format(stats.high - stats.mean)}"
    fields = {
        "": unit.scaled(stats.mean),
        "std": unit.scaled(stats.std),
        "n": stats.n,
        "ci_low": unit.scaled(stats.low),
        "ci_high": unit.scaled(stats.high),
    }
    return Cell(text, None if math.isnan(stats.mean) else unit.scaled(stats.mean), fields, strong)


def _mark_cell(mark: Mark, unit: Unit) -> Cell:
    if mark.best:
        return Cell("best", 0.0, {"": "best"}, strong=True)
    difference = mark.difference
    if difference is None:
        return Cell(f"? {mark.missing}", None, {"": "unknown"})
    interval = f"{unit.format(difference.estimate, signed=True)} [{unit.format(difference.low, signed=True)}, "
    interval += f"{unit.format(difference.high, signed=True)}]"
    fields = {
        "": "distinguishable" if difference.distinguishable else "not distinguishable",
        "delta": unit.scaled(difference.estimate),
        "delta_low": unit.scaled(difference.low),
        "delta_high": unit.scaled(difference.high),
        "samples": difference.samples,
    }
    text = interval if difference.distinguishable else f"≈ {interval}"
    return Cell(text, unit.scaled(difference.estimate), fields, strong=not difference.distinguishable)


def _mean(values: Sequence[float | None]) -> float:
    numbers = [float(value) for value in values if value is not None]
    return sum(numbers) / len(numbers) if numbers else math.nan


def _joined(values: Sequence[str | None]) -> str:
    distinct = list(dict.fromkeys(value for value in values if value))
    return ", ".join(distinct) if distinct else "unknown"


def _short(value: str | None) -> str | None:
    return value.removeprefix("sha256:")[:SHORT_HASH] if value else None


def _commit(run: Run) -> str | None:
    commit = run.git.get("commit")
    if not commit:
        return None
    return commit[:SHORT_HASH] + ("+dirty" if run.git.get("dirty") else "")


def _text_cell(text: str) -> Cell:
    return Cell(text, text, {"": text})


def provenance_columns(columns: Sequence[str]) -> list[Column]:
    """The provenance section: runs, git commits, config hashes, the split manifest of each of ``columns`` (column
    groups or metrics), metric code."""
    names = ["runs", "git commit", "config hash", *(f"{column} manifest" for column in columns), "metric code"]
    return [Column(name, name, section=PROVENANCE) for name in names]


def provenance_cells(
    runs: Sequence[Run], manifests: Sequence[tuple[str, Sequence[Run]]], allow_mixed: Sequence[str]
) -> list[Cell]:
    """Where a row's numbers come from (:func:`provenance_columns`): its run directories, git commits (``+dirty``:
    uncommitted changes), config hashes (the setup without seed and folders), the manifests of each ``(split, runs)``
    of ``manifests`` and the metric code versions."""
    if not runs:
        return [_text_cell("") for _ in range(4 + len(manifests))]
    hashes = [_short(config_hash(run_setup(run, allow_mixed).settings)) for run in runs]
    cells = [_text_cell(" ".join(run.name for run in runs)), _text_cell(_joined([_commit(run) for run in runs]))]
    cells.append(_text_cell(_joined(hashes)))
    for split, members in manifests:
        cells.append(_text_cell(_joined([_short(run.manifest(split)) for run in members]) if members else ""))
    cells.append(_text_cell(_joined([_short(run.metric_code) for run in runs])))
    return cells


def leaderboard_table(board: Leaderboard) -> Table:
    """The leaderboard as a :class:`Table` (columns as described in the module docstring, notes as its legend)."""
    headline = board.contract.headline
    benchmark = board.options.benchmark
    label_keys = board.grouping.label_keys or ["setup"]
    columns = [Column(key, key) for key in label_keys]
    for group, metrics in board.metrics.items():
        for metric in metrics:
            unit = board.unit(metric)
            columns.append(Column(f"{group.label} {metric} ({unit.label})", f"{metric} ({unit.label})", group.label))
        columns.append(Column(f"{group.label} n", "n", group.label))
        columns.append(Column(f"{group.label} vs best", "vs best: Δ [95 % CI]", group.label))
    columns += [Column("parameters", "params (M)"), Column("train time (s)", "train time (s)")]
    columns += [Column(f"benchmark {name}", name) for name in (benchmark.shown if benchmark else [])]
    rows = []
    for index, row in enumerate(board.rows):
        cells = [_text_cell(row.label.get(key, "all runs")) for key in label_keys]
        for group, metrics in board.metrics.items():
            mark = board.marks[group][index]
            for metric in metrics:
                strong = metric == headline.metric and (mark.best or mark.tied)
                cells.append(_stats_cell(board.stats[(index, group, metric)], board.unit(metric), strong))
            cells.append(Cell(str(len(row.cells.get(group, []))), len(row.cells.get(group, []))))
            cells.append(_mark_cell(mark, board.unit(headline.metric)) if row.cells.get(group) else Cell())
        parameters = _mean([run.parameters for run in row.runs])
        seconds = _mean([run.train_seconds for run in row.runs])
        cells.append(Cell("-" if math.isnan(parameters) else f"{parameters / 1e6:.3f}", parameters, {"": parameters}))
        cells.append(Cell("-" if math.isnan(seconds) else f"{seconds:.1f}", seconds, {"": seconds}))
        record = benchmark.record(row.runs[0]) if benchmark else None
        for name in benchmark.shown if benchmark else []:
            value = number(record, name)
            text = (record or {}).get(name) or "-"
            cells.append(Cell(text, text if math.isnan(value) and text != "-" else value, {"": text}))
        manifests = [(group.split, row.cells.get(group, [])) for group in board.grouping.groups]
        rows.append(cells + provenance_cells(row.runs, manifests, board.options.allow_mixed))
    columns += provenance_columns([group.label for group in board.grouping.groups])
    return Table(board.options.title or _title(board), columns, rows, _notes(board), len(label_keys))


def _title(board: Leaderboard) -> str:
    runs = sum(len(row.runs) for row in board.rows)
    groups = ", ".join(group.label for group in board.grouping.groups)
    return f"{board.contract.name} leaderboard: {len(board.rows)} rows from {runs} runs ({groups})"


def _notes(board: Leaderboard) -> list[str]:
    headline, options = board.contract.headline, board.options
    better = "higher" if headline.direction == "max" else "lower"
    ratios = "percent" if options.percent else "fractions in [0, 1]"
    notes = [
        f"Ranked by {headline.metric} ({better} is better) in the first column group; ratios are shown as {ratios}, "
        "other units in the headers (px: pixels, count: counts).",
        "Cells: mean ± half-width of the 95 % Student-t confidence interval over the row's n seeds (one seed: the "
        "value); the CSV also holds the standard deviation and the interval's bounds.",
        f"vs best: the row's {headline.metric} minus the best row's (best in bold) on the samples both scored, with "
        f"the 95 % percentile interval of a paired bootstrap ({options.resamples} resamples of the samples, each "
        f"applied to every seed run of both rows, seed {options.seed}); ≈ (also bold): the interval contains 0, so "
        "the row is not distinguishable from the best at the 5 % level.",
        "Provenance: git commit (+dirty: uncommitted changes), config hash (sha256 of the setup without seed and "
        "folders), split manifest (sha256 of the sample ids), metric code (sha256 of the metric modules).",
    ]
    if options.allow_mixed:
        notes.append(f"Allowed to differ within a column (each value its own row): {', '.join(options.allow_mixed)}.")
    if board.grouping.pooled:
        notes.append(
            f"Rows named by --by {' '.join(options.by)}; pooled within rows: {', '.join(board.grouping.pooled)}."
        )
    if options.benchmark is not None:
        settings = ", ".join(f"{key}={value}" for key, value in options.benchmark.constant.items())
        sources = ", ".join(map(str, options.benchmark.sources))
        notes.append(f"Speed columns from {sources}" + (f" ({settings})." if settings else "."))
    notes += [f"Left out: {item.path} ({item.reason})." for item in board.grouping.skipped]
    return notes
