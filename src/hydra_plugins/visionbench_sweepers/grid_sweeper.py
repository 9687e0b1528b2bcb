"""Hydra's grid sweeper (``BasicSweeper``: the cartesian product of ``key=a,b`` overrides), made resumable.

Differences from the basic sweeper, nothing else:

- its launcher is wrapped in :class:`~visionbench.sweeps.launcher.ResumableLauncher`: jobs run in folders named from
  their overrides, a sweep run again into the same ``hydra.sweep.dir`` skips finished jobs and re-runs the others,
  and a failed job does not end the sweep (the basic sweeper raises the first job failure after its batch);
- ``seeds=N`` is expanded to ``seed=1,...,N`` (:func:`~visionbench.sweeps.seeds.expand_seeds`);
- an earlier invocation's ``multirun.yaml`` is kept: later ones are saved as ``multirun.<n>.yaml``.

The outcome of every job is in ``<sweep dir>/sweep.json``; :class:`~visionbench.sweeps.summary.SweepSummary` prints it
and sets the exit status.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from visionbench.sweeps.launcher import ResumableLauncher
from visionbench.sweeps.names import varying_keys
from visionbench.sweeps.seeds import SEEDS_KEY, expand_seeds
from visionbench.utils.atomic import write_text_atomically


def save_sweep_config(config: DictConfig, sweep_dir: Path) -> Path:
    """Save the sweep's config as ``multirun.yaml``, or ``multirun.<n>.yaml`` (n = 2, 3 ...) when an earlier
    invocation into the same folder saved one."""
    text = OmegaConf.to_yaml(config)
    number = 1
    while True:
        path = sweep_dir / ("multirun.yaml" if number == 1 else f"multirun.{number}.yaml")
        if write_text_atomically(path, text, replace=False):
            return path
        number += 1


class ResumableGridSweeper(BasicSweeper):
    """Hydra's basic sweeper with a resumable launcher, failures returned instead of raised, and ``seeds=N``.

    Args:
        max_batch_size: jobs handed to the launcher at once (None: all).
        params: sweep overrides given in the config, as Hydra's ``hydra.sweeper.params``.
    """

    def __init__(self, max_batch_size: int | None = None, params: dict[str, str] | None = None) -> None:
        super().__init__(max_batch_size=max_batch_size, params=params)

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        super().setup(hydra_context=hydra_context, task_function=task_function, config=config)
        assert self.launcher is not None
        self.launcher = ResumableLauncher(self.launcher, Path(config.hydra.sweep.dir))

    def sweep(self, arguments: list[str]) -> Any:
        assert self.config is not None and self.hydra_context is not None
        assert isinstance(self.launcher, ResumableLauncher)
        params = expand_seeds([*self._parse_config(), *arguments], self.config.get(SEEDS_KEY))
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        self.overrides = self.split_arguments(parser.parse_overrides(params), self.max_batch_size)
        # the folder names vary on the keys that differ across the whole grid, not batch by batch
        self.launcher.varying = varying_keys([job for batch in self.overrides for job in batch])
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        save_sweep_config(self.config, sweep_dir)
        returns = []
        initial_job_idx = 0
        while not self.is_done():
            batch = self.get_job_batch()
            self.validate_batch_is_legal(batch)
            returns.append(self.launcher.launch(batch, initial_job_idx=initial_job_idx))
            initial_job_idx += len(batch)
        return returns
