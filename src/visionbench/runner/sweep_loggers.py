"""Loggers in sweeps and in resumed trainings.

- Weights & Biases (:class:`SweepWandbLogger`, conf/logger/wandb.yaml): a job of a multirun is one W&B run named
  after its job folder, in the group of its sweep (the sweep folder relative to ``paths.log_dir``), tagged with
  ``cfg.tags`` and its overrides whose key varies in the sweep (``varying`` of ``<sweep dir>/sweep.json``,
  :mod:`visionbench.sweeps.record`), of job type ``task_name``; the resolved config is its run config
  (:func:`log_run_config`). A single run has no group. A training resumed in its own run directory continues its
  W&B run.
- TensorBoard: at the end of a run, :func:`log_final_hparams` writes its hyperparameters (:func:`run_hparams`) with its
  final headline metrics (``hp/<split>_<metric>``), so that TensorBoard's HParams dashboard lists every job of a
  sweep with its scores. A resumed training logs from the checkpoint's global step on (Lightning restores the step
  and logs at it), into the same event folder when it resumes in its own run directory.
"""

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, ListConfig, OmegaConf
from pytorch_lightning.loggers import Logger, TensorBoardLogger, WandbLogger

from visionbench.sweeps.names import override_key
from visionbench.sweeps.record import SweepRecord
from visionbench.tasks.contract import ProblemContract

WANDB_TAG_LENGTH = 64
"""W&B refuses longer tags."""
NOT_HYPERPARAMETERS = ("hydra", "paths", "logger", "task_name", "tags")
"""Config groups and top-level keys that say where and how a run is recorded, not what it trains."""
HPARAM_SPLITS = ("val", "test")
HPARAM_METRIC_PREFIX = "hp/"


def sweep_dir() -> Path | None:
    """The sweep folder of the running multirun job; None outside a multirun (or outside Hydra)."""
    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return None
    return Path(HydraConfig.get().sweep.dir)


def job_overrides() -> list[str]:
    """The running job's command-line overrides (a multirun job's include its swept values); empty outside Hydra."""
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def sweep_group(log_dir: str | None) -> str | None:
    """The W&B group of a multirun job: its sweep folder relative to ``log_dir`` (the folder's name when it lies
    elsewhere); None for a single run."""
    sweep = sweep_dir()
    if sweep is None:
        return None
    sweep, root = sweep.resolve(), Path(log_dir or ".").resolve()
    return sweep.relative_to(root).as_posix() if sweep.is_relative_to(root) else sweep.name


def sweep_tags(tags: Sequence[str] | None) -> list[str]:
    """``tags`` then, in a multirun, the job's ``key=value`` overrides whose key is one of the sweep's varying keys
    (sweep.json; none when it is absent), each cut to W&B's 64 characters, without repeats."""
    tagged = [str(tag) for tag in tags or ()]
    sweep = sweep_dir()
    varying = SweepRecord.read(sweep).varying if sweep is not None else []
    for override in job_overrides():
        key, _, value = override.partition("=")
        if not key.startswith("~") and override_key(key) in varying:
            tagged.append(f"{override_key(key)}={value}")
    return list(dict.fromkeys(tag[:WANDB_TAG_LENGTH] for tag in tagged))


def previous_wandb_run_id(save_dir: str) -> str | None:
    """The id of the W&B run an earlier attempt of this run logged into ``save_dir`` (a run resumed in its own
    directory, e.g. ``ckpt_path=last`` or a requeued SLURM job); None for a new run. W&B keeps each run's files in
    ``<save_dir>/wandb/[offline-]run-<time>-<id>/`` and links the latest as ``wandb/latest-run``."""
    latest = Path(save_dir) / "wandb" / "latest-run"
    if not latest.is_dir():
        return None
    return latest.resolve().name.rpartition("-")[2] or None


class SweepWandbLogger(WandbLogger):
    """Lightning's :class:`~pytorch_lightning.loggers.WandbLogger` whose run is identified from the Hydra job it runs
    in, so that the composed config stays the same for every job of a sweep (the leaderboard compares configs):

    - ``name``: the job's (or single run's) folder name, the last component of ``save_dir``;
    - ``group``: in a multirun, the sweep folder relative to ``log_dir`` (:func:`sweep_group`); none for a single run;
    - ``tags``: ``tags`` plus, in a multirun, the job's swept overrides (:func:`sweep_tags`);
    - ``id``: when ``save_dir`` already holds this run's W&B files (a training resumed in its own run directory), the
      run they belong to (:func:`previous_wandb_run_id`), continued (Lightning passes ``resume="allow"``).

    A ``name``, ``group`` or ``id`` given explicitly is kept. Every other argument is WandbLogger's (extra ones, such
    as ``job_type``, go to ``wandb.init``)."""

    def __init__(
        self,
        save_dir: str = ".",
        log_dir: str | None = None,
        tags: Sequence[str] | None = None,
        name: str | None = None,
        group: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs["id"] = kwargs.get("id") or previous_wandb_run_id(save_dir)
        super().__init__(
            name=name or Path(save_dir).name,
            save_dir=save_dir,
            group=group or sweep_group(log_dir),
            tags=sweep_tags(tags),
            **kwargs,
        )


def log_run_config(loggers: Sequence[Logger], cfg: DictConfig) -> None:
    """Log the resolved ``cfg`` as the run config of every W&B logger (on rank 0; Lightning's loggers skip the
    others)."""
    wandb_loggers = [logger for logger in loggers if isinstance(logger, WandbLogger)]
    if wandb_loggers:
        config = OmegaConf.to_container(cfg, resolve=True)
        for logger in wandb_loggers:
            logger.log_hyperparams(config)


def _scalar(value: Any) -> bool | int | float | str:
    return value if isinstance(value, bool | int | float | str) else str(value)


def _recorded_only(key: str) -> bool:
    return key.split("/")[0].split(".")[0] in NOT_HYPERPARAMETERS


def run_hparams(cfg: DictConfig) -> dict[str, bool | int | float | str]:
    """The run's hyperparameters for TensorBoard's HParams dashboard: the choice of every config group (``model``:
    ``segmentation/unet``), then every command-line override (a multirun job's include its swept values) with its
    value in the resolved ``cfg`` (an override of a group keeps the option's name; lists become text). The same keys
    for every job of a sweep, so that the dashboard shows them all in one table. Groups and keys that only say where
    and how the run is recorded (:data:`NOT_HYPERPARAMETERS`) and deletions (``~key``) are left out."""
    choices = HydraConfig.get().runtime.choices if HydraConfig.initialized() else {}
    params = {group: choice for group, choice in choices.items() if choice is not None and not _recorded_only(group)}
    for override in job_overrides():
        key, _, value = override.partition("=")
        key = override_key(key) if not key.startswith("~") else ""
        if not key or _recorded_only(key):
            continue
        resolved = OmegaConf.select(cfg, key, default=None)
        if isinstance(resolved, DictConfig):  # a config group: its option's name
            params[key] = choices.get(key, value)
        elif isinstance(resolved, ListConfig):
            params[key] = str(OmegaConf.to_container(resolved, resolve=True))
        else:
            params[key] = value if resolved is None else resolved
    return {key: _scalar(value) for key, value in params.items()}


def hparam_metrics(contract: ProblemContract, metrics: Mapping[str, float]) -> dict[str, float]:
    """The final headline and leaderboard metrics of the problem as HParams metrics: ``val/mIoU`` ->
    ``hp/val_mIoU`` (those the run has)."""
    names = (contract.headline.metric, *contract.leaderboard_metrics)
    return {
        f"{HPARAM_METRIC_PREFIX}{split}_{name}": float(metrics[f"{split}/{name}"])
        for split in HPARAM_SPLITS
        for name in names
        if metrics.get(f"{split}/{name}") is not None
    }


def log_final_hparams(
    loggers: Sequence[Logger], cfg: DictConfig, contract: ProblemContract, metrics: Mapping[str, float]
) -> None:
    """Write the run's hyperparameters (:func:`run_hparams`) with its final metrics (:func:`hparam_metrics`) to every
    TensorBoard logger, and flush them to disk (call once, on rank 0, after the last evaluation)."""
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.log_hyperparams(run_hparams(cfg), metrics=hparam_metrics(contract, metrics))
            logger.finalize("success")
