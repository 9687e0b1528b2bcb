"""Score tracker output against MOTChallenge ground truth: one sequence, a combination of sequences, or files.

The scores are those of the official MOTChallenge evaluator, TrackEval (CLEAR, Identity, HOTA and Count, with
``MotChallenge2DBox`` preprocessing), reimplemented with vectorised numpy. Results are flat dicts keyed by
TrackEval's field names, plus:

- HOTA's per-alpha fields are kept as ``(19,)`` arrays under ``<field>_alpha`` (``HOTA_alpha``, ``DetA_alpha``, ...,
  ``HOTA_TP_alpha``, ``HOTA_FN_alpha``, ``HOTA_FP_alpha``); ``HOTA``, ``DetA``, ``AssA``, ``DetRe``, ``DetPr``,
  ``AssRe``, ``AssPr``, ``LocA``, ``OWTA`` are their means over alpha (the value TrackEval reports);
- the aliases ``FP`` (= ``CLR_FP``), ``FN`` (= ``CLR_FN``) and ``TP`` (= ``CLR_TP``).

Counts are ``int``, ratios ``float``; every ratio is a fraction (TrackEval's tables print 100 x the value).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from visionbench.data.errors import DatasetLayoutError
from visionbench.data.tracking.mot_io import MotTable, read_mot_table
from visionbench.metrics.tracking.clear import clear_scores as _clear_scores
from visionbench.metrics.tracking.clear import combine_clear
from visionbench.metrics.tracking.hota import (
    FLOAT_ARRAY_FIELDS as HOTA_ARRAY_FIELDS,
)
from visionbench.metrics.tracking.hota import (
    INTEGER_ARRAY_FIELDS as HOTA_COUNT_FIELDS,
)
from visionbench.metrics.tracking.hota import combine_hota, hota_scores
from visionbench.metrics.tracking.identity import combine_identity, identity_scores
from visionbench.metrics.tracking.preprocess import SequenceData, prepare_sequence

TrackingScores = dict[str, Any]
COUNT_FIELDS = ("Dets", "GT_Dets", "IDs", "GT_IDs", "Frames")
_ALIASES = {"FP": "CLR_FP", "FN": "CLR_FN", "TP": "CLR_TP"}


def evaluate_sequence(
    gt: MotTable, tracker: MotTable, num_frames: int, benchmark: str = "MOT17", preprocess: bool = True
) -> TrackingScores:
    """CLEAR, Identity, HOTA and Count scores of one sequence, as TrackEval's MOTChallenge evaluation gives them.

    ``gt``/``tracker``: tables from :func:`~visionbench.data.tracking.mot_io.read_mot_table` (kinds ``"gt"`` and
    ``"result"``); ``num_frames``: the sequence length (``seqinfo.ini`` ``seqLength``; frames without boxes are
    allowed, boxes beyond it raise). ``benchmark`` (MOT15, MOT16, MOT17, MOT20) picks the preprocessing rules;
    ``preprocess=False`` switches the distractor removal off (as TrackEval's ``DO_PREPROC``). See the module
    docstring for the keys of the returned dict.
    """
    data = prepare_sequence(gt, tracker, num_frames, benchmark, preprocess)
    return _flat(_count_scores(data), _clear_scores(data), identity_scores(data), hota_scores(data))


def combine_sequences(results: Sequence[TrackingScores]) -> TrackingScores:
    """Scores over several sequences, combined as TrackEval's ``COMBINED_SEQ`` row: counts (and ``MOTP_sum``)
    summed and ratios recomputed; HOTA's AssA, AssRe, AssPr and LocA averaged per alpha weighted by the sequences'
    HOTA TP counts. ``Frames`` is the total number of frames."""
    if not results:
        raise ValueError("combine_sequences needs at least one sequence's scores")
    hota = [{field: r[f"{field}_alpha"] for field in (*HOTA_ARRAY_FIELDS, *HOTA_COUNT_FIELDS)} for r in results]
    counts = {field: sum(r[field] for r in results) for field in COUNT_FIELDS}
    return _flat(counts, combine_clear(results), combine_identity(results), combine_hota(hota))


def sequence_fields(per_sequence: Sequence[TrackingScores]) -> dict[str, np.ndarray]:
    """The per-sequence scores as arrays with one entry per sequence, in order (``scores.npz``): every scalar field
    (int64 where it is an int in every sequence, else float64) and every per-alpha field (``N x 19`` float64), from
    which :func:`sequences_from_fields` gives the scores back exactly (hence :func:`combine_sequences` too)."""
    fields: dict[str, np.ndarray] = {}
    for key in per_sequence[0] if per_sequence else ():
        values = [scores[key] for scores in per_sequence]
        if isinstance(values[0], np.ndarray):
            fields[key] = np.stack(values).astype(np.float64)
        else:
            integer = all(isinstance(value, int) for value in values)
            fields[key] = np.array(values, dtype=np.int64 if integer else np.float64)
    return fields


def sequences_from_fields(fields: Mapping[str, np.ndarray], count: int) -> list[TrackingScores]:
    """The ``count`` per-sequence score dicts of :func:`sequence_fields`' arrays (ints as ``int``, other scalars as
    ``float``, per-alpha fields as arrays)."""

    def value(array: np.ndarray, index: int) -> Any:
        if array.ndim > 1:
            return array[index].copy()
        return int(array[index]) if np.issubdtype(array.dtype, np.integer) else float(array[index])

    for key, array in fields.items():
        if len(array) != count:
            raise ValueError(f"tracking field {key} has {len(array)} entries for {count} sequences")
    return [{key: value(array, index) for key, array in fields.items()} for index in range(count)]


def evaluate_results(
    gt_files: Mapping[str, str | Path],
    result_files: Mapping[str, str | Path],
    num_frames: Mapping[str, int],
    benchmark: str = "MOT17",
    preprocess: bool = True,
) -> tuple[dict[str, TrackingScores], TrackingScores]:
    """Score a tracker's result files against ground-truth files, sequence by sequence, and combine them.

    All three mappings are keyed by sequence name (``gt_files[seq]``: ``<seq>/gt/gt.txt``, ``result_files[seq]``:
    the tracker's ``<seq>.txt``, ``num_frames[seq]``: ``seqLength``). Every file is checked before any scoring: a
    sequence without a result file raises :class:`~visionbench.data.errors.DatasetLayoutError` naming the file.
    Returns (scores per sequence, combined scores).
    """
    for name, path in gt_files.items():
        if not Path(path).is_file():
            raise DatasetLayoutError(f"{path}: ground-truth file of sequence {name} not found")
        if name not in result_files:
            raise DatasetLayoutError(f"no result file given for sequence {name} (ground truth {path})")
        if not Path(result_files[name]).is_file():
            raise DatasetLayoutError(f"{result_files[name]}: result file of sequence {name} not found")
        if name not in num_frames:
            raise ValueError(f"no sequence length given for sequence {name}")
    per_sequence = {
        name: evaluate_sequence(
            read_mot_table(gt_files[name], "gt"),
            read_mot_table(result_files[name], "result"),
            num_frames[name],
            benchmark,
            preprocess,
        )
        for name in gt_files
    }
    return per_sequence, combine_sequences(list(per_sequence.values()))


def _count_scores(data: SequenceData) -> dict[str, int]:
    return {
        "Dets": data.num_tracker_dets,
        "GT_Dets": data.num_gt_dets,
        "IDs": data.num_tracker_ids,
        "GT_IDs": data.num_gt_ids,
        "Frames": data.num_frames,
    }


def _flat(
    counts: dict[str, Any], clear: dict[str, Any], identity: dict[str, Any], hota: dict[str, Any]
) -> TrackingScores:
    scores: TrackingScores = {}
    for part in (counts, clear, identity):
        for key, value in part.items():
            scores[key] = _python_number(value)
    for key, value in hota.items():
        if isinstance(value, np.ndarray):
            scores[f"{key}_alpha"] = value.astype(np.float64)
            if key in HOTA_ARRAY_FIELDS:
                scores[key] = float(value.mean())
        else:
            scores[key] = float(value)
    for alias, key in _ALIASES.items():
        scores[alias] = scores[key]
    return scores


def _python_number(value: Any) -> int | float:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    return float(value)
