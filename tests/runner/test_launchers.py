"""The command line as a researcher uses it: multiruns and 2-process DDP on CPU (child processes)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO, TINY, subprocess_env


def run_train(arguments: list[str], log_dir: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    command = [sys.executable, "train.py", *arguments, *TINY, f"paths.log_dir={log_dir}", "callbacks=minimal"]
    result = subprocess.run(command, cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-4000:]
    return result


@pytest.mark.slow
def test_multirun_over_losses_writes_one_multirun_directory(tmp_path: Path) -> None:
    run_train(["-m", "loss=ce,dice,ce_then_dice"], tmp_path)
    (sweep,) = (tmp_path / "train" / "multiruns").iterdir()
    jobs = sorted(p.name for p in sweep.iterdir() if p.is_dir())
    assert [job.split("__")[0] for job in jobs] == ["loss=ce", "loss=ce_then_dice", "loss=dice"]  # named by overrides
    losses = []
    for job in jobs:
        metrics = json.loads((sweep / job / "metrics.json").read_text())
        assert 0.0 <= metrics["val/mIoU"] <= 1.0
        losses.append(
            sorted((sweep / job / "config.yaml").read_text().split("terms:")[1].split("schedule:")[0].split())
        )
    assert len({tuple(terms) for terms in losses}) == 3


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_logs_the_same_metric_keys(tmp_path: Path) -> None:
    run_train(["trainer=ddp_cpu"], tmp_path / "ddp")
    run_train([], tmp_path / "single")
    (ddp_run,) = (tmp_path / "ddp" / "train" / "runs").iterdir()
    (single_run,) = (tmp_path / "single" / "train" / "runs").iterdir()
    ddp_metrics = json.loads((ddp_run / "metrics.json").read_text())
    single_metrics = json.loads((single_run / "metrics.json").read_text())
    assert set(ddp_metrics) == set(single_metrics)
    env = json.loads((ddp_run / "env.json").read_text())
    assert env["device"]["devices"] == 2 and env["device"]["strategy"] == "DDPStrategy"
