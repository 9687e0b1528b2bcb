"""Paper tables: runs matched to rows, reproduced next to published in the published unit, with the difference and
the status (within tolerance / outside / not run / no published number); malformed tables name the key."""

from pathlib import Path

import pytest
import yaml

from tests.leaderboard.rundirs import write_evaluation, write_run
from visionbench.leaderboard.errors import LeaderboardError, MixedRunsError
from visionbench.leaderboard.paper import (
    NO_PUBLISHED,
    NOT_RUN,
    OUTSIDE,
    WITHIN,
    load_table,
    matches,
    paper_table,
    reproduce,
)
from visionbench.leaderboard.render_markdown import render_markdown
from visionbench.leaderboard.runs import scan

TABLE = {
    "title": "Toy table, val score",
    "problem": "toy",
    "description": "single-scale, whole images",
    "metrics": {"score": {"key": "val/score", "unit": "percent"}, "errors": {"key": "val/errors", "unit": "count"}},
    "rows": {
        "base": {
            "match": {"model": "toy/net", "optim.lr": 0.1},
            "published": {"score": 60.0, "errors": None},
            "tolerance": {"score": 0.5},
            "source": "Toy et al. 2024, table 1",
            "command": "python train.py -m seed=0,1",
        },
        "small_lr": {
            "match": {"optim.lr": 0.01},
            "published": {"score": 50.0, "errors": 3},
            "tolerance": {"score": 1.0, "errors": 0},
            "source": "Toy et al. 2024, table 2",
        },
        "never_run": {"match": {"experiment": "toy/none"}, "published": {"score": 40.0}, "tolerance": {"score": 1.0},
                      "source": "Toy et al. 2024, table 3"},
        "ours_only": {"match": {"model": "toy/wide"}, "published": {"score": None}, "source": "no published number"},
    },
}  # fmt: skip


def write_table(path: Path, changes: dict | None = None) -> Path:
    table = {**TABLE, **(changes or {})}
    path.write_text(yaml.safe_dump(table, sort_keys=False))
    return path


@pytest.fixture
def runs(tmp_path: Path) -> list:
    write_run(tmp_path / "runs" / "a0", {"val/score": 0.598, "val/errors": 4})
    write_run(tmp_path / "runs" / "a1", {"val/score": 0.604, "val/errors": 2}, {"seed": 1})
    write_run(tmp_path / "runs" / "b", {"val/score": 0.53, "val/errors": 3}, {"optim.lr": 0.01})
    write_run(tmp_path / "runs" / "c", {"val/score": 0.7}, {"model.width": 32}, choices={"model": "toy/wide"})
    return scan([str(tmp_path / "runs")]).runs


def test_statuses_and_differences_in_the_published_unit(tmp_path: Path, runs: list) -> None:
    table = load_table(write_table(tmp_path / "toy.yaml"))
    results = reproduce(table, runs)
    base = results[("base", "score")]
    assert base.stats.mean == pytest.approx(60.1) and base.stats.n == 2
    assert base.difference == pytest.approx(0.1) and base.status == WITHIN
    assert results[("small_lr", "score")].difference == pytest.approx(3.0)
    assert results[("small_lr", "score")].status == OUTSIDE
    assert results[("small_lr", "errors")].status == WITHIN and results[("small_lr", "errors")].difference == 0
    assert results[("never_run", "score")].status == NOT_RUN
    assert results[("ours_only", "score")].status == NO_PUBLISHED
    assert results[("ours_only", "score")].stats.mean == pytest.approx(70.0)
    assert results[("base", "errors")].status == NO_PUBLISHED and results[("base", "errors")].stats.mean == 3


def test_the_rendered_table_shows_reproduced_published_difference_and_status(tmp_path: Path, runs: list) -> None:
    text = render_markdown(paper_table(load_table(write_table(tmp_path / "toy.yaml")), runs))
    assert "## Toy table, val score" in text and "score (val/score): reproduced (%)" in text
    line = next(line for line in text.splitlines() if line.startswith("| small_lr "))
    assert "| 53.00 | 50.00 | +3.00 | **outside** | 1 |" in line
    assert "| - | 40.00 | - | not run | 0 |" in next(line for line in text.splitlines() if "never_run" in line)


def test_runs_of_another_problem_are_refused(tmp_path: Path, runs: list) -> None:
    table = load_table(write_table(tmp_path / "flow.yaml", {"problem": "flow"}))
    with pytest.raises(MixedRunsError, match=r"flow.yaml is a flow table; runs of another problem: .*/a0"):
        reproduce(table, runs)


def test_a_row_matching_several_setups_is_refused(tmp_path: Path, runs: list) -> None:
    rows = {"all": {"match": {"model": "toy/net"}, "published": {"score": 1.0}, "tolerance": {"score": 1.0},
                    "source": "x"}}  # fmt: skip
    table = load_table(write_table(tmp_path / "toy.yaml", {"rows": rows}))
    with pytest.raises(LeaderboardError, match="rows.all matches runs of 2 different setups"):
        reproduce(table, runs)


def test_a_published_unit_that_cannot_be_ours_is_refused(tmp_path: Path, runs: list) -> None:
    metrics = {"score": {"key": "val/score", "unit": "px"}}
    rows = {"base": {"match": {"optim.lr": 0.01}, "published": {"score": 1.0}, "tolerance": {"score": 1.0},
                     "source": "x"}}  # fmt: skip
    table = load_table(write_table(tmp_path / "toy.yaml", {"metrics": metrics, "rows": rows}))
    with pytest.raises(LeaderboardError, match=r"metrics.score.unit is px, but val/score is in fraction"):
        reproduce(table, runs)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"metrics": {"score": {"key": "val/score", "unit": "percents"}}}, r"metrics.score.unit: expected one of"),
        ({"metrics": {"score": {"key": "score", "unit": "percent"}}}, r"metrics.score.key: expected <split>/<metric>"),
        ({"problem": None}, r"toy.yaml: problem: expected a non-empty string"),
        (
            {"rows": {"r": {"match": {"a": 1}, "published": {"score": 1.0}, "source": "x"}}},
            r"rows.r.tolerance.score: expected a number",
        ),
        (
            {"rows": {"r": {"match": {"a": 1}, "published": {"mIoU": 1.0}, "source": "x"}}},
            r"rows.r.published: unknown metric\(s\) \['mIoU'\]",
        ),
        ({"rows": {"r": {"published": {}, "source": "x"}}}, r"rows.r.match: a row needs the keys its runs match"),
    ],
)
def test_malformed_tables_name_the_key(tmp_path: Path, changes: dict, message: str) -> None:
    with pytest.raises(LeaderboardError, match=message):
        load_table(write_table(tmp_path / "toy.yaml", changes))


def test_columns_on_different_datasets_match_their_own_runs(tmp_path: Path) -> None:
    trained = write_run(tmp_path / "train", {"test/score": 0.5})
    write_evaluation(tmp_path / "eval" / "a", {"val/score": 0.4}, trained, choices={"data": "toy/a"})
    write_evaluation(tmp_path / "eval" / "b", {"val/score": 0.3}, trained, changes={"data.passes": "final"})
    metrics = {
        "a": {"key": "val/score", "unit": "fraction", "match": {"data": "toy/a"}},
        "b_final": {"key": "val/score", "unit": "fraction", "match": {"data.passes": "final"}},
    }
    rows = {"net": {"match": {"model": "toy/net"}, "published": {"a": 0.41, "b_final": 0.2},
                    "tolerance": {"a": 0.02, "b_final": 0.02}, "source": "x"}}  # fmt: skip
    table = load_table(write_table(tmp_path / "toy.yaml", {"metrics": metrics, "rows": rows}))
    results = reproduce(table, scan([str(tmp_path / "eval")]).runs)
    assert results[("net", "a")].stats.mean == pytest.approx(0.4) and results[("net", "a")].status == WITHIN
    assert results[("net", "b_final")].stats.mean == pytest.approx(0.3)
    assert results[("net", "b_final")].status == OUTSIDE


def test_a_weights_file_matches_by_its_file_name_wherever_it_was_read_from(tmp_path: Path) -> None:
    run = scan([str(write_run(tmp_path / "run", {"val/score": 0.5}, {"model.weights": "/data/zoo/raft-things.pth"}))])
    only = run.runs[0]
    assert matches(only, {"model.weights": "raft-things.pth"})
    assert matches(only, {"model.weights": "elsewhere/raft-things.pth"})
    assert not matches(only, {"model.weights": "raft-small.pth"})
    assert not matches(only, {"model.nothing_weights": "raft-things.pth"})  # absent keys never match


def test_a_table_of_our_own_shows_measured_values_without_published_columns(tmp_path: Path, runs: list) -> None:
    rows = {"base": {"match": {"model": "toy/net", "optim.lr": 0.1}, "source": "ours"}}
    text = render_markdown(paper_table(load_table(write_table(tmp_path / "toy.yaml", {"rows": rows})), runs))
    assert "reproduced (%)" in text
    assert "published" not in text and "status" not in text and "Δ" not in text
