"""Rows and column groups from hand-made run directories: seed repetitions averaged (known mean, std, t interval),
rows named by the differing keys (or --by), folders ignored, one model on several datasets as one row."""

import math
from pathlib import Path

import pytest

from tests.leaderboard.rundirs import write_evaluation, write_run
from visionbench.leaderboard.errors import LeaderboardError
from visionbench.leaderboard.grouping import group_runs, seed_stats
from visionbench.leaderboard.runs import scan

T_975_2 = 4.302652729911275  # Student-t 97.5 % quantile, 2 degrees of freedom (tables)


def test_seed_stats_mean_std_and_t_interval() -> None:
    stats = seed_stats([0.5, 0.6, 0.7])
    assert stats.mean == pytest.approx(0.6) and stats.std == pytest.approx(0.1) and stats.n == 3
    half = T_975_2 * 0.1 / math.sqrt(3)
    assert (stats.low, stats.high) == (pytest.approx(0.6 - half), pytest.approx(0.6 + half))
    one = seed_stats([0.4, None])
    assert one.mean == 0.4 and one.n == 1 and math.isnan(one.std) and math.isnan(one.low)
    assert seed_stats([]).n == 0 and math.isnan(seed_stats([]).mean)


def test_runs_differing_only_in_seed_and_folders_are_one_row(tmp_path: Path) -> None:
    for seed, score in enumerate([0.5, 0.6, 0.7]):
        write_run(tmp_path / f"job{seed}", {"val/score": score}, {"seed": seed}, info={"train_seconds": 10.0 * seed})
    grouping = group_runs(scan([str(tmp_path)]).runs, "score")
    assert len(grouping.rows) == 1 and grouping.label_keys == []
    (group,) = grouping.groups
    assert group.dataset == "toy/data" and group.split == "val"
    cell = grouping.rows[0].cells[group]
    assert seed_stats([run.metrics["val/score"] for run in cell]).mean == pytest.approx(0.6)


def test_trial_numbers_and_logger_settings_do_not_split_rows(tmp_path: Path) -> None:
    for trial, (logger, score) in enumerate([("csv", 0.5), ("wandb", 0.7)]):
        changes = {"callbacks.optuna_pruning.trial_number": trial, "logger.name": logger}
        write_run(tmp_path / f"trial{trial}", {"val/score": score}, changes)
    grouping = group_runs(scan([str(tmp_path)]).runs, "score")
    assert len(grouping.rows) == 1 and grouping.label_keys == []


def test_rows_are_named_by_the_differing_choices_and_the_settings_they_do_not_explain(tmp_path: Path) -> None:
    # model choice changes model.* (explained by the choice); optim.lr set on the command line is shown
    write_run(tmp_path / "a", {"val/score": 0.5})
    write_run(tmp_path / "b", {"val/score": 0.6}, {"model.width": 16}, choices={"model": "toy/wide"})
    write_run(tmp_path / "c", {"val/score": 0.7}, {"optim.lr": 0.01}, overrides=["optim.lr=0.01"])
    grouping = group_runs(scan([str(tmp_path)]).runs, "score")
    assert grouping.label_keys == ["model", "optim.lr"]
    labels = sorted(tuple(row.label.values()) for row in grouping.rows)
    assert labels == [("toy/net", "0.01"), ("toy/net", "0.1"), ("toy/wide", "0.1")]


def test_by_names_rows_and_reports_the_pooled_keys(tmp_path: Path) -> None:
    write_run(tmp_path / "a", {"val/score": 0.5}, {"optim.lr": 0.1})
    write_run(tmp_path / "b", {"val/score": 0.6}, {"optim.lr": 0.01})
    write_run(tmp_path / "c", {"val/score": 0.7}, {"model.width": 16}, choices={"model": "toy/wide"})
    grouping = group_runs(scan([str(tmp_path)]).runs, "score", by=["model"])
    assert sorted(row.label["model"] for row in grouping.rows) == ["toy/net", "toy/wide"]
    assert grouping.pooled == ["optim.lr"]
    with pytest.raises(LeaderboardError, match="--by optim.momentum: no run has this config key"):
        group_runs(scan([str(tmp_path)]).runs, "score", by=["optim.momentum"])


def test_one_model_evaluated_on_several_datasets_is_one_row_with_a_column_group_each(tmp_path: Path) -> None:
    trained = write_run(tmp_path / "train" / "0", {"val/score": 0.5, "test/score": 0.5})
    for name, passes in (("clean", "clean"), ("final", "final")):
        write_evaluation(
            tmp_path / "eval" / name, {"val/score": 0.4}, trained, changes={"data.passes": passes}, choices={}
        )
    write_evaluation(
        tmp_path / "eval" / "kitti", {"val/score": 0.3}, trained, changes={"data._target_": "toy.Kitti"},
        choices={"data": "toy/kitti"},
    )  # fmt: skip
    grouping = group_runs(scan([str(tmp_path / "eval")]).runs, "score")
    assert len(grouping.rows) == 1
    assert sorted(group.label for group in grouping.groups) == [
        "toy/data (passes=clean) val",
        "toy/data (passes=final) val",
        "toy/kitti val",
    ]


def test_the_same_model_scored_twice_in_one_column_is_refused(tmp_path: Path) -> None:
    trained = write_run(tmp_path / "train", {"val/score": 0.5})
    write_evaluation(tmp_path / "eval", {"val/score": 0.5}, trained)
    with pytest.raises(LeaderboardError, match="both score the same model"):
        group_runs(scan([str(tmp_path)]).runs, "score").check_repeats()


def test_the_split_shown_is_shared_by_all_runs_test_before_val(tmp_path: Path) -> None:
    write_run(tmp_path / "a", {"val/score": 0.5, "test/score": 0.4})
    write_run(tmp_path / "b", {"val/score": 0.6, "test/score": 0.5}, {"optim.lr": 0.01})
    write_run(tmp_path / "c", {"val/score": 0.6}, {"optim.lr": 0.001})
    runs = scan([str(tmp_path)]).runs
    assert group_runs(runs[:2], "score").groups[0].split == "test"
    assert group_runs(runs, "score").groups[0].split == "val"
    with pytest.raises(LeaderboardError, match=r"--split test: .* runs without test/score: .*/c \(has val\)"):
        group_runs(runs, "score", split="test")


def test_runs_without_a_headline_score_are_left_out_and_reported(tmp_path: Path) -> None:
    write_run(tmp_path / "a", {"val/score": 0.5})
    write_run(tmp_path / "b", {"val/errors": 3}, {"optim.lr": 0.01})
    (tmp_path / "failed" / ".hydra").mkdir(parents=True)
    found = scan([str(tmp_path)])
    assert [item.path.name for item in found.skipped] == ["failed"]
    grouping = group_runs(found.runs, "score")
    assert len(grouping.rows) == 1 and [item.path.name for item in grouping.skipped] == ["b"]


def test_scan_reads_globs_and_refuses_paths_that_match_nothing(tmp_path: Path) -> None:
    write_run(tmp_path / "multirun" / "0", {"val/score": 0.5})
    write_run(tmp_path / "multirun" / "1", {"val/score": 0.6}, {"seed": 1})
    assert len(scan([str(tmp_path / "multirun" / "*")]).runs) == 2
    assert len(scan([str(tmp_path / "**" / "metrics.json")]).runs) == 2
    with pytest.raises(LeaderboardError, match="no such file or directory"):
        scan([str(tmp_path / "nothing*")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(LeaderboardError, match="no run directory"):
        scan([str(tmp_path / "empty")])


def test_settings_that_follow_a_setting_set_on_the_command_line_are_not_shown_again(tmp_path: Path) -> None:
    for name, lr in (("a", 0.1), ("b", 0.01)):
        write_run(
            tmp_path / name, {"val/score": lr}, {"optim.lr": lr, "sched.max_lr": lr}, overrides=[f"optim.lr={lr}"]
        )
    grouping = group_runs(scan([str(tmp_path)]).runs, "score")
    assert grouping.label_keys == ["optim.lr"]
    write_run(tmp_path / "c", {"val/score": 0.3}, {"optim.lr": 0.01, "sched.max_lr": 0.02})
    assert group_runs(scan([str(tmp_path)]).runs, "score").label_keys == ["optim.lr", "sched.max_lr"]
