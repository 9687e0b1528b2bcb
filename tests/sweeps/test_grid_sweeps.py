"""Grid sweeps through the real train.py: job folders named from their overrides, a failing job isolated and
recorded, the same sweep run again running only that job, seeds=N."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.helpers import REPO, TINY, subprocess_env


def sweep(arguments: list[str], log_dir: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    command = [sys.executable, "train.py", "-m", *arguments, *TINY, f"paths.log_dir={log_dir}", "callbacks=minimal"]
    return subprocess.run(command, cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=timeout)


def jobs(sweep_dir: Path) -> dict[str, Path]:
    return {p.name: p for p in sweep_dir.iterdir() if p.is_dir() and "__" in p.name}


def status(job: Path) -> dict:
    return json.loads((job / "status.json").read_text())


@pytest.mark.slow
def test_a_2x2_grid_runs_in_folders_named_from_its_overrides(tmp_path: Path) -> None:
    result = sweep(["loss=ce,dice", "optim.lr=0.001,0.01"], tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    (sweep_dir,) = (tmp_path / "train" / "multiruns").iterdir()
    found = jobs(sweep_dir)
    assert sorted(name.split("__")[0] for name in found) == [
        "loss=ce,optim.lr=0.001",
        "loss=ce,optim.lr=0.01",
        "loss=dice,optim.lr=0.001",
        "loss=dice,optim.lr=0.01",
    ]
    for job in found.values():
        metrics = json.loads((job / "metrics.json").read_text())
        assert status(job)["status"] == "done" and status(job)["return_value"] == pytest.approx(metrics["val/mIoU"])
    record = json.loads((sweep_dir / "sweep.json").read_text())
    assert record["varying"] == ["loss", "optim.lr"] and {j["status"] for j in record["jobs"].values()} == {"done"}
    assert f"sweep {sweep_dir}: 4 done" in result.stdout
    assert "4 rows from 4 runs" in (sweep_dir / "leaderboard.md").read_text()


@pytest.mark.slow
def test_a_failing_job_is_recorded_and_a_rerun_of_the_sweep_runs_only_that_job(tmp_path: Path) -> None:
    weights = tmp_path / "weights.pt"  # missing: the job that loads it fails when its model is built
    grid = [f"model.weights=null,{weights}"]
    first = sweep(grid, tmp_path / "logs")
    assert first.returncode == 1, first.stderr[-4000:]
    (sweep_dir,) = (tmp_path / "logs" / "train" / "multiruns").iterdir()
    found = jobs(sweep_dir)
    done, failed = found[next(n for n in found if "null" in n)], found[next(n for n in found if "null" not in n)]
    assert status(done)["status"] == "done"
    failure = status(failed)
    assert failure["status"] == "failed" and failure["reason"] == f"ConfigError: model.weights: no such file: {weights}"
    assert "Traceback" in failure["traceback"] and "load_published_weights" in failure["traceback"]
    assert f"sweep {sweep_dir}: 1 done, 1 failed" in first.stdout
    assert f"  failed   {failed} (ConfigError: model.weights: no such file: {weights})" in first.stdout
    assert "1 rows from 1 runs" in (sweep_dir / "leaderboard.md").read_text()  # the failed job is not ranked

    # the missing file appears (the weights the first job trained): the same command into the same folder
    state = torch.load(done / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    torch.save({key.removeprefix("model."): v for key, v in state.items() if key.startswith("model.")}, weights)
    untouched = {path: path.stat().st_mtime_ns for path in done.rglob("*")}
    second = sweep([*grid, f"hydra.sweep.dir={sweep_dir}"], tmp_path / "logs")
    assert second.returncode == 0, second.stderr[-4000:]
    assert f"[sweep] {done.name}: skip (done)" in second.stdout
    assert (
        f"[sweep] {failed.name}: re-run (failed: ConfigError: model.weights: no such file: {weights}" in second.stdout
    )
    assert f"sweep {sweep_dir}: 1 done, 1 skipped" in second.stdout
    assert {path: path.stat().st_mtime_ns for path in done.rglob("*")} == untouched
    assert status(failed)["status"] == "done" and (failed / "metrics.json").is_file()
    earlier = sweep_dir / "failed_attempts" / failed.name / "1"
    assert status(earlier)["status"] == "failed" and not (earlier / "metrics.json").exists()
    assert (sweep_dir / "multirun.yaml").is_file() and (sweep_dir / "multirun.2.yaml").is_file()
    assert json.loads((sweep_dir / "sweep.json").read_text())["jobs"][failed.name]["attempts"] == 2


@pytest.mark.slow
def test_seeds_runs_repetitions_that_record_their_seed_and_split_manifests(tmp_path: Path) -> None:
    result = sweep(["seeds=2"], tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    (sweep_dir,) = (tmp_path / "train" / "multiruns").iterdir()
    found = jobs(sweep_dir)
    assert sorted(name.split("__")[0] for name in found) == ["seed=1", "seed=2"]
    manifests = set()
    for name, job in found.items():
        env = json.loads((job / "env.json").read_text())
        assert env["seed"] == int(name.split("__")[0][len("seed=") :])
        manifests.add(env["splits"]["test"]["manifest"])
    assert len(manifests) == 1  # the same test split in both repetitions
    assert "1 rows from 2 runs" in (sweep_dir / "leaderboard.md").read_text()  # grouped: one setup, two seeds


@pytest.mark.slow
def test_seeds_without_multirun_is_refused_in_one_line(tmp_path: Path) -> None:
    command = [sys.executable, "train.py", "seeds=2", f"paths.log_dir={tmp_path}"]
    result = subprocess.run(command, cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("train.py: error: seeds=2 asks for 2 runs")
    assert "add -m" in result.stderr and not tmp_path.joinpath("train").exists()  # refused before any folder
