"""Throughput of an inference run: per stage and end to end, as a rich table and as JSON, and the live progress bar.

Model-only frames per second alone misleads: a video is processed no faster than its slowest stage (decoding,
drawing or encoding included), so the table shows every stage next to the end-to-end rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from visionbench.video.pipeline import StageTime


class FramesPerSecondColumn(ProgressColumn):
    """Frames per second since the start."""

    def render(self, task: Task) -> Text:
        elapsed = task.finished_time if task.finished else task.elapsed
        rate = task.completed / elapsed if elapsed else 0.0
        return Text(f"{rate:.1f} frames/s")


def progress_bar() -> Progress:
    """A progress bar of frames written, with frames per second and elapsed time."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        FramesPerSecondColumn(),
        TimeElapsedColumn(),
    )


def throughput(stages: Sequence[StageTime], frames: int, wall_seconds: float) -> dict[str, Any]:
    """``{"stages": [{name, frames, seconds, frames_per_second}, ...], "end_to_end": {frames, seconds,
    frames_per_second}, "slowest_stage": name}``: each stage's busy time and rate in pipeline order, and the whole
    run's ``frames / wall_seconds``."""

    def rate(count: int, seconds: float) -> float | None:
        return count / seconds if seconds > 0 else None

    per_stage = [
        {"name": stage.name, "frames": stage.frames, "seconds": stage.seconds,
         "frames_per_second": rate(stage.frames, stage.seconds)}
        for stage in stages
    ]  # fmt: skip
    slowest = max(stages, key=lambda stage: stage.seconds).name
    end_to_end = {"frames": frames, "seconds": wall_seconds, "frames_per_second": rate(frames, wall_seconds)}
    return {"stages": per_stage, "end_to_end": end_to_end, "slowest_stage": slowest}


def _cell(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def throughput_table(report: dict[str, Any], title: str) -> Table:
    """The stages (frames, busy seconds, frames per second alone) and the end-to-end rate as a table."""
    table = Table(title=title)
    for column in ("stage", "frames", "busy s", "frames/s"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for stage in report["stages"]:
        style = "yellow" if stage["name"] == report["slowest_stage"] else None
        cells = (str(stage["frames"]), _cell(stage["seconds"], 2), _cell(stage["frames_per_second"]))
        table.add_row(stage["name"], *cells, style=style)
    total = report["end_to_end"]
    table.add_row("end to end", str(total["frames"]), _cell(total["seconds"], 2), _cell(total["frames_per_second"]),
                  style="bold")  # fmt: skip
    return table
