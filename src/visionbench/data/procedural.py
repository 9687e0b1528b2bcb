"""What the embedded procedural benchmarks (synthetic shapes, synthetic flow) share: seeded train / val / test
splits of generated samples, the datamodule that builds and loads them, and the checks of their arguments."""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numpy.typing import DTypeLike
from torch.utils.data import Dataset

from visionbench.data.datamodule import VisionDataModule

__all__ = [
    "MIN_IMAGE_SIZE",
    "ProceduralDataset",
    "ProceduralSplitsDataModule",
    "check_radius_range",
    "contrasting_colour",
    "typed_knobs",
]

_SPLIT_IDS: dict[str, int] = {"train": 0, "val": 1, "test": 2}
"""Each split's part of the sample seed ``(seed, split id, index)``: splits never share a sample."""

MIN_IMAGE_SIZE = 16


def _check_image_size(image_size: int) -> None:
    """Raise ``ValueError`` unless ``image_size >= MIN_IMAGE_SIZE``."""
    if int(image_size) < MIN_IMAGE_SIZE:
        raise ValueError(f"image_size must be >= {MIN_IMAGE_SIZE}, got {image_size}")


def check_radius_range(min_radius: float, max_radius: float) -> None:
    """Raise ``ValueError`` unless ``0 < min_radius <= max_radius <= 0.5`` (fractions of the image size)."""
    if not 0 < min_radius <= max_radius <= 0.5:
        raise ValueError(f"need 0 < min_radius <= max_radius <= 0.5, got {min_radius}, {max_radius}")


def typed_knobs(knob_types: Mapping[str, type], arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The knobs named in ``knob_types`` picked from ``arguments`` (a constructor's ``locals()``), each converted to
    its type: ``typed_knobs({"noise_std": float}, {"noise_std": 0, ...}) == {"noise_std": 0.0}``."""
    return {name: kind(arguments[name]) for name, kind in knob_types.items()}


def contrasting_colour(
    rng: np.random.Generator,
    others: list[np.ndarray],
    min_dist: float,
    value_range: tuple[float, float],
    dtype: DTypeLike = np.float64,
) -> np.ndarray:
    """An RGB colour, each channel drawn uniformly from ``value_range`` and cast to ``dtype``, at least ``min_dist``
    (Euclidean, [0, 1] scale) from every colour in ``others``: the first of 20 draws that is, else the farthest."""
    best, best_dist = None, -1.0
    for _ in range(20):
        colour = rng.uniform(*value_range, 3).astype(dtype)
        dist = min((float(np.linalg.norm(colour - other)) for other in others), default=math.inf)
        if dist >= min_dist:
            return colour
        if dist > best_dist:
            best, best_dist = colour, dist
    return best


class ProceduralDataset(Dataset):
    """One split of a procedural dataset: ``size`` samples of side ``image_size``, sample ``index`` drawn from
    :meth:`sample_rng` alone, so that it can be regenerated on its own and a seed always gives the same samples
    (named by :meth:`sample_id`).

    Validates ``split`` (``"train"``, ``"val"`` or ``"test"``), ``size`` (> 0) and ``image_size``
    (>= ``MIN_IMAGE_SIZE``) and stores them with ``seed``; subclasses generate the items.
    """

    def __init__(self, split: str, size: int, image_size: int, seed: int) -> None:
        if split not in _SPLIT_IDS:
            raise ValueError(f"split must be one of {sorted(_SPLIT_IDS)}, got {split!r}")
        if int(size) <= 0:
            raise ValueError(f"size must be a positive number of samples, got {size}")
        _check_image_size(image_size)
        self.split = split
        self.size = int(size)
        self.image_size = int(image_size)
        self.seed = int(seed)

    def sample_id(self, index: int) -> str:
        """The name of sample ``index``: ``<split>/<index, 6 digits>`` (``val/000123``); the same seed, split and
        knobs always generate the same sample under it."""
        return f"{self.split}/{int(index):06d}"

    def sample_rng(self, index: int) -> np.random.Generator:
        """The generator of sample ``index``: ``numpy.random.default_rng((seed, split id, index))``."""
        return np.random.default_rng((self.seed, _SPLIT_IDS[self.split], int(index)))

    def __len__(self) -> int:
        return self.size


class ProceduralSplitsDataModule(VisionDataModule):
    """The datamodule of a procedural dataset's train / val / test splits.

    Validates and stores ``image_size`` (>= ``MIN_IMAGE_SIZE``), ``train_size``, ``val_size`` and ``test_size``
    (> 0) and ``train_transform`` (the training split's augmentation); batch sizes, workers and seed are the
    :class:`~visionbench.data.datamodule.VisionDataModule`'s. Subclasses build a split's samples in
    :meth:`make_dataset`.
    """

    def __init__(
        self,
        image_size: int,
        train_size: int,
        val_size: int,
        test_size: int,
        seed: int,
        batch_size: int,
        num_workers: int,
        train_transform: Callable[..., Any] | None,
        val_batch_size: int | None = None,
    ) -> None:
        super().__init__(batch_size, val_batch_size, num_workers, seed)
        _check_image_size(image_size)
        for name, value in (("train_size", train_size), ("val_size", val_size), ("test_size", test_size)):
            if int(value) <= 0:
                raise ValueError(f"{name} must be > 0, got {value}")
        self.image_size = int(image_size)
        self.train_size = int(train_size)
        self.val_size = int(val_size)
        self.test_size = int(test_size)
        self.train_transform = train_transform

    @abstractmethod
    def make_dataset(self, split: str, size: int, transform: Callable[..., Any] | None = None) -> ProceduralDataset:
        """The dataset of ``split`` with ``size`` samples and the optional ``transform``."""

    def make_split(self, split: str) -> ProceduralDataset:
        size = {"train": self.train_size, "val": self.val_size, "test": self.test_size}[split]
        return self.make_dataset(split, size, self.train_transform if split == "train" else None)
