"""An Optuna sweeper whose study lives in persistent storage: continued up to ``n_trials`` by running the same command
again, trials pruned from inside their jobs, failed trials recorded as failed instead of ending the search.

hydra-optuna-sweeper 1.3.0 parses the search space well but its loop does not suit sweeps at scale: a second
invocation runs ``n_trials`` *more* trials and numbers jobs from 0 again, a failed job raises out of the sweep, and
the jobs never see their trial, so nothing can prune them. This sweeper keeps the plugin's configuration and search
space parsing and runs its own ask/tell loop:

- **Resuming.** ``n_trials`` is the size of the study: an invocation runs ``n_trials`` minus the trials that finished
  (complete or pruned). Trials left running by a killed invocation are recorded as failed and replaced. A continued
  study's sampler is reseeded from fresh entropy (with the configured seed it would replay the first invocation's
  draws and propose the same parameters again). One invocation at a time per study.
- **Launching.** Each batch of ``n_jobs`` trials goes through :class:`visionbench.sweeps.ResumableLauncher`, so a
  job's folder is named from its overrides and an invocation killed after a job finished does not run it again;
  the first job of a batch is numbered as its trial.
- **Pruning.** When the search config has a ``callbacks.optuna_pruning`` entry
  (:class:`visionbench.callbacks.optuna_pruning.OptunaPruning`, storage and study name interpolated from this
  sweeper's config), trial ``k``'s job gets the override ``callbacks.optuna_pruning.trial_number=k``: the callback
  loads trial ``k`` from the storage, reports each epoch's validation score to it and raises a ``TrialPruned`` when
  the pruner says so.
- **Telling.** A job that returned a finite value (one per objective) -> COMPLETE with it; a job that raised
  ``TrialPruned`` -> PRUNED (Optuna keeps the last reported intermediate value); any other failure, or a missing or
  non-finite value -> FAIL, and the search goes on. ``max_failure_rate`` stops this invocation (the study is left
  consistent) once more than that fraction of its trials failed.
- **Results.** ``<sweep dir>/optimization_results.yaml`` holds the best parameters and value, or the Pareto front of
  a multi-objective study, and the count of trials per state; rewritten atomically after every invocation.
"""

from __future__ import annotations

import functools
import logging
import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
from hydra.core.utils import JobReturn
from hydra_plugins.hydra_optuna_sweeper._impl import create_params_from_overrides
from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper
from omegaconf import OmegaConf
from optuna.distributions import BaseDistribution
from optuna.trial import TrialState

from visionbench.sweeps import ResumableLauncher
from visionbench.utils.atomic import write_text_atomically

log = logging.getLogger(__name__)

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
"""Trial states that count towards ``n_trials``."""
PRUNING_TRIAL_KEY = "callbacks.optuna_pruning.trial_number"
"""The override that hands a job its trial (when the search config has ``callbacks.optuna_pruning``)."""
RESULTS_FILE = "optimization_results.yaml"


def ensure_sqlite_folder(storage: str) -> None:
    """Create the folder of a ``sqlite:///<path>`` storage file (SQLite does not create missing folders)."""
    prefix = "sqlite:///"
    if storage.startswith(prefix):
        Path(storage[len(prefix) :]).parent.mkdir(parents=True, exist_ok=True)


def trial_outcome(job: JobReturn, n_objectives: int) -> tuple[TrialState, list[float] | None, str | None]:
    """``(state, values, reason)`` to tell the study about a finished job: COMPLETE with one finite value per
    objective, PRUNED when the job raised ``optuna.TrialPruned``, FAIL (with the reason) otherwise."""
    try:
        returned = job.return_value  # re-raises the job's exception
    except optuna.TrialPruned as error:
        return TrialState.PRUNED, None, str(error)
    except Exception as error:
        return TrialState.FAIL, None, f"{type(error).__name__}: {error}"
    values = list(returned) if isinstance(returned, Sequence) and not isinstance(returned, str) else [returned]
    if len(values) != n_objectives:
        return TrialState.FAIL, None, f"returned {returned!r}; expected {n_objectives} value(s), one per objective"
    try:
        numbers = [float(value) for value in values]
    except (TypeError, ValueError):
        return TrialState.FAIL, None, f"returned {returned!r}, not numbers (is optimized_metric set?)"
    if not all(math.isfinite(number) for number in numbers):
        return TrialState.FAIL, None, f"returned {returned!r}, not finite"
    return TrialState.COMPLETE, numbers, None


def results_summary(study: optuna.Study) -> dict[str, Any]:
    """What optimization_results.yaml holds: the best trial's parameters and value (single objective) or the Pareto
    front (several), and how many trials ended in each state."""
    summary: dict[str, Any] = {"name": "optuna"}
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(study.directions) == 1:
        best = study.best_trial if complete else None
        summary["best_params"] = dict(best.params) if best else None
        summary["best_value"] = best.value if best else None
    else:
        summary["solutions"] = [{"params": dict(t.params), "values": list(t.values)} for t in study.best_trials]
    counts = Counter(trial.state.name.lower() for trial in study.get_trials(deepcopy=False))
    summary["trials"] = dict(sorted(counts.items()))
    return summary


class ResumableOptunaSweeper(OptunaSweeper):
    """hydra-optuna-sweeper's ``OptunaSweeper`` with its own ask/tell loop (module docstring): ``n_trials`` is the size
    of the study, jobs can prune their trial, failed trials are recorded and the search goes on.

    Same configuration keys as the plugin (``hydra.sweeper._target_`` selects this class); ``storage`` and
    ``study_name`` are required.
    """

    def sweep(self, arguments: list[str]) -> None:
        impl = self.sweeper
        storage, study_name = self._storage()
        space, fixed = self._search_space(arguments)
        directions = impl._get_directions()
        study = optuna.create_study(
            study_name=study_name, storage=storage, sampler=impl.sampler, directions=directions, load_if_exists=True
        )
        self._check_directions(study, directions)
        finished = self._close_abandoned_trials(study)
        to_run = max(0, impl.n_trials - finished)
        log.info(
            "Study %s (%s), directions %s: %d of %d trials finished, %d to run",
            study_name, storage, directions, finished, impl.n_trials, to_run,
        )  # fmt: skip
        launcher = ResumableLauncher(impl.launcher, Path(impl.sweep_dir), varying=list(space))
        hands_trial = OmegaConf.select(impl.config, "callbacks.optuna_pruning") is not None
        failed = launched = 0
        while to_run > 0:
            study = self._load(study_name, storage)
            trials = [study.ask() for _ in range(min(impl.n_jobs, to_run))]
            overrides = [list(job) for job in impl._configure_trials(trials, space, fixed)]
            if hands_trial:
                for trial, job in zip(trials, overrides, strict=True):
                    job.append(f"{PRUNING_TRIAL_KEY}={trial.number}")
            jobs = launcher.launch(overrides, initial_job_idx=trials[0].number)
            study = self._load(study_name, storage)  # a fresh view: the jobs wrote intermediate values meanwhile
            for trial, job in zip(trials, jobs, strict=True):
                failed += self._tell(study, trial.number, job, len(directions)) == TrialState.FAIL
            launched += len(trials)
            to_run -= len(trials)
            if failed / launched > impl.max_failure_rate:
                log.error(
                    "%d of the %d trials of this invocation failed (max_failure_rate=%s): stopping it; the study "
                    "is kept and the same command continues it",
                    failed, launched, impl.max_failure_rate,
                )  # fmt: skip
                break
        self._write_results(self._load(study_name, storage))

    def _storage(self) -> tuple[str, str]:
        """The study's storage URL (its SQLite folder created) and name; a clear error when either is missing."""
        impl = self.sweeper
        if impl.storage is None or impl.study_name is None:
            raise ValueError(
                "hydra.sweeper.storage and hydra.sweeper.study_name must be set: ResumableOptunaSweeper keeps the "
                "study in storage, where the jobs report to it and the next invocation continues it"
            )
        storage = str(impl.storage)
        ensure_sqlite_folder(storage)
        return storage, str(impl.study_name)

    def _search_space(self, arguments: list[str]) -> tuple[dict[str, BaseDistribution], dict[str, Any]]:
        """The distributions searched and the fixed overrides, parsed as the plugin does from ``params`` (or the
        deprecated ``search_space``) and the command line; a grid sampler is built over the space and caps
        ``n_trials`` at the grid's size."""
        impl = self.sweeper
        impl._process_searchspace_config()
        space_overrides, fixed = create_params_from_overrides([*impl._parse_sweeper_params_config(), *arguments])
        space = {**(impl.search_space_distributions or {}), **space_overrides}
        for name in fixed:
            space.pop(name, None)
        if isinstance(impl.sampler, functools.partial) and impl.sampler.func is optuna.samplers.GridSampler:
            grid = {name: impl._to_grid_sampler_choices(distribution) for name, distribution in space.items()}
            impl.sampler = impl.sampler(grid)
            impl.n_trials = min(impl.n_trials, math.prod(len(choices) for choices in grid.values()))
        return space, fixed

    @staticmethod
    def _check_directions(study: optuna.Study, directions: list[str]) -> None:
        stored = [direction.name.lower() for direction in study.directions]
        if stored != [direction.lower() for direction in directions]:
            raise ValueError(
                f"study '{study.study_name}' in the storage optimises {stored} but hydra.sweeper.direction is "
                f"{directions}: use another study_name or sweep directory"
            )

    def _close_abandoned_trials(self, study: optuna.Study) -> int:
        """Record the trials left running by a killed invocation as failed; reseed the sampler of a continued study.
        Returns how many trials finished (:data:`FINISHED`)."""
        trials = study.get_trials(deepcopy=False)
        for trial in trials:
            if trial.state == TrialState.RUNNING:
                log.warning("Trial %d was left running by an earlier invocation: recorded as failed", trial.number)
                study.tell(trial.number, state=TrialState.FAIL)
        if trials and isinstance(self.sweeper.sampler, optuna.samplers.BaseSampler):
            self.sweeper.sampler.reseed_rng()
        return sum(trial.state in FINISHED for trial in trials)

    def _load(self, study_name: str, storage: str) -> optuna.Study:
        """The study as the storage holds it now. A study object caches the trials it asked for, so the sweeper
        reloads it to see what the jobs reported."""
        return optuna.load_study(study_name=study_name, storage=storage, sampler=self.sweeper.sampler)

    @staticmethod
    def _tell(study: optuna.Study, number: int, job: JobReturn, n_objectives: int) -> TrialState:
        """Tell the study how trial ``number``'s job ended; returns the state told."""
        state, values, reason = trial_outcome(job, n_objectives)
        try:
            study.tell(number, values, state=state)
        except RuntimeError as error:  # GridSampler calls study.stop() outside optimize() once the grid is done
            if "Study.stop" not in str(error):
                raise
        if state == TrialState.COMPLETE:
            log.info("Trial %d: %s", number, values)
        else:
            log.warning("Trial %d %s: %s", number, state.name.lower(), reason)
        return state

    def _write_results(self, study: optuna.Study) -> None:
        summary = results_summary(study)
        log.info("Results: %s", summary)
        path = Path(self.sweeper.sweep_dir) / RESULTS_FILE
        write_text_atomically(path, OmegaConf.to_yaml(OmegaConf.create(summary)), replace=True)
