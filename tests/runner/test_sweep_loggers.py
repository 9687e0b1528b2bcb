"""Loggers in sweeps (visionbench.runner.sweep_loggers): W&B runs grouped by sweep, tagged with the swept overrides and
carrying the resolved config; W&B and TensorBoard continuing when a training resumes; TensorBoard's HParams view.

W&B runs offline only, with every folder it writes under tmp_path. Its offline runs are read back from their
transaction log (``run-<id>.wandb``: a 7-byte header, then 32 KiB blocks of records each led by a checksum, a length
and a type, full / first / middle / last, whose payloads are ``wandb_internal_pb2.Record`` messages).
"""

import json
import os
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from tests.helpers import REPO, TINY, compose_config, subprocess_env
from visionbench.runner.sweep_loggers import (
    hparam_metrics,
    previous_wandb_run_id,
    run_hparams,
    sweep_group,
    sweep_tags,
)
from visionbench.sweeps.record import SweepRecord
from visionbench.tasks.segmentation.contract import SegmentationContract

WANDB_HEADER = 7
WANDB_BLOCK = 32 * 1024
WANDB_RECORD_HEADER = struct.Struct("<IHB")  # checksum, length, type
FULL, LAST = 1, 4
WANDB_FOLDERS = ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR")


def wandb_records(run_file: Path) -> Iterator:
    """The records of a W&B transaction log (see the module docstring)."""
    from wandb.proto import wandb_internal_pb2

    data = run_file.read_bytes()
    assert data[:4] == b":W&B", f"{run_file} is not a W&B transaction log"
    position, parts = WANDB_HEADER, []
    while position + WANDB_RECORD_HEADER.size <= len(data):
        left_in_block = WANDB_BLOCK - position % WANDB_BLOCK
        if left_in_block < WANDB_RECORD_HEADER.size:  # block padding
            position += left_in_block
            continue
        _, length, kind = WANDB_RECORD_HEADER.unpack_from(data, position)
        start = position + WANDB_RECORD_HEADER.size
        if start + length > len(data):  # still being written
            return
        parts.append(data[start : start + length])
        position = start + length
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(b"".join(parts))
            parts = []
            yield record


def offline_run(run_files: Path, timeout: float = 30.0) -> tuple[object, dict]:
    """The run record (id, group, tags, name, job type) and the config of the offline W&B run in ``run_files``,
    once W&B's service has written its exit record (``wandb.finish()`` returns before the file is complete)."""
    (run_file,) = run_files.glob("run-*.wandb")
    deadline = time.monotonic() + timeout
    while not any(record.WhichOneof("record_type") == "exit" for record in wandb_records(run_file)):
        assert time.monotonic() < deadline, f"{run_file} has no exit record after {timeout} s"
        time.sleep(0.2)
    run, config = None, {}
    for record in wandb_records(run_file):
        kind = record.WhichOneof("record_type")
        updates = record.run.config.update if kind == "run" else record.config.update if kind == "config" else []
        run = record.run if kind == "run" else run
        config.update({item.key: json.loads(item.value_json) for item in updates})
    assert run is not None, f"{run_file} holds no run record"
    return run, config


def run_train(
    arguments: list[str], tmp_path: Path, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """``python train.py <arguments>`` in a child process, W&B offline with its folders under ``tmp_path``."""
    env = subprocess_env()
    for variable in WANDB_FOLDERS:
        env[variable] = str(tmp_path / "wandb_home" / variable.lower())
    command = [sys.executable, "train.py", *arguments]
    return subprocess.run(
        command, cwd=REPO, env={**env, **(extra_env or {})}, capture_output=True, text=True, timeout=600
    )


def tensorboard_hparams(log_dir: Path) -> tuple[dict, dict[str, float]]:
    """The hyperparameters of the HParams session in TensorBoard event files under ``log_dir`` and the last value of
    each ``hp/`` metric."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    content = events.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    start = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    params = {}
    for name, value in start.hparams.items():
        params[name] = getattr(value, value.WhichOneof("kind"))
    metrics = {}
    for tag in events.Tags()["scalars"]:
        if tag.startswith("hp/"):
            metrics[tag] = events.Scalars(tag)[-1].value
    return params, metrics


@pytest.fixture
def wandb_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """W&B offline, writing its settings, cache and data under tmp_path."""
    pytest.importorskip("wandb")
    home = tmp_path / "wandb_home"
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    for variable in WANDB_FOLDERS:
        monkeypatch.setenv(variable, str(home / variable.lower()))
    return home


def job_config(tmp_path: Path, overrides: list[str], varying: list[str] | None) -> DictConfig:
    """The composed config of a job of a multirun in ``<tmp_path>/logs/train/multiruns/sweep/<job>`` (its sweep.json
    naming ``varying`` when given)."""
    sweep = tmp_path / "logs" / "train" / "multiruns" / "sweep"
    job = sweep / "seed=2__0123abcd"
    job.mkdir(parents=True)
    if varying is not None:
        record = SweepRecord(sweep)
        record.add_varying(varying)
        record.write()
    cfg = compose_config("train", ["hydra.mode=MULTIRUN", f"hydra.sweep.dir={sweep}", *overrides], job)
    with open_dict(cfg):
        cfg.paths.log_dir = str(tmp_path / "logs")
    return cfg


def test_multirun_job_is_grouped_by_sweep_and_tagged_with_its_swept_overrides(
    tmp_path: Path, wandb_offline: Path
) -> None:
    import wandb

    long_value = "x" * 80
    overrides = [
        "logger=wandb",
        "tags=[baseline]",
        "seed=2",
        "optim.lr=0.01",
        "data.image_size=32",
        f"+note={long_value}",
    ]
    cfg = job_config(tmp_path, overrides, varying=["seed", "optim.lr", "note"])
    run = instantiate(cfg.logger.wandb).experiment  # what W&B was given
    try:
        assert run.group == "train/multiruns/sweep"
        assert run.name == "seed=2__0123abcd"
        assert run.job_type == "train"
        assert list(run.tags) == ["baseline", "seed=2", "optim.lr=0.01", f"note={long_value}"[:64]]
    finally:
        wandb.finish()


def test_every_job_of_a_sweep_composes_the_same_logger_config(tmp_path: Path) -> None:
    first = job_config(tmp_path / "a", ["logger=[tensorboard,wandb]", "seed=1"], varying=["seed"])
    second = job_config(tmp_path / "b", ["logger=[tensorboard,wandb]", "seed=2"], varying=["seed"])
    for cfg in (first, second):
        with open_dict(cfg):
            cfg.paths.output_dir, cfg.paths.log_dir = "<job>", "<logs>"
    assert OmegaConf.to_container(first.logger, resolve=True) == OmegaConf.to_container(second.logger, resolve=True)


def test_sweep_without_a_record_tags_only_the_configured_tags(tmp_path: Path) -> None:
    job_config(tmp_path, ["tags=[baseline]", "seed=2"], varying=None)
    assert sweep_tags(["baseline"]) == ["baseline"]
    assert sweep_group(str(tmp_path / "logs")) == "train/multiruns/sweep"


def test_single_run_has_no_group_and_only_its_configured_tags(tmp_path: Path) -> None:
    cfg = compose_config("train", ["logger=wandb", "seed=3", "tags=[baseline]"], tmp_path / "run")
    assert sweep_group(cfg.paths.log_dir) is None and sweep_tags(cfg.tags) == ["baseline"]
    assert not (Path(cfg.paths.log_dir) / "train" / "multiruns").exists()  # no sweep folder made on the way


def test_sweep_outside_the_log_folder_is_grouped_by_its_name(tmp_path: Path) -> None:
    job_config(tmp_path, [], varying=None)  # sets Hydra's job config
    assert sweep_group(str(tmp_path / "elsewhere")) == "sweep"


def test_run_hparams_are_group_choices_and_overrides_with_resolved_values(tmp_path: Path) -> None:
    overrides = ["seed=2", "optim.lr=0.01", "loss=dice", "+optim.betas=[0.8,0.99]", "logger=tensorboard", "tags=[a]"]
    params = run_hparams(job_config(tmp_path, overrides, varying=["seed", "optim.lr"]))
    assert params["seed"] == 2 and params["optim.lr"] == 0.01
    assert params["loss"] == "dice" and params["model"] == "segmentation/unet"
    assert params["optim.betas"] == "[0.8, 0.99]"
    assert not [key for key in params if key.startswith(("hydra", "paths", "logger", "tags"))]


def test_hparam_metrics_are_the_headline_and_leaderboard_scores() -> None:
    metrics = {"val/mIoU": 0.5, "test/mIoU": 0.4, "val/mDice": 0.6, "val/IoU/road": 0.3, "val/loss": 1.0}
    assert hparam_metrics(SegmentationContract(), metrics) == {
        "hp/val_mIoU": 0.5,
        "hp/val_mDice": 0.6,
        "hp/test_mIoU": 0.4,
    }


def test_previous_wandb_run_is_found_in_the_run_directory(tmp_path: Path) -> None:
    assert previous_wandb_run_id(str(tmp_path)) is None
    run_files = tmp_path / "wandb" / "offline-run-20260102_030405-ab12cd34"
    run_files.mkdir(parents=True)
    (tmp_path / "wandb" / "latest-run").symlink_to(run_files.name)
    assert previous_wandb_run_id(str(tmp_path)) == "ab12cd34"


INTERRUPT = "VISIONBENCH_TEST_INTERRUPT"


class InterruptSecondEpoch(pl.Callback):
    """With the environment variable :data:`INTERRUPT` set, raise when the second epoch starts, after the first
    epoch's checkpoints are written: an interrupted run (the same config resumes it)."""

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch == 1 and os.environ.get(INTERRUPT):
            raise RuntimeError("interrupted on purpose")


@pytest.mark.slow
def test_run_resumed_in_its_directory_continues_its_wandb_run_and_tensorboard_steps(tmp_path: Path) -> None:
    pytest.importorskip("wandb")
    logs, interrupt = tmp_path / "logs", InterruptSecondEpoch.__name__
    arguments = [
        *TINY, "trainer.max_epochs=2", "callbacks=minimal", f"+callbacks.interrupt._target_={__name__}.{interrupt}",
        "logger=[tensorboard,wandb]", "logger.wandb.offline=true", f"paths.log_dir={logs}",
    ]  # fmt: skip
    interrupted = run_train(arguments, tmp_path, {INTERRUPT: "1"})
    assert interrupted.returncode != 0 and "interrupted on purpose" in interrupted.stderr
    (run,) = (logs / "train" / "runs").iterdir()
    (first_attempt,) = (run / "wandb").glob("offline-run-*")
    steps_per_epoch = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"]

    resumed = run_train([*arguments, "ckpt_path=last"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    attempts = sorted((run / "wandb").glob("offline-run-*"))
    assert len(attempts) == 2 and {offline_run(path)[0].run_id for path in attempts} == {first_attempt.name[-8:]}

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    epoch_ends = [event.step for event in events.Scalars("train/loss_epoch")]
    assert epoch_ends == [steps_per_epoch - 1, 2 * steps_per_epoch - 1]  # the second attempt went on from the first


@pytest.mark.slow
def test_multirun_groups_tags_and_lists_its_jobs_in_tensorboard_hparams(tmp_path: Path) -> None:
    pytest.importorskip("wandb")
    logs = tmp_path / "logs"
    arguments = [
        "-m", "seed=1,2", "logger=[csv,tensorboard,wandb]", "logger.wandb.offline=true", "tags=[grid]", *TINY,
        f"paths.log_dir={logs}", "callbacks=minimal",
    ]  # fmt: skip
    result = run_train(arguments, tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]

    (sweep,) = (logs / "train" / "multiruns").iterdir()
    jobs = sorted(path for path in sweep.iterdir() if (path / "metrics.json").is_file())
    assert len(jobs) == 2
    assert json.loads((sweep / "sweep.json").read_text())["varying"] == ["seed"]
    hp_values = []
    for job in jobs:
        seed = json.loads((job / "env.json").read_text())["seed"]
        (run_files,) = (job / "wandb").glob("offline-run-*")
        run, config = offline_run(run_files)
        assert run.run_group == f"train/multiruns/{sweep.name}"
        assert run.job_type == "train" and run.display_name == job.name
        assert list(run.tags) == ["grid", f"seed={seed}"]
        assert config["seed"] == seed and config["paths"]["output_dir"] == str(job)

        params, hp_metrics = tensorboard_hparams(job / "tensorboard")
        assert params["seed"] == seed and params["model"] == "segmentation/unet"
        metrics = json.loads((job / "metrics.json").read_text())
        assert hp_metrics["hp/val_mIoU"] == pytest.approx(metrics["val/mIoU"])
        assert hp_metrics["hp/test_mIoU"] == pytest.approx(metrics["test/mIoU"])
        hp_values.append(sorted(params))
    assert hp_values[0] == hp_values[1]  # one table in the HParams dashboard
