"""Peak memory of a stretch of work above what was held when it started.

CUDA: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats`` (tensors only; the caching allocator's
reserve is not counted). CPU: the process's resident set size, whose peak (``VmHWM``) Linux resets to the current
size on writing ``5`` to ``/proc/self/clear_refs``; freed heap memory is first handed back to the system
(``malloc_trim``) so that the starting size does not hide memory the work reuses. Where that reset is not possible
(not Linux) the CPU peak is not measured (None) rather than taken from a process-lifetime peak.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from pathlib import Path

import torch

from visionbench.benchmark.timing import synchronize

STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kib(field: str) -> int:
    for line in STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise OSError(f"{STATUS} has no {field}")


def _trim_heap() -> None:
    name = ctypes.util.find_library("c")
    if name:
        libc = ctypes.CDLL(name)
        if hasattr(libc, "malloc_trim"):
            libc.malloc_trim(0)


class PeakMemory:
    """``start()`` then ``stop()``: bytes of the peak above the memory held at ``start()`` on ``device`` (None when
    the platform cannot reset the CPU peak)."""

    def __init__(self, device: torch.device | str) -> None:
        self.device = torch.device(device)
        self.before: int | None = None

    def start(self) -> None:
        if self.device.type == "cuda":
            synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.before = torch.cuda.memory_allocated(self.device)
            return
        try:
            _trim_heap()
            CLEAR_REFS.write_text("5")
            self.before = _status_kib("VmRSS") * 1024
        except OSError:
            self.before = None

    def stop(self) -> int | None:
        if self.before is None:
            return None
        if self.device.type == "cuda":
            synchronize(self.device)
            return torch.cuda.max_memory_allocated(self.device) - self.before
        return max(0, _status_kib("VmHWM") * 1024 - self.before)
