"""The one LightningDataModule base of every datamodule: batch sizes, workers and seed, the splits each stage needs
(built once), and the three loaders, built by one function with the same per-worker and per-rank seeding."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
from torch.utils.data import DataLoader, Dataset

from visionbench.data.loaders import split_loader

__all__ = ["SPLITS", "STAGE_SPLITS", "VisionDataModule"]

SPLITS: tuple[str, ...] = ("train", "val", "test")
"""The loaders a datamodule feeds: training, validation and test."""

STAGE_SPLITS: dict[str | None, tuple[str, ...]] = {
    None: SPLITS,
    "fit": ("train", "val"),
    "validate": ("val",),
    "test": ("test",),
}
"""The splits ``setup(stage)`` builds for each Lightning stage (``predict`` needs none)."""


class VisionDataModule(pl.LightningDataModule, ABC):
    """Base of every datamodule: subclasses build one split's dataset in :meth:`make_split`, the base does the rest.

    ``setup(stage)`` builds the splits the stage needs (:data:`STAGE_SPLITS`), each once, into :attr:`datasets`
    (also :attr:`train_set`, :attr:`val_set`, :attr:`test_set`). Every loader comes from
    :func:`~visionbench.data.loaders.split_loader`: the training one resumable, its order and augmentations a
    function of ``(seed, epoch)`` (so a resumed run sees the data an uninterrupted one saw), the evaluation ones in
    order with ``val_batch_size``.

    Args:
        batch_size: training batch size per process (> 0).
        val_batch_size: batch size of the validation and test loaders (> 0); None: ``batch_size``.
        num_workers: DataLoader worker processes (>= 0).
        seed: seed of the training order and augmentations (with the epoch and the sample index).
        pin_memory: DataLoader ``pin_memory`` (useful on GPU).
        drop_last: drop the last incomplete training batch (a training set smaller than one batch keeps it).
        collate_fn: turns a list of samples into a batch (None: PyTorch's ``default_collate``).

    Attributes: ``name`` (the dataset, in messages), the arguments above.
    """

    name: str = "dataset"

    def __init__(
        self,
        batch_size: int,
        val_batch_size: int | None = None,
        num_workers: int = 0,
        seed: int = 0,
        pin_memory: bool = False,
        drop_last: bool = False,
        collate_fn: Callable[[list[Any]], Any] | None = None,
    ) -> None:
        super().__init__()
        for option, value in (("batch_size", batch_size), ("val_batch_size", val_batch_size)):
            if value is not None and int(value) <= 0:
                raise ValueError(f"{option} must be > 0, got {value}")
        if int(num_workers) < 0:
            raise ValueError(f"num_workers must be >= 0, got {num_workers}")
        self.batch_size = int(batch_size)
        self.val_batch_size = self.batch_size if val_batch_size is None else int(val_batch_size)
        self.num_workers = int(num_workers)
        self.seed = int(seed)
        self.pin_memory = bool(pin_memory)
        self.drop_last = bool(drop_last)
        self.collate_fn = collate_fn
        self.datasets: dict[str, Dataset] = {}

    @abstractmethod
    def make_split(self, split: str) -> Dataset:
        """The dataset of the ``split`` loader (``train``, ``val`` or ``test``); only ``train`` is augmented."""

    def has_split(self, split: str) -> bool:
        """Whether there is a ``split`` loader (an evaluation-only dataset has no ``train``)."""
        return True

    def setup(self, stage: str | None = None) -> None:
        for split in STAGE_SPLITS.get(stage, ()):
            if split not in self.datasets and self.has_split(split):
                self.datasets[split] = self.make_split(split)

    @property
    def train_set(self) -> Dataset | None:
        """The training dataset once :meth:`setup` built it, else None."""
        return self.datasets.get("train")

    @property
    def val_set(self) -> Dataset | None:
        """The validation dataset once :meth:`setup` built it, else None."""
        return self.datasets.get("val")

    @property
    def test_set(self) -> Dataset | None:
        """The test dataset once :meth:`setup` built it, else None."""
        return self.datasets.get("test")

    def loader(self, split: str) -> DataLoader:
        """The DataLoader of ``split``; a RuntimeError when there is no such split or :meth:`setup` did not build it."""
        if not self.has_split(split):
            raise RuntimeError(f"{self.name} has no {split} split")
        if split not in self.datasets:
            raise RuntimeError(f"the {split} split of {self.name} is not built: call setup() first")
        return split_loader(self, self.datasets[split], train=split == "train")

    def train_dataloader(self) -> DataLoader:
        return self.loader("train")

    def val_dataloader(self) -> DataLoader:
        return self.loader("val")

    def test_dataloader(self) -> DataLoader:
        return self.loader("test")
