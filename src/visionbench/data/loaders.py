"""The DataLoader every file-based datamodule builds (ADE20K, the flow benchmarks) and the seeding of augmentation
streams per worker and per distributed rank that every datamodule uses."""

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, get_worker_info

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


def seed_worker_pipeline(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: reseed the worker's copy of the dataset's pipeline from the worker's
    torch seed (distinct per worker and per DataLoader iterator, derived from the loader's generator) and the
    distributed rank, so that workers (and DDP processes) do not repeat each other's augmentations."""
    info = get_worker_info()
    if info is None:
        return
    seed = info.seed + RANK_STRIDE * distributed_rank()
    dataset = info.dataset
    while not hasattr(dataset, "reseed") and hasattr(dataset, "dataset"):  # Subset and similar wrappers
        dataset = dataset.dataset
    if hasattr(dataset, "reseed"):
        dataset.reseed(seed % 2**32)


def split_loader(datamodule, dataset: Dataset, train: bool) -> DataLoader:
    """Training: shuffled with ``datamodule.seed``, ``batch_size``, full batches when ``drop_last`` (a training set
    smaller than one batch, e.g. a fixture or a smoke run, keeps its one partial batch); evaluation: in order,
    ``val_batch_size``. Workers reseed their augmentation streams; the datamodule's ``num_workers`` and
    ``pin_memory`` apply."""
    return DataLoader(
        dataset,
        batch_size=datamodule.batch_size if train else datamodule.val_batch_size,
        shuffle=train,
        drop_last=datamodule.drop_last and train and len(dataset) >= datamodule.batch_size,
        num_workers=datamodule.num_workers,
        generator=torch.Generator().manual_seed(datamodule.seed) if train else None,
        worker_init_fn=seed_worker_pipeline,
        persistent_workers=datamodule.num_workers > 0,
        pin_memory=datamodule.pin_memory,
    )
