"""DDP inside a multirun: each job's child ranks start on that job's config, in that job's directory only."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import RunMode
from omegaconf import OmegaConf, open_dict

from tests.helpers import CONF, REPO, TINY, subprocess_env
from visionbench.runner.ddp_hydra import RANK_CONFIG_NAME, multirun_rank_command, quote_override_value


@pytest.mark.parametrize("path", ["/tmp/sweep/lr=0.1,seed=2__ab12cd34", "/tmp/it's a \\ dir", "/tmp/end\\", "/x/\\'q"])
def test_quoted_override_values_parse_back_to_the_path(path: str) -> None:
    (override,) = OverridesParser.create().parse_overrides([f"hydra.run.dir={quote_override_value(path)}"])
    assert override.value() == path


def test_a_child_rank_starts_on_the_resolved_job_config_in_the_job_dir(tmp_path: Path) -> None:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    job_dir = tmp_path / "sweep" / "seed=2,trainer=ddp_cpu__0123abcd"
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=["seed=2", "trainer=ddp_cpu"], return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.mode = RunMode.MULTIRUN
        cfg.hydra.runtime.output_dir = str(job_dir)
        cfg.hydra.job.name = "train"
    HydraConfig().set_config(cfg)
    job_config = OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"])
    (job_dir / ".hydra").mkdir(parents=True)
    OmegaConf.save(job_config, job_dir / ".hydra" / "config.yaml")  # as Hydra saves it: not resolved

    command, cwd = multirun_rank_command(local_rank=1)

    config_dir = command[command.index("-cp") + 1]
    assert Path(config_dir) == (job_dir / ".hydra").resolve()
    assert command[command.index("-cn") + 1] == RANK_CONFIG_NAME
    overrides = {o.key_or_group: o.value() for o in OverridesParser.create().parse_overrides(command[-3:])}
    assert overrides == {
        "hydra.run.dir": str(job_dir.resolve()),
        "hydra.output_subdir": None,
        "hydra.job.name": "train_ddp_process_1",
    }
    assert "-m" not in command and "seed=2" not in command  # the sweep is not run again
    rank_config = OmegaConf.load(Path(config_dir) / f"{RANK_CONFIG_NAME}.yaml")
    assert rank_config.paths.output_dir == str(job_dir)  # ${hydra:runtime.output_dir} resolved by rank 0
    assert rank_config.seed == 2 and rank_config.trainer.devices == 2
    assert Path(cwd).is_dir()


@pytest.mark.slow
def test_ddp_jobs_of_a_multirun_write_only_into_their_own_directories(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    launch_dir = tmp_path / "cwd"  # relative outputs (outputs/, multirun/, lightning_logs/) would land here
    launch_dir.mkdir()
    command = [sys.executable, str(REPO / "train.py"), "-m", "seed=1,2", "trainer=ddp_cpu", *TINY]
    command += [f"paths.log_dir={log_dir}", "callbacks=minimal"]
    env = subprocess_env()
    env.pop("PROJECT_ROOT", None)
    result = subprocess.run(command, cwd=launch_dir, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]

    assert list(launch_dir.iterdir()) == []
    (sweep,) = (log_dir / "train" / "multiruns").iterdir()
    assert [p.relative_to(log_dir).as_posix() for p in log_dir.rglob("*") if p.is_dir() and sweep not in p.parents] == [
        "train",
        "train/multiruns",
        "train/multiruns/" + sweep.name,
    ]
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert len(jobs) == 2
    seeds = set()
    for job in jobs:
        assert (job / "metrics.json").is_file() and (job / "config.yaml").is_file()
        assert 0.0 <= json.loads((job / "metrics.json").read_text())["val/mIoU"] <= 1.0
        assert (job / "train.log").is_file() and (job / "train_ddp_process_1.log").is_file()
        assert json.loads((job / "env.json").read_text())["device"]["devices"] == 2
        seeds.add(OmegaConf.load(job / "config.yaml").seed)
    assert seeds == {1, 2}
    rank_logs = sorted(p.relative_to(sweep).parent for p in sweep.rglob("*ddp_process*.log"))
    assert rank_logs == [job.relative_to(sweep) for job in jobs]
    assert sorted(p.relative_to(sweep).parent for p in sweep.rglob("metrics.json")) == rank_logs


@pytest.mark.slow
def test_a_failed_ddp_job_leaves_the_sweep_and_the_next_job_running(tmp_path: Path) -> None:
    """Both ranks of the first job fail after training (an optimized metric it does not log); Lightning's observer of
    that job's ranks must not kill the sweep, and no rank may outlive its job."""
    command = [sys.executable, "train.py", "-m", "optimized_metric=val/nope,val/mIoU", "trainer=ddp_cpu", *TINY]
    command += [f"paths.log_dir={tmp_path}", "callbacks=minimal"]
    result = subprocess.run(command, cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr[-4000:]  # a job failed: the sweep says so at the end
    (sweep,) = (tmp_path / "train" / "multiruns").iterdir()
    jobs = [job for job in sweep.iterdir() if job.is_dir()]
    statuses = {json.loads((job / "status.json").read_text())["status"]: job for job in jobs}
    assert sorted(statuses) == ["done", "failed"]
    assert OmegaConf.load(statuses["done"] / "config.yaml").optimized_metric == "val/mIoU"
    assert (statuses["done"] / "metrics.json").is_file()
    leftovers = subprocess.run(["pgrep", "-f", str(sweep)], capture_output=True, text=True).stdout.split()
    assert leftovers == []
