"""Shared fixtures: the real config tree composed with hydra.compose and shrunk for speed (tests/helpers)."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig

from tests.helpers import TINY, compose_config


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist, share the cores between the workers (2 workers on 2 cores: one torch thread each); more
    threads than cores make every worker spin and the suite several times slower."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


@pytest.fixture
def tiny_train_cfg(tmp_path: Path) -> DictConfig:
    output_dir = tmp_path / "run"
    output_dir.mkdir()
    return compose_config("train", TINY, output_dir)


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Run a module's tests on one torch thread (many tiny ops: thread start-up costs more than it saves), then
    restore the thread count, so that later tests in the same worker run as configured."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
