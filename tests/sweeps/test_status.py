"""status.json: written by every run (running, then done / failed / pruned), read by sweeps and the leaderboard; a
user error in a job of a multirun is recorded and raised, never turned into an exit that would end the sweep."""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict

from tests.helpers import CONF
from visionbench.runner.cli import entry_point
from visionbench.runner.errors import ConfigError, reports_run_dir
from visionbench.runner.status import FAILED, STATUSES, read_status, write_status

SHAPES = "visionbench.data.segmentation.synthetic_shapes.SyntheticShapesDataModule"


def _cfg(run_dir: Path) -> DictConfig:
    return OmegaConf.create({"paths": {"output_dir": str(run_dir)}})


def test_status_round_trip(tmp_path: Path) -> None:
    write_status(tmp_path, "done", return_value=np.float32(0.25))
    record = read_status(tmp_path)
    assert record["status"] == "done" and record["return_value"] == 0.25 and record["reason"] is None
    assert set(record) == {"status", "reason", "traceback", "epoch", "step", "return_value", "updated"}
    assert record["updated"].endswith("+00:00")
    write_status(tmp_path, "done", return_value=[0.5, float("nan")])
    assert read_status(tmp_path)["return_value"] == [0.5, None]
    write_status(tmp_path, "done", return_value={"val/mIoU": 0.5})  # evaluate.py's metrics: kept in metrics.json
    assert read_status(tmp_path)["return_value"] is None
    assert STATUSES == ("running", "done", "failed", "pruned", "interrupted", "diverged")


def test_bad_status_files_and_values_are_refused_with_the_file_named(tmp_path: Path) -> None:
    assert read_status(tmp_path) is None
    with pytest.raises(ValueError, match="unknown run status 'finished'"):
        write_status(tmp_path, "finished")
    with pytest.raises(TypeError, match="unknown status.json field"):
        write_status(tmp_path, "done", score=1)
    (tmp_path / "status.json").write_text("{not json")
    with pytest.raises(ValueError, match=f"{tmp_path / 'status.json'}: not valid JSON"):
        read_status(tmp_path)


def test_a_run_records_running_then_done_with_its_return_value(tmp_path: Path) -> None:
    seen = []

    @reports_run_dir
    def run(cfg: DictConfig) -> float:
        seen.append(read_status(Path(cfg.paths.output_dir))["status"])
        return 0.75

    assert run(_cfg(tmp_path / "run")) == 0.75
    assert seen == ["running"]
    assert read_status(tmp_path / "run")["status"] == "done"
    assert read_status(tmp_path / "run")["return_value"] == 0.75


def test_a_failed_run_records_its_reason_and_traceback_and_reraises(tmp_path: Path) -> None:
    @reports_run_dir
    def run(cfg: DictConfig) -> None:
        raise RuntimeError("loss is NaN at step 3\nsecond line")

    with pytest.raises(RuntimeError):
        run(_cfg(tmp_path))
    record = read_status(tmp_path)
    assert record["status"] == FAILED and record["reason"] == "RuntimeError: loss is NaN at step 3"
    assert "Traceback" in record["traceback"] and "second line" in record["traceback"]


def test_a_run_never_takes_over_an_earlier_runs_status(tmp_path: Path) -> None:
    write_status(tmp_path, "done", return_value=1.0)
    before = (tmp_path / "status.json").read_text()
    calls = []
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        reports_run_dir(calls.append)(_cfg(tmp_path))
    assert calls == [] and (tmp_path / "status.json").read_text() == before


def test_a_pruned_trial_is_recorded_as_pruned_with_its_step(tmp_path: Path) -> None:
    optuna = pytest.importorskip("optuna")

    class Pruned(optuna.TrialPruned):
        epoch, step = 2, 40

    @reports_run_dir
    def run(cfg: DictConfig) -> None:
        raise Pruned("val/mIoU 0.1 at epoch 2")

    with pytest.raises(optuna.TrialPruned):
        run(_cfg(tmp_path))
    record = read_status(tmp_path)
    assert (record["status"], record["epoch"], record["step"]) == ("pruned", 2, 40)
    assert record["reason"] == "val/mIoU 0.1 at epoch 2" and record["traceback"] is None


@pytest.fixture
def multirun_job(tmp_path: Path) -> Iterator[Path]:
    """HydraConfig as inside a job of a multirun whose folder is ``<tmp_path>/job``."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.mode = RunMode.MULTIRUN
        cfg.hydra.runtime.output_dir = str(tmp_path / "job")
    HydraConfig.instance().set_config(cfg)
    yield tmp_path / "job"
    HydraConfig.instance().cfg = None


def test_a_user_error_in_a_multirun_job_is_recorded_and_raised_not_an_exit(
    multirun_job: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    calls = []
    with pytest.raises(ConfigError, match="data.batch_size"):
        entry_point(calls.append)(OmegaConf.create({"data": {"_target_": SHAPES, "batch_size": "abc"}}))
    record = read_status(multirun_job)
    assert calls == [] and record["status"] == "failed"
    assert record["reason"].startswith("ConfigError: wrong type for 'data.batch_size'")

    def missing_dataset(cfg: DictConfig) -> None:
        raise ConfigError("model.weights: no such file: /x.pt")

    with pytest.raises(ConfigError):  # a user error during the run is raised too (reports_run_dir records it)
        entry_point(missing_dataset)(OmegaConf.create({"seeds": 3}))  # seeds is fine inside a multirun


def test_seeds_outside_a_multirun_is_a_one_line_error(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        entry_point(lambda cfg: None)(OmegaConf.create({"seeds": 3}))
    err = capsys.readouterr().err
    assert "seeds=3" in err and "add -m" in err and len(err.strip().splitlines()) == 1
