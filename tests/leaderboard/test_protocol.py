"""Runs that must not share a column are refused, naming the differing key: problems, evaluation protocols (the
contract's keys; a key a run does not have does not apply to it) and the split's samples (manifest hashes)."""

from pathlib import Path

import pytest

from tests.leaderboard.rundirs import write_evaluation, write_run
from visionbench.leaderboard.errors import MixedRunsError
from visionbench.leaderboard.runs import scan
from visionbench.leaderboard.table import Options, build_leaderboard
from visionbench.tasks.flow.contract import FlowContract
from visionbench.tasks.segmentation.contract import SegmentationContract

SLIDE = {"_target_": "visionbench.inference.SlidingWindow", "crop_size": [512, 512], "stride": [341, 341]}


def two_evaluations(tmp_path: Path) -> list:
    trained = write_run(tmp_path / "train", {"test/score": 0.5}, scores={"test": [0.5, 0.5]})
    write_evaluation(tmp_path / "whole", {"val/score": 0.6}, trained, scores={"val": [0.6, 0.6]})
    write_evaluation(tmp_path / "slide", {"val/score": 0.7}, trained, {"inference": SLIDE}, scores={"val": [0.7, 0.7]})
    return scan([str(tmp_path / "whole"), str(tmp_path / "slide")]).runs


def test_runs_scored_with_different_inference_modes_are_refused_naming_the_key(tmp_path: Path) -> None:
    runs = two_evaluations(tmp_path)
    with pytest.raises(
        MixedRunsError, match=r"differ in evaluation\.inference .*SlidingWindow\(crop_size=\[512, 512\]"
    ):
        build_leaderboard(runs, Options())


def test_allowing_a_protocol_key_makes_each_value_its_own_row(tmp_path: Path) -> None:
    board = build_leaderboard(two_evaluations(tmp_path), Options(allow_mixed=["evaluation.inference"]))
    assert board.grouping.label_keys == ["evaluation.inference"]
    assert [row.label["evaluation.inference"] for row in board.rows] == [
        "SlidingWindow(crop_size=[512, 512], stride=[341, 341])",
        "none",
    ]


def test_a_protocol_key_a_run_does_not_have_does_not_apply_to_it(tmp_path: Path) -> None:
    write_run(tmp_path / "iterative", {"val/score": 0.6}, {"model.eval_iters": 24}, choices={"model": "toy/it"})
    write_run(tmp_path / "plain", {"val/score": 0.5})
    assert len(build_leaderboard(scan([str(tmp_path)]).runs, Options()).rows) == 2
    write_run(tmp_path / "more", {"val/score": 0.7}, {"model.eval_iters": 32}, choices={"model": "toy/it"})
    with pytest.raises(MixedRunsError, match=r"model\.eval_iters .*24: .*iterative; 32: .*more"):
        build_leaderboard(scan([str(tmp_path)]).runs, Options())


def test_runs_of_different_problems_are_refused(tmp_path: Path) -> None:
    write_run(tmp_path / "toy", {"val/score": 0.5})
    write_run(tmp_path / "flow", {"val/EPE": 1.5}, {"task._target_": "visionbench.tasks.FlowTask"})
    with pytest.raises(MixedRunsError, match=r"different problems \(task._target_\) .*flow: .*/flow; toy: .*/toy"):
        build_leaderboard(scan([str(tmp_path)]).runs, Options())


def test_runs_on_different_samples_are_refused_naming_the_manifest_and_the_data_keys(tmp_path: Path) -> None:
    write_run(tmp_path / "small", {"val/score": 0.5}, scores={"val": [0.5, 0.5]})
    write_run(tmp_path / "large", {"val/score": 0.6}, {"data.size": 3, "seed": 1}, scores={"val": [0.6, 0.6, 0.6]})
    runs = scan([str(tmp_path)]).runs
    with pytest.raises(
        MixedRunsError, match=r"different samples of val .*splits\.val\.manifest.*data\.size \(3 vs 4\)"
    ):
        build_leaderboard(runs, Options(by=["model"]))
    board = build_leaderboard(runs, Options(by=["model"], allow_mixed=["manifest"]))
    assert len(board.rows) == 1


def test_the_problems_declare_their_protocol_and_units() -> None:
    flow, segmentation = FlowContract(), SegmentationContract()
    assert "model.eval_iters" in flow.evaluation_protocol
    assert set(segmentation.evaluation_protocol) == {"evaluation.inference", "evaluation.postprocess"}
    assert flow.metric_unit("EPE") == "px" and flow.metric_unit("Fl") == "fraction"
    assert segmentation.metric_unit("IoU/wall") == "fraction"


def test_absent_or_null_protocol_keys_take_the_problems_defaults(tmp_path: Path) -> None:
    """A training run (no evaluation node), an evaluation with the task's own inference (null) and one with an
    explicit inference=whole scored alike; post-processing absent in training equals evaluate.py's null."""
    trained = [
        write_run(
            tmp_path / f"train{lr}",
            {"val/mIoU": lr},
            {"task._target_": "visionbench.tasks.SegmentationTask", "optim.lr": lr},
        )
        for lr in (0.2, 0.3, 0.4)
    ]
    whole = {"inference": {"_target_": "visionbench.inference.WholeImage"}}
    assert SegmentationContract.protocol_defaults["evaluation.inference"] == whole["inference"]
    evaluations = tmp_path / "evaluations"
    write_evaluation(evaluations / "explicit", {"val/mIoU": 0.6}, trained[1], whole)
    write_evaluation(evaluations / "default", {"val/mIoU": 0.7}, trained[2], None)
    board = build_leaderboard(scan([str(trained[0]), str(evaluations)]).runs, Options())
    assert len(board.rows) == 3
    write_evaluation(evaluations / "crf", {"val/mIoU": 0.8}, trained[0], {"postprocess": {"_target_": "Crf"}})
    with pytest.raises(MixedRunsError, match=r"differ in evaluation\.postprocess"):
        build_leaderboard(scan([str(trained[1]), str(evaluations / "crf")]).runs, Options())
