"""The leaderboard ranks only finished runs of a sweep: not failed, pruned or unfinished ones, nor earlier attempts."""

import json
from pathlib import Path

from visionbench.leaderboard.runs import scan
from visionbench.runner.status import write_status


def _run(path: Path, status: str | None) -> Path:
    path.mkdir(parents=True)
    (path / "config.yaml").write_text("seed: 1\n")
    (path / "metrics.json").write_text(json.dumps({"test/mIoU": 0.5}))
    if status:
        write_status(path, status, reason="loss is NaN" if status == "failed" else None)
    return path


def test_only_done_runs_are_ranked_and_failed_attempts_are_not_entered(tmp_path: Path) -> None:
    done = _run(tmp_path / "a__00000001", "done")
    legacy = _run(tmp_path / "b__00000002", None)  # written before runs recorded a status
    failed = _run(tmp_path / "c__00000003", "failed")
    running = _run(tmp_path / "d__00000004", "running")
    _run(tmp_path / "failed_attempts" / "c__00000003" / "1", None)
    found = scan([str(tmp_path)])
    assert sorted(run.path for run in found.runs) == [done, legacy]
    assert {item.path: item.reason for item in found.skipped} == {
        failed: "status failed: loss is NaN",
        running: "status running",
    }
