"""What must be equal for runs to share a column: the problem (always), and within a column group the split's
samples (the manifest hash of env.json) and the evaluation protocol the problem declares
(:attr:`~visionbench.tasks.contract.ProblemContract.evaluation_protocol`: inference mode, post-processing, iteration
counts). A refusal names the differing key and the runs on each side; ``--allow-mixed KEY`` lifts it for one key."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from omegaconf import OmegaConf

from visionbench.leaderboard.errors import LeaderboardError, MixedRunsError
from visionbench.leaderboard.runs import Run
from visionbench.leaderboard.settings import ABSENT, canonical, describe, select
from visionbench.tasks.contract import ProblemContract, problem_contract
from visionbench.utils.mappings import flatten

MANIFEST = "manifest"
"""The ``--allow-mixed`` name of the split manifest."""


def _names(runs: Sequence[Run], limit: int = 3) -> str:
    names = [run.name for run in runs[:limit]]
    return ", ".join(names) + (f" and {len(runs) - limit} more" if len(runs) > limit else "")


def run_contract(run: Run) -> ProblemContract:
    """The problem contract of ``run`` (from ``task._target_`` of its config.yaml)."""
    target = select(run.config, "task._target_")
    if target is ABSENT:
        raise LeaderboardError(f"{run.path / 'config.yaml'}: no task._target_, so the problem is unknown")
    try:
        return problem_contract(OmegaConf.create({"task": {"_target_": target}}))
    except (ImportError, TypeError, ValueError) as error:
        raise LeaderboardError(f"{run.path / 'config.yaml'}: task._target_={target}: {error}") from error


def check_problem(runs: Sequence[Run]) -> ProblemContract:
    """The one problem of ``runs``; runs of different problems are refused."""
    by_problem: dict[str, tuple[ProblemContract, list[Run]]] = {}
    for run in runs:
        contract = run_contract(run)
        by_problem.setdefault(contract.name, (contract, []))[1].append(run)
    if len(by_problem) > 1:
        sides = "; ".join(f"{name}: {_names(members)}" for name, (_, members) in by_problem.items())
        raise MixedRunsError(f"runs of different problems (task._target_) cannot share a leaderboard: {sides}")
    return next(iter(by_problem.values()))[0]


def _sides(values: dict[str, tuple[Any, list[Run]]]) -> str:
    return "; ".join(f"{describe(value)}: {_names(members)}" for value, members in values.values())


def check_protocol(column: str, runs: Sequence[Run], contract: ProblemContract, allowed: Collection[str]) -> None:
    """Refuse ``runs`` (one column) that differ in a protocol key of ``contract`` not in ``allowed``; a key absent or
    null in a run's config takes the contract's :attr:`~visionbench.tasks.contract.ProblemContract.protocol_defaults`
    value, and a key absent without a default does not apply to that run."""
    for key in contract.evaluation_protocol:
        if key in allowed:
            continue
        values: dict[str, tuple[Any, list[Run]]] = {}
        for run in runs:
            value = select(run.config, key)
            if value is ABSENT or value is None:
                value = contract.protocol_defaults.get(key, value)
            if value is not ABSENT:
                values.setdefault(canonical(value), (value, []))[1].append(run)
        if len(values) > 1:
            raise MixedRunsError(
                f"{column}: the runs differ in {key} (evaluation protocol): {_sides(values)}. Compare runs scored "
                f"alike, or pass --allow-mixed {key} to rank each {key} as its own row"
            )


def _data_difference(first: Run, second: Run) -> str:
    a, b = flatten({"data": first.config.get("data") or {}}), flatten({"data": second.config.get("data") or {}})
    keys = sorted(key for key in set(a) | set(b) if canonical(a.get(key, ABSENT)) != canonical(b.get(key, ABSENT)))
    return ", ".join(f"{key} ({describe(a.get(key, ABSENT))} vs {describe(b.get(key, ABSENT))})" for key in keys)


def check_samples(column: str, split: str, runs: Sequence[Run], allowed: Collection[str]) -> None:
    """Refuse ``runs`` (one column) that scored different samples of ``split`` (their manifest hashes differ), unless
    ``allowed`` holds :data:`MANIFEST`; runs without a recorded manifest are not checked."""
    if MANIFEST in allowed:
        return
    values: dict[str, tuple[Any, list[Run]]] = {}
    for run in runs:
        manifest = run.manifest(split)
        if manifest is not None:
            values.setdefault(manifest, (manifest, []))[1].append(run)
    if len(values) > 1:
        sides = list(values.values())
        difference = _data_difference(sides[0][1][0], sides[1][1][0])
        hint = f" (their data configs differ in {difference})" if difference else ""
        raise MixedRunsError(
            f"{column}: the runs scored different samples of {split} (env.json splits.{split}.manifest): "
            f"{_sides(values)}{hint}. Compare runs on one sample set, or pass --allow-mixed {MANIFEST} to compare "
            "them on the samples they share"
        )
