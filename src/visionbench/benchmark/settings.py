"""The settings a model is benchmarked under: precision, memory format, eager or compiled, batch and resolution."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch

from visionbench.runner.errors import ConfigError

PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
"""Precision name -> autocast dtype (None: no autocast, float32 throughout)."""
MEMORY_FORMATS = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}
MODES = ("eager", "compile")
"""``eager``: the module as built; ``compile``: ``torch.compile(module)`` (inductor, default options)."""


@dataclass(frozen=True)
class Setting:
    """One cell of the grid: ``precision`` (a :data:`PRECISIONS` key), ``memory_format`` (a :data:`MEMORY_FORMATS`
    key), ``mode`` (a :data:`MODES` entry), ``batch`` samples of ``height`` x ``width``."""

    precision: str
    memory_format: str
    mode: str
    batch: int
    height: int
    width: int

    @property
    def is_default(self) -> bool:
        """fp32, contiguous, eager: the only setting of a method that runs outside torch."""
        return (self.precision, self.memory_format, self.mode) == ("fp32", "contiguous", "eager")

    def as_dict(self) -> dict[str, str | int]:
        return asdict(self)

    def follows(self, smaller: Setting) -> bool:
        """Whether this setting is ``smaller`` at a larger batch (so it takes at least as long)."""
        same = (self.precision, self.memory_format, self.mode, self.height, self.width)
        return same == (smaller.precision, smaller.memory_format, smaller.mode, smaller.height, smaller.width) and (
            self.batch > smaller.batch
        )


def _check(key: str, values: Sequence[str], allowed: Sequence[str]) -> list[str]:
    values = list(values)
    unknown = [value for value in values if value not in allowed]
    if unknown or not values:
        raise ConfigError(f"{key}={values}: expected a non-empty list of {', '.join(allowed)}")
    return values


def _positive(key: str, values: Sequence[int]) -> list[int]:
    values = [int(value) for value in values]
    if not values or min(values) < 1:
        raise ConfigError(f"{key}={values}: expected a non-empty list of integers >= 1")
    return values


def settings_grid(
    precisions: Sequence[str],
    memory_formats: Sequence[str],
    modes: Sequence[str],
    batch_sizes: Sequence[int],
    resolutions: Sequence[Sequence[int]],
) -> list[Setting]:
    """Every combination, batch and resolution outermost (cells sharing inputs stay together); a
    :class:`~visionbench.runner.errors.ConfigError` names the key of a value outside the allowed ones."""
    precisions = _check("precisions", precisions, list(PRECISIONS))
    memory_formats = _check("memory_formats", memory_formats, list(MEMORY_FORMATS))
    modes = _check("modes", modes, MODES)
    batches = _positive("batch_sizes", batch_sizes)
    sizes = [list(size) for size in resolutions]
    if not sizes or any(len(size) != 2 for size in sizes):
        raise ConfigError(f"resolutions={sizes}: expected a non-empty list of [height, width] pairs")
    sizes = [_positive("resolutions", size) for size in sizes]
    return [
        Setting(precision, memory_format, mode, batch, height, width)
        for batch, (height, width), precision, memory_format, mode in itertools.product(
            batches, sizes, precisions, memory_formats, modes
        )
    ]
