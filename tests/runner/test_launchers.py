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
