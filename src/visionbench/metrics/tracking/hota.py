"""HOTA (Luiten et al., "HOTA: A Higher Order Metric for Evaluating Multi-Object Tracking", IJCV 2021), as the
official MOTChallenge evaluator computes it (TrackEval's ``HOTA``).

For each localisation threshold ``alpha`` in ``0.05, 0.10, ..., 0.95`` (:data:`ALPHAS`): per frame, boxes are
matched by the Hungarian algorithm maximising ``global alignment x IoU``, where the global alignment of a
(gt id, tracker id) pair is the Jaccard index of their tracks, accumulated from the per-frame normalised
similarities ``IoU / (row sum + column sum - IoU)``; matches with IoU >= alpha (minus float eps) are TPs.
``DetA = TP / (TP + FN + FP)``, ``AssA`` = mean over TPs of the Jaccard index of the matched pair's TP count,
``HOTA = sqrt(DetA * AssA)``; LocA, DetRe/DetPr, AssRe/AssPr, OWTA as in the paper. Every field is an array over
alpha; ``HOTA(0)``, ``LocA(0)`` and ``HOTALocA(0)`` are the values at alpha = 0.05.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from visionbench.metrics.tracking.matching import EPS, assign_frames, compact_labels
from visionbench.metrics.tracking.preprocess import SequenceData

ALPHAS = np.arange(0.05, 0.99, 0.05)  # exactly the reference's 19 thresholds
INTEGER_ARRAY_FIELDS = ("HOTA_TP", "HOTA_FN", "HOTA_FP")
FLOAT_ARRAY_FIELDS = ("HOTA", "DetA", "AssA", "DetRe", "DetPr", "AssRe", "AssPr", "LocA", "OWTA")
FLOAT_FIELDS = ("HOTA(0)", "LocA(0)", "HOTALocA(0)")


def hota_scores(data: SequenceData) -> dict[str, Any]:
    """HOTA fields of one preprocessed sequence: ``(19,)`` float arrays (TrackEval's names) and 3 floats."""
    num_alphas = len(ALPHAS)
    res: dict[str, Any] = {field: np.zeros(num_alphas) for field in (*FLOAT_ARRAY_FIELDS, *INTEGER_ARRAY_FIELDS)}
    res.update({field: 0.0 for field in FLOAT_FIELDS})
    if data.num_tracker_dets == 0 or data.num_gt_dets == 0:  # the reference returns early
        if data.num_tracker_dets == 0:
            res["HOTA_FN"] = np.full(num_alphas, float(data.num_gt_dets))
        else:
            res["HOTA_FP"] = np.full(num_alphas, float(data.num_tracker_dets))
        res["LocA"] = np.ones(num_alphas)
        res["LocA(0)"] = 1.0
        return res

    gt_count = np.bincount(data.gt_ids, minlength=data.num_gt_ids).astype(np.float64)
    tracker_count = np.bincount(data.tracker_ids, minlength=data.num_tracker_ids).astype(np.float64)
    pair_gt_id = data.gt_ids[data.pair_gt]
    pair_tracker_id = data.tracker_ids[data.pair_tracker]
    num_keys, pair_key = compact_labels(pair_gt_id * data.num_tracker_ids + pair_tracker_id)
    key_gt = np.zeros(num_keys, dtype=np.int64)
    key_gt[pair_key] = pair_gt_id
    key_tracker = np.zeros(num_keys, dtype=np.int64)
    key_tracker[pair_key] = pair_tracker_id

    # Global alignment of id pairs; bincount adds each pair's frames in time order, as the reference does.
    potential = np.bincount(pair_key, weights=data.pair_norm_iou, minlength=num_keys)
    alignment = potential / (gt_count[key_gt] + tracker_count[key_tracker] - potential)
    matched = assign_frames(
        data.pair_frames,
        data.pair_gt,
        data.pair_tracker,
        alignment[pair_key] * data.pair_iou,
        data.gt_start,
        data.tracker_start,
        keep_above=None,
    )

    # level = number of alphas a match passes; a match counts as TP for alphas[:level].
    iou = data.pair_iou[matched]
    level = np.searchsorted(ALPHAS - EPS, iou, side="right")
    tp = _above_levels(np.bincount(level, minlength=num_alphas + 1).astype(np.float64))
    loc_sum = _above_levels(np.bincount(level, weights=iou, minlength=num_alphas + 1))
    num_matched_keys, matched_key = compact_labels(pair_key[matched])
    matched_keys = np.zeros(num_matched_keys, dtype=np.int64)
    matched_keys[matched_key] = pair_key[matched]
    per_key_level = np.bincount(
        matched_key * (num_alphas + 1) + level, minlength=num_matched_keys * (num_alphas + 1)
    ).reshape(num_matched_keys, num_alphas + 1)
    matches = _above_levels(per_key_level.astype(np.float64).T).T  # (keys, alphas) TP count of each id pair
    gt_n = gt_count[key_gt[matched_keys]][:, None]
    tracker_n = tracker_count[key_tracker[matched_keys]][:, None]
    tp_weight = np.maximum(1, tp)
    res["AssA"] = np.sum(matches * (matches / np.maximum(1, gt_n + tracker_n - matches)), axis=0) / tp_weight
    res["AssRe"] = np.sum(matches * (matches / np.maximum(1, gt_n)), axis=0) / tp_weight
    res["AssPr"] = np.sum(matches * (matches / np.maximum(1, tracker_n)), axis=0) / tp_weight
    res["HOTA_TP"] = tp
    res["HOTA_FN"] = data.num_gt_dets - tp
    res["HOTA_FP"] = data.num_tracker_dets - tp
    res["LocA"] = np.maximum(1e-10, loc_sum) / np.maximum(1e-10, tp)
    return hota_final_fields(res)


def _above_levels(per_level: np.ndarray) -> np.ndarray:
    """``out[a] = sum(per_level[a + 1:])`` along the first axis (values at levels beyond alpha ``a``)."""
    return np.cumsum(per_level[::-1], axis=0)[::-1][1:]


def hota_final_fields(res: dict[str, Any]) -> dict[str, Any]:
    """DetRe, DetPr, DetA, HOTA, OWTA and the alpha-0.05 scalars from TP/FN/FP, AssA and LocA."""
    res["DetRe"] = res["HOTA_TP"] / np.maximum(1, res["HOTA_TP"] + res["HOTA_FN"])
    res["DetPr"] = res["HOTA_TP"] / np.maximum(1, res["HOTA_TP"] + res["HOTA_FP"])
    res["DetA"] = res["HOTA_TP"] / np.maximum(1, res["HOTA_TP"] + res["HOTA_FN"] + res["HOTA_FP"])
    res["HOTA"] = np.sqrt(res["DetA"] * res["AssA"])
    res["OWTA"] = np.sqrt(res["DetRe"] * res["AssA"])
    res["HOTA(0)"] = float(res["HOTA"][0])
    res["LocA(0)"] = float(res["LocA"][0])
    res["HOTALocA(0)"] = res["HOTA(0)"] * res["LocA(0)"]
    return res


def combine_hota(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """HOTA over several sequences (TrackEval's rule): TP/FN/FP summed; AssA, AssRe, AssPr and LocA averaged
    weighted by each sequence's TP; the rest recomputed."""
    res: dict[str, Any] = {field: sum(r[field] for r in results) for field in INTEGER_ARRAY_FIELDS}
    tp_weight = np.maximum(1.0, res["HOTA_TP"])
    for field in ("AssRe", "AssPr", "AssA"):
        res[field] = sum(r[field] * r["HOTA_TP"] for r in results) / tp_weight
    loc_sum = sum(r["LocA"] * r["HOTA_TP"] for r in results)
    res["LocA"] = np.maximum(1e-10, loc_sum) / np.maximum(1e-10, res["HOTA_TP"])
    return hota_final_fields(res)
