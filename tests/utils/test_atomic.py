"""Atomic writes under injected failures: the target is the old complete file or absent, never a partial one."""

import errno
import os
from pathlib import Path

import pytest

from visionbench.runner.reporting import write_json
from visionbench.utils.atomic import OutputWriteError, write_text_atomically


def full_disk(*_: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_keeps_the_previous_file_and_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "metrics.json"
    write_json({"val/mIoU": 0.5}, target)
    before = target.read_bytes()
    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OutputWriteError) as raised:
        write_json({"val/mIoU": 0.7}, target)
    assert str(raised.value) == f"cannot write {target} (No space left on device); the previous version is kept"
    assert target.read_bytes() == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["metrics.json"]  # no partial file left


def test_an_unwritable_location_writes_nothing_and_says_so(tmp_path: Path) -> None:
    blocker = tmp_path / "outputs"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(OutputWriteError, match=r"cannot write .*outputs/run.json \(Not a directory\); nothing was"):
        write_text_atomically(blocker / "run.json", "{}", replace=True)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["outputs"]
