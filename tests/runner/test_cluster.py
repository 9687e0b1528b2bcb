"""Jobs on SLURM through submitit: the cluster=slurm config, the sbatch script it makes, requeued jobs resuming their
run, and a job run end to end through submitit_local (the path a cluster job runs)."""

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from lightning_fabric.plugins.environments import SLURMEnvironment
from omegaconf import DictConfig
from pytorch_lightning.utilities import rank_zero_only

from tests.helpers import CONF, REPO, TINY, subprocess_env
from visionbench.runner.requeue import (
    SLURM_RECORD,
    SlurmJob,
    is_requeued_run,
    keep_earlier_attempt,
    newest_checkpoint,
    start_or_continue,
)

pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
SLURM = ["cluster=slurm", "trainer=ddp", "trainer.devices=4", "trainer.num_nodes=2"]


def compose_train(overrides: list[str]) -> DictConfig:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("train", overrides=overrides, return_hydra_config=True)


def test_cluster_slurm_sizes_the_job_from_the_trainer() -> None:
    cfg = compose_train(SLURM)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert launcher.tasks_per_node == launcher.gpus_per_node == 4
    assert launcher.nodes == 2
    assert launcher.partition is None and launcher.account is None and launcher.qos is None
    assert launcher.timeout_min == 240 and launcher.max_num_timeout == 0
    assert launcher.additional_parameters.signal == "USR1@120"
    (environment,) = instantiate(cfg.trainer.plugins)
    assert isinstance(environment, SLURMEnvironment) and environment.auto_requeue
    assert environment.requeue_signal == signal.SIGUSR1  # the signal the sbatch script asks for


def test_under_slurm_the_trainer_takes_its_ranks_from_the_job(monkeypatch: pytest.MonkeyPatch) -> None:
    from visionbench.runner.checkpoint_io import checkpoint_plugins

    slurm = {"SLURM_NTASKS": "8", "SLURM_NTASKS_PER_NODE": "4", "SLURM_JOB_NAME": "train", "SLURM_NODELIST": "n[1-2]"}
    slurm |= {"SLURM_PROCID": "5", "SLURM_LOCALID": "1", "SLURM_NODEID": "1", "SLURM_JOB_ID": "77"}
    for key, value in slurm.items():
        monkeypatch.setenv(key, value)
    # the Trainer sets the process-wide rank of rank_zero_only (to 5 here): give it back afterwards
    monkeypatch.setattr(rank_zero_only, "rank", rank_zero_only.rank)
    cpu = ["trainer.accelerator=cpu", "trainer.precision=32-true", "trainer.sync_batchnorm=false"]  # no GPU here
    cfg = compose_train([*SLURM, *cpu])
    plugins = checkpoint_plugins(instantiate(cfg.trainer.plugins))
    trainer = instantiate(cfg.trainer, logger=False, plugins=plugins, default_root_dir="unused")
    environment = trainer._accelerator_connector.cluster_environment
    assert isinstance(environment, SLURMEnvironment) and environment.creates_processes_externally  # srun's tasks
    assert (trainer.world_size, trainer.global_rank, trainer.local_rank, trainer.node_rank) == (8, 5, 1, 1)


def test_cluster_options_are_overridable() -> None:
    cfg = compose_train([*SLURM, "hydra.launcher.partition=gpu", "hydra.launcher.account=lab", "hydra.launcher.qos=hi"])
    assert (cfg.hydra.launcher.partition, cfg.hydra.launcher.account, cfg.hydra.launcher.qos) == ("gpu", "lab", "hi")


class _Submitted(Exception):
    """Raised instead of calling sbatch, carrying the submission file's text."""


def _no_task(cfg: DictConfig) -> None:
    """A picklable task function (never called here)."""


def test_the_sbatch_script_runs_srun_with_the_job_size_and_the_requeue_signal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from submitit.slurm.slurm import SlurmExecutor

    def capture(self: SlurmExecutor, submission_file: Path) -> list[str]:
        raise _Submitted(Path(submission_file).read_text())

    monkeypatch.setattr(SlurmExecutor, "affinity", classmethod(lambda cls: 2))  # as if srun were installed
    monkeypatch.setattr(SlurmExecutor, "_make_submission_command", capture)
    cfg = compose_train([*SLURM, "hydra.launcher.partition=gpu", f"paths.log_dir={tmp_path}"])
    launcher = instantiate(cfg.hydra.launcher)
    launcher.setup(hydra_context=None, task_function=_no_task, config=cfg)
    with pytest.raises(_Submitted) as submitted:
        launcher.launch([["seed=1"], ["seed=2"]], initial_job_idx=0)
    script = str(submitted.value)
    lines = set(script.splitlines())
    for flag in (
        "--nodes=2",
        "--ntasks-per-node=4",
        "--gpus-per-node=4",
        "--partition=gpu",
        "--time=240",
        "--signal=USR1@120",
        "--array=0-1%2",
    ):
        assert f"#SBATCH {flag}" in lines, script
    assert not any(line.startswith(("#SBATCH --account", "#SBATCH --qos")) for line in lines)
    (command,) = [line for line in lines if line.startswith("srun ")]
    assert command.startswith("srun --unbuffered --output") and "-u -m submitit.core._submit" in command
    (sweep,) = (tmp_path / "train" / "multiruns").iterdir()
    assert str(sweep / ".submitit") in command  # the jobs' logs stay in the sweep directory


# requeue: a fake environment stands in for SLURM's


def test_outside_slurm_a_run_starts_fresh_and_records_nothing(tmp_path: Path) -> None:
    assert start_or_continue(tmp_path / "run", "given.ckpt", is_main=True, environ={}) == "given.ckpt"
    assert list((tmp_path / "run").iterdir()) == []


def test_a_requeued_job_continues_its_run_from_the_newest_checkpoint(tmp_path: Path) -> None:
    run = tmp_path / "run"
    first = {"SLURM_JOB_ID": "4245"}
    assert start_or_continue(run, None, is_main=True, environ=first) is None
    assert json.loads((run / SLURM_RECORD).read_text()) == {"job_id": "4245"}
    (run / "config.yaml").write_text("seed: 1\n")
    (run / "env.json").write_text("{}")
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "last.ckpt").write_bytes(b"epoch 3")
    (run / "hpc_ckpt_1.ckpt").write_bytes(b"saved on SIGUSR1")  # written last: the newest

    (run / "status.json").write_text('{"status": "running"}')  # the attempt was killed while running

    requeued = {"SLURM_JOB_ID": "4245", "SLURM_RESTART_COUNT": "1"}
    assert is_requeued_run(run, requeued)
    keep_earlier_attempt(run, requeued)
    kept = run / "requeued" / "0"
    assert sorted(p.name for p in kept.iterdir()) == ["env.json", "status.json"]
    assert not (run / "env.json").exists() and not (run / "status.json").exists()
    for is_main in (True, False):  # every rank resumes from the same checkpoint
        assert start_or_continue(run, None, is_main, environ=requeued) == str(run / "hpc_ckpt_1.ckpt")
    assert (run / "config.yaml").read_text() == "seed: 1\n"


def test_a_requeued_job_without_checkpoints_yet_starts_from_the_configured_one(tmp_path: Path) -> None:
    run = tmp_path / "run"
    start_or_continue(run, None, is_main=True, environ={"SLURM_JOB_ID": "7"})
    (run / "config.yaml").write_text("seed: 1\n")
    again = {"SLURM_JOB_ID": "7", "SLURM_RESTART_COUNT": "2"}
    assert start_or_continue(run, "init.ckpt", is_main=True, environ=again) == "init.ckpt"


@pytest.mark.parametrize(
    "environ",
    [
        {"SLURM_JOB_ID": "99", "SLURM_RESTART_COUNT": "1"},  # another job
        {"SLURM_JOB_ID": "7"},  # the same job id, not restarted (e.g. a second run in one allocation)
        {},  # not on SLURM
    ],
)
def test_any_other_process_is_refused_a_folder_that_holds_a_run(tmp_path: Path, environ: dict[str, str]) -> None:
    run = tmp_path / "run"
    start_or_continue(run, None, is_main=True, environ={"SLURM_JOB_ID": "7"})
    (run / "config.yaml").write_text("seed: 1\n")
    with pytest.raises(FileExistsError, match="already holds a run"):
        start_or_continue(run, None, is_main=True, environ=environ)


def test_the_job_record_and_the_environment_are_read_strictly(tmp_path: Path) -> None:
    assert SlurmJob.from_environment({"SLURM_JOB_ID": "5", "SLURM_RESTART_COUNT": ""}) == SlurmJob("5", 0)
    assert SlurmJob.from_environment({"SLURM_RESTART_COUNT": "1"}) is None
    (tmp_path / SLURM_RECORD).write_text("{not json")
    with pytest.raises(ValueError, match=SLURM_RECORD):
        is_requeued_run(tmp_path, {"SLURM_JOB_ID": "5", "SLURM_RESTART_COUNT": "1"})
    assert newest_checkpoint(tmp_path / "empty") is None


@pytest.mark.slow
def test_a_job_runs_end_to_end_through_submitit_local(tmp_path: Path) -> None:
    command = [sys.executable, "train.py", "-m", "hydra/launcher=submitit_local", "seed=3", *TINY]
    command += [f"paths.log_dir={tmp_path}", "callbacks=minimal", "hydra.launcher.timeout_min=10"]
    result = subprocess.run(command, cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    (sweep,) = (tmp_path / "train" / "multiruns").iterdir()  # the job process reused the sweep directory
    (job,) = [p for p in sweep.iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert 0.0 <= json.loads((job / "metrics.json").read_text())["val/mIoU"] <= 1.0
    assert json.loads((job / "status.json").read_text())["status"] == "done"
    submitit_dir = sweep / ".submitit"  # submitit's job folders: the pickled job, its result and its logs
    assert len(list(submitit_dir.rglob("*_result.pkl"))) == 1 and list(submitit_dir.rglob("*_log.out"))
    assert not (tmp_path / "train" / "runs").exists()
