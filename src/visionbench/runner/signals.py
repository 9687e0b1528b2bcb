"""Stopping a run on SIGTERM or SIGINT (a scheduler's time limit or pre-emption, ``scancel``, Ctrl-C) with a record of
where it stopped and a non-zero exit.

- During ``trainer.fit`` Lightning's signal connector owns SIGTERM: it sets ``trainer.received_sigterm`` and its loops
  raise ``SIGTERMException`` at the next batch boundary (after the batch's optimiser step and ``on_train_batch_end``),
  or during validation. On SLURM with ``SLURMEnvironment(auto_requeue=True)`` the SIGUSR1 sent before the time limit
  is Lightning's (checkpoint + ``scontrol requeue``) and the SIGTERM that follows takes this same path. SIGINT is routed
  to it too: the handler installed here sends SIGTERM to this process, so Ctrl-C also stops at a batch boundary
  instead of wherever ``KeyboardInterrupt`` would land; a second Ctrl-C stops at once.
  :class:`~visionbench.callbacks.interruption.InterruptionCheckpoint` saves ``last.ckpt`` at that boundary.
- Outside ``fit`` (building the run, evaluating the best checkpoint) the handler raises :class:`Interrupted` at once:
  there is no training state to save (a run whose training finished is evaluated by ``ckpt_path=<run dir>``).
- :func:`stops_on_signals` turns Lightning's ``SIGTERMException`` (a ``SystemExit`` that would exit with status 0)
  into :class:`Interrupted`, which the run records as ``status: interrupted`` with the epoch and step
  (:func:`~visionbench.runner.status.write_failure`) and the entry point turns into exit status 128 + the signal
  number (143 for SIGTERM, 130 for SIGINT): the shell's convention for a process ended by a signal, so schedulers
  and scripts see an interrupted run, not a success.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import TypeVar

from omegaconf import DictConfig
from pytorch_lightning.utilities.exceptions import SIGTERMException

from visionbench.runner.status import INTERRUPTED, RunStopped

log = logging.getLogger(__name__)
Result = TypeVar("Result")
SIGNALS = (signal.SIGTERM, signal.SIGINT)
"""The signals that stop a run gracefully."""


class Interrupted(RunStopped):
    """A run stopped by a signal: recorded as ``interrupted``; the process exits with 128 + the signal number."""

    status = INTERRUPTED

    def __init__(
        self, signum: int, epoch: int | None = None, step: int | None = None, checkpoint: str | None = None
    ) -> None:
        self.signum = int(signum)
        self.checkpoint = checkpoint
        where = f" at epoch {epoch}, step {step}" if step is not None else ""
        saved = f"; resumable from {checkpoint}" if checkpoint else "; no checkpoint of this run to resume from"
        super().__init__(f"interrupted by {signal.Signals(self.signum).name}{where}{saved}", epoch=epoch, step=step)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


@dataclass
class _SignalState:
    """What the handler knows: the first signal received, and whether a fit is running (Lightning then stops it at
    a batch boundary)."""

    received: int | None = None
    graceful: bool = False


_state = _SignalState()


def stop_gracefully(active: bool) -> None:
    """Tell the handler that a ``trainer.fit`` is (``True``) or is no longer (``False``) running, so that a signal stops
    it at the next batch boundary rather than at once. Called by
    :class:`~visionbench.callbacks.interruption.InterruptionCheckpoint`."""
    _state.graceful = active


def received_signal() -> int | None:
    """The first stop signal received by this run (None: none)."""
    return _state.received


def _handle(signum: int, frame: FrameType | None) -> None:
    first = _state.received is None
    if first:
        _state.received = signum
        log.warning("received %s: stopping the run", signal.Signals(signum).name)
    if not _state.graceful or (signum == signal.SIGINT and not first):
        raise Interrupted(_state.received)
    if signum == signal.SIGINT:  # Lightning's SIGTERM handler stops the fit at the next batch boundary
        os.kill(os.getpid(), signal.SIGTERM)


def stops_on_signals(run: Callable[[DictConfig], Result]) -> Callable[[DictConfig], Result]:
    """Decorate a ``run(cfg)`` (inside :func:`~visionbench.runner.errors.reports_run_dir`, which records the status):
    handle SIGTERM and SIGINT while it runs (see the module docstring) and raise :class:`Interrupted` with the epoch,
    step and checkpoint that :class:`~visionbench.callbacks.interruption.InterruptionCheckpoint` attached to Lightning's
    ``SIGTERMException``. Outside the main thread (where handlers cannot be installed) ``run`` is called as it is."""

    @functools.wraps(run)
    def wrapper(cfg: DictConfig) -> Result:
        if threading.current_thread() is not threading.main_thread():
            return run(cfg)
        previous = {signum: signal.signal(signum, _handle) for signum in SIGNALS}
        _state.received, _state.graceful = None, False
        try:
            return run(cfg)
        except SIGTERMException as error:
            fields = {name: getattr(error, name, None) for name in ("epoch", "step", "checkpoint")}
            raise Interrupted(_state.received or signal.SIGTERM, **fields) from None
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            _state.received, _state.graceful = None, False

    return wrapper
