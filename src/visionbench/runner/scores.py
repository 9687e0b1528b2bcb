"""Per-sample scores of a run: ``<run>/scores.npz`` and the split manifests recorded in ``<run>/env.json``.

``scores.npz`` (``numpy.savez_compressed``) holds one array per split and field, named ``<split>/<field>``; every
split has ``<split>/sample_id`` (unicode, dataset order) and the problem's fields, each with one entry per sample
along its first axis (see each problem's contract). A split's manifest, ``"sha256:" + sha256("\\n".join(ids))``, is
recorded in env.json as ``"splits": {"<split>": {"manifest": ..., "samples": N}}``, so that two runs can be paired
sample by sample. Both files are written atomically (a temporary file renamed into place): an interrupted write
leaves no ``scores.npz`` at all rather than a truncated one.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from visionbench.utils.atomic import write_atomically, write_text_atomically

SCORES_FILE = "scores.npz"
ENVIRONMENT_FILE = "env.json"
SAMPLE_ID = "sample_id"


def split_manifest(ids: Iterable[str]) -> str:
    """``"sha256:<hex>"`` of the sample ids joined by newlines (UTF-8): equal for two splits with the same samples
    in the same order."""
    return "sha256:" + hashlib.sha256("\n".join(str(i) for i in ids).encode("utf-8")).hexdigest()


def _checked(split: str, fields: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``fields`` as arrays, refused (ValueError naming the split and field) unless they name their samples once
    each and every field has one entry per sample."""
    if not split or "/" in split:
        raise ValueError(f"split names may not be empty nor hold '/': {split!r}")
    if SAMPLE_ID not in fields:
        raise ValueError(f"the scores of split {split!r} have no {SAMPLE_ID!r} (fields: {sorted(fields)})")
    ids = np.asarray(fields[SAMPLE_ID])
    if ids.ndim != 1 or (len(ids) and ids.dtype.kind != "U"):
        raise ValueError(f"{split}/{SAMPLE_ID} must be a 1-d array of strings, got {ids.dtype} {ids.shape}")
    names, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        raise ValueError(f"{split}/{SAMPLE_ID} names samples more than once: {names[counts > 1][:5].tolist()}")
    arrays = {SAMPLE_ID: ids.astype(np.str_)}
    for field, values in fields.items():
        if field == SAMPLE_ID:
            continue
        if not field or "/" in field:
            raise ValueError(f"field names may not be empty nor hold '/': {split}/{field!r}")
        array = np.asarray(values)
        if array.dtype.kind not in "biuf" or array.ndim == 0 or len(array) != len(ids):
            raise ValueError(
                f"{split}/{field} must be a numeric array with one entry per sample ({len(ids)}), got "
                f"{array.dtype} {array.shape}"
            )
        arrays[field] = array
    return arrays


def write_scores(run_dir: str | Path, scores: Mapping[str, Mapping[str, np.ndarray]]) -> Path:
    """Write ``{split: {field: array}}`` to ``<run_dir>/scores.npz`` and each split's manifest and sample count into
    ``<run_dir>/env.json`` (created when absent, else its ``splits`` entry added); both atomically. Refuses to
    overwrite an earlier ``scores.npz`` or manifests; returns the path of ``scores.npz``."""
    run_dir = Path(run_dir)
    path = run_dir / SCORES_FILE
    checked = {split: _checked(split, fields) for split, fields in scores.items()}
    environment_path = run_dir / ENVIRONMENT_FILE
    environment = json.loads(environment_path.read_text()) if environment_path.exists() else {}
    if "splits" in environment:
        raise FileExistsError(f"{environment_path} already records split manifests: refusing to overwrite them")
    arrays = {f"{split}/{field}": values for split, fields in checked.items() for field, values in fields.items()}
    if not write_atomically(path, lambda stream: np.savez_compressed(stream, **arrays), replace=False):
        raise FileExistsError(f"refusing to overwrite {path}")
    environment["splits"] = {
        split: {"manifest": split_manifest(fields[SAMPLE_ID]), "samples": len(fields[SAMPLE_ID])}
        for split, fields in checked.items()
    }
    text = json.dumps(environment, indent=2, sort_keys=True) + "\n"
    write_text_atomically(environment_path, text, replace=True)
    return path


def read_scores(run_dir: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """``{split: {field: array}}`` of ``<run_dir>/scores.npz``, each split checked as :func:`write_scores` checks it
    and against the manifest env.json records for it (when it records one). Errors name the file and what is
    wrong: missing, unreadable (e.g. truncated), a split without sample ids, a manifest that does not match."""
    path = Path(run_dir) / SCORES_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: the run wrote no per-sample scores")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise ValueError(f"cannot read {path} (truncated or not a scores file): {error}") from error
    scores: dict[str, dict[str, np.ndarray]] = {}
    for name, values in arrays.items():
        split, _, field = name.partition("/")
        if not field:
            raise ValueError(f"{path} holds {name!r}, not a <split>/<field> array")
        scores.setdefault(split, {})[field] = values
    try:
        scores = {split: _checked(split, fields) for split, fields in scores.items()}
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from error
    environment_path = Path(run_dir) / ENVIRONMENT_FILE
    if environment_path.is_file():
        recorded = json.loads(environment_path.read_text()).get("splits", {})
        for split, entry in recorded.items():
            if split not in scores or split_manifest(scores[split][SAMPLE_ID]) != entry.get("manifest"):
                raise ValueError(f"{path}: split {split!r} does not match the manifest recorded in {environment_path}")
    return scores
