"""Job folder names derived from a job's overrides, so that the same job lands in the same folder whichever position
it has in the sweep, and a resumed sweep finds it again."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

UNSAFE = re.compile(r"[^A-Za-z0-9._=,+-]")
"""Characters replaced by ``_`` in the readable part of a name."""
READABLE_LENGTH = 80
HASH_LENGTH = 8
SEPARATOR = "__"
NO_VARYING = "job"
"""The readable part of a job that differs from no other (no varying key)."""
FAILED_ATTEMPTS = "failed_attempts"
"""Folder of a sweep that keeps the earlier attempts of jobs that were run again (``<name>/<n>/``)."""


def override_key(override: str) -> str:
    """The key an override sets (``+model.x=1`` -> ``model.x``, ``~trainer.y`` -> ``trainer.y``)."""
    return override.partition("=")[0].lstrip("+~")


def overrides_hash(overrides: Sequence[str]) -> str:
    """The first :data:`HASH_LENGTH` hex digits of the sha256 of ``overrides``, sorted (their order does not
    matter)."""
    return hashlib.sha256("\n".join(sorted(overrides)).encode("utf-8")).hexdigest()[:HASH_LENGTH]


def job_dir_name(overrides: Sequence[str], varying: Sequence[str]) -> str:
    """``<readable>__<hash>``: ``key=value`` of the overrides whose key is in ``varying``, joined by ``,``, with
    characters outside ``[A-Za-z0-9._=,+-]`` replaced by ``_`` and cut to :data:`READABLE_LENGTH` characters
    (``job`` when none varies), then the hash of all the overrides (:func:`overrides_hash`). The same overrides give
    the same name; overrides that differ in any key give different hashes."""
    pairs = []
    for override in overrides:
        key, _, value = override.partition("=")
        if override_key(key) in varying:
            pairs.append(f"{override_key(key)}={value}")
    readable = UNSAFE.sub("_", ",".join(pairs))[:READABLE_LENGTH] or NO_VARYING
    return f"{readable}{SEPARATOR}{overrides_hash(overrides)}"


def hash_of_name(name: str) -> str | None:
    """The hash part of a job folder name made by :func:`job_dir_name`; None for another folder name."""
    _, separator, digest = name.rpartition(SEPARATOR)
    return digest if separator and re.fullmatch(f"[0-9a-f]{{{HASH_LENGTH}}}", digest) else None


def varying_keys(job_overrides: Sequence[Sequence[str]]) -> list[str]:
    """The keys whose values differ between the jobs (or that only some jobs set), in order of first appearance."""
    keys = {key: None for overrides in job_overrides for key in map(override_key, overrides)}
    values: dict[str, set[str | None]] = {key: set() for key in keys}
    for overrides in job_overrides:
        present = {override_key(o): o.partition("=")[2] for o in overrides}
        for key in keys:
            values[key].add(present.get(key))
    return [key for key in keys if len(values[key]) > 1]
