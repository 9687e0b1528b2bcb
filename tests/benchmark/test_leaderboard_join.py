"""The leaderboard joins a benchmark CSV written by the benchmark to runs by their ``model=`` choice: only measured
records count, the environment goes to the notes."""

import csv
import io
from pathlib import Path

import torch
from torch import nn

from tests.leaderboard.rundirs import write_run
from visionbench.benchmark.measure import Options, measure_model
from visionbench.benchmark.records import write_csv
from visionbench.benchmark.settings import settings_grid
from visionbench.benchmark.workloads import NetworkWorkload
from visionbench.leaderboard.benchmark import read_benchmark
from visionbench.leaderboard.render_csv import render_csv
from visionbench.leaderboard.runs import scan
from visionbench.leaderboard.table import Options as BoardOptions
from visionbench.leaderboard.table import build_leaderboard, leaderboard_table
from visionbench.tasks.segmentation.contract import SegmentationContract


def test_benchmark_csv_joins_runs_by_model_config_name(tmp_path: Path) -> None:
    root = tmp_path / "outputs"
    write_run(root / "train" / "a", {"val/score": 0.8}, choices={"model": "segmentation/unet"})
    write_run(root / "train" / "b", {"val/score": 0.6}, {"model.width": 32}, choices={"model": "segmentation/wide"})
    settings = settings_grid(["fp32", "bf16"], ["contiguous"], ["eager"], [1], [[16, 16]])
    records = []
    for name, width in (("segmentation/unet", 2), ("segmentation/wide", 8)):
        workload = NetworkWorkload(nn.Conv2d(3, width, 3), SegmentationContract(), torch.device("cpu"))
        records += measure_model(name, workload, settings, Options(repeats=1))
    records[-1].update(status="failed", reason="bf16 unsupported", latency_p50_ms=None)  # wide's bf16 cell failed
    (root / "benchmark").mkdir()
    write_csv(root / "benchmark" / "benchmark.csv", records)

    found = scan([str(root)])
    assert [path.name for path in found.benchmarks] == ["benchmark.csv"]
    benchmark = read_benchmark(found.benchmarks, {"precision": "bf16"})  # wide's failed bf16 row does not count
    assert list(benchmark.records) == ["segmentation/unet"]
    benchmark = read_benchmark(found.benchmarks, {"precision": "fp32"})
    assert benchmark.flops == "flops" and {"parameters", "flops", "latency_p50_ms"} <= set(benchmark.shown)
    assert not [column for column in benchmark.shown if column.startswith("env_") or column == "status"]
    assert "reason" not in benchmark.shown and "reason" not in benchmark.constant  # empty in every record shown
    assert benchmark.constant["env_torch"] == torch.__version__ and benchmark.constant["precision"] == "fp32"
    board = build_leaderboard(found.runs, BoardOptions(benchmark=benchmark, resamples=20))
    rows = list(csv.DictReader(io.StringIO(render_csv(leaderboard_table(board)))))
    assert sorted(row["benchmark flops"] for row in rows) == [str(records[0]["flops"]), str(records[2]["flops"])]
