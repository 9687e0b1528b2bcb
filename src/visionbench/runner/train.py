"""Training pipeline: fit, re-evaluate the best checkpoint on val and test, write the run directory."""

import logging
import time
from collections.abc import Sequence
from pathlib import Path

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.utilities import rank_zero_only

from visionbench.callbacks.exact_resume import resume_history
from visionbench.models.parameters import count_parameters
from visionbench.runner.batch_size import apply_total_batch_size
from visionbench.runner.builders import build_each, build_task
from visionbench.runner.checkpoint_io import checkpoint_plugins
from visionbench.runner.ddp_hydra import isolates_ddp_jobs
from visionbench.runner.environment import PROJECT_DIR, collect_environment, device_info
from visionbench.runner.errors import reports_run_dir
from visionbench.runner.loky_workers import fit_data_workers_to_process
from visionbench.runner.reporting import headline_row, print_tables, summary_table, write_json
from visionbench.runner.requeue import continues_requeued_run, start_or_continue
from visionbench.runner.resume import resumes_in_place
from visionbench.runner.scores import write_scores
from visionbench.runner.signals import stops_on_signals
from visionbench.runner.sweep_loggers import log_final_hparams, log_run_config
from visionbench.tasks.contract import problem_contract
from visionbench.utils.checkpoints import read_checkpoint

log = logging.getLogger(__name__)


def _checkpoint_callback(trainer: pl.Trainer) -> ModelCheckpoint | None:
    return trainer.checkpoint_callback if isinstance(trainer.checkpoint_callback, ModelCheckpoint) else None


def _best_checkpoint(trainer: pl.Trainer) -> str | None:
    callback = _checkpoint_callback(trainer)
    if callback is None:
        return None
    return callback.best_model_path or callback.last_model_path or None


def select_optimized_metric(metrics: dict[str, float], name: str | Sequence[str] | None) -> float | list[float] | None:
    """The value a sweeper optimises, or the list of values of a list of names (a multi-objective search); a clear
    error when the run did not log one."""
    if not name:
        return None
    if not isinstance(name, str):
        return [select_optimized_metric(metrics, one) for one in name]
    if name not in metrics:
        available = ", ".join(sorted(key for key in metrics if key.count("/") == 1))
        raise KeyError(f"optimized_metric '{name}' was not logged by this run; logged metrics: {available}")
    return metrics[name]


@continues_requeued_run
@isolates_ddp_jobs
@reports_run_dir
@stops_on_signals
def train(cfg: DictConfig) -> float | None:
    """Run one training job described by ``cfg`` (conf/train.yaml) and return ``cfg.optimized_metric``."""
    contract = problem_contract(cfg)
    if not contract.trains:
        raise ValueError(contract.nothing_to_train())
    output_dir = Path(cfg.paths.output_dir)
    is_main = rank_zero_only.rank == 0
    resuming = resumes_in_place(cfg)  # ckpt_path=last | <run dir>: the first attempt's config.yaml, env.json kept
    ckpt_path = cfg.ckpt_path if resuming else start_or_continue(output_dir, cfg.get("ckpt_path"), is_main)
    if is_main and not resuming:
        (output_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    if ckpt_path:  # read as data first: a refused or broken file fails here with one line naming it
        read_checkpoint(ckpt_path)
    pl.seed_everything(cfg.seed, workers=True)

    datamodule = instantiate(cfg.data)
    fit_data_workers_to_process(datamodule)
    task = build_task(cfg, datamodule)
    callbacks = build_each(cfg.get("callbacks"))
    loggers = build_each(cfg.get("logger"))
    log_run_config(loggers, cfg)
    plugins = checkpoint_plugins(instantiate(cfg.trainer.get("plugins")))  # atomic checkpoint writes
    trainer: pl.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False, plugins=plugins)
    if cfg.get("total_batch_size"):
        apply_total_batch_size(datamodule, trainer, cfg.total_batch_size)
    if is_main and not resuming:
        strategy = type(trainer.strategy).__name__
        device = device_info(cfg.trainer.accelerator, cfg.trainer.devices, strategy, trainer.precision)
        environment = collect_environment(
            cfg.seed, device, PROJECT_DIR, count_parameters(task.model), contract.metric_code()
        )
        write_json(environment, output_dir / "env.json")

    started = time.perf_counter()
    if cfg.get("train", True):
        trainer.fit(task, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    train_seconds = time.perf_counter() - started
    best = _best_checkpoint(trainer)

    results = dict(trainer.validate(task, datamodule=datamodule, ckpt_path=best, verbose=False, weights_only=True)[0])
    if cfg.get("test", True):
        results.update(trainer.test(task, datamodule=datamodule, ckpt_path=best, verbose=False, weights_only=True)[0])
    metrics = contract.flat_metrics(results, task)

    if is_main:
        write_json(metrics, output_dir / "metrics.json")
        write_scores(output_dir, contract.sample_scores(task))
        callback = _checkpoint_callback(trainer)
        run_info = {
            "best_checkpoint": str(Path(best).relative_to(output_dir)) if best else None,
            "best_epoch": read_checkpoint(best).get("epoch") if best else None,
            "monitor": callback.monitor if callback else None,
            "train_seconds": round(train_seconds, 3),
            "epochs": trainer.current_epoch,
            "resumes": resume_history(trainer),
        }
        write_json(run_info, output_dir / "run.json")
        rows = {
            f"best {run_info['monitor']}": f"{metrics.get(run_info['monitor'] or '', float('nan')):.4f}",
            "best epoch": str(run_info["best_epoch"]),
            **headline_row(contract, metrics, "test"),
            "training time": f"{train_seconds:.1f} s",
            "run directory": str(output_dir),
        }
        print_tables(*contract.tables(task), summary_table(rows))
        log_final_hparams(loggers, cfg, contract, metrics)
    costs = {"model/parameters": float(count_parameters(task.model))}  # an objective for multi-objective searches
    return select_optimized_metric({**metrics, **costs}, cfg.get("optimized_metric"))
