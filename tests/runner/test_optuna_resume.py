"""A persistent Optuna study continued by a second invocation of the same command into the same sweep folder
(hydra_plugins.visionbench_optuna.resumable_sweeper), through the real command line; the ``${vb_direction:}``
resolver that search configs take their direction from."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf, open_dict
from omegaconf.errors import InterpolationResolutionError

import visionbench.runner  # noqa: F401  (registers the resolvers, as train.py does)
from tests.helpers import CONF, REPO, TINY, compose_config, subprocess_env
from visionbench.tasks.contract import problem_contract

optuna = pytest.importorskip("optuna")
pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")

from hydra_plugins.visionbench_optuna.resumable_sweeper import PRUNING_TRIAL_KEY  # noqa: E402


def run_search(sweep: Path, arguments: list[str], tiny: list[str] = TINY) -> subprocess.CompletedProcess:
    """``train.py -m <arguments>`` into the sweep folder ``sweep``, at the ``tiny`` settings."""
    command = [
        sys.executable, "train.py", "-m", f"hydra.sweep.dir={sweep}", *tiny, *arguments,
        f"paths.log_dir={sweep.parent}", "callbacks=minimal",
    ]  # fmt: skip
    return subprocess.run(command, cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=600)


def run_synthetic_search(sweep: Path, n_trials: int) -> None:
    result = run_search(sweep, ["hparams_search=synthetic_optuna", f"hydra.sweeper.n_trials={n_trials}"])
    assert result.returncode == 0, result.stderr[-4000:]


def trial_dirs(sweep: Path) -> dict[int, Path]:
    """Job folder of each trial (the trial number is one of the job's overrides, handed to the pruning callback)."""
    dirs = {}
    for overrides_file in sweep.glob("*/.hydra/overrides.yaml"):
        overrides = yaml.safe_load(overrides_file.read_text())
        (number,) = [item.split("=", 1)[1] for item in overrides if item.startswith(f"{PRUNING_TRIAL_KEY}=")]
        dirs[int(number)] = overrides_file.parent.parent
    return dirs


def job_lr(job_dir: Path) -> float:
    overrides = yaml.safe_load((job_dir / ".hydra" / "overrides.yaml").read_text())
    (lr,) = [item.split("=", 1)[1] for item in overrides if item.startswith("optim.lr=")]
    return float(lr)


@pytest.mark.slow
def test_second_invocation_extends_the_study_to_n_trials_without_rerunning(tmp_path: Path) -> None:
    sweep = tmp_path / "search"
    run_synthetic_search(sweep, n_trials=3)
    first = trial_dirs(sweep)
    assert sorted(first) == [0, 1, 2]
    first_metrics = {k: (first[k] / "metrics.json").read_bytes() for k in range(3)}
    first_mtimes = {k: (first[k] / "metrics.json").stat().st_mtime_ns for k in range(3)}

    run_synthetic_search(sweep, n_trials=5)

    study = optuna.load_study(study_name="synthetic_unet", storage=f"sqlite:///{sweep / 'optuna.db'}")
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE  # val/mIoU, the segmentation headline
    trials = study.get_trials()
    assert [t.number for t in trials] == [0, 1, 2, 3, 4]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    jobs = trial_dirs(sweep)
    assert sorted(jobs) == [0, 1, 2, 3, 4] and {k: jobs[k] for k in range(3)} == first
    for trial in trials:  # each trial ran in its own folder, with the parameters Optuna proposed for it
        assert job_lr(jobs[trial.number]) == pytest.approx(trial.params["optim.lr"], rel=1e-12)
        metrics = json.loads((jobs[trial.number] / "metrics.json").read_text())
        assert trial.value == metrics["val/mIoU"]
    for k in range(3):  # the first invocation's jobs were not run again
        assert (jobs[k] / "metrics.json").read_bytes() == first_metrics[k]
        assert (jobs[k] / "metrics.json").stat().st_mtime_ns == first_mtimes[k]
    lrs = [t.params["optim.lr"] for t in trials]
    assert len(set(lrs)) == 5, "the continued study replayed the first invocation's proposals"
    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert results["best_value"] == max(t.value for t in trials) == study.best_value
    assert results["best_params"] == study.best_params and results["trials"] == {"complete": 5}


def sweep_direction(overrides: list[str], tmp_path: Path) -> str:
    """What ``hydra.sweeper.direction: ${vb_direction:}`` resolves to for the train config with ``overrides``."""
    cfg = compose_config("train", overrides, tmp_path)
    with open_dict(cfg):
        cfg.direction = "${vb_direction:}"
    return cfg.direction


def test_direction_follows_the_task_headline_metric(tmp_path: Path) -> None:
    assert sweep_direction([], tmp_path) == "maximize"  # segmentation: val/mIoU
    assert sweep_direction(["task=flow"], tmp_path) == "minimize"  # flow: val/EPE


def test_direction_refuses_an_optimized_metric_other_than_the_headline(tmp_path: Path) -> None:
    with pytest.raises(InterpolationResolutionError, match="optimized_metric is 'val/loss'"):
        sweep_direction(["optimized_metric=val/loss"], tmp_path)


@pytest.mark.parametrize(
    ("search", "task", "direction"),
    [("synthetic_optuna", "segmentation", "maximize"), ("flow_optuna", "flow", "minimize"),
     ("reid_optuna", "reid", "maximize")],
)  # fmt: skip
def test_every_search_config_is_a_resumable_study_in_the_tasks_direction(
    search: str, task: str, direction: str
) -> None:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=[f"task={task}", f"hparams_search={search}"], return_hydra_config=True)
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("ResumableOptunaSweeper")
    assert OmegaConf.to_container(sweeper, resolve=False)["storage"] == "sqlite:///${hydra.sweep.dir}/optuna.db"
    assert sweeper.direction == direction and sweeper.study_name and sweeper.n_trials > 0
    assert cfg.optimized_metric.endswith(problem_contract(cfg).headline.metric)
    assert sweeper.sampler._target_ == "optuna.samplers.TPESampler" and sweeper.sampler.seed == 1234
    for key in sweeper.params:  # every searched key exists in the task's config
        assert OmegaConf.select(cfg, key, default="<missing>") != "<missing>", key
    pruning = cfg.callbacks.optuna_pruning  # reports the optimized metric; the sweeper sets the trial per job
    assert pruning.monitor == cfg.optimized_metric and OmegaConf.is_missing(pruning, "trial_number")
    assert pruning.pruner._target_ == "optuna.pruners.MedianPruner"


def test_multi_objective_search_config_maximises_miou_and_minimises_parameters_without_pruning() -> None:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=["hparams_search=synthetic_optuna_pareto"], return_hydra_config=True)
    assert list(cfg.hydra.sweeper.direction) == ["maximize", "minimize"]
    assert list(cfg.optimized_metric) == ["val/mIoU", "model/parameters"]
    assert cfg.callbacks.optuna_pruning is None
    assert "model.depth" in cfg.hydra.sweeper.params and cfg.hydra.sweeper.study_name != "synthetic_unet"


def test_only_a_search_builds_the_pruning_callback(tmp_path: Path) -> None:
    assert "optuna_pruning" not in compose_config("train", [], tmp_path).callbacks  # a single run
    searched = compose_config("train", ["hparams_search=optuna"], tmp_path).callbacks.optuna_pruning
    assert OmegaConf.is_missing(searched, "trial_number")  # given by the sweeper to each trial's job
