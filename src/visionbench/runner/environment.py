"""The environment a run used (package versions, git commit, seed, device, model size, metric code), written to
env.json."""

import importlib.metadata
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path

import torch

PROJECT_DIR = Path(__file__).resolve().parents[3]
"""The repository checkout whose git state a run records."""
PACKAGES = (
    "torch", "pytorch-lightning", "torchmetrics", "hydra-core", "omegaconf", "numpy", "albumentations",
    "opencv-python-headless", "scipy", "pillow", "visionbench",
)  # fmt: skip


def package_versions() -> dict[str, str | None]:
    """Installed version of each package that shapes a run's numbers (None when absent)."""
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_state(directory: Path) -> dict[str, str | bool | None]:
    """Commit hash of the checkout at ``directory`` and whether it had uncommitted changes."""

    def git(*args: str) -> str | None:
        try:
            result = subprocess.run(["git", *args], cwd=directory, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return result.stdout.strip() if result.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def device_info(accelerator: str, devices: object, strategy: str, precision: object) -> dict[str, object]:
    """What the run ran on, as configured and as found."""
    info: dict[str, object] = {
        "accelerator": accelerator,
        "devices": devices,
        "strategy": strategy,
        "precision": str(precision),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda_available": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        info["cuda_devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        info["cuda_version"] = torch.version.cuda
    return info


def collect_environment(
    seed: int, device: dict[str, object], project_dir: Path, model_parameters: int, metric_code: str
) -> dict[str, object]:
    """Everything env.json records before the run's per-sample scores add their split manifests
    (:func:`~visionbench.runner.scores.write_scores`): ``model_parameters`` counts the evaluated model's parameters,
    ``metric_code`` hashes the source of the problem's metric modules
    (:meth:`~visionbench.tasks.contract.ProblemContract.metric_code`)."""
    return {
        "seed": seed,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "command": sys.argv,
        "packages": package_versions(),
        "git": git_state(project_dir),
        "device": device,
        "model_parameters": model_parameters,
        "metric_code": metric_code,
    }
