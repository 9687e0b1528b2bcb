"""A run's config as flat dotted keys, free of the locations that differ from run to run, and short labels of config
values: what the leaderboard compares runs by."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any


class Absent:
    """The value of a key a config does not have (distinct from a key set to null)."""

    def __repr__(self) -> str:
        return "<absent>"


ABSENT = Absent()
LOCATION_ROOTS = ("paths", "hydra", "logger")
"""Top-level config nodes that only say where things are (run folders, data roots) or where a run is logged:
never compared."""
BOOKKEEPING_KEYS = frozenset({"callbacks.optuna_pruning.trial_number"})
"""Keys that identify a job within its sweep without changing what it computes: never compared."""


def select(tree: Mapping[str, Any], key: str) -> Any:
    """The value (or subtree) at dotted ``key``; :data:`ABSENT` where the config has no such key."""
    node: Any = tree
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return ABSENT
        node = node[part]
    return node


def without_locations(flat: Mapping[str, Any], paths: Mapping[str, Any]) -> dict[str, Any]:
    """``flat`` without the location nodes (``paths.*``, ``hydra.*``, ``logger.*``) and the bookkeeping keys, every
    string that starts with one of the run's ``paths`` (its output folder, the data folder) rewritten to start with
    ``<paths.NAME>`` instead, so that two runs with the same settings in different folders or on different machines
    compare equal."""
    roots = sorted(
        ((str(value).rstrip("/"), name) for name, value in paths.items() if isinstance(value, str) and value),
        key=lambda item: -len(item[0]),
    )

    def relocated(value: Any) -> Any:
        if isinstance(value, str):
            for root, name in roots:
                if value == root or value.startswith(f"{root}/"):
                    return f"<paths.{name}>{value[len(root) :]}"
        return value

    return {
        key: relocated(value)
        for key, value in flat.items()
        if key.split(".", 1)[0] not in LOCATION_ROOTS and key not in BOOKKEEPING_KEYS
    }


def canonical(value: Any) -> str:
    """One string per value, equal for equal values (mappings with sorted keys)."""
    return json.dumps(value, sort_keys=True, default=repr)


def config_hash(flat: Mapping[str, Any]) -> str:
    """``sha256:<hex>`` of the canonical form of ``flat``."""
    return "sha256:" + hashlib.sha256(canonical(dict(flat)).encode()).hexdigest()


def describe(value: Any) -> str:
    """A short label of a config value: ``SlidingWindow(crop_size=[512, 512], stride=[341, 341])`` for an object's
    config, ``none`` for null, ``-`` for an absent key, the value itself else."""
    if value is ABSENT:
        return "-"
    if value is None:
        return "none"
    if isinstance(value, Mapping):
        target = str(value.get("_target_", "")).rsplit(".", 1)[-1]
        fields = ", ".join(f"{key}={describe(item)}" for key, item in value.items() if key != "_target_")
        return f"{target}({fields})" if target else "{" + fields + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(describe(item) for item in value) + "]"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
