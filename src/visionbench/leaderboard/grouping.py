"""Rows and column groups of a leaderboard, and the statistics over a row's seeds.

A row is one setup: the runs whose settings (what was trained, or the method evaluated without training) are equal
up to the seed, which are then repetitions. By default the settings that differ between the runs name the rows;
``--by`` names them instead (runs that differ in other keys are then pooled, and those keys are reported). A column
group is one evaluation: the dataset scored (its config group choice, plus the dataset keys in which evaluations of
one model differ, e.g. Sintel's ``passes``) and the split. One model evaluated on several datasets is thus one row
with a column group per dataset.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from visionbench.leaderboard.errors import LeaderboardError
from visionbench.leaderboard.runs import Run, Skipped
from visionbench.leaderboard.settings import (
    ABSENT,
    canonical,
    config_hash,
    describe,
    select,
    without_locations,
)
from visionbench.utils.mappings import flatten

REPLICATE_KEYS = frozenset({"seed"})
"""Config keys in which repetitions of one setup differ."""
SPLIT_PREFERENCE = ("test", "val")
"""The split shown when the runs of a column group share several and none was chosen."""
CONFIDENCE = 0.95


@dataclass(frozen=True)
class SeedStats:
    """A metric over a row's repetitions: mean, sample standard deviation, count and the two-sided ``CONFIDENCE``
    Student-t interval of the mean (NaN where undefined: no spread from one value)."""

    mean: float
    std: float
    n: int
    low: float
    high: float


def seed_stats(values: Sequence[float | None]) -> SeedStats:
    """:class:`SeedStats` of ``values`` (None entries, metrics a run did not produce, are left out)."""
    numbers = np.array([value for value in values if value is not None], dtype=np.float64)
    n = len(numbers)
    if n == 0:
        return SeedStats(math.nan, math.nan, 0, math.nan, math.nan)
    mean = float(numbers.mean())
    if n == 1:
        return SeedStats(mean, math.nan, 1, math.nan, math.nan)
    std = float(numbers.std(ddof=1))
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * std / math.sqrt(n)
    return SeedStats(mean, std, n, mean - half, mean + half)


@dataclass(frozen=True)
class ColumnGroup:
    """One evaluation: the dataset scored and the split."""

    dataset: str
    split: str

    @property
    def label(self) -> str:
        return f"{self.dataset} {self.split}"


@dataclass
class Row:
    """One setup: its label (label key -> value) and its runs per column group."""

    label: dict[str, str]
    cells: dict[ColumnGroup, list[Run]] = field(default_factory=dict)

    @property
    def runs(self) -> list[Run]:
        """Every run of the row, once."""
        unique: dict[int, Run] = {}
        for runs in self.cells.values():
            unique.update((id(run), run) for run in runs)
        return list(unique.values())

    @property
    def title(self) -> str:
        """The label as one string, e.g. ``model=segmentation/unet, loss=dice``."""
        return ", ".join(f"{key}={value}" for key, value in self.label.items()) or "all runs"


@dataclass
class Grouping:
    """Rows, column groups, the keys naming the rows, the keys pooled within rows (with ``--by``), the runs left out
    (no headline score) and the model each run scored."""

    label_keys: list[str]
    rows: list[Row]
    groups: list[ColumnGroup]
    pooled: list[str]
    skipped: list[Skipped]
    models: dict[Path, str]
    """Which model each run scored (by run directory): the training run's directory, or the setup and seed of a
    method without training."""

    def check_repeats(self) -> None:
        """Refuse a model scored twice in one cell (e.g. a training run and an evaluate run of its checkpoint on the
        same split and protocol), which would count its seed twice."""
        for row in self.rows:
            for group, runs in row.cells.items():
                seen: dict[str, Run] = {}
                for run in runs:
                    earlier = seen.setdefault(self.models[run.path], run)
                    if earlier is not run:
                        raise LeaderboardError(
                            f"{earlier.path} and {run.path} both score the same model ({self.models[run.path]}) on "
                            f"{group.label}: pass only one of them"
                        )


@dataclass(frozen=True)
class Setup:
    """What a run scored, for comparing runs: its flat settings (locations and seed left out), config group choices
    and the keys its command line set."""

    settings: dict[str, Any]
    choices: dict[str, str]
    overridden: frozenset[str]


def _override_keys(overrides: Sequence[str]) -> frozenset[str]:
    return frozenset(item.partition("=")[0].lstrip("+~") for item in overrides if "=" in item)


def _kept_choices(choices: Mapping[str, Any], dropped: set[str]) -> dict[str, str]:
    return {
        name: str(value)
        for name, value in choices.items()
        if not name.startswith("hydra/") and name not in ("hydra", "paths") and name not in dropped
    }


def run_setup(run: Run, mixed: Sequence[str]) -> Setup:
    """The :class:`Setup` of ``run``: a training run's own config; for an evaluate run, the config of the training run
    it scored (when readable), else its config without the dataset (the method as evaluated). Protocol keys in
    ``mixed`` (allowed to differ within a column) are added from the run's own config, so that they name rows."""
    if run.trained is not None:
        source, choices, overrides, dropped = run.trained.config, run.trained.choices, run.trained.overrides, set()
    elif run.is_evaluation:
        source = {key: value for key, value in run.config.items() if key != "data"}
        dropped = {"data", *(run.config.get("evaluation") or {})}
        choices, overrides = run.choices, run.overrides
    else:
        source, choices, overrides, dropped = run.config, run.choices, run.overrides, set()
    tree = {key: value for key, value in source.items() if key != "evaluation"}
    settings = without_locations(flatten(tree), source.get("paths") or {})
    settings = {key: value for key, value in settings.items() if key not in REPLICATE_KEYS}
    for key in mixed:
        settings[key] = select(run.config, key)
    return Setup(settings, _kept_choices(choices, dropped), _override_keys(overrides))


def _values(setups: Sequence[Setup], key: str, choice: bool) -> list[str]:
    if choice:
        return [setup.choices.get(key, "none") for setup in setups]
    return [canonical(setup.settings.get(key, ABSENT)) for setup in setups]


def _determined(values: Sequence[str], by: Sequence[tuple[str, ...]]) -> bool:
    """Whether ``values`` is a function of ``by`` (equal ``by`` -> equal value)."""
    seen: dict[tuple[str, ...], str] = {}
    return all(seen.setdefault(key, value) == value for key, value in zip(by, values, strict=True))


def differing_keys(setups: Sequence[Setup]) -> tuple[list[str], list[str]]:
    """(config group choices, settings) whose values differ between ``setups``."""
    choices = sorted({name for setup in setups for name in setup.choices})
    settings = sorted({key for setup in setups for key in setup.settings})
    return (
        [name for name in choices if len(set(_values(setups, name, True))) > 1],
        [key for key in settings if len(set(_values(setups, key, False))) > 1],
    )


def label_keys(setups: Sequence[Setup]) -> list[tuple[str, bool]]:
    """The keys that name rows, as ``(key, is_choice)``: the differing config group choices (``experiment`` first,
    then those set on the command line), each left out when the ones before determine it; the differing settings a
    command line set; and the other differing settings that the keys before do not determine (a learning rate
    schedule that follows the learning rate set on the command line is not shown again)."""
    choices, settings = differing_keys(setups)
    overridden = frozenset().union(*(setup.overridden for setup in setups))
    order = sorted(choices, key=lambda name: (name != "experiment", name not in overridden, name))
    kept: list[str] = []
    for name in order:
        by = [tuple(setup.choices.get(other, "none") for other in kept) for setup in setups]
        if not kept or name in overridden or not _determined(_values(setups, name, True), by):
            kept.append(name)
    chosen = [key for key in settings if key in overridden]
    by = [
        tuple(setup.choices.get(name, "none") for name in kept)
        + tuple(_values([setup], key, False)[0] for key in chosen)
        for setup in setups
    ]
    shown = chosen + [
        key for key in settings if key not in overridden and not _determined(_values(setups, key, False), by)
    ]
    return [(name, True) for name in kept] + [(key, False) for key in sorted(shown)]


def _label_value(setup: Setup, key: str, choice: bool) -> str:
    if choice:
        return setup.choices.get(key, "none")
    if key in setup.settings:
        return describe(setup.settings[key])
    # a key naming a subtree of the flat settings (``--by model.backbone``)
    subtree = {name[len(key) + 1 :]: value for name, value in setup.settings.items() if name.startswith(f"{key}.")}
    return describe(subtree) if subtree else "-"


def _by_keys(setups: Sequence[Setup], by: Sequence[str]) -> list[tuple[str, bool]]:
    keys = []
    for key in by:
        if any(key in setup.choices for setup in setups):
            keys.append((key, True))
        elif any(name == key or name.startswith(f"{key}.") for setup in setups for name in setup.settings):
            keys.append((key, False))
        else:
            choices, settings = differing_keys(setups)
            hint = (
                " (it is a path: give the run directories before --by, or end --by with --)"
                if Path(key).exists()
                else ""
            )
            raise LeaderboardError(
                f"--by {key}: no run has this config key or config group choice{hint}; keys that differ between the "
                f"runs: {', '.join(choices + settings) or 'none'}"
            )
    return keys


def _dataset_choice(run: Run) -> str:
    choice = run.choices.get("data")
    if choice is None and run.trained is not None:
        choice = run.trained.choices.get("data")
    if choice is None:
        target = select(run.config, "data._target_")
        choice = "data" if target is ABSENT else str(target).rsplit(".", 1)[-1]
    return str(choice)


def _instance(run: Run, setup: Setup) -> str:
    """Which model a run scored: the training run's directory, or the setup and seed of a method without training."""
    trained = run.trained_dir
    if trained is not None:
        return str(trained.resolve())
    if run.is_evaluation:
        return f"{config_hash(setup.settings)} seed={run.seed}"
    return str(run.path.resolve())


def _data_settings(run: Run) -> dict[str, Any]:
    return without_locations(flatten({"data": run.config.get("data") or {}}), run.config.get("paths") or {})


def dataset_labels(runs: Sequence[Run], instances: Sequence[str]) -> list[str]:
    """Each run's dataset: its ``data`` choice, refined by the dataset keys in which the evaluations of one model (one
    training run, or one method and seed) differ, e.g. ``flow/sintel (passes=final)``."""
    choices = [_dataset_choice(run) for run in runs]
    data = [_data_settings(run) for run in runs]
    first: dict[tuple[str, str], int] = {}
    refining: dict[str, set[str]] = {}
    for index, (instance, choice) in enumerate(zip(instances, choices, strict=True)):
        other = data[first.setdefault((instance, choice), index)]
        keys = set(data[index]) | set(other)
        differ = {key for key in keys if canonical(data[index].get(key, ABSENT)) != canonical(other.get(key, ABSENT))}
        refining.setdefault(choice, set()).update(differ)
    labels = []
    for choice, settings in zip(choices, data, strict=True):
        keys = sorted(refining.get(choice, ()))
        detail = ", ".join(f"{key.removeprefix('data.')}={describe(settings.get(key, ABSENT))}" for key in keys)
        labels.append(f"{choice} ({detail})" if detail else choice)
    return labels


def _choose_split(dataset: str, runs: Sequence[Run], headline: str, split: str | None) -> str:
    available = {run.name: run.splits_with(headline) for run in runs}
    if split is not None:
        lacking = [
            f"{name} (has {', '.join(splits) or 'none'})" for name, splits in available.items() if split not in splits
        ]
        if lacking:
            raise LeaderboardError(f"--split {split}: {dataset} runs without {split}/{headline}: {'; '.join(lacking)}")
        return split
    common = set.intersection(*(set(splits) for splits in available.values()))
    if not common:
        listing = "; ".join(f"{name}: {', '.join(splits)}" for name, splits in available.items())
        raise LeaderboardError(f"the {dataset} runs share no scored split ({listing}); choose one with --split")
    preferred = [name for name in SPLIT_PREFERENCE if name in common]
    return preferred[0] if preferred else sorted(common)[0]


def group_runs(
    runs: Sequence[Run], headline: str, by: Sequence[str] = (), mixed: Sequence[str] = (), split: str | None = None
) -> Grouping:
    """Rows and column groups of ``runs`` (all of one problem, ``headline`` its headline metric); ``by`` names the
    rows instead of the differing keys; ``mixed`` are protocol keys allowed to differ (they then name rows too);
    ``split`` the split shown (default: one all runs of a dataset scored, test before val)."""
    skipped = [
        Skipped(run.path, f"no {headline} score in metrics.json") for run in runs if not run.splits_with(headline)
    ]
    runs = [run for run in runs if run.splits_with(headline)]
    if not runs:
        raise LeaderboardError(f"no run has a {headline} score: " + "; ".join(str(item.path) for item in skipped))
    setups = [run_setup(run, mixed) for run in runs]
    keys = _by_keys(setups, by) if by else label_keys(setups)
    instances = [_instance(run, setup) for run, setup in zip(runs, setups, strict=True)]
    datasets = dataset_labels(runs, instances)
    splits = {
        dataset: _choose_split(
            dataset, [run for run, name in zip(runs, datasets, strict=True) if name == dataset], headline, split
        )
        for dataset in dict.fromkeys(datasets)
    }
    rows: dict[tuple[str, ...], Row] = {}
    identity_keys = (
        keys
        if by
        else [(key, False) for key in differing_keys(setups)[1]] + [(name, True) for name in differing_keys(setups)[0]]
    )
    for run, setup, dataset in zip(runs, setups, datasets, strict=True):
        identity = tuple(_values([setup], key, choice)[0] for key, choice in identity_keys)
        row = rows.setdefault(identity, Row({key: _label_value(setup, key, choice) for key, choice in keys}))
        row.cells.setdefault(ColumnGroup(dataset, splits[dataset]), []).append(run)
    pooled: list[str] = []
    if by:
        for row in rows.values():
            members = [setups[index] for index, run in enumerate(runs) if any(run is other for other in row.runs)]
            choices, settings = differing_keys(members)
            pooled.extend(key for key in choices + settings if key not in pooled)
    groups = list(dict.fromkeys(ColumnGroup(dataset, splits[dataset]) for dataset in datasets))
    models = {run.path: instance for run, instance in zip(runs, instances, strict=True)}
    return Grouping([key for key, _ in keys], list(rows.values()), groups, pooled, skipped, models)
