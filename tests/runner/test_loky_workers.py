"""DataLoader workers in a joblib (loky) job: the guard that keeps hydra/launcher=joblib jobs with data.num_workers>0
from crashing."""

import logging

import pytest
from joblib import Parallel, delayed

from visionbench.data.segmentation.synthetic_shapes import SyntheticShapesDataModule
from visionbench.runner.loky_workers import fit_data_workers_to_process, in_loky_worker


def _first_batch(guard: bool) -> tuple[bool, int, int]:
    """Run in a loky worker: build a datamodule with 2 loader workers, optionally guard it, load one batch."""
    datamodule = SyntheticShapesDataModule(image_size=16, train_size=4, val_size=2, test_size=2, batch_size=2)
    datamodule.num_workers = 2
    if guard:
        fit_data_workers_to_process(datamodule)
    datamodule.setup("fit")
    batch = next(iter(datamodule.train_dataloader()))
    return in_loky_worker(), datamodule.num_workers, len(batch["image"])


def _first_batch_in_a_loky_worker(guard: bool) -> str:
    """Load one batch in a joblib/loky worker (n_jobs=1 would run in this process); the error message if it fails."""
    (outcome,) = Parallel(n_jobs=2, backend="loky")([delayed(_first_batch_or_error)(guard)])
    return outcome


def _first_batch_or_error(guard: bool) -> str:
    try:
        return str(_first_batch(guard))
    except AttributeError as error:
        return str(error)


@pytest.mark.slow
def test_a_joblib_job_loads_its_data_in_process_instead_of_crashing() -> None:
    assert "has no attribute 'env'" in _first_batch_in_a_loky_worker(guard=False)  # what happens without the guard
    assert _first_batch_in_a_loky_worker(guard=True) == "(True, 0, 2)"


def test_outside_loky_the_configured_workers_are_kept(caplog: pytest.LogCaptureFixture) -> None:
    datamodule = SyntheticShapesDataModule(image_size=16, train_size=4, val_size=2, test_size=2, batch_size=2)
    datamodule.num_workers = 2
    with caplog.at_level(logging.WARNING):
        fit_data_workers_to_process(datamodule)
    assert not in_loky_worker() and datamodule.num_workers == 2 and not caplog.records


def test_in_a_loky_worker_the_warning_names_the_key(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("multiprocessing.get_start_method", lambda allow_none=False: "loky")
    datamodule = SyntheticShapesDataModule(image_size=16, train_size=4, val_size=2, test_size=2, batch_size=2)
    datamodule.num_workers = 3
    with caplog.at_level(logging.WARNING):
        fit_data_workers_to_process(datamodule)
    assert datamodule.num_workers == 0
    assert "data.num_workers=3" in caplog.text and "hydra/launcher=joblib" in caplog.text
