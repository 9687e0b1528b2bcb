"""ResumableLauncher around a launcher that runs jobs in-process: override-named folders, failures returned and
recorded, finished jobs skipped on a second invocation, unfinished ones re-run with the earlier attempt kept."""

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.launcher import Launcher
from omegaconf import OmegaConf

from visionbench.runner.status import read_status, start_run, write_failure, write_status
from visionbench.sweeps.launcher import ResumableLauncher
from visionbench.sweeps.record import SweepRecord
from visionbench.sweeps.summary import SweepSummary, summary_lines

GRID = [["loss=ce", "lr=0.1"], ["loss=ce", "lr=0.2"], ["loss=dice", "lr=0.1"]]


class InProcessLauncher(Launcher):
    """Runs each job as a run would: status.json in ``<sweep>/<hydra.sweep.subdir>``; ``lr=0.2`` fails unless
    ``fixed``; ``killed`` leaves the status at running and raises from the launcher itself (a cluster failure)."""

    def __init__(self, sweep_dir: Path, fixed: bool = False, killed: bool = False) -> None:
        self.sweep_dir, self.fixed, self.killed = sweep_dir, fixed, killed
        self.launched: list[list[str]] = []

    def setup(self, **kwargs: object) -> None:
        raise AssertionError("not used")

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        results = []
        for overrides in job_overrides:
            subdir = [o for o in overrides if o.startswith("hydra.sweep.subdir=")]
            task = [o for o in overrides if not o.startswith("hydra.")]
            self.launched.append(task)
            job_dir = self.sweep_dir / subdir[0].partition("=")[2].strip("'")
            start_run(job_dir)
            if self.killed:
                raise RuntimeError("node lost")
            result = JobReturn(overrides=task)
            if "lr=0.2" in task and not self.fixed:
                error = ValueError("lr too large: loss is NaN")
                write_failure(job_dir, error)
                result.status, result.return_value = JobStatus.FAILED, error
            else:
                write_status(job_dir, "done", return_value=0.5)
                result.status, result.return_value = JobStatus.COMPLETED, 0.5
            results.append(result)
        return results


def _sweep(sweep_dir: Path, inner: InProcessLauncher, grid: list[list[str]] = GRID) -> Sequence[JobReturn]:
    return ResumableLauncher(inner, sweep_dir).launch(grid, initial_job_idx=0)


def test_a_failed_job_is_returned_and_recorded_while_the_others_finish(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    results = _sweep(tmp_path, InProcessLauncher(tmp_path))
    assert [r.status for r in results] == [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.COMPLETED]
    record = json.loads((tmp_path / "sweep.json").read_text())
    assert record["varying"] == ["loss", "lr"] and record["invocations"] == 1
    statuses = {name: job["status"] for name, job in record["jobs"].items()}
    assert sorted(statuses.values()) == ["done", "done", "failed"]
    (failed,) = [name for name, status in statuses.items() if status == "failed"]
    assert failed.startswith("loss=ce,lr=0.2__") and (tmp_path / failed).is_dir()
    assert record["jobs"][failed]["reason"] == "ValueError: lr too large: loss is NaN"
    assert record["jobs"][failed]["overrides"] == ["loss=ce", "lr=0.2"]
    out = capsys.readouterr().out
    assert f"[sweep] {failed}: FAILED: ValueError: lr too large: loss is NaN -> {tmp_path / failed}" in out
    assert out.count(": run\n") == 3


def test_a_second_invocation_skips_done_jobs_and_reruns_failed_ones_keeping_each_attempt(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    _sweep(tmp_path, InProcessLauncher(tmp_path))
    (failed,) = [p.name for p in tmp_path.iterdir() if p.name.startswith("loss=ce,lr=0.2")]
    first_attempt = (tmp_path / failed / "status.json").read_text()
    done = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*/status.json") if "lr=0.2" not in str(p)}
    second = InProcessLauncher(tmp_path)  # still failing: the second attempt fails too
    _sweep(tmp_path, second)
    assert second.launched == [["loss=ce", "lr=0.2"]]
    assert (tmp_path / "failed_attempts" / failed / "1" / "status.json").read_text() == first_attempt
    third = InProcessLauncher(tmp_path, fixed=True)
    results = _sweep(tmp_path, third, list(reversed(GRID)))  # the order of the jobs does not matter
    assert third.launched == [["loss=ce", "lr=0.2"]]
    assert [r.status for r in results] == [JobStatus.COMPLETED] * 3 and [r.return_value for r in results] == [0.5] * 3
    assert sorted(p.name for p in (tmp_path / "failed_attempts" / failed).iterdir()) == ["1", "2"]
    assert read_status(tmp_path / failed)["status"] == "done"
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*/status.json") if "lr=0.2" not in str(p)} == done
    record = SweepRecord.read(tmp_path)
    assert record.invocations == 3 and record.jobs[failed]["attempts"] == 3
    assert sorted(job["status"] for job in record.current_jobs().values()) == ["done", "skipped", "skipped"]
    out = capsys.readouterr().out
    assert f"[sweep] {failed}: re-run (failed: ValueError: lr too large: loss is NaN;" in out
    assert out.count(": skip (done)\n") == 4


def test_a_launcher_failure_becomes_failed_jobs_and_a_killed_run_is_rerun(tmp_path: Path) -> None:
    results = _sweep(tmp_path, InProcessLauncher(tmp_path, killed=True), GRID[:1])
    assert results[0].status == JobStatus.FAILED and str(results[0]._return_value) == "node lost"
    (job,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert job.name.startswith("job__") and read_status(job)["status"] == "running"
    assert SweepRecord.read(tmp_path).jobs[job.name]["status"] == "failed"
    rerun = InProcessLauncher(tmp_path, fixed=True)
    assert _sweep(tmp_path, rerun, GRID[:1])[0].status == JobStatus.COMPLETED
    assert read_status(tmp_path / "failed_attempts" / job.name / "1")["status"] == "running"


def test_a_pruned_job_is_not_run_again_and_comes_back_as_pruned(tmp_path: Path) -> None:
    optuna = pytest.importorskip("optuna")
    _sweep(tmp_path, InProcessLauncher(tmp_path), GRID[:1])
    (job,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    write_status(job, "pruned", reason="val/mIoU 0.1 at epoch 2", epoch=2, step=40)
    inner = InProcessLauncher(tmp_path)
    (result,) = _sweep(tmp_path, inner, GRID[:1])
    assert inner.launched == [] and result.status == JobStatus.FAILED
    assert isinstance(result._return_value, optuna.TrialPruned) and result._return_value.step == 40


def test_the_summary_lists_the_jobs_and_exits_non_zero_when_one_failed(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    _sweep(tmp_path, InProcessLauncher(tmp_path))
    lines = summary_lines(SweepRecord.read(tmp_path))
    assert lines[0] == f"sweep {tmp_path}: 2 done, 1 failed"
    assert lines[-1].startswith(f"  failed   {tmp_path}/loss=ce,lr=0.2__") and lines[-1].endswith("loss is NaN)")
    config = {"hydra": {"sweep": {"dir": str(tmp_path)}}}
    with pytest.raises(SystemExit) as exit_info:
        SweepSummary().on_multirun_end(OmegaConf.create(config))
    assert exit_info.value.code == 1 and "1 failed" in capsys.readouterr().out
    _sweep(tmp_path, InProcessLauncher(tmp_path, fixed=True))
    SweepSummary().on_multirun_end(OmegaConf.create(config))  # all done or skipped: no exit
    assert "1 done, 2 skipped" in capsys.readouterr().out
