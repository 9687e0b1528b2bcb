"""Faults during a run: signals (status interrupted, resumable last.ckpt, exit 128 + signal), numerical divergence
(status diverged, nothing non-finite checkpointed, no metrics), non-finite predictions in the metrics, and errors
found before Hydra writes anything (a folder holding a run, an unwritable output location, a wrongly typed value).

The slow tests run the real train.py in subprocesses; a signal is sent by the process to itself from inside
LastCheckpoint's step save (a wrapper script), so that the interruption point is exact.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import signal
import subprocess
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.utilities.exceptions import SIGTERMException
from torch.utils.data import DataLoader, TensorDataset

from tests.helpers import train_in
from visionbench.callbacks.nonfinite import Diverged, NonFiniteGuard
from visionbench.metrics import FlowMetrics, SegmentationMetrics
from visionbench.runner.launch_checks import occupied_run_dir_message, unwritable_output_message
from visionbench.runner.signals import Interrupted, stops_on_signals
from visionbench.runner.status import read_status, start_run, write_failure

# ------------------------------------------------------------------------------------------------ NonFiniteGuard


class Regression(pl.LightningModule):
    """A linear model whose loss is NaN at the optimiser steps in ``nan_steps`` (a poisoned batch)."""

    def __init__(self, nan_steps: tuple[int, ...] = (), val_value: float = 0.5) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)
        self.nan_steps = nan_steps
        self.val_value = val_value
        self.weights: dict[int, torch.Tensor] = {}

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        self.weights[self.trainer.global_step] = self.layer.weight.detach().clone()
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        return loss * float("nan") if self.trainer.global_step in self.nan_steps else loss

    def validation_step(self, batch: list[torch.Tensor], batch_idx: int) -> None:
        self.log("val/score", self.val_value)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.parameters(), lr=0.1)


def _loader() -> DataLoader:
    generator = torch.Generator().manual_seed(0)
    return DataLoader(TensorDataset(torch.randn(16, 2, generator=generator), torch.randn(16, 1, generator=generator)))


def _fit(module: Regression, tmp_path: Path, *callbacks: pl.Callback, validate: bool = False) -> pl.Trainer:
    trainer = pl.Trainer(
        max_epochs=1, callbacks=list(callbacks), logger=False, enable_progress_bar=False,
        enable_checkpointing=any(isinstance(callback, ModelCheckpoint) for callback in callbacks),
        enable_model_summary=False, default_root_dir=tmp_path, limit_val_batches=2 if validate else 0,
        num_sanity_val_steps=0,
    )  # fmt: skip
    trainer.fit(module, train_dataloaders=_loader(), val_dataloaders=_loader() if validate else None)
    return trainer


def test_a_nonfinite_loss_stops_the_run_naming_epoch_and_step(tmp_path: Path) -> None:
    with pytest.raises(Diverged, match=r"non-finite training loss \(nan\) at epoch 0, step 5") as caught:
        _fit(Regression(nan_steps=(5,)), tmp_path, NonFiniteGuard())
    assert (caught.value.status, caught.value.epoch, caught.value.step) == ("diverged", 0, 5)


def test_skip_leaves_the_weights_of_a_nonfinite_step_unchanged_up_to_max_skips(tmp_path: Path) -> None:
    guard = NonFiniteGuard(policy="skip", max_skips=2)
    module = Regression(nan_steps=(3, 4))
    _fit(module, tmp_path, guard)
    assert guard.skipped == 2 and torch.isfinite(module.layer.weight).all()
    assert torch.equal(module.weights[3], module.weights[5])  # steps 3 and 4 changed nothing
    assert not torch.equal(module.weights[2], module.weights[3])  # the others trained
    with pytest.raises(Diverged, match=r"step 4 after 1 skipped step\(s\) \(max_skips=1\)"):
        _fit(Regression(nan_steps=(3, 4)), tmp_path, NonFiniteGuard(policy="skip", max_skips=1))


def test_nonfinite_weights_are_never_written_to_a_checkpoint(tmp_path: Path) -> None:
    module = Regression()
    trainer = _fit(module, tmp_path, NonFiniteGuard())
    with torch.no_grad():
        module.layer.weight[0, 0] = float("inf")
    with pytest.raises(
        Diverged, match=r"non-finite weights \(layer.weight\) at epoch 1, step 16; checkpoint not written"
    ):
        trainer.save_checkpoint(tmp_path / "last.ckpt")
    assert not (tmp_path / "last.ckpt").exists()


def test_a_nan_monitored_metric_never_becomes_the_best_checkpoint(tmp_path: Path) -> None:
    best = ModelCheckpoint(dirpath=tmp_path / "checkpoints", monitor="val/score", mode="max")
    with pytest.raises(Diverged, match=r"val/score = nan"):
        _fit(Regression(val_value=float("nan")), tmp_path, NonFiniteGuard(), best, validate=True)
    assert best.best_model_path == "" and not list((tmp_path / "checkpoints").glob("*.ckpt"))


def test_the_guard_rejects_an_unknown_policy() -> None:
    with pytest.raises(ValueError, match="policy must be one of stop, skip, got 'ignore'"):
        NonFiniteGuard(policy="ignore")


# ---------------------------------------------------------------------------------------- signals and statuses


def test_lightnings_sigterm_stop_becomes_an_interrupted_run_with_exit_status_143(tmp_path: Path) -> None:
    def stopped_by_lightning(cfg: object) -> None:
        error = SIGTERMException()
        error.epoch, error.step, error.checkpoint = 1, 7, "checkpoints/last.ckpt (step 7)"
        raise error

    with pytest.raises(Interrupted) as caught:
        stops_on_signals(stopped_by_lightning)(None)
    assert caught.value.exit_code == 143
    start_run(tmp_path)
    write_failure(tmp_path, caught.value)
    status = read_status(tmp_path)
    assert (status["status"], status["epoch"], status["step"]) == ("interrupted", 1, 7)
    expected = "interrupted by SIGTERM at epoch 1, step 7; resumable from checkpoints/last.ckpt (step 7)"
    assert status["reason"] == expected
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored


def test_a_signal_outside_training_interrupts_at_once() -> None:
    def building(cfg: object) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        raise AssertionError("not reached: the handler raises")

    with pytest.raises(Interrupted, match="interrupted by SIGINT; no checkpoint") as caught:
        stops_on_signals(building)(None)
    assert caught.value.exit_code == 130


def test_a_diverged_run_is_recorded_with_its_epoch_and_step(tmp_path: Path) -> None:
    start_run(tmp_path)
    write_failure(tmp_path, Diverged("non-finite training loss (nan) at epoch 0, step 9", epoch=0, step=9))
    status = read_status(tmp_path)
    assert (status["status"], status["epoch"], status["step"]) == ("diverged", 0, 9)
    assert status["traceback"] is None


# ------------------------------------------------------------------------------------- non-finite predictions


def test_nonfinite_flow_is_an_outlier_and_flagged_never_a_perfect_score() -> None:
    target = torch.zeros(1, 2, 1, 4)
    pred = target.clone()
    pred[0, :, 0, :2] = float("nan")  # two of four valid pixels have no usable prediction
    metric = FlowMetrics()
    metric.update(pred, target, torch.ones(1, 1, 4, dtype=torch.bool))
    scores = {key: value.item() for key, value in metric.compute().items()}
    assert math.isnan(scores["EPE"]) and math.isnan(scores["EPE_per_image"])
    assert scores["Fl"] == pytest.approx(0.5) and scores["px1"] == pytest.approx(0.5)
    assert scores["nonfinite"] == pytest.approx(0.5) and scores["nonfinite_per_image"] == pytest.approx(0.5)
    finite = FlowMetrics()
    finite.update(target, target, torch.ones(1, 1, 4, dtype=torch.bool))
    assert finite.compute()["nonfinite"].item() == 0.0


def test_nonfinite_segmentation_logits_count_as_wrong_for_every_class() -> None:
    target = torch.zeros(1, 2, 2, dtype=torch.long)  # all background
    logits = torch.zeros(1, 3, 2, 2)
    logits[0, 0] = 1.0  # background predicted everywhere ...
    logits[0, :, 0, 0] = float("nan")  # ... except one pixel without a usable prediction
    metric = SegmentationMetrics(num_classes=3)
    metric.update(logits, target)
    scores = metric.compute()
    assert scores["aAcc"].item() == pytest.approx(3 / 4) and scores["IoU"][0].item() == pytest.approx(3 / 4)
    assert metric.sample_scores()["pred_area"].tolist() == [[3, 0, 0]]  # the NaN pixel is no class's prediction


# --------------------------------------------------------------------------------- checks before Hydra writes


def test_a_folder_holding_a_run_is_refused_and_an_empty_one_accepted(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / "status.json").write_text("{}")
    message = occupied_run_dir_message([f"hydra.run.dir={run}"], environ={})
    assert message.startswith(f"hydra.run.dir={run} already holds a run (.hydra, status.json)")
    assert occupied_run_dir_message([f"hydra.run.dir={tmp_path / 'empty'}"], environ={}) is None
    assert occupied_run_dir_message([f"hydra.run.dir={run}"], environ={"LOCAL_RANK": "1"}) is None  # DDP child


def test_an_output_location_that_cannot_be_created_is_named(tmp_path: Path) -> None:
    from omegaconf import OmegaConf

    blocker = tmp_path / "a_file"
    blocker.write_text("")
    cfg = OmegaConf.create({"paths": {"log_dir": str(blocker / "logs")}, "task_name": "train"})
    message = unwritable_output_message(cfg, [])
    assert message == (
        f"cannot write the run directory under {blocker}/logs/train/runs (paths.log_dir={blocker}/logs): "
        f"{blocker}: Not a directory"
    )
    cfg.paths.log_dir = str(tmp_path / "fine")
    assert unwritable_output_message(cfg, []) is None


# ------------------------------------------------------------------------------------- train.py in subprocesses

TINY = [
    "data.image_size=32", "data.train_size=16", "data.val_size=4", "data.test_size=4", "data.batch_size=2",
    "model.depth=2", "model.base_channels=4", "trainer.max_epochs=1", "callbacks=minimal", "data.num_workers=0",
    "trainer.num_sanity_val_steps=0",
]  # fmt: skip
TINY_FLOW = [
    "task=flow", "data.image_size=32", "data.train_size=8", "data.val_size=4", "data.test_size=4",
    "data.batch_size=2", "model.width_multiplier=0.25", "model.iters=2", "model.eval_iters=2",
    "trainer.max_epochs=2", "callbacks=minimal", "data.num_workers=0", "trainer.num_sanity_val_steps=0",
]  # fmt: skip
DIVERGING = ["optim=sgd", "optim.lr=1e6"]
SIGNALLER = """
import os, runpy, signal, sys
from visionbench.callbacks.last_checkpoint import LastCheckpoint
signum, when = getattr(signal, sys.argv.pop(1)), int(sys.argv.pop(1))  # signal once the step save of `when` is done
original = LastCheckpoint.on_train_batch_end
def signalling(self, trainer, *args):
    original(self, trainer, *args)
    if trainer.global_step == when and not getattr(self, "signalled", False):
        self.signalled = True
        os.kill(os.getpid(), signum)
LastCheckpoint.on_train_batch_end = signalling
sys.argv[0] = os.environ["TRAIN_SCRIPT"]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def _train(root: Path, arguments: list[str], signal_at: tuple[str, int] | None = None) -> subprocess.CompletedProcess:
    """train.py in ``root``; with ``signal_at=(SIGNAME, step)`` the process sends itself that signal right after
    last.ckpt's save at that step."""
    if signal_at is None:
        return train_in(root, arguments)
    return train_in(root, arguments, SIGNALLER, [signal_at[0], str(signal_at[1])])


def _only_run(root: Path, task_name: str) -> Path:
    (run,) = (root / "outputs" / task_name / "runs").iterdir()
    return run


def _last_line(result: subprocess.CompletedProcess) -> str:
    lines = result.stderr.strip().splitlines()
    return lines[-1] if lines else ""


@pytest.fixture(scope="module")
def uninterrupted_metrics(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("uninterrupted")
    result = _train(root, [*TINY, "trainer.deterministic=true", "callbacks.last_checkpoint.every_n_train_steps=4"])
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((_only_run(root, "train") / "metrics.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize(("name", "code"), [("SIGTERM", 143), ("SIGINT", 130)])
def test_a_signal_mid_epoch_saves_a_resumable_checkpoint_and_ckpt_path_last_finishes(
    tmp_path: Path, name: str, code: int, uninterrupted_metrics: dict
) -> None:
    # last.ckpt every 4 steps: the state of step 3 can only come from the interruption
    arguments = [*TINY, "trainer.deterministic=true", "callbacks.last_checkpoint.every_n_train_steps=4"]
    stopped = _train(tmp_path, arguments, signal_at=(name, 3))
    assert stopped.returncode == code, stopped.stderr[-3000:]
    run = _only_run(tmp_path, "train")
    status = read_status(run)
    assert (status["status"], status["epoch"], status["step"]) == ("interrupted", 0, 3)
    expected = f"interrupted by {name} at epoch 0, step 3; resumable from checkpoints/last.ckpt (step 3)"
    assert status["reason"] == expected
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 3
    assert not (run / "metrics.json").exists()
    assert _last_line(stopped).startswith("train.py: interrupted by")
    resumed = _train(tmp_path, [*arguments, "ckpt_path=last"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert _only_run(tmp_path, "train") == run and read_status(run)["status"] == "done"
    assert json.loads((run / "metrics.json").read_text()) == uninterrupted_metrics  # resumed exactly
    assert json.loads((run / "run.json").read_text())["resumes"][0]["step"] == 3
    log = (run / "train.log").read_text()  # train.log holds the run's log, both attempts
    assert "`Trainer.fit` stopped" in log and "==== resumed from checkpoints/last.ckpt (epoch 0, step 3)" in log


def _all_finite(checkpoint: Path) -> bool:
    weights = torch.load(checkpoint, weights_only=True)["state_dict"]
    return all(bool(torch.isfinite(value).all()) for value in weights.values() if value.is_floating_point())


@pytest.mark.slow
@pytest.mark.parametrize("task", ["segmentation", "flow"])
def test_a_diverging_run_ends_diverged_without_metrics_or_nonfinite_checkpoints(tmp_path: Path, task: str) -> None:
    arguments = [*(TINY_FLOW if task == "flow" else TINY), *DIVERGING]
    result = _train(tmp_path, arguments)
    assert result.returncode == 1, result.stderr[-3000:]
    run = _only_run(tmp_path, "train")
    status = read_status(run)
    assert status["status"] == "diverged" and status["step"] is not None
    assert f"at epoch {status['epoch']}, step {status['step']}" in status["reason"]
    assert _last_line(result) == f"train.py: diverged: {status['reason']} (run directory: {run})"
    assert not (run / "metrics.json").exists() and not (run / "run.json").exists()
    assert all(_all_finite(checkpoint) for checkpoint in (run / "checkpoints").glob("*.ckpt"))


@pytest.mark.slow
def test_skip_policy_skips_then_stops(tmp_path: Path) -> None:
    policy = ["callbacks.nonfinite.policy=skip", "callbacks.nonfinite.max_skips=2"]
    result = _train(tmp_path, [*TINY, *DIVERGING, *policy])
    assert result.returncode == 1, result.stderr[-3000:]
    status = read_status(_only_run(tmp_path, "train"))
    assert status["status"] == "diverged" and "after 2 skipped step(s) (max_skips=2)" in status["reason"]
    assert (result.stdout + result.stderr).count("optimiser step skipped") == 2


def _tree(root: Path) -> dict[str, str]:
    files = [path for path in root.rglob("*") if path.is_file()]
    return {str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest() for path in files}


@pytest.mark.slow
def test_errors_found_before_the_run_are_one_line_and_write_nothing(tmp_path: Path) -> None:
    run = tmp_path / "outputs" / "train" / "runs" / "earlier"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text("seed: 1\n")
    (run / "train.log").write_text("the earlier run's log\n")
    (run / "status.json").write_text('{"status": "done"}\n')
    before = _tree(tmp_path / "outputs")
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    cases = {
        f"hydra.run.dir={run}": f"hydra.run.dir={run} already holds a run (.hydra, status.json)",
        f"paths.log_dir={blocker}/logs": f"cannot write the run directory under {blocker}/logs/train/runs",
        "data.batch_size=abc": "wrong type for 'data.batch_size': expected int, got 'abc'",
    }
    for argument, expected in cases.items():
        result = _train(tmp_path, [*TINY, argument])
        assert result.returncode == 1, result.stderr[-3000:]
        assert len(result.stderr.strip().splitlines()) == 1 and expected in result.stderr, result.stderr[-3000:]
    assert _tree(tmp_path / "outputs") == before  # nothing rewritten, appended or added
