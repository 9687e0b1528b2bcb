"""The one DataLoader builder of every datamodule, the seeding of augmentation streams, and the sample indices
evaluation batches carry.

Training data is a function of ``(seed, epoch)`` alone, so that a resumed run sees what an uninterrupted one saw: the
order of epoch ``e`` is a permutation drawn from ``(seed, e)`` (:class:`EpochShuffle`), the augmentation of sample
``i`` in epoch ``e`` is drawn from a stream seeded by ``(seed, e, i)`` (:class:`EpochSeededSamples`, whatever worker
loads it), and the training loader is stateful (:class:`ResumableLoader`): Lightning saves its position in the epoch in
each checkpoint and hands it back on resume, and the resumed epoch skips the batches already trained on by index,
without loading them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, get_worker_info

if TYPE_CHECKING:
    from visionbench.data.datamodule import VisionDataModule

RANK_STRIDE = 1_000_003
"""A prime: distributed ranks get seeds far apart from each other's workers."""


def distributed_rank() -> int:
    """This process's rank in the initialised process group, 0 without one."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank()
    return 0


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


def epoch_seed(*numbers: int) -> int:
    """A 32-bit seed drawn from a tuple of non-negative integers (e.g. ``(seed, epoch)`` or ``(seed, epoch, index)``)
    by NumPy's ``SeedSequence``: distinct tuples give unrelated streams."""
    return int(np.random.SeedSequence([int(n) for n in numbers]).generate_state(1)[0])


class EpochShuffle(DistributedSampler):
    """A shuffling sampler whose order in epoch ``e`` is ``randperm(size)`` drawn from ``epoch_seed(seed, e)``, so
    that any epoch's order can be produced again without replaying the epochs before it. It yields ``(epoch, index)``
    pairs (read by :class:`EpochSeededSamples`).

    Under DDP every rank draws the same permutation and takes its shard, ``order[rank::world]`` (the order padded with
    its first indices to a multiple of the world size, as ``DistributedSampler`` pads), so it is a
    ``DistributedSampler`` and Lightning uses it as it is instead of wrapping it. Without a process group it is the
    whole order.

    ``set_epoch(e)`` (called by Lightning at each epoch start) chooses the epoch; ``skip_next(n)`` makes the next
    pass start after the first ``n`` indices of this rank's shard (a resumed epoch)."""

    def __init__(self, size: int, seed: int) -> None:  # no super().__init__: the process group may not exist yet
        self.size = int(size)
        self.seed = int(seed)
        self.epoch = 0
        self._skip = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def skip_next(self, count: int) -> None:
        """Leave out the first ``count`` indices of the next pass only."""
        self._skip = int(count)

    def order(self, epoch: int) -> list[int]:
        """The indices of ``epoch`` in the order they are drawn (all ranks)."""
        generator = torch.Generator().manual_seed(epoch_seed(self.seed, epoch))
        return torch.randperm(self.size, generator=generator).tolist()

    @staticmethod
    def _world() -> tuple[int, int]:
        """``(world size, rank)`` of the initialised process group, ``(1, 0)`` without one."""
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_world_size(), torch.distributed.get_rank()
        return 1, 0

    def shard(self, epoch: int) -> list[int]:
        """This rank's indices of ``epoch`` in the order they are drawn."""
        world, rank = self._world()
        order = self.order(epoch)
        padded = order + order[: len(self) * world - len(order)]
        return padded[rank::world]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch, skip, self._skip = self.epoch, self._skip, 0
        for index in self.shard(epoch)[skip:]:
            yield epoch, index

    def __len__(self) -> int:
        world, _ = self._world()
        return -(-self.size // world)


class EpochSeededSamples(Dataset):
    """``dataset`` indexed by the ``(epoch, index)`` pairs of :class:`EpochShuffle`: before loading sample ``index``
    it reseeds the dataset's augmentation stream (:func:`reseed_dataset`) from ``epoch_seed(seed, epoch, index)``, so
    a sample's augmentation depends on neither the worker that loads it nor the samples loaded before it. Every other
    attribute is the wrapped dataset's."""

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset = dataset
        self.seed = int(seed)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> Any:
        epoch, index = key
        reseed_dataset(self.dataset, epoch_seed(self.seed, epoch, index))
        return self.dataset[index]

    def __getattr__(self, name: str) -> Any:
        if name == "dataset":  # not set yet (unpickling in a worker): no recursion
            raise AttributeError(name)
        return getattr(self.dataset, name)


class ResumableLoader(DataLoader):
    """The training DataLoader over an :class:`EpochShuffle`, with the ``state_dict`` / ``load_state_dict`` pair that
    Lightning saves in checkpoints (its fit loop's ``combined_loader`` state) and restores when a run resumes inside
    an epoch: ``{"epoch": e, "batches": n}``, the epoch and the batches of it the trainer has trained on (counted by
    the trainer, not by this loader's iterator, which runs ahead by the batches Lightning prefetches). The next pass
    over the resumed epoch then leaves out those ``n`` batches' indices.

    Args:
        trainer: returns the trainer that drives this loader (None outside one); its ``current_epoch`` sets the
            sampler's epoch at each pass, since Lightning may start a resumed epoch's pass before calling
            ``set_epoch``.
        **kwargs: DataLoader arguments; ``sampler`` must be an :class:`EpochShuffle`.
    """

    def __init__(self, *args: Any, trainer: Callable[[], pl.Trainer | None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not isinstance(self.sampler, EpochShuffle):
            raise TypeError(f"ResumableLoader needs an EpochShuffle sampler, got {type(self.sampler).__name__}")
        self.trainer = trainer
        self._resume: dict[str, int] | None = None

    def state_dict(self) -> dict[str, int]:
        trainer = self.trainer()
        done = trainer.fit_loop.epoch_loop.batch_progress.current.processed if trainer is not None else 0
        return {"epoch": self.sampler.epoch, "batches": int(done)}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        self._resume = {"epoch": int(state_dict["epoch"]), "batches": int(state_dict["batches"])}
        self.sampler.set_epoch(self._resume["epoch"])

    def __iter__(self) -> Iterator[Any]:
        trainer = self.trainer()
        if trainer is not None:
            self.sampler.set_epoch(trainer.current_epoch)
        if self._resume is not None and self._resume["epoch"] == self.sampler.epoch:
            self.sampler.skip_next(self._resume["batches"] * int(self.batch_size or 1))
        self._resume = None
        return super().__iter__()


def split_loader(datamodule: VisionDataModule, dataset: Dataset, train: bool) -> DataLoader:
    """Training: a :class:`ResumableLoader` shuffled and augmented as a function of ``(datamodule.seed, epoch)``,
    ``batch_size``, full batches when ``drop_last`` (a training set smaller than one batch, e.g. a fixture or a smoke
    run, keeps its one partial batch); evaluation: in order, ``val_batch_size``, samples carrying their ``"index"``
    (:class:`IndexedSamples`), workers reseeding their streams (:func:`seed_worker_pipeline`). The datamodule's
    ``num_workers``, ``pin_memory`` and ``collate_fn`` apply."""
    common = {
        "num_workers": datamodule.num_workers,
        "collate_fn": datamodule.collate_fn,
        "worker_init_fn": seed_worker_pipeline,
        "persistent_workers": datamodule.num_workers > 0,
        "pin_memory": datamodule.pin_memory,
    }
    if not train:
        return DataLoader(IndexedSamples(dataset), batch_size=datamodule.val_batch_size, shuffle=False, **common)
    return ResumableLoader(
        EpochSeededSamples(dataset, datamodule.seed),
        batch_size=datamodule.batch_size,
        sampler=EpochShuffle(len(dataset), datamodule.seed),
        drop_last=datamodule.drop_last and len(dataset) >= datamodule.batch_size,
        generator=torch.Generator().manual_seed(datamodule.seed),  # worker seeds: never the global torch stream
        trainer=lambda: datamodule.trainer if isinstance(datamodule.trainer, pl.Trainer) else None,
        **common,
    )
