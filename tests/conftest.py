"""Shared fixtures: the real config tree composed with hydra.compose and shrunk for speed (tests/helpers)."""

from pathlib import Path

import pytest
from omegaconf import DictConfig

from tests.helpers import TINY, compose_config


@pytest.fixture
def tiny_train_cfg(tmp_path: Path) -> DictConfig:
    output_dir = tmp_path / "run"
    output_dir.mkdir()
    return compose_config("train", TINY, output_dir)


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
