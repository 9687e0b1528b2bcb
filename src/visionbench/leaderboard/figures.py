"""Plots of a leaderboard (plotly figures for the HTML page): the headline against parameters, FLOPs (from a
benchmark) and training time, training curves from the runs' CSV logs, and a per-class IoU heat map for
segmentation (``<split>/IoU/<class>`` in metrics.json)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import plotly.graph_objects as go

from visionbench.leaderboard.benchmark import number
from visionbench.leaderboard.curves import training_curves
from visionbench.leaderboard.grouping import Row, seed_stats
from visionbench.leaderboard.runs import Run
from visionbench.leaderboard.table import Leaderboard

Figure = tuple[str, go.Figure]
"""A titled figure."""
PER_CLASS_METRIC = "IoU"
TRAINING_LOSSES = ("train/loss_epoch", "train/loss")


def _mean(values: Sequence[float | None]) -> float:
    return seed_stats(values).mean


def _scatter(board: Leaderboard, x_title: str, x_of: Callable[[Row], float], log_x: bool) -> go.Figure | None:
    """The headline (mean and 95 % interval over seeds) of each row against ``x_of(row)``, a trace per column
    group; None when no row has an x value."""
    headline = board.contract.headline.metric
    unit = board.unit(headline)
    figure = go.Figure()
    for group in board.grouping.groups:
        points = []
        for index, row in enumerate(board.rows):
            x, stats = x_of(row), board.stats[(index, group, headline)]
            if not math.isnan(x) and not math.isnan(stats.mean):
                half = 0.0 if math.isnan(stats.high) else unit.scaled(stats.high - stats.mean)
                points.append((x, unit.scaled(stats.mean), half, row.title))
        if points:
            xs, ys, halves, names = zip(*points, strict=True)
            figure.add_trace(
                go.Scatter(
                    x=xs,
                    y=ys,
                    error_y={"type": "data", "array": halves, "visible": True},
                    text=names,
                    mode="markers+text",
                    textposition="top center",
                    name=group.label,
                    hovertemplate="%{text}<br>%{x}<br>%{y}<extra></extra>",
                )
            )
    if not figure.data:
        return None
    figure.update_layout(
        xaxis_title=x_title, yaxis_title=f"{headline} ({unit.label})", xaxis_type="log" if log_x else "linear"
    )
    return figure


def _curves(board: Leaderboard, names: Sequence[str], y_title: str) -> go.Figure | None:
    """The first of ``names`` that a run logged, against the step, a line per run."""
    figure = go.Figure()
    for row in board.rows:
        for run in row.runs:
            source: Run = run.trained if run.trained is not None else run
            curves = training_curves(source.path, names)
            name = next((name for name in names if name in curves), None)
            if name is not None:
                steps, values = curves[name]
                label = f"{row.title} (seed {run.seed})"
                figure.add_trace(go.Scatter(x=steps, y=values, mode="lines+markers", name=label))
    if not figure.data:
        return None
    figure.update_layout(xaxis_title="training step", yaxis_title=y_title)
    return figure


def _per_class(board: Leaderboard) -> list[Figure]:
    """A heat map of per-class IoU (rows x classes, mean over seeds) per column group that has them."""
    figures = []
    unit = board.unit(PER_CLASS_METRIC)
    for group in board.grouping.groups:
        prefix = f"{group.split}/{PER_CLASS_METRIC}/"
        classes = list(
            dict.fromkeys(
                key[len(prefix) :]
                for row in board.rows
                for run in row.cells.get(group, [])
                for key in run.metrics
                if key.startswith(prefix)
            )
        )
        if not classes:
            continue
        rows = [row for row in board.rows if row.cells.get(group)]
        z = [
            [unit.scaled(_mean([run.metrics.get(prefix + name) for run in row.cells[group]])) for name in classes]
            for row in rows
        ]
        heat = go.Heatmap(
            z=z, x=classes, y=[row.title for row in rows], colorscale="Viridis", colorbar_title=unit.label
        )
        figure = go.Figure(heat)
        figure.update_layout(xaxis_title="class", yaxis_autorange="reversed", height=max(300, 40 * len(rows) + 150))
        figures.append((f"Per-class {PER_CLASS_METRIC} ({unit.label}), {group.label}", figure))
    return figures


def leaderboard_figures(board: Leaderboard) -> list[Figure]:
    """Every plot the leaderboard's runs allow (a plot without data is left out)."""
    headline = board.contract.headline.metric
    benchmark = board.options.benchmark
    flops = benchmark.flops if benchmark else None
    candidates: list[tuple[str, go.Figure | None]] = [
        (
            f"{headline} vs parameters",
            _scatter(board, "parameters (count)", lambda row: _mean([run.parameters for run in row.runs]), True),
        ),
        (
            f"{headline} vs training time",
            _scatter(board, "training time (s)", lambda row: _mean([run.train_seconds for run in row.runs]), True),
        ),
    ]
    if benchmark is not None and flops is not None:
        candidates.insert(
            1,
            (
                f"{headline} vs {flops}",
                _scatter(board, flops, lambda row: number(benchmark.record(row.runs[0]), flops), True),
            ),
        )
    candidates += [
        (f"Training curves: val/{headline}", _curves(board, [f"val/{headline}"], f"val/{headline}")),
        ("Training curves: training loss", _curves(board, TRAINING_LOSSES, "training loss")),
    ]
    figures = [(title, figure) for title, figure in candidates if figure is not None]
    return figures + _per_class(board)
