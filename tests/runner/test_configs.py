"""Every option of every config group composes (and builds where this machine can build it)."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from tests.helpers import CONF, REPO, TINY_DATA, TINY_UNET, compose_config
from visionbench.runner.builders import build_model
from visionbench.runner.config_check import check_arguments
from visionbench.runner.train import train

GROUPS_BUILT_HERE = {"model", "loss", "optim", "data", "callbacks", "logger", "postprocess", "inference", "runtime"}
EVALUATION_GROUPS = {"postprocess", "inference", "runtime"}  # chosen in conf/evaluate.yaml, not in train.yaml


def group_options() -> list[tuple[str, str]]:
    """(group, option) for every YAML file below conf/<group>/ (nested groups like model/segmentation too; below
    conf/hydra/, a folder is a group of Hydra's own, e.g. hydra/sweeper)."""
    options = []
    for group_dir in sorted(p for p in CONF.iterdir() if p.is_dir()):
        for yaml_file in sorted(group_dir.rglob("*.yaml")):
            option = yaml_file.relative_to(group_dir).with_suffix("").as_posix()
            if group_dir.name == "hydra" and "/" in option:
                options.append((f"hydra/{yaml_file.parent.name}", yaml_file.stem))
            else:
                options.append((group_dir.name, option))
    return options


@pytest.mark.parametrize(("group", "option"), group_options(), ids=lambda x: str(x))
def test_every_option_composes(group: str, option: str, tmp_path: Path) -> None:
    if group in ("hparams_search", "hydra/sweeper"):
        pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    if group == "model_size_overrides":  # selected through model_size=<size> for the chosen model
        size, model = option.split("/", 1)
        cfg = compose_config("train", [f"model_size={size}", f"model={model}"], tmp_path)
        assert cfg.model != compose_config("train", [f"model={model}"], tmp_path).model
        group, option = "model", model
    else:
        cfg = compose_config("evaluate" if group in EVALUATION_GROUPS else "train", [f"{group}={option}"], tmp_path)
    check_arguments(cfg)  # every key is a parameter of its target and every value fits its type hint
    if group in GROUPS_BUILT_HERE and cfg[group] is not None:  # postprocess=none is null
        node = cfg[group]
        facts = {}
        if group == "model" and option.startswith("segmentation/"):
            facts = {"num_classes": 7}  # from the datamodule in a run
        elif group == "loss" and option == "cosine_softmax":
            facts = {"num_identities": 7}
        elif group == "model" and option == "tracking/deepsort":
            facts = {"encoder": None}  # a task=reid run in use (model.encoder.path=...)
        built = (build_model if group == "model" else instantiate)(node, **facts)  # model: without runner keys
        assert built is not None
    if group == "sched":
        optimizer = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1)
        scheduler = instantiate(cfg.sched)(optimizer, total_steps=10)
        for _ in range(10):
            optimizer.step()
            scheduler.step()
    if group == "trainer" and cfg.trainer.accelerator == "cpu":
        trainer = instantiate(cfg.trainer, logger=False, enable_checkpointing=False)
        assert trainer.num_devices == cfg.trainer.devices


def experiments() -> list[str]:
    return sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))


def test_there_are_experiments() -> None:
    assert "synthetic_unet" in experiments()


@pytest.mark.parametrize("name", experiments())
def test_every_experiment_trains_one_fast_dev_run(name: str, tmp_path: Path) -> None:
    overrides = [f"experiment={name}", *TINY_DATA, "trainer.fast_dev_run=true"]
    if "depth" in compose_config("train", overrides, tmp_path).model:
        overrides += TINY_UNET
    cfg = compose_config("train", overrides, tmp_path)
    check_arguments(cfg)
    score = train(cfg)
    assert 0.0 <= score <= 1.0


@pytest.mark.parametrize("argument", ["model=segmentation/no_such_net", "data=no_such_data"])
def test_unknown_option_lists_the_available_ones(argument: str) -> None:
    result = subprocess.run(
        [sys.executable, "train.py", argument], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    group = argument.split("=")[0]
    assert f"Available options in '{group}'" in result.stderr
    assert ("segmentation/unet" if group == "model" else "synthetic_shapes") in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_prints_the_composed_config() -> None:
    result = subprocess.run(
        [sys.executable, "train.py", "--cfg", "job", "loss=ce_then_dice"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert "visionbench.losses.SwitchAtEpoch" in result.stdout
    assert "optimized_metric: val/mIoU" in result.stdout
