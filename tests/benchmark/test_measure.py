"""Timing, FLOP counting, the settings grid and the records: failed and skipped cells are rows with their reason."""

import csv
import io
import time
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from visionbench.benchmark.flops import OUTSIDE_TORCH, count_flops
from visionbench.benchmark.job import Job, run_job
from visionbench.benchmark.measure import Options, measure_model
from visionbench.benchmark.records import COLUMNS, FAILED, OK, SKIPPED, csv_text, markdown_table, write_csv
from visionbench.benchmark.settings import Setting, settings_grid
from visionbench.benchmark.timing import TimeBudgetExceeded, time_calls
from visionbench.benchmark.workloads import NetworkWorkload
from visionbench.runner.builders import build_model
from visionbench.runner.errors import ConfigError
from visionbench.tasks.flow.contract import FlowContract
from visionbench.tasks.segmentation.contract import SegmentationContract

CONF = Path(__file__).resolve().parents[2] / "conf"
SEGMENTATION = "visionbench.tasks.SegmentationTask"


def flow_model(name: str, **overrides: object) -> nn.Module:
    return build_model(OmegaConf.merge(OmegaConf.load(CONF / "model" / "flow" / f"{name}.yaml"), overrides)).eval()


def test_time_calls_times_the_first_call_apart_then_the_repeats_after_warm_up() -> None:
    calls = []
    timings = time_calls(lambda: calls.append(time.sleep(0.002)), warmup=3, repeats=4, device="cpu")
    assert len(calls) == 1 + 2 + 4 and len(timings.latencies_s) == 4
    assert timings.first_call_s >= 0.002 and min(timings.latencies_s) >= 0.002
    assert timings.p50_s <= timings.p90_s <= max(timings.latencies_s)
    with pytest.raises(ValueError, match="warmup and repeats must be >= 1"):
        time_calls(lambda: None, warmup=0, repeats=1, device="cpu")


def test_time_calls_stops_before_the_budget_and_keeps_what_it_measured() -> None:
    with pytest.raises(TimeBudgetExceeded) as caught:
        time_calls(lambda: time.sleep(0.05), warmup=1, repeats=10, device="cpu", budget_s=0.12)
    assert caught.value.timings.first_call_s >= 0.05 and len(caught.value.timings.latencies_s) == 1


def test_uncounted_operators_name_raft_grid_sample_and_flownetc_correlation() -> None:
    images = FlowContract().example_inputs(None, 1, 64, 64)
    raft = flow_model("raft_small", iters=2, eval_iters=2)
    count = count_flops(lambda: raft(*images))
    assert count.flops > 0 and count.macs == count.flops // 2
    assert count.uncounted["grid_sampler_2d"] == 2 * 4  # the correlation lookup: 2 updates x 4 pyramid levels
    flownetc = count_flops(lambda: flow_model("flownetc")(*images))
    assert flownetc.uncounted["sum"] == 441  # the hand-written correlation: one reduction per displacement
    dis = count_flops(lambda: flow_model("dis")(*images))
    assert dis.flops is None and dis.uncounted_text() == OUTSIDE_TORCH


def test_settings_grid_orders_cells_and_names_a_bad_key() -> None:
    grid = settings_grid(["fp32", "bf16"], ["contiguous"], ["eager", "compile"], [1, 8], [[32, 48]])
    assert len(grid) == 8 and grid[0] == Setting("fp32", "contiguous", "eager", 1, 32, 48)
    assert [setting.batch for setting in grid] == [1] * 4 + [8] * 4
    assert grid[5].follows(grid[1]) and not grid[1].follows(grid[5]) and not grid[2].follows(grid[1])
    with pytest.raises(ConfigError, match=r"precisions=\['fp64'\]: expected a non-empty list of fp32, bf16, fp16"):
        settings_grid(["fp64"], ["contiguous"], ["eager"], [1], [[32, 32]])
    with pytest.raises(ConfigError, match=r"resolutions=\[\[32\]\]"):
        settings_grid(["fp32"], ["contiguous"], ["eager"], [1], [[32]])


class Exploding(nn.Module):
    """Fails at batch 2 (a cell that raises) and is slow in bfloat16 (a cell over the time cap)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3, padding=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[0] == 2:
            raise RuntimeError("no batch of two\nsecond line")
        if torch.is_autocast_enabled("cpu"):
            time.sleep(0.3)
        return self.conv(images)


def test_a_failing_cell_and_a_cell_over_the_cap_are_rows_and_the_others_go_on() -> None:
    workload = NetworkWorkload(Exploding(), SegmentationContract(), torch.device("cpu"))
    settings = settings_grid(["fp32", "bf16"], ["contiguous", "channels_last"], ["eager"], [1, 2, 4], [[16, 16]])
    options = Options(warmup=1, repeats=2, time_cap_s=0.5)
    measured = measure_model("x", workload, settings, options)
    records = {(r["precision"], r["memory_format"], r["batch"]): r for r in measured}
    assert len(records) == 12
    assert records[("fp32", "contiguous", 1)]["status"] == OK and records[("fp32", "channels_last", 4)]["status"] == OK
    failed = records[("fp32", "contiguous", 2)]
    assert failed["status"] == FAILED and failed["reason"] == "RuntimeError: no batch of two"
    slow = records[("bf16", "contiguous", 1)]
    assert slow["status"] == SKIPPED and slow["reason"] == "over 0.5 s" and slow["first_call_s"] >= 0.3
    larger = records[("bf16", "contiguous", 4)]
    assert larger["status"] == SKIPPED and larger["reason"].startswith("not run: batch 1 of this setting was over")
    assert records[("fp32", "contiguous", 1)]["flops"] == 2 * 16 * 16 * 2 * 27  # one 3x3 conv, 3 -> 2 channels


def test_a_model_that_cannot_be_built_fails_every_setting_and_methods_outside_torch_skip_the_rest() -> None:
    settings = settings_grid(["fp32", "bf16"], ["contiguous"], ["eager"], [1], [[16, 16]])
    broken = Job("segmentation/broken", {"_target_": "visionbench.models.NoSuchNet"}, SEGMENTATION, {}, settings)
    records = list(run_job(broken))
    assert [r["status"] for r in records] == [FAILED, FAILED]
    assert records[0]["reason"].startswith("building the model: ")
    dis = OmegaConf.to_container(OmegaConf.load(CONF / "model" / "flow" / "dis.yaml"))
    records = list(run_job(Job("flow/dis", dis, "visionbench.tasks.FlowTask", {}, settings, Options(repeats=1))))
    assert [r["status"] for r in records] == [OK, SKIPPED]
    assert records[1]["reason"].startswith("computed outside torch (numpy/OpenCV)")


def test_csv_has_every_column_in_order_and_markdown_names_the_uncounted_operators(tmp_path: Path) -> None:
    settings = settings_grid(["fp32"], ["contiguous"], ["eager"], [1, 2], [[16, 16]])
    workload = NetworkWorkload(Exploding(), SegmentationContract(), torch.device("cpu"))
    records = list(measure_model("segmentation/x", workload, settings, Options(repeats=1)))
    path = tmp_path / "benchmark.csv"
    write_csv(path, records)
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert tuple(rows[0]) == COLUMNS and [row["status"] for row in rows] == [OK, FAILED]
    assert rows[1]["latency_p50_ms"] == "" and rows[1]["reason"] == "RuntimeError: no batch of two"
    assert path.read_text() == csv_text(records) and [p.name for p in tmp_path.iterdir()] == ["benchmark.csv"]
    table = markdown_table(records)
    assert "| segmentation/x | fp32 | contiguous | eager | 1 | 16 x 16 |" in table
    assert "failed (RuntimeError: no batch of two)" in table and "Environment (first record): torch" in table
