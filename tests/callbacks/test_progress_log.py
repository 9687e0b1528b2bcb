"""ProgressLog writes plain progress lines through logging: when they are due, what they say, and where they go."""

import logging
import re
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from visionbench.callbacks import ProgressLog
from visionbench.callbacks.progress_log import format_duration
from visionbench.utils.log_file import LOG_FILE_ONLY

TRAIN_LINE = re.compile(
    r"train \| epoch (\d+)/(\d+) \| batch (\d+)/(\d+) \| step (\d+)/(\d+) \| loss (\d+\.\d{4}) \| \d+\.\d it/s \| "
    r"ETA \d+:\d\d:\d\d"
)


class BatchIndexLoss(pl.LightningModule):
    """A module whose training loss is the batch index (0, 1, 2, ...), so mean losses are known exactly."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self.weight.sum() * 0 + float(batch_idx)

    def validation_step(self, batch: list[torch.Tensor], batch_idx: int) -> None:
        return None

    test_step = validation_step

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def _loader(self) -> DataLoader:
        return DataLoader(TensorDataset(torch.zeros(5, 1)), batch_size=1)

    def train_dataloader(self) -> DataLoader:
        return self._loader()

    def val_dataloader(self) -> DataLoader:
        return DataLoader(TensorDataset(torch.zeros(3, 1)), batch_size=1)

    test_dataloader = val_dataloader


def _trainer(tmp_path: Path, callback: ProgressLog, **options) -> pl.Trainer:
    settings = {"max_epochs": 1, "logger": False, "enable_checkpointing": False, "enable_model_summary": False}
    settings.update(enable_progress_bar=False, accelerator="cpu", devices=1, default_root_dir=tmp_path)
    return pl.Trainer(callbacks=[callback], **{**settings, **options})


def _lines(caplog: pytest.LogCaptureFixture, logger: str = "visionbench.callbacks.progress_log") -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == logger]


def test_lines_every_n_steps_and_at_the_end_of_each_epoch_with_the_mean_loss(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    callback = ProgressLog(every_n_steps=2, every_n_seconds=None)
    _trainer(tmp_path, callback, max_epochs=2, num_sanity_val_steps=2).fit(BatchIndexLoss())
    parsed = [TRAIN_LINE.fullmatch(line) for line in _lines(caplog)]
    assert all(parsed), _lines(caplog)  # no line for validation inside fitting or the sanity check
    fields = [match.groups() for match in parsed]
    # (epoch, max_epochs, batch, batches, step, steps, mean loss since the previous line): losses are 0, 1, 2, 3, 4
    assert fields == [
        ("1", "2", "2", "5", "2", "10", "0.5000"),
        ("1", "2", "4", "5", "4", "10", "2.5000"),
        ("1", "2", "5", "5", "5", "10", "4.0000"),
        ("2", "2", "2", "5", "7", "10", "0.5000"),
        ("2", "2", "4", "5", "9", "10", "2.5000"),
        ("2", "2", "5", "5", "10", "10", "4.0000"),
    ]


def test_loss_is_not_divided_by_gradient_accumulation(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    _trainer(tmp_path, ProgressLog(every_n_steps=2), accumulate_grad_batches=2).fit(BatchIndexLoss())
    fields = [TRAIN_LINE.fullmatch(line).group(5, 6, 7) for line in _lines(caplog)]
    assert fields == [("1", "3", "0.5000"), ("2", "3", "2.5000"), ("3", "3", "4.0000")]


def test_every_n_seconds(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    _trainer(tmp_path, ProgressLog(every_n_steps=None, every_n_seconds=1e-9)).fit(BatchIndexLoss())
    assert [TRAIN_LINE.fullmatch(line).group(3) for line in _lines(caplog)] == ["1", "2", "3", "4", "5"]


def test_standalone_validation_and_test_get_lines_without_loss(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    trainer = _trainer(tmp_path, ProgressLog(every_n_steps=2, every_n_seconds=None))
    trainer.validate(BatchIndexLoss(), verbose=False)
    trainer.test(BatchIndexLoss(), verbose=False)
    stages_and_batches = [
        re.fullmatch(r"(\w+) \| batch (\d/3) \| \d+\.\d it/s \| ETA 0:00:00", line) for line in _lines(caplog)
    ]
    assert [match.groups() for match in stages_and_batches] == [
        ("validate", "2/3"), ("validate", "3/3"), ("test", "2/3"), ("test", "3/3")
    ]  # fmt: skip


def test_lines_go_to_the_log_file_only_while_a_progress_bar_owns_a_terminal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    _trainer(tmp_path, ProgressLog(every_n_steps=5), enable_progress_bar=True).fit(BatchIndexLoss())
    assert _lines(caplog) == [] and len(_lines(caplog, LOG_FILE_ONLY)) == 1
    caplog.clear()
    _trainer(tmp_path, ProgressLog(every_n_steps=5), enable_progress_bar=False).fit(BatchIndexLoss())
    assert len(_lines(caplog)) == 1 and _lines(caplog, LOG_FILE_ONLY) == []


@pytest.mark.parametrize(
    ("options", "message"), [({"every_n_steps": 0}, "every_n_steps"), ({"every_n_seconds": 0}, "every_n_seconds")]
)
def test_triggers_must_be_positive(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ProgressLog(**options)


def test_format_duration() -> None:
    assert [format_duration(s) for s in (0.4, 59.6, 3725, 90061)] == ["0:00:00", "0:01:00", "1:02:05", "1 day, 1:01:01"]
