"""Paired bootstrap over the samples two rows share (images, flow pairs, queries, sequences), seeds pooled, and the
marks it gives a column: the best row, and every row it cannot tell from the best at the 5 % level.

One resample draws the shared samples with replacement (``counts``: how often each is drawn) and applies the same
draw to every seed run of both rows; a row's headline for that resample is the mean over its seed runs of the
problem's headline recomputed from the drawn samples
(:meth:`~visionbench.tasks.contract.ProblemContract.resampled_headline`). The difference (row - best) over the
resamples gives a two-sided percentile interval (Efron and Tibshirani, An Introduction to the Bootstrap, 1993,
ch. 13); a row whose interval contains 0 is not distinguishable from the best.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from visionbench.leaderboard.errors import LeaderboardError
from visionbench.tasks.contract import ProblemContract

Scores = Mapping[str, np.ndarray]
"""One run's per-sample scores of one split: ``sample_id`` and the problem's fields, one entry per sample."""
LEVEL = 0.95
RESAMPLES = 1000


@dataclass(frozen=True)
class Difference:
    """Headline of a row minus that of the reference row on their shared samples (seeds averaged), with the
    bootstrap percentile interval at :data:`LEVEL` over ``resamples`` resamples (those with a finite difference)."""

    estimate: float
    low: float
    high: float
    samples: int
    resamples: int

    @property
    def distinguishable(self) -> bool:
        """Whether the interval excludes 0."""
        return not (self.low <= 0.0 <= self.high)


@dataclass(frozen=True)
class Mark:
    """A row's standing in a column: ``best``, or its :class:`Difference` to the best row, or why there is none."""

    best: bool = False
    difference: Difference | None = None
    missing: str = ""

    @property
    def tied(self) -> bool:
        """Not distinguishable from the best row."""
        return self.difference is not None and not self.difference.distinguishable


def align(runs: Sequence[Scores]) -> list[dict[str, np.ndarray]]:
    """Each run's scores restricted to the samples every run has, in the first run's order."""
    ids = [np.asarray(scores["sample_id"]) for scores in runs]
    for scores, sample_ids in zip(runs, ids, strict=True):
        if len(set(sample_ids.tolist())) != len(sample_ids):
            raise LeaderboardError("per-sample scores with a repeated sample_id cannot be paired")
        lengths = {name: len(values) for name, values in scores.items()}
        if len(set(lengths.values())) > 1:
            raise LeaderboardError(f"per-sample score fields of different lengths: {lengths}")
    shared = set(ids[0].tolist()).intersection(*(set(sample_ids.tolist()) for sample_ids in ids[1:]))
    order = [sample for sample in ids[0].tolist() if sample in shared]
    aligned = []
    for scores, sample_ids in zip(runs, ids, strict=True):
        position = {sample: index for index, sample in enumerate(sample_ids.tolist())}
        take = np.array([position[sample] for sample in order], dtype=np.int64)
        aligned.append({name: np.asarray(values)[take] for name, values in scores.items()})
    return aligned


def pooled_headline(contract: ProblemContract, runs: Sequence[Scores], counts: np.ndarray) -> np.ndarray:
    """The headline of each resample (rows of ``counts``), averaged over ``runs`` (a row's seeds)."""
    return np.mean([np.asarray(contract.resampled_headline(scores, counts), dtype=np.float64) for scores in runs], 0)


def paired_bootstrap(
    contract: ProblemContract,
    row: Sequence[Scores],
    reference: Sequence[Scores],
    resamples: int = RESAMPLES,
    seed: int | Sequence[int] = 0,
) -> Difference:
    """:class:`Difference` of ``row`` (its seed runs' scores) to ``reference`` over the samples all of them share."""
    if not row or not reference:
        raise LeaderboardError("a paired bootstrap needs the per-sample scores of at least one run on each side")
    aligned = align([*row, *reference])
    n = len(aligned[0]["sample_id"])
    if n == 0:
        raise LeaderboardError("the two rows share no sample")
    ours, theirs = aligned[: len(row)], aligned[len(row) :]
    whole = np.ones((1, n), dtype=np.int64)
    estimate = float(pooled_headline(contract, ours, whole)[0] - pooled_headline(contract, theirs, whole)[0])
    counts = np.random.default_rng(seed).multinomial(n, np.full(n, 1.0 / n), size=resamples)
    differences = pooled_headline(contract, ours, counts) - pooled_headline(contract, theirs, counts)
    finite = differences[np.isfinite(differences)]
    if finite.size == 0:
        return Difference(estimate, math.nan, math.nan, n, 0)
    low, high = np.quantile(finite, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return Difference(estimate, float(low), float(high), n, int(finite.size))


def mark_rows(
    contract: ProblemContract,
    means: Sequence[float],
    scores: Sequence[Sequence[Scores] | None],
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> list[Mark]:
    """Marks of the rows of one column: ``means`` their mean headline (NaN: not scored), ``scores`` their seed runs'
    per-sample scores (None where some run has none). The best row by the problem's headline direction is marked;
    every other scored row is compared with it by :func:`paired_bootstrap` (seed ``[seed, row index]``)."""
    best = None
    for index, mean in enumerate(means):
        if not math.isnan(mean) and (best is None or contract.headline.is_better(mean, means[best])):
            best = index
    marks = []
    for index, mean in enumerate(means):
        if best is None or math.isnan(mean):
            marks.append(Mark(missing="not scored"))
        elif index == best:
            marks.append(Mark(best=True))
        elif scores[best] is None:
            marks.append(Mark(missing="the best row has no per-sample scores"))
        elif scores[index] is None:
            marks.append(Mark(missing="no per-sample scores"))
        else:
            try:
                difference = paired_bootstrap(contract, scores[index], scores[best], resamples, [seed, index])
            except LeaderboardError as error:
                marks.append(Mark(missing=str(error)))
                continue
            except NotImplementedError:
                marks.append(Mark(missing=f"{contract.name} cannot recompute its headline from per-sample scores"))
                continue
            marks.append(Mark(difference=difference))
    return marks
