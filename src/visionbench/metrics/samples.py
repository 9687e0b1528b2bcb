"""Metrics whose state is one row per evaluated sample: the base every dataset-level metric here shares.

Each ``update`` turns a batch into one row per sample (segmentation: per-class areas; flow: error sums and pixel
counts; re-id: the embedding) stored with the sample's index in its dataset. Under DDP the rows of every process
are concatenated (torchmetrics' ``cat`` reduction), then de-duplicated by index (Lightning's ``DistributedSampler``
pads the processes' shares with repeats of the first samples) and put in dataset order. The per-sample score fields
(``scores.npz``) and the dataset-level numbers (metrics.json) are both computed from these ordered rows, the latter
by a function of the per-sample fields alone, so recomputing metrics.json from ``scores.npz`` repeats the very same
arithmetic (see :meth:`PerSampleMetric.summarise`).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping

import numpy as np
import torch
from torch import Tensor
from torchmetrics import Metric

Samples = dict[str, np.ndarray]
"""Per-sample fields, one entry per sample along the first axis, plus ``index`` (the samples' dataset indices)."""
Scores = dict[str, float | np.ndarray]
"""Dataset-level scores: floats, or arrays (per-class scores)."""


def world_size() -> int:
    """Processes in the initialised process group (1 without one)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size()
    return 1


def resampled_sums(counts: np.ndarray, values: np.ndarray, chunk: int = 256) -> np.ndarray:
    """``out[b] = sum_n counts[b, n] * values[n]``: the sum of ``values`` over resample ``b`` (``counts``: B x N,
    how often each of the N samples is drawn). Integer ``values`` (``N, ...``) give exact integer sums; float
    ``values`` (``N``) are summed along each row in the order ``numpy.sum`` uses for one vector, so that counts of
    ones give exactly ``values.sum()``. Float rows are done ``chunk`` at a time to bound memory."""
    counts = np.asarray(counts)
    values = np.asarray(values)
    if counts.ndim != 2 or counts.shape[1] != len(values):
        raise ValueError(f"counts must be B x N with N = {len(values)} samples, got shape {counts.shape}")
    if np.issubdtype(values.dtype, np.integer):
        return np.tensordot(counts.astype(np.int64), values.astype(np.int64), axes=(1, 0))
    if values.ndim != 1:
        raise ValueError(f"float values must be one number per sample, got shape {values.shape}")
    sums = [(counts[start : start + chunk] * values[None]).sum(axis=1) for start in range(0, len(counts), chunk)]
    return np.concatenate(sums) if sums else np.zeros(0, values.dtype)


class PerSampleMetric(Metric):
    """Base of the metrics whose state is one row per evaluated sample and its dataset index.

    Subclasses declare their row states with :meth:`add_row_state`, hand each batch's rows to :meth:`add_rows`
    from ``update`` and implement :meth:`summarise` (per-sample fields -> dataset-level scores); they may turn the
    rows into other per-sample fields in :meth:`samples_from_rows` (re-identification ranks its queries against the
    whole gallery there).

    ``indices`` are the samples' positions in their dataset (``batch["index"]``, added by every evaluation loader of
    :func:`~visionbench.data.loaders.split_loader`). Rows are de-duplicated by index (first occurrence kept) and
    sorted by it. Updates without indices keep their order of arrival; their per-sample fields
    (:meth:`sample_scores`) are only defined in one process (an unshuffled loader's order is the dataset order), so
    several processes without indices raise instead of mislabelling samples; ``compute()`` still works, counting
    every row.

    ``compute()`` returns :meth:`summarise` of the rows as float64 tensors (what the tasks log, so metrics.json holds
    the float64 numbers that :meth:`summarise` of the stored per-sample fields gives back exactly).
    """

    full_state_update = False

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._row_states: dict[str, tuple[tuple[int, ...], torch.dtype]] = {}
        self.add_state("sample_index", default=[], dist_reduce_fx="cat")

    def add_row_state(self, name: str, shape: tuple[int, ...], dtype: torch.dtype) -> None:
        """A per-sample state ``name``: rows of ``shape`` and ``dtype`` (the shape of its empty array)."""
        self.add_state(name, default=[], dist_reduce_fx="cat")
        self._row_states[name] = (tuple(shape), dtype)

    def add_rows(self, indices: Tensor | None, **rows: Tensor) -> None:
        """Store one batch's rows (each ``B, ...``) with the samples' dataset ``indices`` (``B`` integers, or None)."""
        batch = len(next(iter(rows.values())))
        if indices is None:
            indices = torch.full((batch,), -1, dtype=torch.long, device=self.device)
        else:
            indices = torch.as_tensor(indices, device=self.device).long().reshape(-1)
            if len(indices) != batch:
                raise ValueError(f"got {len(indices)} sample indices for a batch of {batch} samples")
            if bool((indices < 0).any()):
                raise ValueError("sample indices must be >= 0")
        self.sample_index.append(indices)
        for name, value in rows.items():
            getattr(self, name).append(value.detach())

    def _state_array(self, name: str, shape: tuple[int, ...], dtype: torch.dtype) -> np.ndarray:
        state = getattr(self, name)
        if isinstance(state, list):
            state = torch.cat(state) if state else torch.zeros((0, *shape), dtype=dtype)
        return state.detach().cpu().numpy()

    def _rows(self) -> tuple[bool, Samples]:
        """``(indexed, rows)``: the current (local or synchronised) rows with their ``index``, de-duplicated and in
        dataset order when every row has an index, in order of arrival (``index`` = position) when none has."""
        index = self._state_array("sample_index", (), torch.long)
        rows = {name: self._state_array(name, *spec) for name, spec in self._row_states.items()}
        if (index >= 0).all():
            unique, first = np.unique(index, return_index=True)
            return True, {"index": unique, **{name: values[first] for name, values in rows.items()}}
        if (index < 0).all():
            return False, {"index": np.arange(len(index)), **rows}
        raise ValueError("some updates of this metric carried sample indices and others did not")

    def samples_from_rows(self, rows: Samples) -> Samples:
        """The per-sample score fields (with ``index``) of the ordered rows; the rows themselves by default."""
        return rows

    @abstractmethod
    def summarise(self, samples: Mapping[str, np.ndarray]) -> Scores:
        """The dataset-level scores of per-sample fields (those of :meth:`sample_scores`, ``index`` not needed)."""

    def compute(self) -> dict[str, Tensor]:
        scores = self.summarise(self.samples_from_rows(self._rows()[1]))
        return {name: torch.tensor(value, dtype=torch.float64, device=self.device) for name, value in scores.items()}

    def sample_scores(self) -> Samples:
        """The per-sample fields and ``index`` of every sample seen by any process (synchronised like ``compute()``),
        in dataset order."""
        with self.sync_context(dist_sync_fn=self.dist_sync_fn, should_sync=self.sync_on_compute):
            indexed, rows = self._rows()
        if not indexed and world_size() > 1:
            raise RuntimeError(
                f"{type(self).__name__}: per-sample scores over {world_size()} processes need each sample's dataset "
                "index: the evaluation batches must carry an 'index' entry (visionbench's evaluation loaders add it)"
            )
        return self.samples_from_rows(rows)
