"""A staged pipeline over batches of frames: one thread per stage, bounded queues between them, so that decoding,
the model and encoding overlap and the end-to-end rate approaches that of the slowest stage.

The first stage is the source itself (an iterator of batches, e.g. decoding a video); each further stage is a
function that completes the batch in place. Every stage's busy time (not its waiting on queues) and frame count are
measured. The first error of any stage stops every stage and is raised in the caller's thread.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from visionbench.video.sources import Frame

POLL_SECONDS = 0.05
"""How often a stage waiting on a queue checks whether another stage failed."""
SWITCH_INTERVAL_S = 0.0005
"""CPython's GIL switch interval while the pipeline runs (default 5 ms): a stage returning from native code (a torch
op, a decoded frame) waits at most this long for a stage running Python code. Measured on 2 CPU cores, U-Net on
48x48 frames at batch 8: end to end 222 -> 241 frames/s (median of 3), the model alone 254."""
_END = object()


@dataclass
class Batch:
    """Frames travelling through the pipeline together, with what each stage added: the model ``inputs``, its
    ``outputs``, one ``results`` entry per frame (e.g. a label map) and one ``annotated`` image per frame."""

    frames: list[Frame]
    inputs: Any = None
    outputs: Any = None
    results: list[Any] = field(default_factory=list)
    annotated: list[Any] = field(default_factory=list)


@dataclass
class StageTime:
    """Frames a stage processed and the seconds it spent working on them (waiting excluded)."""

    name: str
    frames: int = 0
    seconds: float = 0.0

    @property
    def frames_per_second(self) -> float:
        """Throughput of the stage alone: frames per busy second (inf for a stage that took no measurable time)."""
        return self.frames / self.seconds if self.seconds > 0 else float("inf")


Stage = tuple[str, Callable[[Batch], None]]
"""A stage's name and the function that completes a batch in place."""


class _Run:
    """Shared state of one pipeline run: the stop signal and the first error."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.lock = threading.Lock()

    def fail(self, error: BaseException) -> None:
        with self.lock:
            if self.error is None:
                self.error = error
        self.stop.set()

    def put(self, channel: queue.Queue, item: object) -> bool:
        """Put ``item`` unless the run stops first (then False)."""
        while not self.stop.is_set():
            try:
                channel.put(item, timeout=POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def get(self, channel: queue.Queue) -> object:
        """The next item, or the end marker when the run stops first."""
        while not self.stop.is_set():
            try:
                return channel.get(timeout=POLL_SECONDS)
            except queue.Empty:
                continue
        return _END


def _produce(run: _Run, batches: Iterable[Batch], timer: StageTime, out: queue.Queue) -> None:
    try:
        iterator = iter(batches)
        while True:
            start = time.perf_counter()
            batch = next(iterator, _END)
            if batch is _END:
                break
            timer.seconds += time.perf_counter() - start
            timer.frames += len(batch.frames)
            if not run.put(out, batch):
                return
        run.put(out, _END)
    except BaseException as error:  # handed to the caller's thread
        run.fail(error)


def _work(
    run: _Run, function: Callable[[Batch], None], timer: StageTime, inbox: queue.Queue, out: queue.Queue | None
) -> None:
    try:
        while (batch := run.get(inbox)) is not _END:
            start = time.perf_counter()
            function(batch)
            timer.seconds += time.perf_counter() - start
            timer.frames += len(batch.frames)
            if out is not None and not run.put(out, batch):
                return
        if out is not None:
            run.put(out, _END)
    except BaseException as error:  # handed to the caller's thread
        run.fail(error)


def run_pipeline(
    batches: Iterable[Batch], source_name: str, stages: Sequence[Stage], capacity: int = 2
) -> list[StageTime]:
    """Run ``stages`` over ``batches`` (whose production is timed as the stage ``source_name``), each in its own
    thread, with queues of ``capacity`` batches between them (the GIL switch interval lowered to
    :data:`SWITCH_INTERVAL_S` meanwhile); the per-stage times, source first. The first error of any stage is raised
    here after every thread has stopped (Ctrl-C stops them too)."""
    run = _Run()
    timers = [StageTime(source_name), *(StageTime(name) for name, _ in stages)]
    channels = [queue.Queue(maxsize=capacity) for _ in stages]
    threads = [threading.Thread(target=_produce, args=(run, batches, timers[0], channels[0]), name=source_name)]
    for index, (name, function) in enumerate(stages):
        out = channels[index + 1] if index + 1 < len(stages) else None
        threads.append(
            threading.Thread(target=_work, args=(run, function, timers[index + 1], channels[index], out), name=name)
        )
    interval = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(timeout=0.2)
    except BaseException as error:  # Ctrl-C: stop the stages, then re-raise
        run.fail(error)
        for thread in threads:
            thread.join()
        raise
    finally:
        sys.setswitchinterval(interval)
    if run.error is not None:
        raise run.error
    return timers


def batched(frames: Iterable[Frame], batch_size: int) -> Iterable[Batch]:
    """Consecutive frames grouped into batches of ``batch_size`` (the last one may be smaller)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    pending: list[Frame] = []
    for frame in frames:
        pending.append(frame)
        if len(pending) == batch_size:
            yield Batch(pending)
            pending = []
    if pending:
        yield Batch(pending)
