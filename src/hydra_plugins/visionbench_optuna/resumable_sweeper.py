"""An Optuna sweeper whose study, kept in persistent storage, is continued up to ``n_trials`` by running the same
command again.

hydra-optuna-sweeper 1.3.0 opens the study with ``load_if_exists=True`` but then asks for ``n_trials`` *more* trials,
and numbers the jobs of every invocation from 0, so a second invocation into the same sweep folder would run
``n_trials`` again and reuse the job folders of the first. This subclass changes only those two numbers before
handing over to the plugin: the trials still to run are ``n_trials`` minus the trials of the study that finished
(complete or pruned; failed trials and trials left running by a killed invocation are replaced), and job numbers
continue after the study's last trial, so that with ``hydra.sweep.subdir: ${hydra.job.num}`` trial ``k`` runs in
``<sweep dir>/<k>``. A continued study's sampler is reseeded from fresh entropy: with the configured seed it would
replay the first invocation's random draws and propose the same parameters again.
"""

from __future__ import annotations

import logging
from pathlib import Path

import optuna
from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper
from optuna.trial import TrialState

log = logging.getLogger(__name__)

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
"""Trial states that count towards ``n_trials``."""


def existing_trials(storage: str, study_name: str) -> tuple[int, int]:
    """``(finished, total)``: how many trials of the study ``study_name`` in ``storage`` finished (:data:`FINISHED`)
    and how many it holds in all; ``(0, 0)`` when the study does not exist yet."""
    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        return 0, 0
    trials = study.get_trials(deepcopy=False)
    return sum(trial.state in FINISHED for trial in trials), len(trials)


def ensure_sqlite_folder(storage: str) -> None:
    """Create the folder of a ``sqlite:///<path>`` storage file (SQLite does not create missing folders)."""
    prefix = "sqlite:///"
    if storage.startswith(prefix):
        Path(storage[len(prefix) :]).parent.mkdir(parents=True, exist_ok=True)


class ResumableOptunaSweeper(OptunaSweeper):
    """hydra-optuna-sweeper's ``OptunaSweeper`` where ``n_trials`` is the size of the study, not of this invocation.

    Same configuration keys as the plugin (``hydra.sweeper._target_`` selects this class). Without ``storage``
    (an in-memory study) it behaves exactly as the plugin. With storage, it needs a fixed ``study_name``.
    """

    def sweep(self, arguments: list[str]) -> None:
        impl = self.sweeper
        if impl.storage is not None:
            if impl.study_name is None:
                raise ValueError(
                    "hydra.sweeper.study_name is null: a study kept in hydra.sweeper.storage needs a fixed name "
                    "to be continued by the next invocation"
                )
            storage = str(impl.storage)
            ensure_sqlite_folder(storage)
            finished, total = existing_trials(storage, impl.study_name)
            if total:
                if isinstance(impl.sampler, optuna.samplers.BaseSampler):
                    impl.sampler.reseed_rng()
                log.info(
                    "Continuing study %s (%s): %d of %d trials finished, %d to run, jobs numbered from %d",
                    impl.study_name,
                    storage,
                    finished,
                    impl.n_trials,
                    max(0, impl.n_trials - finished),
                    total,
                )
            impl.n_trials = max(0, impl.n_trials - finished)
            impl.job_idx = total
        impl.sweep(arguments)
