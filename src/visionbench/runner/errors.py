"""Error handling around a whole run: report where its outputs are, then re-raise.

Errors whose message alone says what to fix (:data:`USER_ERRORS`: a config key or value, a dataset's layout or
content) keep their traceback out of the console: it goes to the run's log file only, and the command line prints the
message (:func:`visionbench.runner.cli.command`).
"""

import functools
import logging
import sys
from collections.abc import Callable
from typing import TypeVar

from omegaconf import DictConfig

from visionbench.data.errors import DatasetFormatError, DatasetLayoutError
from visionbench.utils.log_file import log_file_only

log = logging.getLogger(__name__)
Result = TypeVar("Result")


class ConfigError(ValueError):
    """A config key its target does not take or a value of the wrong type; the message is one line that names the key,
    the value and the closest valid key or the expected type."""


USER_ERRORS = (ConfigError, DatasetLayoutError, DatasetFormatError)
"""Errors reported by their message alone, without a traceback on the console."""


def reports_run_dir(run: Callable[[DictConfig], Result]) -> Callable[[DictConfig], Result]:
    """Decorate a ``run(cfg)``: on an exception log it (a user error's traceback to the log file only), print the run
    directory, re-raise; always close W&B."""

    @functools.wraps(run)
    def wrapper(cfg: DictConfig) -> Result:
        try:
            return run(cfg)
        except Exception as error:
            (log_file_only() if isinstance(error, USER_ERRORS) else log).exception("run failed")
            print(f"[visionbench] run failed; its outputs and log are in {cfg.paths.output_dir}", file=sys.stderr)
            raise
        finally:
            if "wandb" in sys.modules:
                sys.modules["wandb"].finish()

    return wrapper
