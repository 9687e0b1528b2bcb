"""Hand-made run directories in the layout train.py and evaluate.py write (config.yaml, metrics.json, env.json,
scores.npz, run.json, .hydra/, csv/metrics.csv), and a toy problem whose headline is the mean of a per-sample value,
so that every expected number can be computed by hand."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import yaml

from visionbench.runner.scores import write_scores
from visionbench.tasks.contract import Headline, ProblemContract, check_counts


class ToyContract(ProblemContract):
    """Headline ``score`` (max): the mean over samples of the per-sample field ``value``; ``errors`` is a count."""

    name = "toy"
    headline = Headline("score", "max")
    leaderboard_metrics = ("errors",)
    evaluation_protocol = (*ProblemContract.evaluation_protocol, "model.eval_iters")

    def metric_unit(self, metric: str) -> str:
        return "count" if metric == "errors" else "fraction"

    def metrics_from_scores(self, scores: Mapping[str, np.ndarray], split: str) -> dict[str, float]:
        return {f"{split}/score": float(np.mean(scores["value"]))}

    def resampled_headline(self, scores: Mapping[str, np.ndarray], counts: np.ndarray) -> np.ndarray:
        counts = check_counts(scores, counts)
        return counts @ np.asarray(scores["value"], dtype=np.float64) / counts.sum(axis=1)


class ToyTask:
    """The ``task._target_`` of the toy runs."""

    contract: ClassVar[ProblemContract] = ToyContract()


class MinimisedContract(ToyContract):
    """The toy problem ranked the other way (lower ``score`` is better)."""

    name = "toy_min"
    headline = Headline("score", "min")


class MinimisedTask:
    contract: ClassVar[ProblemContract] = MinimisedContract()


TOY_TASK = f"{__name__}.ToyTask"
BASE_CONFIG: dict[str, Any] = {
    "task": {"_target_": TOY_TASK},
    "model": {"_target_": "toy.Net", "width": 8},
    "data": {"_target_": "toy.Data", "root": "/data/toy", "size": 4},
    "optim": {"lr": 0.1},
    "seed": 0,
    "paths": {"output_dir": "OUTPUT", "data_dir": "/data"},
    "callbacks": {"checkpoint": {"dirpath": "OUTPUT/checkpoints"}},
}
CHOICES = {"model": "toy/net", "data": "toy/data", "optim": "sgd", "hydra/launcher": "basic"}


def merged(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with dotted-key ``changes`` applied (a None value under ``~`` prefix removes the key)."""
    tree = copy.deepcopy(dict(base))
    for key, value in changes.items():
        remove = key.startswith("~")
        parts = key.lstrip("~").split(".")
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        if remove:
            node.pop(parts[-1], None)
        else:
            node[parts[-1]] = value
    return tree


def write_run(
    path: Path,
    metrics: Mapping[str, Any],
    changes: Mapping[str, Any] | None = None,
    *,
    scores: Mapping[str, Sequence[float]] | None = None,
    sample_ids: Sequence[str] | None = None,
    choices: Mapping[str, Any] | None = None,
    overrides: Sequence[str] = (),
    env: Mapping[str, Any] | None = None,
    info: Mapping[str, Any] | None = None,
    base: Mapping[str, Any] = BASE_CONFIG,
    curve: Sequence[tuple[int, float]] = (),
) -> Path:
    """A run directory at ``path``: the toy config with ``changes`` (dotted keys; ``OUTPUT`` becomes the run's
    folder), ``metrics``, per-sample ``value`` scores per split (ids ``s0, s1, ...`` unless given), env.json with a
    commit and ``env``, run.json ``info``, .hydra choices and overrides, and a CSV log of val/score ``curve``."""
    path.mkdir(parents=True)
    config = merged(base, changes or {})
    text = yaml.safe_dump(config, sort_keys=False).replace("OUTPUT", str(path))
    (path / "config.yaml").write_text(text)
    (path / "metrics.json").write_text(json.dumps(dict(metrics)))
    environment = {"git": {"commit": "0123456789abcdef0123", "dirty": False}, "model_parameters": 1000}
    (path / "env.json").write_text(json.dumps({**environment, **(env or {})}))
    if info is not None:
        (path / "run.json").write_text(json.dumps(dict(info)))
    hydra = path / ".hydra"
    hydra.mkdir()
    all_choices = {**CHOICES, **(choices or {})}
    (hydra / "hydra.yaml").write_text(yaml.safe_dump({"hydra": {"runtime": {"choices": all_choices}}}))
    (hydra / "overrides.yaml").write_text(yaml.safe_dump(list(overrides)))
    if scores:
        arrays = {}
        for split, values in scores.items():
            ids = sample_ids if sample_ids is not None else [f"s{index}" for index in range(len(values))]
            arrays[split] = {"sample_id": np.array(ids, dtype=np.str_), "value": np.asarray(values, dtype=np.float64)}
        write_scores(path, arrays)
    if curve:
        (path / "csv").mkdir()
        lines = ["epoch,step,val/score,train/loss_epoch"] + [
            f"{i},{step},{value},{1 - value}" for i, (step, value) in enumerate(curve)
        ]
        (path / "csv" / "metrics.csv").write_text("\n".join(lines) + "\n")
    return path


def write_evaluation(
    path: Path,
    metrics: Mapping[str, Any],
    trained: Path | None,
    evaluation: Mapping[str, Any] | None = None,
    changes: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> Path:
    """An evaluate run: the trained run's config (or the toy config for a method without training) with ``changes``
    and an ``evaluation:`` node (split val, whole-image defaults, ``run_dir`` = ``trained``)."""
    base = yaml.safe_load((trained / "config.yaml").read_text()) if trained is not None else BASE_CONFIG
    node = {"split": "val", "inference": None, "postprocess": None, "checkpoint": None, "run_dir": None}
    node.update({"run_dir": str(trained) if trained is not None else None, **(evaluation or {})})
    config = merged(base, {"evaluation": node, **(changes or {})})
    config["paths"] = {"output_dir": "OUTPUT", "data_dir": "/data"}
    choices = {"model": None, "data": None, **kwargs.pop("choices", {})}
    return write_run(path, metrics, base=config, choices=choices, **kwargs)
