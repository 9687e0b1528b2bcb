"""DataLoader workers inside a ``hydra/launcher=joblib`` job.

joblib's loky backend runs each job in a worker whose default multiprocessing start method is ``loky``. A DataLoader
with ``num_workers > 0`` and no ``multiprocessing_context`` starts its workers with that default, and loky cannot start
a plain ``multiprocessing.Process`` (``AttributeError: 'Process' object has no attribute 'env'``; Lightning then hides
it behind ``RuntimeError: Please call `iter(combined_loader)` first``). ``spawn`` and ``forkserver`` workers fail too:
they inherit the ``loky`` start method name, which a plain interpreter does not know. So a job running there loads its
data in the job's own process (``num_workers=0``), with a warning that names the key; the joblib launcher already runs
``n_jobs`` jobs side by side. ``hydra/launcher=submitit_local`` runs jobs in plain processes, where workers work.
"""

import logging
import multiprocessing

import pytorch_lightning as pl

log = logging.getLogger(__name__)


def in_loky_worker() -> bool:
    """Whether this process's default multiprocessing start method is loky's (a joblib/loky worker)."""
    return multiprocessing.get_start_method(allow_none=True) == "loky"


def fit_data_workers_to_process(datamodule: pl.LightningDataModule) -> None:
    """Set ``datamodule.num_workers`` to 0, with a warning naming ``data.num_workers``, when this process is a
    joblib/loky worker, where DataLoader worker processes cannot start; otherwise leave it as configured."""
    if getattr(datamodule, "num_workers", 0) > 0 and in_loky_worker():
        log.warning(
            "data.num_workers=%d: DataLoader workers cannot start inside a joblib (loky) worker "
            "(hydra/launcher=joblib); loading in the job's process instead (data.num_workers=0). "
            "Use hydra/launcher=submitit_local for jobs with DataLoader workers.",
            datamodule.num_workers,
        )
        datamodule.num_workers = 0
