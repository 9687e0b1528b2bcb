"""conf/trainer/default.yaml declares every argument of Lightning's Trainer with Lightning's default (except the
values marked "visionbench"), so `trainer.<key>=value` works without `+` and the Trainer behaves as before."""

import inspect
from pathlib import Path

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import OmegaConf
from pytorch_lightning.profilers import SimpleProfiler

from tests.helpers import CONF, compose_config

DEFAULT_YAML = CONF / "trainer" / "default.yaml"
BUILT_BY_THE_RUNNER = {"logger", "callbacks"}  # from the logger/ and callbacks/ groups
VISIONBENCH_CHOICES = {  # the Trainer config before every argument was declared
    "default_root_dir": "${paths.output_dir}",
    "max_epochs": 9,
    "accelerator": "cpu",
    "devices": 1,
    "precision": "32-true",
    "check_val_every_n_epoch": 1,
    "log_every_n_steps": 10,
    "deterministic": False,
}


def _declared() -> dict:
    return OmegaConf.to_container(OmegaConf.load(DEFAULT_YAML))


def test_every_trainer_argument_is_declared() -> None:
    parameters = set(inspect.signature(pl.Trainer).parameters)
    assert set(_declared()) - {"_target_"} == parameters - BUILT_BY_THE_RUNNER


def test_values_are_lightnings_defaults_except_the_marked_choices() -> None:
    defaults = {name: p.default for name, p in inspect.signature(pl.Trainer).parameters.items()}
    declared = _declared()
    marked = {line.split(":")[0] for line in DEFAULT_YAML.read_text().splitlines() if "# visionbench" in line}
    for key, value in declared.items():
        if key in VISIONBENCH_CHOICES:
            assert value == VISIONBENCH_CHOICES[key], key
        elif key != "_target_":
            assert value == defaults[key] and type(value) is type(defaults[key]), key
    assert marked == {key for key, value in VISIONBENCH_CHOICES.items() if value != defaults[key]}


def _built(overrides: list[str], tmp_path: Path) -> pl.Trainer:
    return instantiate(compose_config("train", overrides, tmp_path).trainer, logger=False, enable_checkpointing=False)


def test_the_trainer_behaves_as_with_the_former_config(tmp_path: Path) -> None:
    former = pl.Trainer(
        **{**VISIONBENCH_CHOICES, "default_root_dir": tmp_path}, logger=False, enable_checkpointing=False
    )
    current = _built([], tmp_path)
    attributes = [
        "max_epochs", "min_epochs", "max_steps", "min_steps", "limit_train_batches", "limit_val_batches",
        "limit_test_batches", "limit_predict_batches", "overfit_batches", "val_check_interval",
        "check_val_every_n_epoch", "num_sanity_val_steps", "log_every_n_steps", "accumulate_grad_batches",
        "gradient_clip_val", "gradient_clip_algorithm", "fast_dev_run", "num_devices", "num_nodes", "precision",
        "reload_dataloaders_every_n_epochs", "_detect_anomaly", "predicting",
    ]  # fmt: skip
    for name in attributes:
        assert getattr(current, name) == getattr(former, name), name
    for name in ["strategy", "accelerator", "profiler", "progress_bar_callback", "checkpoint_callback"]:
        assert type(getattr(current, name)) is type(getattr(former, name)), name
    assert [type(c) for c in current.callbacks] == [type(c) for c in former.callbacks]


def test_common_arguments_are_set_without_plus(tmp_path: Path) -> None:
    values = {
        "max_steps": 7, "min_epochs": 2, "limit_train_batches": 0.5, "limit_val_batches": 3, "limit_test_batches": 4,
        "val_check_interval": 0.25, "accumulate_grad_batches": 2, "gradient_clip_val": 1.5, "num_sanity_val_steps": 0,
        "detect_anomaly": True, "benchmark": False, "num_nodes": 1, "sync_batchnorm": False, "strategy": "auto",
    }  # fmt: skip
    trainer = _built(
        [f"trainer.{key}={value}" for key, value in values.items()] + ["trainer.profiler=simple"], tmp_path
    )
    for key in ["max_steps", "min_epochs", "limit_train_batches", "limit_val_batches", "limit_test_batches"]:
        assert getattr(trainer, key) == values[key], key
    for key in ["val_check_interval", "accumulate_grad_batches", "gradient_clip_val", "num_sanity_val_steps"]:
        assert getattr(trainer, key) == values[key], key
    assert trainer._detect_anomaly is True and isinstance(trainer.profiler, SimpleProfiler)
    fast = _built(["trainer.fast_dev_run=true", "trainer.enable_progress_bar=false"], tmp_path)
    assert fast.fast_dev_run is True and fast.max_steps == 1 and fast.progress_bar_callback is None
    overfit = _built(["trainer.overfit_batches=3"], tmp_path)
    assert (overfit.overfit_batches, overfit.limit_train_batches, overfit.limit_val_batches) == (3, 3, 3)
