"""The one DataLoader builder of every datamodule, the seeding of augmentation streams per worker and per
distributed rank, and the sample indices evaluation batches carry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, get_worker_info

if TYPE_CHECKING:
    from visionbench.data.datamodule import VisionDataModule

RANK_STRIDE = 1_000_003
"""A prime: distributed ranks get seeds far apart from each other's workers."""


def distributed_rank() -> int:
    """This process's rank in the initialised process group, 0 without one."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank()
    return 0


def rank_seed(seed: int, trainer: pl.Trainer | None) -> int:
    """The seed of a datamodule's in-process augmentation stream (``num_workers=0``) on this trainer's rank."""
    return seed + RANK_STRIDE * (trainer.global_rank if trainer is not None else 0)


def reseed_dataset(dataset: Dataset, seed: int) -> None:
    """Reseed the augmentation stream of ``dataset`` (its ``reseed(seed)``), looking through ``Subset`` and similar
    wrappers; a dataset without one is left alone."""
    while not hasattr(dataset, "reseed") and hasattr(dataset, "dataset"):
        dataset = dataset.dataset
    if hasattr(dataset, "reseed"):
        dataset.reseed(seed)


def seed_worker_pipeline(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: reseed the worker's copy of the dataset's pipeline from the worker's
    torch seed (distinct per worker and per DataLoader iterator, derived from the loader's generator) and the
    distributed rank, so that workers (and DDP processes) do not repeat each other's augmentations."""
    info = get_worker_info()
    if info is None:
        return
    reseed_dataset(info.dataset, (info.seed + RANK_STRIDE * distributed_rank()) % 2**32)


class IndexedSamples(Dataset):
    """``dataset`` whose dict samples also carry their position in it, ``"index"`` (an int; ``batch["index"]`` once
    collated), so that per-sample scores find their samples wherever a sampler sent them (DDP ranks, padding
    repeats). Samples that are not dicts pass unchanged. Every other attribute is the wrapped dataset's
    (``sample_id``, ``reseed``...)."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        sample = self.dataset[index]
        return {**sample, "index": int(index)} if isinstance(sample, Mapping) else sample

    def __getattr__(self, name: str) -> Any:
        if name == "dataset":  # not set yet (unpickling in a worker): no recursion
            raise AttributeError(name)
        return getattr(self.dataset, name)


def split_loader(datamodule: VisionDataModule, dataset: Dataset, train: bool) -> DataLoader:
    """Training: shuffled with ``datamodule.seed``, ``batch_size``, full batches when ``drop_last`` (a training set
    smaller than one batch, e.g. a fixture or a smoke run, keeps its one partial batch); evaluation: in order,
    ``val_batch_size``, samples carrying their ``"index"`` (:class:`IndexedSamples`). Workers reseed their
    augmentation streams; the datamodule's ``num_workers``, ``pin_memory`` and ``collate_fn`` apply."""
    return DataLoader(
        dataset if train else IndexedSamples(dataset),
        batch_size=datamodule.batch_size if train else datamodule.val_batch_size,
        shuffle=train,
        drop_last=datamodule.drop_last and train and len(dataset) >= datamodule.batch_size,
        num_workers=datamodule.num_workers,
        collate_fn=datamodule.collate_fn,
        generator=torch.Generator().manual_seed(datamodule.seed) if train else None,
        worker_init_fn=seed_worker_pipeline,
        persistent_workers=datamodule.num_workers > 0,
        pin_memory=datamodule.pin_memory,
    )
