"""Training pipeline: fit, re-evaluate the best checkpoint on val and test, write the run directory."""

import logging
import time
from pathlib import Path

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.utilities import rank_zero_only

from visionbench.models.parameters import count_parameters
from visionbench.runner.batch_size import apply_total_batch_size
from visionbench.runner.builders import build_each, build_task
from visionbench.runner.environment import PROJECT_DIR, collect_environment, device_info
from visionbench.runner.errors import reports_run_dir
from visionbench.runner.reporting import headline_row, print_tables, summary_table, write_json
from visionbench.runner.run_dir import ensure_fresh
from visionbench.runner.scores import write_scores
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


def select_optimized_metric(metrics: dict[str, float], name: str | None) -> float | None:
    """The value a sweeper optimises; a clear error when the run did not log it."""
    if not name:
        return None
    if name not in metrics:
        available = ", ".join(sorted(key for key in metrics if key.count("/") == 1))
        raise KeyError(f"optimized_metric '{name}' was not logged by this run; logged metrics: {available}")
    return metrics[name]


@reports_run_dir
def train(cfg: DictConfig) -> float | None:
    """Run one training job described by ``cfg`` (conf/train.yaml) and return ``cfg.optimized_metric``."""
    contract = problem_contract(cfg)
    if not contract.trains:
        raise ValueError(contract.nothing_to_train())
    output_dir = Path(cfg.paths.output_dir)
    is_main = rank_zero_only.rank == 0
    if is_main:
        ensure_fresh(output_dir)
        (output_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    if cfg.get("ckpt_path") and not Path(cfg.ckpt_path).is_file():
        raise FileNotFoundError(f"ckpt_path does not exist: {cfg.ckpt_path}")
    pl.seed_everything(cfg.seed, workers=True)

    datamodule = instantiate(cfg.data)
    task = build_task(cfg, datamodule)
    callbacks = build_each(cfg.get("callbacks"))
    loggers = build_each(cfg.get("logger"))
    trainer: pl.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    if cfg.get("total_batch_size"):
        apply_total_batch_size(datamodule, trainer, cfg.total_batch_size)
    if is_main:
        strategy = type(trainer.strategy).__name__
        device = device_info(cfg.trainer.accelerator, cfg.trainer.devices, strategy, trainer.precision)
        environment = collect_environment(
            cfg.seed, device, PROJECT_DIR, count_parameters(task.model), contract.metric_code()
        )
        write_json(environment, output_dir / "env.json")

    started = time.perf_counter()
    if cfg.get("train", True):
        trainer.fit(task, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    train_seconds = time.perf_counter() - started
    best = _best_checkpoint(trainer)

    results = dict(trainer.validate(task, datamodule=datamodule, ckpt_path=best, verbose=False)[0])
    if cfg.get("test", True):
        results.update(trainer.test(task, datamodule=datamodule, ckpt_path=best, verbose=False)[0])
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
    return select_optimized_metric(metrics, cfg.get("optimized_metric"))
