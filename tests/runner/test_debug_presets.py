"""conf/debug presets (debug=fdr | overfit | profiler | limit) compose on every trainable task, change only the
trainer and the task name (outputs under outputs/debug/), and a fast dev run trains end to end."""

import json
import math
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from tests.helpers import CONF, TINY, compose_config
from visionbench.runner.cli import group_options
from visionbench.runner.config_check import check_arguments
from visionbench.runner.train import train

TASKS = ["segmentation", "flow", "reid"]
PRESETS = {  # what each preset sets on the trainer, besides debug/default.yaml's one epoch and anomaly detection
    "default": {},
    "fdr": {"fast_dev_run": True},
    "overfit": {"overfit_batches": 3, "max_epochs": 20},
    "profiler": {"profiler": "simple"},
    "limit": {"max_epochs": 3, "limit_train_batches": 3, "limit_val_batches": 2, "limit_test_batches": 2},
}


def _tiny(task: str, data_root: Path) -> list[str]:
    """Overrides that make one step of ``task`` take about a second on a CPU (tiny models and data)."""
    if task == "segmentation":
        return list(TINY)
    if task == "flow":
        data = ["data.image_size=32", "data.train_size=8", "data.val_size=4", "data.test_size=4", "data.batch_size=4"]
        return data + [
            "model.width_multiplier=0.25",
            "model.iters=2",
            "model.eval_iters=2",
            "trainer.precision=32-true",
        ]
    overrides = ["model.width=4", "model.input_size=[32,16]", "model.embedding_dim=16", "data.batch_size=16"]
    for split in ("train", "val", "test"):
        overrides += [
            f"data.{split}.root={data_root}",
            f"+data.{split}.num_sequences=1",
            f"+data.{split}.num_frames=40",
        ]
    return overrides + ["data.eval_frame_stride=4", "data.min_frame_gap=10"]


def test_every_preset_is_listed() -> None:
    assert group_options(CONF, "debug") == sorted(PRESETS)


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_preset_changes_only_the_trainer_and_the_task_name(preset: str, task: str, tmp_path: Path) -> None:
    real = compose_config("train", [f"task={task}"], tmp_path)
    debug = compose_config("train", [f"task={task}", f"debug={preset}"], tmp_path)
    assert (real.task_name, debug.task_name) == ("train", "debug")  # hydra.run.dir: outputs/<task_name>/runs/...
    expected = OmegaConf.merge(real.trainer, {"max_epochs": 1, "detect_anomaly": True}, PRESETS[preset])
    assert debug.trainer == expected
    for key in set(real) - {"trainer", "task_name"}:
        assert debug[key] == real[key], key
    check_arguments(debug)


def test_preset_composes_on_evaluation(tmp_path: Path) -> None:
    cfg = compose_config("evaluate", ["debug=fdr"], tmp_path)
    assert cfg.task_name == "debug" and cfg.trainer.fast_dev_run is True


def test_preset_wins_over_an_experiment(tmp_path: Path) -> None:
    cfg = compose_config("train", ["experiment=ade20k/recipe", "debug=limit"], tmp_path)
    assert cfg.task_name == "debug" and cfg.trainer.max_epochs == 3 and cfg.trainer.max_steps == 80000


@pytest.mark.parametrize("task", TASKS)
def test_fast_dev_run_trains_one_batch(task: str, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    cfg = compose_config("train", [f"task={task}", "debug=fdr", *_tiny(task, tmp_path / "data")], run)
    score = train(cfg)
    metrics = json.loads((run / "metrics.json").read_text())
    assert score == metrics[cfg.optimized_metric] and math.isfinite(score)  # val/mIoU, val/EPE, val/mAP
    assert json.loads((run / "run.json").read_text())["epochs"] == 1
    assert [path.name for path in (run / "checkpoints").iterdir()] == ["last.ckpt"]  # no best-epoch checkpoint
