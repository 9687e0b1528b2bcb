"""Optical flow through the entry points: classical methods evaluated without training, networks trained and
evaluated, with the same run directories and metrics.json as segmentation."""

import json
from pathlib import Path

import pytest

from tests.helpers import REPO, TINY_FLOW_DATA, TINY_RAFT, compose_config
from visionbench.runner.evaluate import evaluate
from visionbench.runner.train import train

MIDDLEBURY = REPO / "tests/fixtures/middlebury"


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


def test_classical_method_is_evaluated_without_training(tmp_path: Path) -> None:
    out = tmp_path / "eval"
    out.mkdir()
    overrides = ["task=flow", "model=flow/dis", "data=flow/middlebury", f"data.root={MIDDLEBURY}", "data.num_workers=0"]
    evaluate(compose_config("evaluate", overrides, out))
    metrics = _json(out / "metrics.json")
    assert abs(metrics["val/EPE"] - 0.2235) < 0.003  # the fixture's OpenCV DIS-medium value
    assert 0.0 <= metrics["val/px1"] <= metrics["val/px3"] <= metrics["val/px5"] <= 1.0
    source = _json(out / "source.json")
    assert source["checkpoint"] is None and source["model"]["_target_"].endswith("DIS")
    assert (out / "predictions" / "val.png").is_file()


def test_network_without_checkpoint_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "eval"
    out.mkdir()
    overrides = ["task=flow", "model=flow/raft_small", "data=flow/middlebury", f"data.root={MIDDLEBURY}"]
    with pytest.raises(ValueError, match="trainable parameters and no checkpoint"):
        evaluate(compose_config("evaluate", overrides, out))


def test_evaluate_names_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"missing: \['model', 'data'\]"):
        evaluate(compose_config("evaluate", ["task=flow", "~model", "~data"], tmp_path / "eval"))


def test_default_flow_run_is_the_cpu_recipe_and_other_choices_keep_the_paper_settings(tmp_path: Path) -> None:
    recipe = compose_config("train", ["task=flow"], tmp_path)
    assert recipe.model._target_.endswith("RAFTSmall") and recipe.data._target_.endswith("SyntheticFlowDataModule")
    assert (recipe.model.iters, recipe.model.eval_iters, recipe.trainer.precision) == (8, 8, "bf16-mixed")
    paper = compose_config("train", ["task=flow", "model_size=default"], tmp_path)
    assert (paper.model.iters, paper.model.eval_iters) == (12, 24)
    raft = compose_config("train", ["task=flow", "model=flow/raft"], tmp_path)
    assert (raft.model.iters, raft.model.eval_iters) == (12, 24)
    assert compose_config("evaluate", ["task=flow", "model=flow/dis"], tmp_path).model._target_.endswith("DIS")


def test_classical_method_cannot_be_trained(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    with pytest.raises(ValueError, match="evaluate.py task=flow"):
        train(compose_config("train", ["task=flow", "model=flow/farneback", *TINY_FLOW_DATA], run))


def test_train_flow_network_then_evaluate_reproduces_it(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    cfg = compose_config("train", ["task=flow", *TINY_FLOW_DATA, *TINY_RAFT], run)
    assert cfg.callbacks.model_checkpoint.monitor == "val/EPE" and cfg.callbacks.model_checkpoint.mode == "min"
    score = train(cfg)
    trained = _json(run / "metrics.json")
    assert score == trained["val/EPE"] > 0
    assert {"val/px1", "val/Fl", "val/EPE_per_image", "val/EPE_noc", "test/EPE"} <= set(trained)
    assert any(p.name.startswith("val_epoch") for p in (run / "predictions").iterdir())

    out = tmp_path / "eval"
    out.mkdir()
    evaluate(compose_config("evaluate", [f"run_dir={run}"], out))
    assert abs(_json(out / "metrics.json")["val/EPE"] - trained["val/EPE"]) < 1e-4
    with pytest.raises(ValueError, match="model= cannot be combined"):
        evaluate(compose_config("evaluate", [f"run_dir={run}", "model=flow/dis"], tmp_path / "eval2"))
