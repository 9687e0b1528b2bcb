"""Checkpoints written so that a crash or a full disk never leaves a truncated file under a checkpoint's name.

Lightning's ``TorchCheckpointIO`` serialises to memory and then writes straight into the target file: a full disk or a
kill during that write leaves a truncated ``last.ckpt`` in place of the previous good one. :class:`AtomicCheckpointIO`
writes through :func:`~visionbench.utils.atomic.write_atomically` (a temporary file beside the target, flushed,
fsynced, renamed over it), so the target is either the previous complete checkpoint or the new complete one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from visionbench.utils.atomic import OutputWriteError, write_atomically
from visionbench.utils.checkpoints import CheckpointError


class CheckpointWriteError(CheckpointError):
    """A checkpoint that could not be written (full disk, read-only or missing folder...); the message is one line
    naming the file and the system's reason, and says that the previous version of the file, if any, is intact."""


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` whose saves are atomic: ``torch.save`` into a temporary file in the checkpoint's folder,
    fsync, rename over the target. Loading is Lightning's (``weights_only`` as the trainer passes it)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options, got {storage_options!r}")
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, lambda stream: torch.save(checkpoint, stream), replace=True)
        except OutputWriteError as error:
            kept = "the previous version is kept" if path.exists() else "no earlier version exists"
            raise CheckpointWriteError(path, f"could not be written ({error.reason}); {kept}") from error
        except OSError as error:  # the folder could not be created
            raise CheckpointWriteError(path, f"could not be written ({error.strerror or error})") from error


def checkpoint_plugins(configured: list | None) -> list:
    """The trainer's ``plugins``: the configured ones, plus :class:`AtomicCheckpointIO` unless one of them already is
    a CheckpointIO (a user's choice is kept)."""
    from lightning_fabric.plugins.io.checkpoint_io import CheckpointIO

    plugins = list(configured or [])
    if not any(isinstance(plugin, CheckpointIO) for plugin in plugins):
        plugins.append(AtomicCheckpointIO())
    return plugins
