"""Exact resume (ckpt_path=last | <run dir> | <file>) and atomic checkpoints.

The slow tests run the real train.py in subprocesses: an uninterrupted run, and a run SIGKILLed right after a given
checkpoint was written (a wrapper kills the process from inside the save hook, so that the kill point is exact), then
resumed; metrics.json and the final weights must be equal to all digits.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf
from torch.utils.data import Dataset

from tests.helpers import train_in
from visionbench.callbacks.exact_resume import capture_random_states, restore_random_states
from visionbench.callbacks.last_checkpoint import LastCheckpoint
from visionbench.data.loaders import EpochSeededSamples, EpochShuffle, ResumableLoader, epoch_seed
from visionbench.runner import checkpoint_io
from visionbench.runner.checkpoint_io import AtomicCheckpointIO, CheckpointWriteError
from visionbench.runner.resume import (
    ResumeError,
    ResumePoint,
    check_resumable,
    config_differences,
    resolve_resume,
    resumes_in_place,
)

# ---------------------------------------------------------------------------------------------------- data order


class Recording(Dataset):
    """Samples are their indices; records every index loaded and every reseed."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.loaded: list[int] = []
        self.seeds: list[int] = []

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> int:
        self.loaded.append(index)
        return index

    def reseed(self, seed: int) -> None:
        self.seeds.append(seed)


def test_the_order_of_an_epoch_depends_on_the_seed_and_the_epoch_only() -> None:
    sampler = EpochShuffle(10, seed=3)
    orders = []
    for epoch in range(3):
        sampler.set_epoch(epoch)
        orders.append([index for _, index in sampler])
    fresh = EpochShuffle(10, seed=3)
    fresh.set_epoch(2)  # a resumed run jumps to epoch 2 without replaying 0 and 1
    assert [index for _, index in fresh] == orders[2]
    assert orders[0] != orders[1] != orders[2] and all(sorted(order) == list(range(10)) for order in orders)
    assert [index for _, index in EpochShuffle(10, seed=4)] != orders[0]
    fresh.skip_next(4)
    assert [index for _, index in fresh] == orders[2][4:]
    assert [index for _, index in fresh] == orders[2]  # the skip applies to one pass only


def test_a_resumed_loader_skips_the_batches_already_trained_on_without_loading_them() -> None:
    dataset = Recording(12)

    def loader() -> ResumableLoader:
        return ResumableLoader(
            EpochSeededSamples(dataset, seed=7), batch_size=3, sampler=EpochShuffle(12, seed=7), trainer=lambda: None
        )

    epoch_1 = EpochShuffle(12, seed=7).order(1)
    resumed = loader()
    resumed.load_state_dict({"epoch": 1, "batches": 2})
    dataset.loaded.clear()
    assert [batch.tolist() for batch in resumed] == [epoch_1[6:9], epoch_1[9:12]]
    assert dataset.loaded == epoch_1[6:]  # the six samples of the first two batches were never loaded
    assert [batch.tolist() for batch in resumed][0] == epoch_1[0:3]  # the next pass is a whole epoch again
    assert resumed.state_dict() == {"epoch": 1, "batches": 0}  # no trainer: nothing trained on


def test_a_samples_augmentation_seed_depends_on_seed_epoch_and_index_not_on_what_was_loaded_before() -> None:
    dataset = Recording(5)
    samples = EpochSeededSamples(dataset, seed=11)
    samples[(2, 4)]
    samples[(0, 1)]
    samples[(2, 4)]
    assert dataset.seeds == [epoch_seed(11, 2, 4), epoch_seed(11, 0, 1), epoch_seed(11, 2, 4)]
    assert len({epoch_seed(11, 2, 4), epoch_seed(11, 4, 2), epoch_seed(12, 2, 4)}) == 3


def test_random_states_survive_a_weights_only_checkpoint(tmp_path: Path) -> None:
    import random

    import numpy as np

    torch.manual_seed(1)
    random.seed(2)
    np.random.seed(3)
    torch.save({"states": capture_random_states()}, tmp_path / "s.pt")
    expected = (torch.rand(3), random.random(), np.random.rand())
    restore_random_states(torch.load(tmp_path / "s.pt", weights_only=True)["states"])
    assert (torch.rand(3), random.random(), np.random.rand())[1:] == expected[1:]
    restore_random_states(torch.load(tmp_path / "s.pt", weights_only=True)["states"])
    assert torch.equal(torch.rand(3), expected[0])


# ----------------------------------------------------------------------------------------------- last.ckpt + atomic


class Tiny(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        return self.layer(batch).sum()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_last_checkpoint_is_saved_every_n_steps_and_at_every_epoch_end(tmp_path: Path, monkeypatch) -> None:
    saved: list[tuple[int, int]] = []
    monkeypatch.setattr(pl.Trainer, "save_checkpoint", lambda self, path, *a, **k: saved.append(
        (self.current_epoch, self.global_step)))  # fmt: skip
    trainer = pl.Trainer(
        max_epochs=2, callbacks=[LastCheckpoint(tmp_path, every_n_train_steps=2)], logger=False,
        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
    )  # fmt: skip
    trainer.fit(Tiny(), train_dataloaders=torch.utils.data.DataLoader(torch.ones(5, 2), batch_size=1))
    # 5 steps per epoch: steps 2, 4 (not 5: the epoch end follows), epoch end 5; 6, 8, epoch end 10 (not step 10)
    assert saved == [(0, 2), (0, 4), (0, 5), (1, 6), (1, 8), (1, 10)]


def test_a_failed_checkpoint_write_keeps_the_previous_file_and_leaves_no_partial_one(
    tmp_path: Path, monkeypatch
) -> None:
    path = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"step": 1}, path)
    before = path.read_bytes()

    def full_disk(content: object, stream) -> None:
        stream.write(b"PK\x03\x04 half a checkpoint")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(checkpoint_io.torch, "save", full_disk)
    with pytest.raises(CheckpointWriteError) as caught:
        AtomicCheckpointIO().save_checkpoint({"step": 2}, path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message and "No space left on device" in message
    assert "previous version is kept" in message
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]
    assert torch.load(path, weights_only=True) == {"step": 1}


def test_trainer_checkpoints_go_through_the_atomic_writer() -> None:
    plugins = checkpoint_io.checkpoint_plugins(None)
    trainer = pl.Trainer(plugins=plugins, logger=False, accelerator="cpu")
    assert isinstance(trainer.strategy.checkpoint_io, AtomicCheckpointIO)


# ------------------------------------------------------------------------------------------------- resolution


def _run(root: Path, name: str, checkpoints: tuple[str, ...] = ("last.ckpt",)) -> Path:
    run = root / "train" / "runs" / name
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("seed: 1\n")
    for index, checkpoint in enumerate(checkpoints):
        torch.save({"global_step": index}, run / "checkpoints" / checkpoint)
    return run


def test_last_resolves_to_the_newest_checkpoint_of_the_latest_run_that_has_one(tmp_path: Path) -> None:
    older = _run(tmp_path, "2026-01-01_10-00-00")
    newer = _run(tmp_path, "2026-01-02_10-00-00", checkpoints=("epoch_000.ckpt",))
    _run(tmp_path, "2026-01-03_10-00-00", checkpoints=())  # refused before it saved anything
    assert resolve_resume("last", tmp_path, "train") == ResumePoint(newer / "checkpoints" / "epoch_000.ckpt",
                                                                   newer.resolve())  # fmt: skip
    assert resolve_resume(str(older), tmp_path, "train") == ResumePoint(older / "checkpoints" / "last.ckpt",
                                                                        older.resolve())  # fmt: skip
    file = older / "checkpoints" / "last.ckpt"
    assert resolve_resume(str(file), tmp_path, "train").run_dir == older.resolve()
    foreign = tmp_path / "weights.ckpt"
    torch.save({}, foreign)
    assert resolve_resume(str(foreign), tmp_path, "train") == ResumePoint(foreign, None)  # a new run starts from it


def test_resolution_errors_name_what_was_looked_for(tmp_path: Path) -> None:
    with pytest.raises(ResumeError, match=f"no runs to resume: {tmp_path / 'other' / 'runs'} does not exist"):
        resolve_resume("last", tmp_path, "other")
    empty = _run(tmp_path, "2026-01-01_10-00-00", checkpoints=())
    with pytest.raises(ResumeError, match=r"no run under .*runs has a checkpoint \(checkpoints/\*\.ckpt\)"):
        resolve_resume("last", tmp_path, "train")
    with pytest.raises(ResumeError, match=r"no checkpoint in .*checkpoints \(looked for \*\.ckpt\)"):
        resolve_resume(str(empty), tmp_path, "train")
    with pytest.raises(ResumeError, match="nowhere.ckpt does not exist; expected a checkpoint file, a run directory"):
        resolve_resume(str(tmp_path / "nowhere.ckpt"), tmp_path, "train")


def test_a_resume_that_would_overwrite_change_or_extend_the_run_is_refused(tmp_path: Path) -> None:
    run = _run(tmp_path, "2026-01-01_10-00-00", checkpoints=("epoch_000.ckpt", "last.ckpt"))
    config = {"seed": 1, "ckpt_path": None, "sched": {"_target_": "OneCycleLR"}, "trainer": {"max_epochs": 2}}
    last = ResumePoint(run / "checkpoints" / "last.ckpt", run)
    assert check_resumable(last, config, {**config, "ckpt_path": "x"}) == {"global_step": 1}
    with pytest.raises(ResumeError, match=r"epoch_000.ckpt \(step 0\) is older than the run's last state"):
        check_resumable(ResumePoint(run / "checkpoints" / "epoch_000.ckpt", run), config, config)
    with pytest.raises(ResumeError, match=r"in 1 key\(s\): seed: 1 -> 2; a resumed run keeps its config"):
        check_resumable(last, config, {**config, "seed": 2})
    longer = {**config, "trainer": {"max_epochs": 3}}
    with pytest.raises(ResumeError, match=r"cannot extend .*trainer.max_epochs: 2 -> 3.*OneCycleLR.*sized for"):
        check_resumable(last, config, longer)
    (run / "metrics.json").write_text("{}")
    with pytest.raises(ResumeError, match=r"is a finished run \(metrics.json present\): nothing to resume"):
        check_resumable(last, config, config)


def test_config_differences_name_added_removed_and_changed_keys() -> None:
    before = {"a": {"b": 1, "c": [1, 2]}, "gone": 1, "ckpt_path": None}
    after = {"a": {"b": 1, "c": [1, 3]}, "new": "x", "ckpt_path": "/r/last.ckpt"}
    assert config_differences(before, after) == ["a.c: [1, 2] -> [1, 3]", "gone: 1 -> '<absent>'",
                                                 "new: '<absent>' -> 'x'"]  # fmt: skip


def test_a_run_resumes_in_place_only_from_a_checkpoint_of_its_own_directory(tmp_path: Path) -> None:
    run = _run(tmp_path, "2026-01-01_10-00-00")
    own = OmegaConf.create({"ckpt_path": str(run / "checkpoints" / "last.ckpt"), "paths": {"output_dir": str(run)}})
    assert resumes_in_place(own)
    assert not resumes_in_place(OmegaConf.create({"ckpt_path": None, "paths": {"output_dir": str(run)}}))
    elsewhere = OmegaConf.create({"ckpt_path": own.ckpt_path, "paths": {"output_dir": str(tmp_path / "new")}})
    assert not resumes_in_place(elsewhere)


# ------------------------------------------------------------------------------------- train.py in subprocesses

SEGMENTATION = [
    "data.image_size=32", "data.train_size=16", "data.val_size=4", "data.test_size=4", "data.batch_size=4",
    "model.depth=2", "model.base_channels=4", "loss=ce_then_dice", "loss.schedule.switch_epoch=1",
]  # fmt: skip
FLOW = [
    "task=flow", "data.image_size=32", "data.train_size=8", "data.val_size=4", "data.test_size=4",
    "data.batch_size=2", "model.width_multiplier=0.25", "model.iters=2", "model.eval_iters=2",
]  # fmt: skip
COMMON = [
    "trainer.max_epochs=2", "callbacks=minimal", "trainer.deterministic=true", "data.num_workers=0",
    "callbacks.last_checkpoint.every_n_train_steps=2", "trainer.num_sanity_val_steps=0",
]  # fmt: skip
KILLER = """
import os, runpy, signal, sys
from visionbench.callbacks.last_checkpoint import LastCheckpoint
hook, when = sys.argv.pop(1), int(sys.argv.pop(1))  # kill right after last.ckpt is saved at this step / epoch end
original = getattr(LastCheckpoint, hook)
def killing(self, trainer, *args):
    original(self, trainer, *args)
    if (trainer.global_step if hook == "on_train_batch_end" else trainer.current_epoch) == when:
        os.kill(os.getpid(), signal.SIGKILL)
setattr(LastCheckpoint, hook, killing)
sys.argv[0] = os.environ["TRAIN_SCRIPT"]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def _train(root: Path, arguments: list[str], kill: tuple[str, int] | None = None) -> subprocess.CompletedProcess:
    """Run train.py with ``arguments`` in ``root``; with ``kill=(hook, when)``, through a wrapper that SIGKILLs the
    process right after LastCheckpoint's ``hook`` saved at that step / epoch."""
    if kill is None:
        return train_in(root, arguments)
    return train_in(root, arguments, KILLER, [kill[0], str(kill[1])])


def _run_dirs(root: Path, task_name: str) -> list[Path]:
    runs = root / "outputs" / task_name / "runs"
    return sorted(runs.iterdir()) if runs.is_dir() else []


def _outcome(run: Path) -> tuple[dict, dict]:
    state = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    return json.loads((run / "metrics.json").read_text()), state


def _uninterrupted(root: Path, arguments: list[str]) -> Path:
    result = _train(root, [*arguments, "task_name=full"])
    assert result.returncode == 0, result.stderr[-3000:]
    return _run_dirs(root, "full")[0]


@pytest.fixture(scope="module")
def segmentation_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _uninterrupted(tmp_path_factory.mktemp("segmentation"), [*SEGMENTATION, *COMMON])


@pytest.fixture(scope="module")
def flow_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _uninterrupted(tmp_path_factory.mktemp("flow"), [*FLOW, *COMMON])


def _assert_same_outcome(resumed: Path, uninterrupted: Path) -> None:
    metrics, weights = _outcome(resumed)
    expected_metrics, expected_weights = _outcome(uninterrupted)
    assert metrics == expected_metrics  # every key, all digits
    assert weights.keys() == expected_weights.keys()
    assert all(torch.equal(weights[key], expected_weights[key]) for key in weights)


def _kill_and_resume(root: Path, arguments: list[str], kill: tuple[str, int], resume_from: str) -> Path:
    """Run, SIGKILL at ``kill``, resume with ``ckpt_path=last | <run dir> | <its last.ckpt>``; the run directory.
    Each call uses its own task_name (the kill hook's), so that ``last`` finds this run."""
    name = f"killed_{kill[0]}_{kill[1]}"
    arguments = [*arguments, f"task_name={name}"]
    killed = _train(root, arguments, kill=kill)
    assert killed.returncode == -9, killed.stderr[-3000:]
    (run,) = _run_dirs(root, name)
    assert not (run / "metrics.json").exists()
    target = {"last": "last", "run": str(run), "file": str(run / "checkpoints" / "last.ckpt")}[resume_from]
    resumed = _train(root, [*arguments, f"ckpt_path={target}"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert _run_dirs(root, name) == [run]  # continued in the original directory, no new one
    return run


@pytest.mark.slow
def test_segmentation_killed_mid_epoch_resumes_to_identical_results(segmentation_run: Path) -> None:
    root = segmentation_run.parents[3]
    run = _kill_and_resume(root, [*SEGMENTATION, *COMMON], ("on_train_batch_end", 2), "last")
    _assert_same_outcome(run, segmentation_run)
    info = json.loads((run / "run.json").read_text())
    assert [(r["from"], r["epoch"], r["step"]) for r in info["resumes"]] == [("checkpoints/last.ckpt", 0, 2)]
    assert info["best_checkpoint"] == json.loads((segmentation_run / "run.json").read_text())["best_checkpoint"]
    log = (run / "train.log").read_text()
    assert "==== resumed from checkpoints/last.ckpt (epoch 0, step 2)" in log
    assert json.loads((run / "status.json").read_text())["status"] == "done"


@pytest.mark.slow
def test_flow_killed_mid_epoch_resumes_from_its_run_directory_keeping_the_best(flow_run: Path) -> None:
    root = flow_run.parents[3]
    # 4 steps per epoch: killed after step 6's last.ckpt, in epoch 1, after epoch 0 saved its best checkpoint
    run = _kill_and_resume(root, [*FLOW, *COMMON], ("on_train_batch_end", 6), "run")
    _assert_same_outcome(run, flow_run)
    assert "ckpt_path: null" in (run / "config.yaml").read_text()  # the first attempt's config is kept
    info, expected = (json.loads((r / "run.json").read_text()) for r in (run, flow_run))
    assert (info["best_checkpoint"], info["best_epoch"]) == (expected["best_checkpoint"], expected["best_epoch"])
    assert [(r["epoch"], r["step"]) for r in info["resumes"]] == [(1, 6)]


@pytest.mark.slow
def test_a_final_epoch_checkpoint_of_an_unfinished_run_is_evaluated(flow_run: Path) -> None:
    root = flow_run.parents[3]
    run = _kill_and_resume(root, [*FLOW, *COMMON], ("on_train_epoch_end", 1), "file")  # killed before evaluating
    _assert_same_outcome(run, flow_run)
    assert (run / "scores.npz").is_file() and json.loads((run / "run.json").read_text())["resumes"][0]["epoch"] == 1


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()
    }


@pytest.mark.slow
def test_extending_or_resuming_a_finished_run_is_refused_writing_nothing(segmentation_run: Path) -> None:
    root = segmentation_run.parents[3]
    before = _tree(root / "outputs")
    last = segmentation_run / "checkpoints" / "last.ckpt"
    arguments = [*SEGMENTATION, *COMMON, "task_name=full"]
    longer = _train(
        root, [*[a for a in arguments if "max_epochs" not in a], "trainer.max_epochs=3", f"ckpt_path={last}"]
    )
    assert longer.returncode == 1
    assert "cannot extend" in longer.stderr and "trainer.max_epochs: 2 -> 3" in longer.stderr
    assert "learning-rate schedule" in longer.stderr and len(longer.stderr.strip().splitlines()) == 1
    finished = _train(root, [*arguments, "ckpt_path=last"])
    assert finished.returncode == 1 and "is a finished run" in finished.stderr
    assert _tree(root / "outputs") == before  # no file changed, none added, no new run directory
