"""The DataLoader every file-based datamodule builds (ADE20K, the flow benchmarks)."""

import torch
from torch.utils.data import DataLoader, Dataset

from visionbench.data.ade20k import seed_worker_pipeline


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
