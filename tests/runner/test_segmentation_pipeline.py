"""train() and evaluate() end to end on tiny synthetic data: run directory, round trip, errors."""

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, open_dict
from PIL import Image

from tests.helpers import TINY, compose_config
from visionbench.runner import run_dir
from visionbench.runner.builders import build_task
from visionbench.runner.evaluate import evaluate
from visionbench.runner.train import train
from visionbench.utils.checkpoints import CheckpointError
from visionbench.viz.text import TextStyle


def _metrics(directory: Path) -> dict[str, float | None]:
    return json.loads((directory / "metrics.json").read_text())


def test_fast_dev_run_of_the_default_config(tmp_path: Path) -> None:
    cfg = compose_config("train", ["trainer.fast_dev_run=true"], tmp_path)
    score = train(cfg)
    metrics = _metrics(tmp_path)
    assert score == metrics["val/mIoU"]
    assert {"val/aAcc", "val/mIoU", "val/mAcc", "val/mDice", "test/mIoU"} <= set(metrics)


def test_run_directory_is_complete_and_self_describing(tiny_train_cfg: DictConfig) -> None:
    train(tiny_train_cfg)
    out = Path(tiny_train_cfg.paths.output_dir)
    metrics = _metrics(out)
    for key in ("val/aAcc", "val/mIoU", "val/mAcc", "val/mDice", "test/aAcc", "test/mIoU", "test/mAcc", "test/mDice"):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert "val/IoU/background" in metrics and "test/IoU/star" in metrics
    env = json.loads((out / "env.json").read_text())
    assert env["seed"] == tiny_train_cfg.seed and env["packages"]["torch"].startswith("2.13")
    assert {"commit", "dirty"} <= set(env["git"]) and env["device"]["accelerator"] == "cpu"
    run_info = json.loads((out / "run.json").read_text())
    assert (out / run_info["best_checkpoint"]).is_file() and (out / "checkpoints" / "last.ckpt").is_file()
    assert "max_epochs: 1" in (out / "config.yaml").read_text()
    assert (out / "predictions" / "val_epoch_000.png").is_file() and (out / "predictions" / "test.png").is_file()
    assert (out / "csv" / "metrics.csv").read_text().count("val/mIoU") == 1


def test_a_run_never_writes_into_an_earlier_runs_directory(tiny_train_cfg: DictConfig) -> None:
    train(tiny_train_cfg)
    before = (Path(tiny_train_cfg.paths.output_dir) / "metrics.json").read_text()
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        train(tiny_train_cfg)
    assert (Path(tiny_train_cfg.paths.output_dir) / "metrics.json").read_text() == before


def test_new_run_directories_are_unique_within_the_same_second(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(run_dir, "_RESERVED", {})
    first = run_dir.new_run_dir(str(tmp_path))
    assert run_dir.new_run_dir(str(tmp_path)) == first  # memoised: re-resolving the config gives the same
    monkeypatch.setattr(run_dir, "_RESERVED", {})
    second = run_dir.new_run_dir(str(tmp_path))
    assert second != first and Path(first).is_dir() and Path(second).is_dir()


def test_an_output_dir_named_on_the_command_line_is_created(tmp_path: Path) -> None:
    target = tmp_path / "runs" / "mine"
    assert run_dir.ensure_fresh(target) == target and target.is_dir()
    run_dir.ensure_fresh(target)  # an existing empty folder is fine
    (target / "metrics.json").write_text("{}")
    with pytest.raises(FileExistsError, match="metrics.json"):
        run_dir.ensure_fresh(target)


def test_train_then_evaluate_reproduces_the_validation_score(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    train(compose_config("train", [*TINY, "trainer.max_epochs=2"], run))
    trained = _metrics(run)
    best = json.loads((run / "run.json").read_text())["best_checkpoint"]

    evaluation = tmp_path / "eval"
    evaluation.mkdir()
    evaluate(compose_config("evaluate", [f"ckpt_path={run / best}", "num_prediction_images=2"], evaluation))
    assert abs(_metrics(evaluation)["val/mIoU"] - trained["val/mIoU"]) < 1e-4
    panels = np.asarray(Image.open(evaluation / "predictions" / "val.png"))
    bar = TextStyle(0.5).line_height  # column titles, and each line of the legend or caption under the panel
    # 2 samples x (input | ground truth | prediction), 32 px enlarged 6 times, then a legend of the classes shown
    assert panels.shape[1] == 3 * 192 + 2 * 2 and panels.shape[0] >= bar + 2 * 192 + 2 + 2 + bar
    maps = np.asarray(Image.open(evaluation / "predictions" / "val_probabilities.png"))
    assert maps.shape == (bar + 2 * 192 + 2 + 2 + bar, 8 * 192 + 7 * 2, 3)  # input + 7 class probability maps
    background_map = maps[bar : bar + 192, 194:386, 0].astype(float)
    assert background_map.min() < background_map.max()  # a real probability map, not a constant tile

    by_run = tmp_path / "eval_by_run"
    by_run.mkdir()
    evaluate(compose_config("evaluate", [f"run_dir={run}", "split=test"], by_run))
    assert abs(_metrics(by_run)["test/mIoU"] - trained["test/mIoU"]) < 1e-4


def test_optimized_metric_that_was_not_logged_is_named(tiny_train_cfg: DictConfig) -> None:
    with open_dict(tiny_train_cfg):
        tiny_train_cfg.optimized_metric = "val/mIoUU"
    with pytest.raises(KeyError, match="val/mIoUU.*val/mIoU"):
        train(tiny_train_cfg)
    assert not math.isnan(_metrics(Path(tiny_train_cfg.paths.output_dir))["val/mIoU"])  # nothing lost


@pytest.mark.parametrize("argument", ["ckpt_path", "run_dir"])
def test_evaluate_names_a_missing_checkpoint_or_run(tmp_path: Path, argument: str) -> None:
    missing = tmp_path / "nowhere" / "epoch_001.ckpt"
    with pytest.raises(CheckpointError if argument == "ckpt_path" else FileNotFoundError, match="nowhere"):
        evaluate(compose_config("evaluate", [f"{argument}={missing}"], tmp_path))


def test_resuming_from_a_missing_checkpoint_is_a_clear_error(tiny_train_cfg: DictConfig) -> None:
    with open_dict(tiny_train_cfg):
        tiny_train_cfg.ckpt_path = "/no/such/file.ckpt"
    with pytest.raises(CheckpointError, match="^checkpoint /no/such/file.ckpt does not exist$"):
        train(tiny_train_cfg)


def test_tensorboard_and_offline_wandb_loggers_write_their_files(tmp_path: Path) -> None:
    pytest.importorskip("wandb")
    for logger in ("tensorboard", "wandb"):
        out = tmp_path / logger
        out.mkdir()
        train(compose_config("train", [*TINY, f"logger={logger}"], out))
        if logger == "tensorboard":
            assert list((out / "tensorboard").glob("events.out.tfevents.*"))
        else:
            assert list((out / "wandb").glob("offline-run-*"))


def test_task_switches_from_ce_to_dice_at_the_configured_epoch(tmp_path: Path) -> None:
    overrides = [*TINY, "trainer.max_epochs=3", "loss=ce_then_dice", "loss.schedule.switch_epoch=2"]
    train(compose_config("train", overrides, tmp_path))
    rows = list(csv.DictReader((tmp_path / "csv" / "metrics.csv").open()))
    weights = {int(r["epoch"]): (float(r["train/weight_ce"]), float(r["train/weight_dice"])) for r in rows
               if r.get("train/weight_ce")}  # fmt: skip
    assert weights == {0: (1.0, 0.0), 1: (1.0, 0.0), 2: (0.0, 1.0)}
    dice_logged = {int(r["epoch"]) for r in rows if r.get("train/dice")}
    ce_logged = {int(r["epoch"]) for r in rows if r.get("train/ce")}
    assert ce_logged == {0, 1} and dice_logged == {2}


def test_evaluate_with_sliding_window_and_multi_scale_flip_inference(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    train(compose_config("train", TINY, run))
    trained = _metrics(run)
    slide = ["inference=slide", "inference.crop_size=[16,16]", "inference.stride=[11,11]"]  # 3 x 3 windows
    crf = ["postprocess=crf", "postprocess.iterations=2"]
    settings = {
        "whole": ["inference=whole"],
        "slide": slide,
        "tta": ["inference=tta"],
        "slide_crf": [*slide, *crf],
        "tta_slide_crf": [
            "inference=tta_slide",
            "inference.scales=[0.75,1.0]",
            "inference.inner.crop_size=[16,16]",
            "inference.inner.stride=[11,11]",
            *crf,
        ],  # fmt: skip
    }
    metrics, sources, maps = {}, {}, {}
    for name, overrides in settings.items():
        out = tmp_path / name
        out.mkdir()
        evaluate(compose_config("evaluate", [f"run_dir={run}", "num_prediction_images=2", *overrides], out))
        metrics[name] = _metrics(out)
        sources[name] = json.loads((out / "source.json").read_text())
        assert (out / "predictions" / "val.png").is_file()
        maps[name] = np.asarray(Image.open(out / "predictions" / "val_probabilities.png"))
        for key in ("val/aAcc", "val/mIoU", "val/mAcc", "val/mDice", "val/IoU/background"):
            assert 0.0 <= metrics[name][key] <= 1.0, (name, key)

    assert abs(metrics["whole"]["val/mIoU"] - trained["val/mIoU"]) < 1e-4
    # the panels show the scored probabilities: each mode (and the CRF after it) gives different ones
    for name in ("slide", "tta", "slide_crf", "tta_slide_crf"):
        assert maps[name].shape == maps["whole"].shape and not np.array_equal(maps[name], maps["whole"]), name
    assert not np.array_equal(maps["slide_crf"], maps["slide"])

    assert sources["whole"]["inference"] == {"_target_": "visionbench.inference.WholeImage"}
    assert sources["slide"]["inference"] == {
        "_target_": "visionbench.inference.SlidingWindow", "crop_size": [16, 16], "stride": [11, 11]
    }  # fmt: skip
    assert sources["tta"]["inference"] == {
        "_target_": "visionbench.inference.MultiScaleFlip",
        "scales": [0.5, 0.75, 1.0, 1.25, 1.5, 1.75],
        "flip": True,
        "inner": {"_target_": "visionbench.inference.WholeImage"},
    }
    tta_slide = sources["tta_slide_crf"]["inference"]
    assert tta_slide["scales"] == [0.75, 1.0] and tta_slide["inner"]["stride"] == [11, 11]
    for name in ("slide_crf", "tta_slide_crf"):
        assert sources[name]["postprocess"]["_target_"] == "visionbench.postprocess.DenseCRF"
        assert sources[name]["postprocess"]["iterations"] == 2
    assert sources["tta"]["postprocess"] is None


def test_validation_is_scored_in_float32_under_mixed_precision(tmp_path: Path) -> None:
    """The shared validation/test step turns autocast off, so a bf16-mixed run scores as evaluate.py (float32)."""
    cfg = compose_config("train", TINY, tmp_path)
    datamodule = instantiate(cfg.data)
    datamodule.setup("validate")
    task = build_task(cfg, datamodule)
    output_dtypes = []
    task.model.register_forward_hook(lambda module, inputs, output: output_dtypes.append(output.dtype))
    batch = next(iter(datamodule.val_dataloader()))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        task.model(batch["image"])
        task.validation_step(batch, 0)
    assert output_dtypes == [torch.bfloat16, torch.float32]
    assert task.val_metrics.compute()["mIoU"] >= 0.0
