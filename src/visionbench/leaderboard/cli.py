"""The command line of ``leaderboard.py``: compare run directories, or show a paper table's reproduced numbers next to
the published ones.

    python leaderboard.py RUN_OR_GLOB [...] [--by KEY ...] [--split SPLIT] [--metrics METRIC ...] [--percent]
        [--allow-mixed KEY] [--benchmark FILE] [--benchmark-where COLUMN=VALUE] [--bootstrap B]
        [--bootstrap-seed S] [--title TEXT] [--out DIR [--name STEM]]
    python leaderboard.py --table NAME [RUN_OR_GLOB ...] [--allow-mixed KEY] [--out DIR]

Without ``--out`` the markdown table is printed; with it ``<STEM>.md``, ``.csv`` and ``.html`` are written into DIR
(``STEM``: ``leaderboard``, or the paper table's name), never over a file with other contents.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from visionbench.leaderboard.benchmark import read_benchmark
from visionbench.leaderboard.bootstrap import RESAMPLES
from visionbench.leaderboard.errors import LeaderboardError
from visionbench.leaderboard.figures import Figure, leaderboard_figures
from visionbench.leaderboard.layout import Table
from visionbench.leaderboard.output import write_outputs
from visionbench.leaderboard.paper import find_table, load_table, paper_table
from visionbench.leaderboard.protocol import MANIFEST
from visionbench.leaderboard.render_csv import render_csv
from visionbench.leaderboard.render_html import render_html
from visionbench.leaderboard.render_markdown import render_markdown
from visionbench.leaderboard.runs import Scan, scan
from visionbench.leaderboard.table import Options, build_leaderboard, leaderboard_table


def parser() -> argparse.ArgumentParser:
    """The argument parser of leaderboard.py."""
    parse = argparse.ArgumentParser(
        prog="leaderboard.py",
        description="Compare run directories (train, evaluate and multirun jobs) in one table, seeds averaged, the "
        "best row and those a paired bootstrap cannot tell from it marked; or, with --table, reproduced vs published "
        "numbers of a paper table (experiments/<NAME>.yaml).",
    )
    parse.add_argument("runs", nargs="*", metavar="RUN", help="run directories, folders holding runs, glob patterns")
    parse.add_argument("--table", metavar="NAME", help="paper table experiments/NAME.yaml (or a YAML file)")
    parse.add_argument(
        "--by", nargs="+", action="extend", default=[], metavar="KEY", help="config keys or group choices naming rows"
    )
    parse.add_argument("--split", help="the split shown (default: one every run scored, test before val)")
    parse.add_argument("--metrics", nargs="+", action="extend", default=[], metavar="METRIC", help="columns shown")
    parse.add_argument("--percent", action="store_true", help="show ratios in percent instead of fractions")
    parse.add_argument(
        "--allow-mixed",
        action="append",
        default=[],
        metavar="KEY",
        help=f"let runs differing in this protocol key (or '{MANIFEST}': the split's samples) share a column",
    )
    parse.add_argument("--benchmark", type=Path, action="append", default=[], help="model benchmark CSV (speed)")
    parse.add_argument("--benchmark-where", action="append", default=[], metavar="COLUMN=VALUE")
    parse.add_argument("--bootstrap", type=int, default=RESAMPLES, metavar="B", help="bootstrap resamples")
    parse.add_argument("--bootstrap-seed", type=int, default=0, metavar="S")
    parse.add_argument("--title", help="the table's title")
    parse.add_argument("--out", type=Path, metavar="DIR", help="write STEM.md, STEM.csv and STEM.html here")
    parse.add_argument("--name", metavar="STEM", help="file name stem under --out")
    return parse


def _where(items: Sequence[str]) -> dict[str, str]:
    pairs = {}
    for item in items:
        column, separator, value = item.partition("=")
        if not separator or not column:
            raise LeaderboardError(f"--benchmark-where {item}: expected COLUMN=VALUE")
        pairs[column] = value
    return pairs


def build(args: argparse.Namespace, figures: bool) -> tuple[Table, list[Figure], str]:
    """The table, its figures (when ``figures``) and the default file stem for the parsed ``args``."""
    found = scan(args.runs) if args.runs else Scan([], [], [])
    if args.table:
        path = find_table(args.table)
        return paper_table(load_table(path), found.runs, args.allow_mixed), [], path.stem
    if args.bootstrap < 1:
        raise LeaderboardError(f"--bootstrap {args.bootstrap}: at least one resample")
    benchmark_files = args.benchmark or found.benchmarks
    options = Options(
        by=args.by,
        allow_mixed=args.allow_mixed,
        split=args.split,
        metrics=args.metrics,
        percent=args.percent,
        resamples=args.bootstrap,
        seed=args.bootstrap_seed,
        benchmark=read_benchmark(benchmark_files, _where(args.benchmark_where)) if benchmark_files else None,
        title=args.title,
    )
    board = build_leaderboard(found.runs, options)
    table = leaderboard_table(board)
    table.notes += [f"Left out: {item.path} ({item.reason})." for item in found.skipped]
    return table, leaderboard_figures(board) if figures else [], "leaderboard"


def main(argv: Sequence[str] | None = None) -> int:
    """Run leaderboard.py with ``argv``; errors print one line naming what is wrong (exit status 2)."""
    parse = parser()
    args = parse.parse_args(argv)
    if not args.runs and not args.table:
        parse.error("give run directories (or glob patterns), or --table NAME")
    try:
        table, figures, stem = build(args, figures=args.out is not None)
        if args.out is None:
            print(render_markdown(table), end="")
            return 0
        contents = {".md": render_markdown(table), ".csv": render_csv(table), ".html": render_html(table, figures)}
        for line in write_outputs(args.out, args.name or stem, contents):
            print(line)
    except LeaderboardError as error:
        print(f"leaderboard.py: error: {error}", file=sys.stderr)
        return 2
    return 0
