"""Error handling around a whole run: report where its outputs are, then re-raise."""

import functools
import logging
import sys
from collections.abc import Callable
from typing import TypeVar

from omegaconf import DictConfig

log = logging.getLogger(__name__)
Result = TypeVar("Result")


def reports_run_dir(run: Callable[[DictConfig], Result]) -> Callable[[DictConfig], Result]:
    """Decorate a ``run(cfg)``: on an exception log it, print the run directory, re-raise; always close W&B."""

    @functools.wraps(run)
    def wrapper(cfg: DictConfig) -> Result:
        try:
            return run(cfg)
        except Exception:
            log.exception("run failed")
            print(f"[visionbench] run failed; its outputs and log are in {cfg.paths.output_dir}", file=sys.stderr)
            raise
        finally:
            if "wandb" in sys.modules:
                sys.modules["wandb"].finish()

    return wrapper
