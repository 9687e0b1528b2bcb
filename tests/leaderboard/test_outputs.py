"""The leaderboard's table, files and entry points on hand-made run directories: the multi-dataset pivot, units,
markdown / CSV / a self-contained HTML page, benchmark speed columns, the command line end to end (files never
overwritten) and the multirun callback."""

import csv
import io
import re
from pathlib import Path

import pytest
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import OmegaConf
from plotly.offline import get_plotlyjs

from tests.helpers import compose_config
from tests.leaderboard.rundirs import write_evaluation, write_run
from visionbench.leaderboard.benchmark import read_benchmark
from visionbench.leaderboard.callback import MultirunLeaderboard
from visionbench.leaderboard.cli import main
from visionbench.leaderboard.errors import LeaderboardError
from visionbench.leaderboard.figures import leaderboard_figures
from visionbench.leaderboard.render_csv import render_csv
from visionbench.leaderboard.render_html import render_html
from visionbench.leaderboard.render_markdown import render_markdown
from visionbench.leaderboard.runs import scan
from visionbench.leaderboard.table import Options, build_leaderboard, leaderboard_table


def write_sweep(root: Path) -> Path:
    """Two models x two seeds with per-sample scores, per-class IoU, training time and curves."""
    for seed in (0, 1):
        good = [0.8, 0.7, 0.9, 0.6 + 0.1 * seed]
        write_run(
            root / f"net{seed}", {"val/score": sum(good) / 4, "val/errors": 2 + seed, "val/IoU/sky": 0.9,
                                  "val/IoU/road": 0.5},
            {"seed": seed}, scores={"val": good}, info={"train_seconds": 20.0}, curve=[(5, 0.4), (10, 0.7)],
        )  # fmt: skip
        bad = [0.2, 0.3, 0.1, 0.2]
        write_run(
            root / f"wide{seed}", {"val/score": sum(bad) / 4, "val/errors": 9, "val/IoU/sky": 0.3, "val/IoU/road": 0.1},
            {"seed": seed, "model.width": 32}, choices={"model": "toy/wide"}, scores={"val": bad},
            env={"model_parameters": 4000}, info={"train_seconds": 60.0},
        )  # fmt: skip
    return root


def test_one_model_on_several_datasets_is_one_row_with_a_column_group_each(tmp_path: Path) -> None:
    trained = write_run(tmp_path / "train", {"test/score": 0.5})
    write_evaluation(tmp_path / "eval" / "a", {"val/score": 0.4}, trained, choices={"data": "toy/a"})
    write_evaluation(tmp_path / "eval" / "b", {"val/score": 0.3}, trained, choices={"data": "toy/b"})
    table = leaderboard_table(build_leaderboard(scan([str(tmp_path / "eval")]).runs, Options(percent=True)))
    assert len(table.rows) == 1
    groups = [column.group for column in table.columns if column.group]
    assert list(dict.fromkeys(groups)) == ["toy/a val", "toy/b val"]
    text = render_markdown(table)
    assert "| toy/a val: score (%) | toy/a val: n | toy/a val: vs best: Δ [95 % CI] | toy/b val: score (%) |" in text
    assert "| **40.00** | 1 | **best** | **30.00** | 1 | **best** |" in text


def test_table_units_marks_and_csv(tmp_path: Path) -> None:
    board = build_leaderboard(scan([str(write_sweep(tmp_path))]).runs, Options(percent=True, resamples=200))
    table = leaderboard_table(board)
    text = render_markdown(table)
    assert "ratios are shown as percent" in text and "errors (count)" in text and "score (%)" in text
    assert [row.label["model"] for row in board.rows] == ["toy/net", "toy/wide"]
    assert board.marks[board.grouping.groups[0]][1].difference.distinguishable
    records = list(csv.DictReader(io.StringIO(render_csv(table))))
    assert records[0]["toy/data val vs best"] == "best"
    assert records[1]["toy/data val vs best"] == "distinguishable"
    assert float(records[1]["toy/data val score (%)"]) == pytest.approx(20.0)
    assert float(records[0]["toy/data val errors (count) std"]) == pytest.approx(0.7071067811865476)
    assert records[1]["parameters"] == "4000" and records[0]["git commit"] == "0123456789ab"


def test_html_is_one_self_contained_page_with_a_sortable_table_and_plots(tmp_path: Path) -> None:
    board = build_leaderboard(scan([str(write_sweep(tmp_path))]).runs, Options(resamples=100))
    figures = leaderboard_figures(board)
    titles = [title for title, _ in figures]
    assert titles == [
        "score vs parameters",
        "score vs training time",
        "Training curves: val/score",
        "Training curves: training loss",
        "Per-class IoU (fraction), toy/data val",
    ]
    page = render_html(leaderboard_table(board), figures)
    assert not re.search(r"<script[^>]+src=[\"']?(https?:)?//", page)
    assert not re.search(r"<link[^>]+href=[\"']?(https?:)?//", page)
    assert "Plotly.newPlot" in page and page.count('<table class="sortable">') == 2
    assert get_plotlyjs()[-2000:] in page  # the library itself is embedded
    assert render_html(leaderboard_table(board), figures) == page  # deterministic


def test_benchmark_columns_join_by_model_and_need_one_record_per_model(tmp_path: Path) -> None:
    write_sweep(tmp_path / "runs")
    (tmp_path / "runs" / "benchmark.csv").write_text(
        "model,device,batch,latency_ms,gflops\ntoy/net,cpu,1,5.0,1.5\ntoy/wide,cpu,1,9.0,6.0\n"
        "toy/net,cpu,8,30.0,12.0\ntoy/wide,cpu,8,60.0,48.0\n"
    )
    found = scan([str(tmp_path / "runs")])
    with pytest.raises(LeaderboardError, match=r"several records for model toy/net \(they differ in batch, latency"):
        read_benchmark(found.benchmarks, {})
    benchmark = read_benchmark(found.benchmarks, {"batch": "1"})
    assert benchmark.shown == ["batch", "latency_ms", "gflops"] and benchmark.constant == {"device": "cpu"}
    board = build_leaderboard(found.runs, Options(benchmark=benchmark, resamples=50))
    records = list(csv.DictReader(io.StringIO(render_csv(leaderboard_table(board)))))
    assert [record["benchmark latency_ms"] for record in records] == ["5.0", "9.0"]
    assert "score vs gflops" in [title for title, _ in leaderboard_figures(board)]


def test_command_line_prints_markdown_and_writes_files_without_overwriting(tmp_path: Path, capsys) -> None:
    runs = write_sweep(tmp_path / "runs")
    assert main([str(runs / "*"), "--bootstrap", "100"]) == 0
    assert "| toy/net |" in capsys.readouterr().out
    out = tmp_path / "out"
    assert main([str(runs), "--bootstrap", "100", "--out", str(out)]) == 0
    assert sorted(path.name for path in out.iterdir()) == ["leaderboard.csv", "leaderboard.html", "leaderboard.md"]
    capsys.readouterr()
    assert main([str(runs), "--bootstrap", "100", "--out", str(out)]) == 0
    assert capsys.readouterr().out.count("unchanged") == 3
    assert main([str(runs), "--bootstrap", "100", "--out", str(out), "--percent"]) == 0
    assert "wrote leaderboard_1.* instead" in capsys.readouterr().out
    assert (out / "leaderboard_1.md").read_text() != (out / "leaderboard.md").read_text()


def test_command_line_reports_errors_in_one_line(tmp_path: Path, capsys) -> None:
    write_sweep(tmp_path / "runs")
    assert main([str(tmp_path / "runs"), "--by", "optim.momentum"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("leaderboard.py: error: --by optim.momentum") and error.count("\n") == 1
    assert main([str(tmp_path / "missing")]) == 2
    with pytest.raises(SystemExit):
        main([])


def test_command_line_paper_table(tmp_path: Path, capsys) -> None:
    write_run(tmp_path / "runs" / "a", {"val/score": 0.61})
    table = tmp_path / "toy.yaml"
    table.write_text(
        "title: Toy\nproblem: toy\nmetrics: {score: {key: val/score, unit: percent}}\n"
        "rows:\n  base: {match: {model: toy/net}, published: {score: 60.0}, tolerance: {score: 0.5}, source: paper}\n"
    )
    assert main(["--table", str(table), str(tmp_path / "runs")]) == 0
    assert "| base | 61.00 | 60.00 | +1.00 | **outside** | 1 | paper |" in capsys.readouterr().out
    assert main(["--table", str(table), str(tmp_path / "runs"), "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "toy.html").is_file()


def test_multirun_callback_prints_and_keeps_the_leaderboard(tmp_path: Path, capsys, caplog) -> None:
    sweep = write_sweep(tmp_path / "sweep")
    MultirunLeaderboard(resamples=50).on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}}}))
    assert "| toy/net |" in capsys.readouterr().out and (sweep / "leaderboard.md").is_file()
    empty = tmp_path / "empty"
    empty.mkdir()
    MultirunLeaderboard().on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(empty)}}}))
    assert "no leaderboard for the multirun" in caplog.text


def test_unknown_metrics_are_refused_naming_the_logged_ones(tmp_path: Path) -> None:
    runs = scan([str(write_sweep(tmp_path))]).runs
    with pytest.raises(LeaderboardError, match=r"--metrics mIoU: not in any run's metrics.json; logged: \['errors'"):
        build_leaderboard(runs, Options(metrics=["mIoU"]))


def test_the_hydra_config_enables_the_multirun_callback(tmp_path: Path) -> None:
    compose_config("train", [], tmp_path)
    assert isinstance(instantiate(HydraConfig.get().callbacks.leaderboard), MultirunLeaderboard)
