"""Checkpoints are read as data only: a crafted pickle is refused even with TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 (through
read_checkpoint, Lightning's fit and the real train.py / evaluate.py), and each broken file is one line naming it."""

import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf
from pytorch_lightning.demos.boring_classes import BoringModel

from tests.helpers import REPO, TINY, compose_config, subprocess_env
from visionbench.utils.checkpoints import CheckpointError, read_checkpoint

FORCE_UNSAFE = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"


class _CreatesMarker:
    """Unpickling this runs code: it creates the file ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return exec, (f"open({str(self.marker)!r}, 'w').close()",)


def _crafted_checkpoint(path: Path, marker: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {"weight": torch.zeros(2)}, "epoch": 0, "payload": _CreatesMarker(marker)}, path)
    return path


def test_crafted_pickle_is_refused_with_the_unsafe_override_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(FORCE_UNSAFE, "1")
    marker = tmp_path / "marker"
    checkpoint = _crafted_checkpoint(tmp_path / "evil.ckpt", marker)
    with pytest.raises(CheckpointError) as error:
        read_checkpoint(checkpoint)
    message = str(error.value)
    assert message.startswith(f"checkpoint {checkpoint} is refused: it holds a pickled Python object (exec)")
    assert "weights_only=True" in message and "torch.save({'state_dict'" in message and "\n" not in message
    assert not marker.exists()


def test_lightning_fit_with_weights_only_refuses_it_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The project passes ``weights_only=True`` to fit/validate/test; Lightning hands it to torch.load explicitly."""
    monkeypatch.setenv(FORCE_UNSAFE, "1")
    marker = tmp_path / "marker"
    checkpoint = _crafted_checkpoint(tmp_path / "evil.ckpt", marker)
    trainer = pl.Trainer(
        max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False, default_root_dir=tmp_path
    )
    with pytest.raises(Exception, match="Unsupported global: GLOBAL exec"):
        trainer.fit(BoringModel(), ckpt_path=checkpoint, weights_only=True)
    assert not marker.exists()


def _refused_in_a_subprocess(script: str, checkpoint: Path, marker: Path, tmp_path: Path) -> None:
    env = subprocess_env() | {FORCE_UNSAFE: "1"}
    command = [sys.executable, script, f"ckpt_path={checkpoint}", f"paths.log_dir={tmp_path / 'logs'}", *TINY]
    if script == "evaluate.py":
        command = command[:4]  # the run's config.yaml defines the rest
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 1, result.stderr
    assert not marker.exists()
    assert "Traceback" not in result.stdout + result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith(f"{script}: error:")]
    assert line.startswith(f"{script}: error: checkpoint {checkpoint} is refused: it holds a pickled Python object")


def test_train_py_refuses_a_crafted_checkpoint(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    _refused_in_a_subprocess("train.py", _crafted_checkpoint(tmp_path / "evil.ckpt", marker), marker, tmp_path)


def test_evaluate_py_refuses_a_crafted_checkpoint(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    config = compose_config("train", TINY, run)
    (run / "config.yaml").write_text(OmegaConf.to_yaml(config, resolve=True))
    marker = tmp_path / "marker"
    checkpoint = _crafted_checkpoint(run / "checkpoints" / "epoch_000.ckpt", marker)
    _refused_in_a_subprocess("evaluate.py", checkpoint, marker, tmp_path)


def _valid(path: Path) -> Path:
    torch.save({"state_dict": {"weight": torch.arange(64.0)}, "epoch": 3}, path)
    return path


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda path: path.write_bytes(b""), r"is empty \(0 bytes\): an interrupted save or a failed copy"),
        (
            lambda path: path.write_bytes(_valid(path).read_bytes()[:300]),
            r"is truncated or corrupt \(300 bytes; its zip archive has no central directory, which is written last\)",
        ),
        (lambda path: path.write_text("epoch: 3\nloss: 0.5\n"), r"is a text file \(starting 'epoch: 3'\)"),
        (lambda path: path.mkdir(), r"is a directory, expected a checkpoint file"),
        (lambda path: None, r"does not exist"),
        (lambda path: torch.save([torch.zeros(1)], path), r"holds a list, expected a dict"),
    ],
    ids=["empty", "truncated", "text", "directory", "missing", "not a dict"],
)
def test_each_broken_file_is_one_line_naming_it(tmp_path: Path, make, problem: str) -> None:
    path = tmp_path / "last.ckpt"
    make(path)
    with pytest.raises(CheckpointError, match=f"^checkpoint {path} {problem}") as error:
        read_checkpoint(path)
    assert "\n" not in str(error.value)


def test_a_valid_checkpoint_loads_as_data_with_the_override_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(FORCE_UNSAFE, "1")
    content = read_checkpoint(_valid(tmp_path / "ok.ckpt"))
    assert content["epoch"] == 3 and torch.equal(content["state_dict"]["weight"], torch.arange(64.0))


def test_deepsort_encoder_and_published_weights_refuse_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from visionbench.models.published import read_state_dict
    from visionbench.models.tracking.appearance import AppearanceEncoder

    monkeypatch.setenv(FORCE_UNSAFE, "1")
    marker = tmp_path / "marker"
    checkpoint = _crafted_checkpoint(tmp_path / "evil.pth", marker)
    with pytest.raises(CheckpointError, match="is refused: it holds a pickled Python object"):
        AppearanceEncoder.from_checkpoint(checkpoint)
    with pytest.raises(ValueError, match=r"^model\.weights: .*evil\.pth cannot be read .*: it is refused: it holds"):
        read_state_dict(checkpoint)
    assert not marker.exists()
