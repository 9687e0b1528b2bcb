"""benchmark.py end to end, each model in its own worker process: the run directory's CSV and markdown, a worker
that dies or hangs costs one row, a compiled cell, and a bad setting refused in one line."""

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO, subprocess_env
from visionbench.benchmark import job as job_module
from visionbench.benchmark.job import Job, run_isolated, run_job
from visionbench.benchmark.measure import Options
from visionbench.benchmark.records import FAILED, OK, SKIPPED
from visionbench.benchmark.settings import settings_grid

SEGMENTATION = "visionbench.tasks.SegmentationTask"


def benchmark(root: Path, *arguments: str) -> subprocess.CompletedProcess:
    env = {**subprocess_env(), "PROJECT_ROOT": str(root)}
    command = [sys.executable, str(REPO / "benchmark.py"), *arguments]
    return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_benchmark_py_writes_one_record_per_model_and_setting_in_its_run_directory(tmp_path: Path) -> None:
    models = "models=[segmentation/single_layer,segmentation/unet]"
    result = benchmark(tmp_path, models, "resolutions=[[32,32]]", "batch_sizes=[1,2]", "repeats=1", "threads=1")
    assert result.returncode == 0, result.stderr
    (run,) = (tmp_path / "outputs" / "benchmark" / "runs").iterdir()
    rows = list(csv.DictReader((run / "benchmark.csv").open()))
    assert [(row["model"], row["batch"], row["status"]) for row in rows] == [
        ("segmentation/single_layer", "1", OK), ("segmentation/single_layer", "2", OK),
        ("segmentation/unet", "1", OK), ("segmentation/unet", "2", OK),
    ]  # fmt: skip
    assert all(float(row["peak_memory_mb"]) >= 0 and row["env_threads"] == "1" for row in rows)
    assert "| segmentation/unet | fp32 | contiguous | eager | 2 | 32 x 32 |" in (run / "benchmark.md").read_text()
    refused = benchmark(tmp_path, "precisions=[fp64]")
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "benchmark.py: error: precisions=['fp64']: expected a non-empty list of fp32, bf16, fp16"
    )


@pytest.mark.slow
def test_a_worker_that_dies_or_hangs_costs_its_row_and_a_new_worker_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(job_module, "STOP_GRACE_S", 1.0)
    settings = settings_grid(["fp32"], ["contiguous"], ["eager"], [1, 2, 4], [[16, 16]])
    for target, status, reason in (
        ("CrashingNet", FAILED, "worker exit 3: "),
        ("HangingNet", SKIPPED, "over 5 s (worker stopped)"),
    ):
        model = {"_target_": f"tests.benchmark.workers.{target}"}
        job = Job(f"segmentation/{target}", model, SEGMENTATION, {}, settings, Options(repeats=1, time_cap_s=5))
        records = list(run_isolated(job))
        assert [(r["batch"], r["status"]) for r in records[:2]] == [(1, OK), (2, status)]
        assert records[1]["reason"] == reason
        if status == SKIPPED:  # the larger batch is not tried once batch 2 ran over the cap
            assert records[2]["reason"] == "not run: batch 2 of this setting was over the time cap"
        else:
            assert (records[2]["batch"], records[2]["status"]) == (4, OK)


@pytest.mark.slow
def test_a_compiled_cell_records_its_compile_time_as_the_first_call() -> None:
    settings = settings_grid(["fp32", "bf16"], ["contiguous"], ["eager", "compile"], [1], [[16, 16]])
    model = {"_target_": "tests.benchmark.workers.CrashingNet"}
    records = list(run_job(Job("segmentation/net", model, SEGMENTATION, {}, settings, Options(repeats=2))))
    assert [(r["precision"], r["mode"], r["status"]) for r in records] == [
        ("fp32", "eager", OK), ("fp32", "compile", OK), ("bf16", "eager", OK), ("bf16", "compile", OK),
    ]  # fmt: skip
    eager, compiled = records[0], records[1]
    assert compiled["first_call_s"] > 10 * compiled["latency_p50_ms"] / 1e3  # compiling dwarfs a 1x1 convolution
    assert compiled["flops"] == eager["flops"] > 0
