"""The environment columns of every benchmark record (``env_*``): torch version, device name, CPU threads, git
commit and the load average when the record started, so that a table mixing machines or a busy machine shows it."""

from __future__ import annotations

import os
import platform
from functools import cache
from pathlib import Path

import torch

from visionbench.runner.environment import PROJECT_DIR, git_state


@cache
def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``; ``platform.processor()`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: torch.device) -> str:
    """The GPU's name for a CUDA device, else the CPU's."""
    return torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()


@cache
def git_commit() -> str:
    """The checkout's commit, ``+dirty`` with uncommitted changes (empty outside a git checkout)."""
    state = git_state(PROJECT_DIR)
    if not state["commit"]:
        return ""
    return str(state["commit"]) + ("+dirty" if state["dirty"] else "")


def environment_columns(device: torch.device) -> dict[str, str | int | float]:
    """The ``env_*`` columns of a record starting now on ``device``."""
    return {
        "env_torch": torch.__version__,
        "env_device_name": device_name(device),
        "env_threads": torch.get_num_threads(),
        "env_git_commit": git_commit(),
        "env_load_avg_1m": round(os.getloadavg()[0], 2),
    }
