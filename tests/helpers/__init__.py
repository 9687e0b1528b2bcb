"""Helpers shared by the tests: the real config tree composed with hydra.compose and shrunk for speed, paths of
the repository, its config tree and the fixtures."""

import os
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

import visionbench.runner  # noqa: F401  (registers the run-directory resolver)

REPO = Path(__file__).resolve().parents[2]
CONF = REPO / "conf"
FIXTURES = REPO / "tests" / "fixtures"
"""The real-format samples this repository ships (tests/fixtures/README.md)."""

# Small enough for a few seconds per fit on 2 CPU cores, same code paths as the default run.
TINY_DATA = [
    "data.image_size=32",
    "data.train_size=16",
    "data.val_size=8",
    "data.test_size=8",
    "data.batch_size=8",
    "trainer.max_epochs=1",
]
TINY_UNET = ["model.depth=2", "model.base_channels=4"]
TINY = TINY_DATA + TINY_UNET
TINY_FLOW_DATA = [
    "data.image_size=32",
    "data.train_size=8",
    "data.val_size=4",
    "data.test_size=4",
    "data.batch_size=4",
    "trainer.max_epochs=1",
]
"""Synthetic flow data of a few 32x32 pairs, one epoch (with task=flow)."""
TINY_RAFT = ["model.width_multiplier=0.25", "model.iters=2", "model.eval_iters=2"]
"""RAFT-small at a quarter of its width with two updates."""


def compose_config(name: str, overrides: list[str], output_dir: Path) -> DictConfig:
    """Compose conf/<name>.yaml with ``overrides`` and point every output at ``output_dir``."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(name, overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
        cfg.paths.log_dir = str(output_dir.parent / "logs")
        cfg.hydra.runtime.output_dir = str(output_dir)
    HydraConfig().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]  # as in a real run: the job's config does not carry the hydra node
    return cfg


def subprocess_env() -> dict[str, str]:
    """Environment for running train.py / evaluate.py in a child process (offline, quiet)."""
    env = dict(os.environ, WANDB_MODE="offline", WANDB_SILENT="true", PYTHONWARNINGS="ignore")
    return env


def train_in(
    root: Path, arguments: Sequence[str], wrapper: str | None = None, wrapper_arguments: Sequence[str] = ()
) -> subprocess.CompletedProcess:
    """Run train.py with ``arguments`` in ``root`` (outputs under ``root/outputs``, one CPU thread); with ``wrapper``
    (Python source that ends by running ``$TRAIN_SCRIPT``), through that script, given ``wrapper_arguments`` first."""
    command = [sys.executable, str(REPO / "train.py"), *arguments]
    if wrapper is not None:
        script = root / "wrapper.py"
        script.write_text(textwrap.dedent(wrapper))
        command = [sys.executable, str(script), *wrapper_arguments, *arguments]
    env = {**os.environ, "PROJECT_ROOT": str(root), "OMP_NUM_THREADS": "1", "TRAIN_SCRIPT": str(REPO / "train.py")}
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=300)
