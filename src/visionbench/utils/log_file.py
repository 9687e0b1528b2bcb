"""The logger whose records go to the run's log file only (train.log, evaluate.log), not to the console.

conf/hydra/default.yaml gives it the file handler of Hydra's job logging and stops it from propagating to the console.
Outside a Hydra run it has no handler, so its warnings and errors reach stderr through logging's last resort.
"""

import logging

LOG_FILE_ONLY = "visionbench.log_file"


def log_file_only() -> logging.Logger:
    """The logger of records meant for the run's log file only."""
    return logging.getLogger(LOG_FILE_ONLY)
