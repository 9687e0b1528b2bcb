"""The staged pipeline: batches stay in order, every stage is timed, stages overlap, and the first error of any
stage stops them all and reaches the caller; outputs are put in place together or not at all."""

import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from tests.video.clips import decoded
from visionbench.video.outputs import RunOutputs, VideoWriter
from visionbench.video.pipeline import Batch, batched, run_pipeline
from visionbench.video.sources import Frame


def _frames(count: int) -> list[Frame]:
    return [Frame(index, np.full((4, 6, 3), index, np.uint8), f"f{index}") for index in range(count)]


def test_batches_in_order_and_timed() -> None:
    seen: list[int] = []

    def double(batch: Batch) -> None:
        batch.results = [2 * frame.index for frame in batch.frames]

    def collect(batch: Batch) -> None:
        seen.extend(batch.results)

    interval = sys.getswitchinterval()
    times = run_pipeline(batched(_frames(10), 3), "decode", [("double", double), ("collect", collect)])
    assert sys.getswitchinterval() == interval  # lowered while the stages run, then restored
    assert seen == [2 * index for index in range(10)]
    assert [(t.name, t.frames) for t in times] == [("decode", 10), ("double", 10), ("collect", 10)]
    assert [len(batch.frames) for batch in batched(_frames(10), 3)] == [3, 3, 3, 1]


def test_stages_overlap() -> None:
    """Three stages of 0.05 s per batch over 6 batches take about (6 + 2) x 0.05 s, not 3 x 6 x 0.05 s."""

    def wait(batch: Batch) -> None:
        time.sleep(0.05)

    start = time.perf_counter()
    times = run_pipeline(batched(_frames(6), 1), "decode", [("a", wait), ("b", wait), ("c", wait)])
    assert time.perf_counter() - start < 0.75
    assert all(t.seconds == pytest.approx(0.3, abs=0.1) for t in times[1:])


def test_first_error_stops_every_stage() -> None:
    def endless():
        while True:
            yield Batch(_frames(1))

    calls = iter(range(1, 100))

    def fail_at_third(batch: Batch) -> None:
        if next(calls) == 3:
            raise RuntimeError("model broke on batch 3")

    before = threading.active_count()
    with pytest.raises(RuntimeError, match="model broke on batch 3"):
        run_pipeline(endless(), "decode", [("model", fail_at_third), ("draw", lambda batch: None)])
    assert threading.active_count() == before


def test_source_error_is_raised() -> None:
    def broken():
        yield Batch(_frames(1))
        raise ValueError("frame 2 cannot be decoded")

    with pytest.raises(ValueError, match="frame 2 cannot be decoded"):
        run_pipeline(broken(), "decode", [("model", lambda batch: None)])


def test_outputs_commit_or_abort(tmp_path: Path) -> None:
    outputs = RunOutputs(tmp_path)
    (outputs.folder("masks") / "a.png").write_bytes(b"x")
    outputs.file("tracks.txt").write_text("1,1,0,0,1,1,1,-1,-1,-1\n")
    assert sorted(path.name for path in tmp_path.iterdir()) == [".masks.partial", ".tracks.txt.partial"]
    assert [path.name for path in outputs.commit()] == ["masks", "tracks.txt"]
    assert (tmp_path / "masks" / "a.png").is_file()
    with pytest.raises(FileExistsError, match="never overwritten"):
        RunOutputs(tmp_path).folder("masks")
    aborted = RunOutputs(tmp_path)
    (aborted.folder("flo") / "frame_000000.flo").write_bytes(b"x")
    aborted.file("flow.mp4").write_bytes(b"partial")
    aborted.abort()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["masks", "tracks.txt"]


@pytest.mark.parametrize("size", [(32, 48), (33, 47)])
def test_video_writer_keeps_rate_count_and_timestamps(tmp_path: Path, size: tuple[int, int]) -> None:
    rate, base = Fraction(30000, 1001), Fraction(1, 30000)
    writer = VideoWriter(tmp_path / "out.mp4", rate, base, size)
    for index in range(5):
        frame = Frame(index, np.zeros((*size, 3), np.uint8), f"f{index}", pts=1001 * index, time_base=base)
        writer.write(frame, np.full((*size, 3), 40 * index, np.uint8))
    writer.close()
    count, read_rate, times = decoded(tmp_path / "out.mp4")
    assert (count, read_rate) == (5, rate)
    assert times == pytest.approx([index * 1001 / 30000 for index in range(5)])
