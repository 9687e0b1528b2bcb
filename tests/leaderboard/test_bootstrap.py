"""The paired bootstrap on constructed cases with known answers: identical rows, clearly different rows, and
borderline cases whose percentile interval follows from the exact bootstrap distribution (enumerated by hand)."""

import itertools
import math

import numpy as np
import pytest

from tests.leaderboard.rundirs import MinimisedContract, ToyContract
from visionbench.leaderboard.bootstrap import align, mark_rows, paired_bootstrap

CONTRACT = ToyContract()


def scores(values, ids=None) -> dict[str, np.ndarray]:
    ids = ids if ids is not None else [f"s{index}" for index in range(len(values))]
    return {"sample_id": np.array(ids), "value": np.asarray(values, dtype=np.float64)}


def exact_interval(differences: tuple[float, ...], level: float = 0.95) -> tuple[float, float, float, float]:
    """The bootstrap distribution of the mean of ``differences`` enumerated over every draw (multinomial counts):
    its lower / upper percentile points and the CDF just below / at the lower one (to check the margins)."""
    n = len(differences)
    mass: dict[float, float] = {}
    for counts in itertools.product(range(n + 1), repeat=n):
        if sum(counts) == n:
            ways = math.factorial(n) / math.prod(math.factorial(c) for c in counts)
            value = round(float(np.dot(counts, differences)) / n, 12)
            mass[value] = mass.get(value, 0.0) + ways / n**n
    values = sorted(mass)
    cdf = np.cumsum([mass[value] for value in values])
    low_index = int(np.searchsorted(cdf, (1 - level) / 2))
    high_index = int(np.searchsorted(cdf, (1 + level) / 2))
    return values[low_index], values[high_index], cdf[low_index - 1], cdf[low_index]


def test_identical_rows_are_not_distinguishable() -> None:
    run = scores([0.2, 0.9, 0.4, 0.7, 0.1])
    difference = paired_bootstrap(CONTRACT, [run], [run], resamples=200)
    assert difference.estimate == 0.0 and difference.low == 0.0 and difference.high == 0.0
    assert not difference.distinguishable and difference.samples == 5


def test_clearly_different_rows_are_distinguishable() -> None:
    rng = np.random.default_rng(1)
    reference = rng.uniform(0.2, 0.6, size=50)
    difference = paired_bootstrap(CONTRACT, [scores(reference + 0.1)], [scores(reference)], resamples=500)
    assert difference.estimate == pytest.approx(0.1) and difference.distinguishable
    assert difference.low == pytest.approx(0.1) and difference.high == pytest.approx(0.1)


@pytest.mark.parametrize(("second", "distinguishable"), [(-0.01, False), (0.01, True)])
def test_two_samples_give_the_interval_between_the_two_differences(second: float, distinguishable: bool) -> None:
    # draws of 2 samples: (2,0) (1,1) (0,2) with probabilities 1/4, 1/2, 1/4, so the 2.5 % and 97.5 % points of the
    # mean difference are the two per-sample differences themselves
    reference = scores([0.5, 0.5])
    difference = paired_bootstrap(CONTRACT, [scores([0.8, 0.5 + second])], [reference], resamples=1000, seed=3)
    assert (difference.low, difference.high) == (pytest.approx(second), pytest.approx(0.3))
    assert difference.distinguishable is distinguishable


@pytest.mark.parametrize("shift", [-0.05, 0.05])
def test_borderline_interval_equals_the_enumerated_bootstrap_distribution(shift: float) -> None:
    base = (0.0, 1.0, 3.0, 7.0)
    low, high, below, at = exact_interval(base)
    assert below < 0.02 and at > 0.03  # the 2.5 % point is far from a jump of the CDF: the estimate is exact
    differences = tuple(value - low + shift for value in base)  # exact lower point: shift
    reference = np.array([0.1, 0.4, 0.2, 0.3])
    result = paired_bootstrap(CONTRACT, [scores(reference + differences)], [scores(reference)], 20000, seed=7)
    assert result.low == pytest.approx(shift) and result.high == pytest.approx(high - low + shift)
    assert result.distinguishable is (shift > 0)


def test_seeds_are_pooled_by_one_draw_applied_to_every_seed_run() -> None:
    # the toy headline is linear in the values, so two seeds pooled equal one run of their average
    first, second, reference = [0.5, 0.9, 0.3, 0.6], [0.7, 0.5, 0.5, 0.8], [0.4, 0.6, 0.5, 0.2]
    pooled = paired_bootstrap(CONTRACT, [scores(first), scores(second)], [scores(reference)], 300, seed=5)
    average = paired_bootstrap(CONTRACT, [scores(np.add(first, second) / 2)], [scores(reference)], 300, seed=5)
    for name in ("estimate", "low", "high"):
        assert getattr(pooled, name) == pytest.approx(getattr(average, name))
    assert (pooled.samples, pooled.resamples) == (average.samples, average.resamples)


def test_only_shared_samples_are_paired_whatever_their_order() -> None:
    row = scores([0.9, 0.1, 0.5], ["c", "a", "b"])
    reference = scores([0.2, 0.3, 0.4, 0.8], ["a", "b", "c", "extra"])
    aligned = align([row, reference])
    assert aligned[1]["sample_id"].tolist() == ["c", "a", "b"]
    assert aligned[1]["value"].tolist() == [0.4, 0.2, 0.3]
    assert paired_bootstrap(CONTRACT, [row], [reference], 100).estimate == pytest.approx((0.5 - 0.1 + 0.2) / 3)


def test_marks_follow_the_headline_direction_and_say_what_is_missing() -> None:
    low, high = scores([0.1, 0.2, 0.1, 0.2]), scores([0.9, 0.8, 0.9, 0.8])
    marks = mark_rows(CONTRACT, [0.15, 0.85, math.nan, 0.85], [[low], [high], None, None], resamples=100)
    assert [mark.best for mark in marks] == [False, True, False, False]
    assert marks[0].difference.distinguishable and not marks[0].tied
    assert marks[2].missing == "not scored" and marks[3].missing == "no per-sample scores"
    minimised = mark_rows(MinimisedContract(), [0.15, 0.85], [[low], [high]], resamples=100)
    assert minimised[0].best and minimised[1].difference.estimate == pytest.approx(0.7)
