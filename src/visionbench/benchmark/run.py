"""``python benchmark.py``: the models of the config (``model=``, a list ``models=[...]`` or a training run's
``run_dir=``) measured under every setting of the grid, the records written to ``<run dir>/benchmark.csv`` (rewritten
atomically after each record) and ``benchmark.md``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra import compose
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from visionbench.benchmark.job import Job, run_isolated, run_job
from visionbench.benchmark.measure import Options
from visionbench.benchmark.records import OK, markdown_table, write_csv
from visionbench.benchmark.settings import settings_grid
from visionbench.runner.errors import ConfigError
from visionbench.tasks.contract import problem_contract
from visionbench.utils.atomic import write_text_atomically

log = logging.getLogger(__name__)
CSV_FILE, MARKDOWN_FILE = "benchmark.csv", "benchmark.md"
"""``benchmark.csv`` is the name the leaderboard looks for in the folders it scans."""


def _model_facts(setup: DictConfig) -> dict[str, Any]:
    """The dataset facts the model of ``setup`` is built with (e.g. the class count of ``setup.data``)."""
    if setup.get("data") is None:
        return {}
    return dict(problem_contract(setup).dataset_facts(instantiate(setup.data)).model)


def _job(name: str, setup: DictConfig) -> dict[str, Any]:
    return {
        "name": name,
        "model": OmegaConf.to_container(setup.model, resolve=True),
        "task": str(setup.task._target_),
        "facts": _model_facts(setup),
    }


def model_jobs(cfg: DictConfig) -> list[dict[str, Any]]:
    """Name, resolved model config, task target and model facts of each model to benchmark: the ``model=`` choice,
    each entry of ``models`` (composed with the command line's other overrides) or the model of the training run
    ``run_dir`` (its config.yaml; the weights are not loaded, they do not change the speed)."""
    if cfg.get("run_dir"):
        run = Path(cfg.run_dir)
        config, hydra_file = run / "config.yaml", run / ".hydra" / "hydra.yaml"
        if not config.is_file():
            raise ConfigError(f"run_dir={run}: {config} not found (a training run directory holds config.yaml)")
        setup = OmegaConf.load(config)
        choices = OmegaConf.load(hydra_file).hydra.runtime.choices if hydra_file.is_file() else {}
        return [_job(str(choices.get("model") or setup.model._target_), setup)]
    if not cfg.get("models"):
        return [_job(HydraConfig.get().runtime.choices["model"], cfg)]
    overrides = [
        override
        for override in HydraConfig.get().overrides.task
        if override.split("=", 1)[0].lstrip("+~") not in ("model", "models")
    ]
    return [_job(str(name), compose("benchmark", overrides=[*overrides, f"model={name}"])) for name in cfg.models]


def _summary(record: dict[str, Any]) -> str:
    setting = f"{record['precision']} {record['memory_format']} {record['mode']} b{record['batch']} "
    setting += f"{record['height']}x{record['width']}"
    if record["status"] != OK:
        return f"{record['model']} {setting}: {record['status']} ({record['reason']})"
    return (
        f"{record['model']} {setting}: p50 {record['latency_p50_ms']:.1f} ms, {record['samples_per_s']:.2f} "
        f"samples/s, first call {record['first_call_s']:.2f} s"
    )


def benchmark(cfg: DictConfig) -> Path:
    """Measure every model of ``cfg`` under every setting; returns the CSV's path."""
    settings = settings_grid(cfg.precisions, cfg.memory_formats, cfg.modes, cfg.batch_sizes, cfg.resolutions)
    options = Options(cfg.device, int(cfg.warmup), int(cfg.repeats), cfg.time_cap_s)
    output_dir = Path(cfg.paths.output_dir)
    path = output_dir / CSV_FILE
    records: list[dict[str, Any]] = []
    for job in model_jobs(cfg):
        job = Job(**job, settings=settings, options=options, threads=cfg.threads)
        for record in run_isolated(job) if cfg.isolate else run_job(job):
            records.append(record)
            write_csv(path, records)
            log.info(_summary(record))
    write_text_atomically(output_dir / MARKDOWN_FILE, markdown_table(records), replace=True)
    log.info(f"{len(records)} records in {path}")
    return path
