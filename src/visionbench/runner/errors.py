"""Error handling around a whole run: record its status, report where its outputs are, then re-raise.

Errors whose message alone says what to fix (:data:`USER_ERRORS`: a config key or value, a dataset's layout or
content) keep their traceback out of the console: it goes to the run's log file only, and the command line prints the
message (:func:`visionbench.runner.cli.command`).
"""

import functools
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from omegaconf import DictConfig

from visionbench.data.errors import DatasetFormatError, DatasetLayoutError
from visionbench.runner.status import DONE, RunStopped, is_pruned, start_run, write_failure, write_status
from visionbench.utils.atomic import OutputWriteError
from visionbench.utils.checkpoints import CheckpointError
from visionbench.utils.log_file import log_file_only

log = logging.getLogger(__name__)
Result = TypeVar("Result")


class ConfigError(ValueError):
    """A config key its target does not take or a value of the wrong type; the message is one line that names the key,
    the value and the closest valid key or the expected type."""


USER_ERRORS = (ConfigError, DatasetLayoutError, DatasetFormatError, CheckpointError, OutputWriteError)
"""Errors reported by their message alone, without a traceback on the console."""


def _is_main_process() -> bool:
    """Whether this process is rank 0 (the only one that writes the run directory)."""
    from pytorch_lightning.utilities import rank_zero_only

    return rank_zero_only.rank == 0


def record_refused_run(output_dir: Path, error: Exception) -> None:
    """Record a run refused before it started (e.g. its config is invalid) as ``failed`` in ``output_dir``, with the
    traceback in its log file; a folder that already holds a run's status is left as it is."""
    log_file_only().error("run refused: %s", error, exc_info=error)
    if not _is_main_process():
        return
    try:
        start_run(output_dir)
    except FileExistsError:
        return
    write_failure(output_dir, error)


def reports_run_dir(run: Callable[[DictConfig], Result]) -> Callable[[DictConfig], Result]:
    """Decorate a ``run(cfg)`` writing into ``cfg.paths.output_dir``: record its status there
    (:mod:`visionbench.runner.status`: ``running``, then ``done`` with what ``run`` returned, or ``failed`` /
    ``pruned`` / ``interrupted`` / ``diverged`` with the reason, whenever the error happened, before the trainer
    exists included); on an exception log it (a user error's traceback to the log file only; a
    :class:`~visionbench.runner.status.RunStopped` in one line, the entry point prints it with the run directory),
    print the run directory, re-raise; always close W&B (with the run's exit code after a failure). Only rank 0
    writes the status."""

    @functools.wraps(run)
    def wrapper(cfg: DictConfig) -> Result:
        output_dir = Path(cfg.paths.output_dir)
        records = _is_main_process()
        started = False
        exit_code = 0
        try:
            if records:
                start_run(output_dir)
                started = True
            result = run(cfg)
            if records:
                write_status(output_dir, DONE, return_value=result)
            return result
        except Exception as error:
            if started:
                write_failure(output_dir, error)
            if is_pruned(error):
                log.info("run pruned (%s); its outputs and log are in %s", error, output_dir)
                raise
            if isinstance(error, RunStopped):
                exit_code = error.exit_code
                log_file_only().error("run %s: %s", error.status, error)
                raise
            exit_code = 1
            (log_file_only() if isinstance(error, USER_ERRORS) else log).exception("run failed")
            print(f"[visionbench] run failed; its outputs and log are in {output_dir}", file=sys.stderr)
            raise
        finally:
            if "wandb" in sys.modules:  # a failed run is marked failed in W&B
                sys.modules["wandb"].finish(exit_code=exit_code)

    return wrapper
