"""Identity metrics IDF1, IDR, IDP (Ristani et al., "Performance measures and a data set for multi-target,
multi-camera tracking", ECCV workshops 2016), as the official MOTChallenge evaluator computes them (TrackEval's
``Identity``).

Ground-truth and tracker identities are matched one-to-one for the whole sequence so as to maximise the number of
frames in which the pair's boxes overlap with IoU >= 0.5 (no eps here, as in the reference); those frames are the
IDTP. Any optimal matching gives the same IDTP, so the matching is solved on the ``gt ids x tracker ids`` matrix of
such frame counts instead of the reference's equivalent ``(G + T) x (G + T)`` cost matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from visionbench.metrics.tracking.preprocess import SequenceData

THRESHOLD = 0.5
INTEGER_FIELDS = ("IDTP", "IDFN", "IDFP")
FLOAT_FIELDS = ("IDF1", "IDR", "IDP")


def identity_scores(data: SequenceData) -> dict[str, Any]:
    """IDF1, IDR, IDP, IDTP, IDFN, IDFP of one preprocessed sequence."""
    res: dict[str, Any] = {field: 0 for field in INTEGER_FIELDS}
    res.update({field: 0.0 for field in FLOAT_FIELDS})
    if data.num_tracker_dets == 0:  # the reference returns early, without the derived fields
        res["IDFN"] = data.num_gt_dets
        return res
    if data.num_gt_dets == 0:
        res["IDFP"] = data.num_tracker_dets
        return res

    overlapping = data.pair_iou >= THRESHOLD
    gt_id = data.gt_ids[data.pair_gt[overlapping]]
    tracker_id = data.tracker_ids[data.pair_tracker[overlapping]]
    idtp = 0
    if len(gt_id):
        keys, counts = np.unique(gt_id * data.num_tracker_ids + tracker_id, return_counts=True)
        rows, row_index = np.unique(keys // data.num_tracker_ids, return_inverse=True)
        cols, col_index = np.unique(keys % data.num_tracker_ids, return_inverse=True)
        frames_together = np.zeros((len(rows), len(cols)))
        frames_together[row_index, col_index] = counts
        match_rows, match_cols = linear_sum_assignment(frames_together, maximize=True)
        idtp = int(frames_together[match_rows, match_cols].sum())
    res.update(IDTP=idtp, IDFN=data.num_gt_dets - idtp, IDFP=data.num_tracker_dets - idtp)
    return identity_final_fields(res)


def identity_final_fields(res: dict[str, Any]) -> dict[str, Any]:
    """IDR, IDP, IDF1 from IDTP, IDFN, IDFP."""
    res["IDR"] = res["IDTP"] / max(1.0, res["IDTP"] + res["IDFN"])
    res["IDP"] = res["IDTP"] / max(1.0, res["IDTP"] + res["IDFP"])
    res["IDF1"] = res["IDTP"] / max(1.0, res["IDTP"] + 0.5 * res["IDFP"] + 0.5 * res["IDFN"])
    return res


def combine_identity(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Identity metrics over several sequences: counts summed, ratios recomputed (TrackEval's rule)."""
    return identity_final_fields({field: sum(r[field] for r in results) for field in INTEGER_FIELDS})
