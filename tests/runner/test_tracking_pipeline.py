"""Tracking through the entry point: `evaluate.py task=tracking` runs a tracker over a MOT benchmark, writes the
official result files, metrics.json and source.json, and scores exactly what it wrote."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.helpers import REPO, compose_config
from visionbench.data.tracking.mot_io import read_mot_table
from visionbench.metrics.tracking import evaluate_sequence
from visionbench.runner.evaluate import evaluate
from visionbench.runner.train import train

MOT15 = REPO / "tests/fixtures/mot/MOT15"  # data.root: the benchmark's own folder
TINY_SYNTHETIC = ["data.num_sequences=1", "data.num_frames=40"]


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


def _evaluate(tmp_path: Path, overrides: list[str]) -> Path:
    out = tmp_path / "eval"
    out.mkdir(parents=True)
    evaluate(compose_config("evaluate", ["task=tracking", *overrides], out))
    return out


def test_reference_sort_row_through_evaluate(tmp_path: Path) -> None:
    """SORT with the reference parameters on TUD-Campus, as the fixtures README's reference SORT row."""
    out = _evaluate(tmp_path, ["data=tracking/mot15", f"data.root={MOT15}", "data.sequences=[TUD-Campus]"])
    metrics = _json(out / "metrics.json")
    expected = {"MOTA": 0.626741, "MOTP": 0.73677, "IDF1": 0.606452, "HOTA": 0.45257}
    for field, value in expected.items():
        assert metrics[f"train/{field}"] == pytest.approx(value, abs=1e-6), field
    assert (metrics["train/FP"], metrics["train/FN"], metrics["train/IDSW"]) == (15, 113, 6)
    assert (metrics["train/MT"], metrics["train/PT"], metrics["train/ML"], metrics["train/Frag"]) == (6, 2, 0, 9)
    assert metrics["train/TUD-Campus/MOTA"] == metrics["train/MOTA"]
    source = _json(out / "source.json")
    assert source["rules"] == "MOT15" and source["tracker"]["_target_"].endswith("SORT")
    assert Path(source["result_files"]["TUD-Campus"]) == out / "data" / "TUD-Campus.txt"


def test_synthetic_default_writes_results_it_scores(tmp_path: Path) -> None:
    out = _evaluate(tmp_path, [f"paths.data_dir={tmp_path / 'data'}", *TINY_SYNTHETIC])
    metrics = _json(out / "metrics.json")
    (result,) = sorted((out / "data").iterdir())
    name = result.stem
    gt_file = next((tmp_path / "data" / "synthetic_mot").glob(f"*/*/test/{name}/gt/gt.txt"))
    rescored = evaluate_sequence(read_mot_table(gt_file, "gt"), read_mot_table(result, "result"), 40, "MOT17")
    assert metrics["test/HOTA"] == pytest.approx(rescored["HOTA"], abs=1e-12)
    assert metrics["test/IDSW"] == rescored["IDSW"]
    assert 0.3 < metrics["test/MOTA"] < 1.0  # SORT tracks the synthetic pedestrians, imperfectly
    assert metrics["test/FPS"] > 0
    # the first num_prediction_images (8) frames with the tracks drawn, in the sequence's format (JPEG)
    pictures = sorted((out / "predictions" / name).iterdir())
    assert [path.name for path in pictures] == [f"{frame:06d}.jpg" for frame in range(1, 9)]
    frame = next((tmp_path / "data" / "synthetic_mot").glob(f"*/*/test/{name}/img1/000008.jpg"))
    drawn, original = (np.asarray(Image.open(path)).astype(int) for path in (pictures[-1], frame))
    assert drawn.shape == original.shape and (np.abs(drawn - original) > 60).any()  # boxes and ids drawn


def test_results_are_never_overwritten(tmp_path: Path) -> None:
    out = _evaluate(tmp_path, ["data=tracking/mot15", f"data.root={MOT15}", "data.sequences=[TUD-Campus]"])
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        evaluate(compose_config("evaluate", ["task=tracking", "data=tracking/mot15", f"data.root={MOT15}"], out))


def test_sequences_without_ground_truth_are_tracked_not_scored(tmp_path: Path) -> None:
    out = _evaluate(tmp_path, ["data=tracking/mot15", f"data.root={MOT15}", "data.sequences=[KITTI-13,ADL-Rundle-6]"])
    metrics = _json(out / "metrics.json")
    assert set(metrics) == {"train/FPS"}
    written = sorted(path.name for path in (out / "data").iterdir())
    assert written == ["ADL-Rundle-6.txt", "KITTI-13.txt"]
    assert len(read_mot_table(out / "data" / "KITTI-13.txt", "result")) > 0


def test_sequences_without_ground_truth_next_to_scored_ones_are_marked(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = _evaluate(tmp_path, ["data=tracking/mot15", f"data.root={MOT15}", "data.sequences=[TUD-Campus,KITTI-13]"])
    metrics = _json(out / "metrics.json")
    assert "train/TUD-Campus/HOTA" in metrics and not any("KITTI-13" in key for key in metrics)
    assert metrics["train/HOTA"] == metrics["train/TUD-Campus/HOTA"]  # the combination holds the scored one only
    printed = capsys.readouterr().out
    kitti_row = next(line for line in printed.splitlines() if "KITTI-13" in line and "not scored" in line)
    assert "no ground truth" in kitti_row
    assert "1 sequence(s) without ground truth: KITTI-13" in printed
    assert f"train/HOTA {metrics['train/HOTA']:.4f}" in " ".join(printed.replace("│", " ").split())


def test_trackers_cannot_be_trained(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    with pytest.raises(ValueError, match="evaluate.py task=tracking"):
        train(compose_config("train", ["task=tracking"], run))


@pytest.mark.slow
def test_deepsort_with_trained_appearance_beats_sort_on_the_synthetic_default(tmp_path: Path) -> None:
    """The issue's comparison, shrunk for CI: a small appearance model trained briefly with task=reid on the
    synthetic train split, then DeepSORT vs SORT on the synthetic test split (the tracking default)."""
    data = f"paths.data_dir={tmp_path / 'data'}"
    run = tmp_path / "reid"
    run.mkdir()
    train(compose_config("train", ["task=reid", "model_size=small", "trainer.max_epochs=2", data], run))
    sort = _json(_evaluate(tmp_path / "sort", [data]) / "metrics.json")
    deepsort_overrides = [data, "model=tracking/deepsort", f"model.encoder.path={run}"]
    deepsort = _json(_evaluate(tmp_path / "deepsort", deepsort_overrides) / "metrics.json")
    assert deepsort["test/IDSW"] < sort["test/IDSW"]
    assert deepsort["test/IDF1"] > sort["test/IDF1"] + 0.05
