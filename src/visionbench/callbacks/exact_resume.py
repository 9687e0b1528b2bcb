"""What a checkpoint must carry beyond Lightning's own state for a resumed run to continue exactly as the interrupted
one would have: the global random streams, and the record of the run's resumes.

Lightning restores the weights, optimiser, LR schedulers, loop counters (epoch, step, the logger's step) and the
training loader's position (:class:`~visionbench.data.loaders.ResumableLoader`); the data order and augmentations are
functions of ``(seed, epoch)`` (:mod:`visionbench.data.loaders`) and the loss schedule of the epoch. What is left are
the Python, NumPy and torch (CPU and CUDA) random states used by the training step itself (dropout, stochastic
depth...): :class:`ExactResume` saves them with every checkpoint and puts them back just before the first training
batch after a resume, where the uninterrupted run drew its next number.

Two gaps of Lightning 2.6 are closed at the start of a resumed fit (``on_train_start``): the training loader is
requested and iterated before the checkpoint is restored (``trainer.estimated_stepping_batches``, which the one-cycle
schedule reads, sets up the data), so the restored loader position would never be applied and the resumed epoch
would start from a pass drawn for epoch 0: the loader is set up again; and a resume inside an epoch skips
``on_train_epoch_start``, where tasks set the epoch of their epoch-scheduled loss (CE -> Dice): every submodule with a
``set_epoch`` is given the current epoch.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback

log = logging.getLogger(__name__)


def capture_random_states() -> dict[str, Any]:
    """The Python, NumPy and torch (CPU, and every CUDA device when available) random states, as checkpoint data
    (tensors, lists and numbers only, so that ``weights_only=True`` loads them)."""
    version, internal, gauss = random.getstate()
    kind, keys, position, has_gauss, cached = np.random.get_state()
    states: dict[str, Any] = {
        "python": {"version": version, "state": list(internal), "gauss": gauss},
        "numpy": {
            "kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "position": int(position),
            "has_gauss": int(has_gauss), "cached": float(cached),
        },
        "torch": torch.get_rng_state(),
    }  # fmt: skip
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_random_states(states: dict[str, Any]) -> None:
    """Put back what :func:`capture_random_states` captured."""
    python = states["python"]
    random.setstate((python["version"], tuple(python["state"]), python["gauss"]))
    numpy = states["numpy"]
    keys = numpy["keys"].numpy().astype(np.uint32)
    np.random.set_state((numpy["kind"], keys, numpy["position"], numpy["has_gauss"], numpy["cached"]))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


class ExactResume(Callback):
    """Save the global random states with each checkpoint and restore them at the first training batch after a
    resume; keep the list of the run's resumes (``{"from", "epoch", "step", "time"}``, in :attr:`resumes`, also
    saved in checkpoints so that a run resumed twice lists both), and mark each resume with a section header in the
    run's log."""

    def __init__(self) -> None:
        self.resumes: list[dict[str, Any]] = []
        self._loaded_from: dict[str, Any] | None = None
        self._restart_data = False
        self._states_to_restore: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        return {"random_states": capture_random_states(), "resumes": list(self.resumes)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if self._loaded_from is None:  # Lightning also restores callbacks when validating a checkpoint: not a resume
            return
        self._states_to_restore = state_dict.get("random_states")
        self.resumes = list(state_dict.get("resumes", []))

    def on_load_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict) -> None:
        if trainer.state.fn != "fit":
            return
        path = Path(trainer.ckpt_path) if trainer.ckpt_path else None
        run_dir = Path(trainer.default_root_dir).resolve()
        shown = path.resolve().relative_to(run_dir) if path and path.resolve().is_relative_to(run_dir) else path
        self._restart_data = True
        self._loaded_from = {
            "from": str(shown),
            "epoch": int(checkpoint.get("epoch", 0)),
            "step": int(checkpoint.get("global_step", 0)),
        }

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._loaded_from is None:
            return
        record = {**self._loaded_from, "time": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        self.resumes.append(record)
        self._loaded_from = None
        log.info(
            "==== resumed from %s (epoch %d, step %d) at %s ====",
            record["from"], record["epoch"], record["step"], record["time"],
        )  # fmt: skip

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._restart_data:
            return
        self._restart_data = False
        trainer.fit_loop._combined_loader = None  # set up again, now that the loader position is restored
        trainer.fit_loop.setup_data()
        for module in pl_module.modules():
            if module is not pl_module and callable(getattr(module, "set_epoch", None)):
                module.set_epoch(trainer.current_epoch)

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self._states_to_restore is not None:
            restore_random_states(self._states_to_restore)
            self._states_to_restore = None


def resume_history(trainer: pl.Trainer) -> list[dict[str, Any]]:
    """The resumes recorded by the trainer's :class:`ExactResume` (empty without one, or for a run never resumed)."""
    return next((list(callback.resumes) for callback in trainer.callbacks if isinstance(callback, ExactResume)), [])
