"""Loading weights with errors that name the offending keys."""

from collections.abc import Mapping
from pathlib import Path

import torch
from omegaconf import OmegaConf
from torch import Tensor, nn


def read_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint file safely (tensors and plain containers only, never pickled code)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # corrupt or not a checkpoint
        raise ValueError(f"cannot read checkpoint {path}: {error}") from error


def load_state_dict_checked(module: nn.Module, state_dict: Mapping[str, Tensor], source: str) -> None:
    """``module.load_state_dict(strict=True)`` with a message listing missing, unexpected and mis-shaped keys."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    mismatched = [
        f"{key}: checkpoint {tuple(state_dict[key].shape)} vs model {tuple(expected[key].shape)}"
        for key in sorted(set(expected) & set(state_dict))
        if state_dict[key].shape != expected[key].shape
    ]
    problems = []
    for title, keys in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", mismatched)):
        if keys:
            shown = ", ".join(keys[:20]) + (f" ... (+{len(keys) - 20} more)" if len(keys) > 20 else "")
            problems.append(f"{len(keys)} {title}: {shown}")
    if problems:
        raise ValueError(f"weights from {source} do not fit {type(module).__name__}:\n  " + "\n  ".join(problems))
    module.load_state_dict(state_dict, strict=True)


def resolve_checkpoint(run_dir: str | None, ckpt_path: str | None) -> tuple[Path, Path]:
    """``(checkpoint, run_directory)`` from either argument; clear errors for missing files."""
    if ckpt_path:
        checkpoint = Path(ckpt_path)
        if not checkpoint.is_file():
            raise FileNotFoundError(f"ckpt_path does not exist: {checkpoint}")
        run = checkpoint.resolve().parent.parent
    elif run_dir:
        run = Path(run_dir)
        run_info = run / "run.json"
        if not run_info.is_file():
            raise FileNotFoundError(f"{run} is not a finished training run: {run_info} is missing")
        best = OmegaConf.load(run_info).get("best_checkpoint")
        if not best:
            raise FileNotFoundError(f"{run_info} names no best checkpoint (was checkpointing disabled?)")
        checkpoint = run / best
        if not checkpoint.is_file():
            raise FileNotFoundError(f"best checkpoint named in {run_info} does not exist: {checkpoint}")
    else:
        raise ValueError("evaluate.py needs run_dir=<training run directory> or ckpt_path=<checkpoint file>")
    if not (run / "config.yaml").is_file():
        raise FileNotFoundError(f"the run's config is missing: {run / 'config.yaml'} (expected beside checkpoints/)")
    return checkpoint, run
