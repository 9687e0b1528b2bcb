"""DDP inside a Hydra multirun: the ranks of a job run in that job's directory, on that job's config.

Lightning starts ranks 1..N-1 of a local DDP job by running the command line again (``sys.argv``) with
``hydra.run.dir`` set to the *run* directory. Under ``-m`` that command is the whole sweep: every child rank starts a
sweep of its own (a new multirun folder, a stray ``runs/`` folder), and the ranks of different jobs pair up or wait
for each other forever. Here, in a multirun, each child rank is started on its job's config alone:

    python <script> -cp <job dir>/.hydra -cn ddp_config hydra.run.dir=<job dir> hydra.output_subdir=null
        hydra.job.name=<job name>_ddp_process_<rank>

``<job dir>/.hydra/ddp_config.yaml`` is the job's config (``.hydra/config.yaml``) resolved by rank 0 with this job's
Hydra values (``${hydra:runtime.output_dir}``, ``${hydra:sweeper...}``), so every rank builds exactly rank 0's objects,
whatever the sweeper or launcher added to the job. The job directory is Hydra's ``runtime.output_dir``, never derived
from the job number. A single run keeps Lightning's own command.

With Hydra's basic launcher the jobs run one after the other in one process: Lightning leaves the previous job's
process group (whose other ranks have exited) and its ``LOCAL_RANK``/``WORLD_SIZE``... variables behind, which would
make the next job believe its ranks are started externally and wait on a dead group; both are cleared when the job ends
(:func:`isolates_ddp_jobs`), as is Lightning's observer of the job's ranks, which would otherwise kill the whole
sweep when a rank of a finished (failed) job exits with an error.

Ranks started by the cluster (SLURM's ``srun``, ``cluster=slurm``) do not go through this path at all. A job run by
a launcher's worker process (submitit, joblib) cannot re-run itself as a script: there it is a clear error.
"""

import functools
import importlib
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import get_original_cwd, to_absolute_path
from lightning_fabric.strategies.launchers.subprocess_script import _ChildProcessObserver
from omegaconf import DictConfig, OmegaConf

from visionbench.utils.atomic import write_text_atomically

RANK_CONFIG_NAME = "ddp_config"
_LAUNCHER_MODULES = (
    "pytorch_lightning.strategies.launchers.subprocess_script",
    "lightning_fabric.strategies.launchers.subprocess_script",
)
_PATCHED = "_visionbench_multirun_ranks"
_WORKER_MODULES = ("submitit.", "joblib.")
_DDP_ENVIRONMENT = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")
_CHILD_EXIT_S = 60
Command = Callable[[int], tuple[Sequence[str], str]]
Result = TypeVar("Result")


def quote_override_value(value: str) -> str:
    """``value`` as a single-quoted Hydra override value: any character allowed; quotes, and the backslashes before a
    quote or the end, escaped as Hydra's grammar reads them."""
    escaped = re.sub(r"(\\*)('|$)", lambda match: match[1] * 2 + ("\\'" if match[2] else ""), value)
    return f"'{escaped}'"


def _script_command() -> list[str]:
    """The interpreter and the entry script (or module) of this process, as Lightning re-runs it."""
    import __main__

    if __main__.__spec__ is not None and __main__.__spec__.name.startswith(_WORKER_MODULES):
        raise RuntimeError(
            f"DDP child processes cannot be started from a {__main__.__spec__.name} worker (hydra/launcher=submitit_* "
            "or joblib): on SLURM use cluster=slurm (srun starts one task per device), locally the basic launcher"
        )
    if __main__.__spec__ is None:
        return [sys.executable, to_absolute_path(sys.argv[0])]
    return [sys.executable, "-m", __main__.__spec__.name]


def write_rank_config() -> Path:
    """Resolve this job's saved config (``<job dir>/<output_subdir>/config.yaml``) with the current Hydra values and
    write it beside it as ``ddp_config.yaml`` (atomically); return the folder that holds it."""
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.output_subdir is None:
        raise RuntimeError(
            "DDP inside a multirun starts each child rank on the job's saved config, but hydra.output_subdir is null "
            "(the config is not saved): leave hydra.output_subdir at its default (.hydra)"
        )
    config_dir = Path(hydra_cfg.runtime.output_dir) / hydra_cfg.output_subdir
    job_config = OmegaConf.load(config_dir / "config.yaml")
    resolved = OmegaConf.create(OmegaConf.to_container(job_config, resolve=True))
    write_text_atomically(config_dir / f"{RANK_CONFIG_NAME}.yaml", OmegaConf.to_yaml(resolved), replace=True)
    return config_dir


def multirun_rank_command(local_rank: int) -> tuple[list[str], str]:
    """The command and working directory that start child rank ``local_rank`` of the current multirun job."""
    hydra_cfg = HydraConfig.get()
    config_dir = write_rank_config()
    command = [
        *_script_command(),
        "-cp",
        str(config_dir.resolve()),
        "-cn",
        RANK_CONFIG_NAME,
        f"hydra.run.dir={quote_override_value(str(Path(hydra_cfg.runtime.output_dir).resolve()))}",
        "hydra.output_subdir=null",
        f"hydra.job.name={hydra_cfg.job.name}_ddp_process_{local_rank}",
    ]
    return command, get_original_cwd()


@dataclass
class _Job:
    """This process's current job: the DDP variables before it started, whether it started child ranks."""

    environment: dict[str, str | None] = field(default_factory=dict)
    launched: bool = False


_JOB = _Job()


def _rank_command(original: Command) -> Command:
    def command(local_rank: int) -> tuple[Sequence[str], str]:
        if HydraConfig.get().mode != RunMode.MULTIRUN:
            return original(local_rank)
        _JOB.launched = True
        return multirun_rank_command(local_rank)

    setattr(command, _PATCHED, True)
    return command


def _start_job() -> None:
    for name in _LAUNCHER_MODULES:
        module = importlib.import_module(name)
        original = getattr(module, "_hydra_subprocess_cmd", None)
        if original is None:
            raise RuntimeError(f"{name} has no _hydra_subprocess_cmd: update visionbench.runner.ddp_hydra")
        if not getattr(original, _PATCHED, False):
            module._hydra_subprocess_cmd = _rank_command(original)
    _JOB.environment = {key: os.environ.get(key) for key in _DDP_ENVIRONMENT}
    _JOB.launched = False


def _end_job() -> None:
    """After a multirun job that started child ranks: retire Lightning's observer of those ranks (it would kill this
    process, the whole sweep, when a rank of a finished job exits with an error), let them exit (terminated after
    ``_CHILD_EXIT_S``), then drop the job's process group and DDP variables, so that the next job starts its own."""
    if not _JOB.launched:
        return
    for observer in [thread for thread in threading.enumerate() if isinstance(thread, _ChildProcessObserver)]:
        observer._run = lambda: True  # its next check ends it without touching any process
        for process in observer._child_processes:
            try:
                process.wait(timeout=_CHILD_EXIT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    for key, value in _JOB.environment.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    _JOB.launched = False


def isolates_ddp_jobs(run: Callable[[DictConfig], Result]) -> Callable[[DictConfig], Result]:
    """Decorate a job function (``train(cfg)``): in a multirun, the child ranks of the job start in its directory on
    its config (:func:`multirun_rank_command`) and nothing of the job (ranks, their observer, process group, DDP
    variables) outlives it into the next job of the same process; single runs keep Lightning's behaviour. A clear
    error if Lightning no longer has the hook this relies on."""

    @functools.wraps(run)
    def wrapper(cfg: DictConfig) -> Result:
        _start_job()
        try:
            return run(cfg)
        finally:
            _end_job()

    return wrapper
