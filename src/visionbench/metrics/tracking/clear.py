"""CLEAR MOT metrics (Bernardin & Stiefelhagen, "Evaluating multiple object tracking performance: the CLEAR MOT
metrics", 2008) with the conventions of the official MOTChallenge evaluator (TrackEval's ``CLEAR``).

Per frame, ground truth and tracker boxes with IoU >= 0.5 (minus float eps) are matched by the Hungarian algorithm,
where a pair continuing a match of the previous frame (the last frame holding both gt and tracker boxes) gets a
bonus of 1000, so that matches persist. Over the sequence: TP/FN/FP, ``IDSW`` (a gt matched to a different tracker
id than at its previous match, any number of frames back), ``Frag`` (restarts of a gt's matched runs),
MT/PT/ML (gt matched in > 80 %, >= 20 %, < 20 % of its frames), ``MOTP`` = mean IoU of matches,
``MOTA = (TP - FP - IDSW) / (TP + FN)`` and the derived fields.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from visionbench.metrics.tracking.matching import EPS, assign_frames, conflicting_frames, solve_frame
from visionbench.metrics.tracking.preprocess import SequenceData

THRESHOLD = 0.5
CONTINUITY_BONUS = 1000
_ROUNDS = 3  # matching rounds before falling back to the frame-by-frame loop
INTEGER_FIELDS = ("CLR_TP", "CLR_FN", "CLR_FP", "IDSW", "MT", "PT", "ML", "Frag", "CLR_Frames")
FLOAT_FIELDS = (
    "MOTA",
    "MOTP",
    "MODA",
    "CLR_Re",
    "CLR_Pr",
    "MTR",
    "PTR",
    "MLR",
    "sMOTA",
    "CLR_F1",
    "FP_per_frame",
    "MOTAL",
    "MOTP_sum",
)


def clear_scores(data: SequenceData) -> dict[str, Any]:
    """CLEAR fields of one preprocessed sequence (TrackEval's field names; ``MOTP_sum`` kept for combining)."""
    res: dict[str, Any] = {field: 0 for field in INTEGER_FIELDS}
    res.update({field: 0.0 for field in FLOAT_FIELDS})
    if data.num_tracker_dets == 0:  # the reference returns early, without the derived fields
        res.update(CLR_FN=data.num_gt_dets, ML=data.num_gt_ids, MLR=1.0)
        return res
    if data.num_gt_dets == 0:
        res.update(CLR_FP=data.num_tracker_dets, MLR=1.0)
        return res

    frames, gt, tracker, iou = _matches(data)
    num_tp = len(frames)
    gt_id = data.gt_ids[gt]
    tracker_id = data.tracker_ids[tracker]

    # IDSW and Frag: walk each gt id's matches in time.
    order = np.argsort(gt_id * data.num_frames + frames, kind="stable")
    gt_sorted, tracker_sorted = gt_id[order], tracker_id[order]
    active = (np.diff(data.gt_start) > 0) & (np.diff(data.tracker_start) > 0)
    active_rank = np.cumsum(active) - 1
    rank_sorted = active_rank[frames[order]]
    same_gt = gt_sorted[1:] == gt_sorted[:-1]
    idsw = int(np.count_nonzero(same_gt & (tracker_sorted[1:] != tracker_sorted[:-1])))
    run_starts = num_tp - int(np.count_nonzero(same_gt & (rank_sorted[1:] == rank_sorted[:-1] + 1)))
    matched_ids = int(np.count_nonzero(np.bincount(gt_id, minlength=data.num_gt_ids)))

    frames_per_gt = np.bincount(data.gt_ids, minlength=data.num_gt_ids)
    matched_per_gt = np.bincount(gt_id, minlength=data.num_gt_ids)
    present = frames_per_gt > 0
    tracked_ratio = matched_per_gt[present] / frames_per_gt[present]
    mostly = int(np.count_nonzero(tracked_ratio > 0.8))
    partly = int(np.count_nonzero(tracked_ratio >= 0.2)) - mostly

    res.update(
        CLR_TP=num_tp,
        CLR_FN=data.num_gt_dets - num_tp,
        CLR_FP=data.num_tracker_dets - num_tp,
        IDSW=idsw,
        MT=mostly,
        PT=partly,
        ML=data.num_gt_ids - mostly - partly,
        Frag=run_starts - matched_ids,
        CLR_Frames=data.num_frames,
        MOTP_sum=float(iou.sum()),
    )
    return clear_final_fields(res)


def _matches(data: SequenceData) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(frame, gt box, tracker box, IoU) of every CLEAR match, sorted by frame then gt box.

    The continuity bonus of a frame depends on the previous frame's matches, so the reference matches frame after
    frame. Here every frame with competing candidates is matched at once, under the bonus implied by a guess of
    the matches of the frames before; if the result is the guess, it is the frame-by-frame result (each frame's
    matches then follow from its previous frame's, so by induction from the first frame they are the reference's).
    Otherwise the next guess is the result with every match carried on while its pair stays a candidate (what the
    bonus does). After a few rounds without a fixed point, the frames from the first one differing from its guess
    on are matched one by one, as the reference does; the frames before it already agree with it.
    """
    candidate = data.pair_iou >= THRESHOLD - EPS
    frames = data.pair_frames[candidate]
    gt = data.pair_gt[candidate]
    tracker = data.pair_tracker[candidate]
    iou = data.pair_iou[candidate]
    conflicts = conflicting_frames(frames, gt, tracker)
    if len(conflicts) == 0:
        return frames, gt, tracker, iou

    num = len(frames)
    active = np.flatnonzero((np.diff(data.gt_start) > 0) & (np.diff(data.tracker_start) > 0))
    position = np.searchsorted(active, np.arange(data.num_frames)) - 1
    previous_active = np.where(position >= 0, active[np.maximum(position, 0)], -1)  # per frame; -1: none
    gt_id, tracker_id = data.gt_ids[gt], data.tracker_ids[tracker]
    # Runs: the occurrences of one (gt id, tracker id) pair in consecutive active frames; ``before`` links each
    # occurrence to the previous one in its run (-1 at a run's start).
    code = gt_id * max(data.num_tracker_ids, 1) + tracker_id
    order = np.argsort(code * data.num_frames + frames, kind="stable")
    follows = (code[order][1:] == code[order][:-1]) & (frames[order][:-1] == previous_active[frames[order][1:]])
    before = np.full(num, -1, dtype=np.int64)
    before[order[1:][follows]] = order[:-1][follows]
    run_start = np.maximum.accumulate(np.where(np.r_[True, ~follows], np.arange(num), 0))

    in_conflict = np.zeros(data.num_frames, dtype=bool)
    in_conflict[conflicts] = True
    index = np.flatnonzero(in_conflict[frames])
    guess = np.ones(num, dtype=bool)
    for round_index in range(_ROUNDS):
        bonus = np.zeros(num, dtype=bool)
        bonus[index] = (before[index] >= 0) & guess[before[index]]
        result = guess.copy()
        result[index] = assign_frames(
            frames[index],
            gt[index],
            tracker[index],
            CONTINUITY_BONUS * bonus[index] + iou[index],
            data.gt_start,
            data.tracker_start,
            keep_above=EPS,
        )
        if np.array_equal(result, guess):
            return frames[guess], gt[guess], tracker[guess], iou[guess]
        if round_index < _ROUNDS - 1:
            guess = _carry_on(result, order, run_start, frames, gt, tracker)
    # Frame by frame from the first frame that differs from its guess; a frame whose bonus is the one of the last
    # round keeps that round's result (same matrix, same optimum), the others are solved.
    first = int(frames[np.argmax(result != guess)])
    picked = guess
    bounds = np.searchsorted(frames, np.arange(data.num_frames + 1))
    num_gt, num_tracker = np.diff(data.gt_start), np.diff(data.tracker_start)
    for frame in conflicts[conflicts >= first].tolist():
        lo, hi = int(bounds[frame]), int(bounds[frame + 1])
        link = before[lo:hi]
        frame_bonus = (link >= 0) & picked[link]
        if np.array_equal(frame_bonus, bonus[lo:hi]):
            picked[lo:hi] = result[lo:hi]
            continue
        picked[lo:hi] = solve_frame(
            int(num_gt[frame]),
            int(num_tracker[frame]),
            gt[lo:hi] - data.gt_start[frame],
            tracker[lo:hi] - data.tracker_start[frame],
            CONTINUITY_BONUS * frame_bonus + iou[lo:hi],
            EPS,
        )
    return frames[picked], gt[picked], tracker[picked], iou[picked]


def _carry_on(
    picked: np.ndarray,
    order: np.ndarray,
    run_start: np.ndarray,
    frames: np.ndarray,
    gt: np.ndarray,
    tracker: np.ndarray,
) -> np.ndarray:
    """The next guess: ``picked`` with every match carried on to the rest of its run (``order`` sorts the
    candidates by run, then time). Where matches then collide (same gt or tracker box), the one whose run has been
    matched for longest wins, as the continuity bonus would have it."""
    num = len(order)
    positions = np.arange(num)
    picked_sorted = picked[order]
    # First match of each run at or before each position: runs are contiguous in ``order``.
    first_in_run = np.where(picked_sorted, positions, num)
    run_id = np.cumsum(np.r_[True, run_start[1:] != run_start[:-1]]) - 1
    run_first = np.full(int(run_id[-1]) + 1, num)
    np.minimum.at(run_first, run_id, first_in_run)
    carried_sorted = positions >= run_first[run_id]
    carried = np.zeros(num, dtype=bool)
    carried[order] = carried_sorted
    since = np.full(num, np.iinfo(np.int64).max)
    since[order[carried_sorted]] = frames[order[np.minimum(run_first[run_id], num - 1)]][carried_sorted]
    best_gt = np.full(int(gt.max()) + 1, np.iinfo(np.int64).max)
    np.minimum.at(best_gt, gt[carried], since[carried])
    best_tracker = np.full(int(tracker.max()) + 1, np.iinfo(np.int64).max)
    np.minimum.at(best_tracker, tracker[carried], since[carried])
    return carried & (since == best_gt[gt]) & (since == best_tracker[tracker])


def clear_final_fields(res: dict[str, Any]) -> dict[str, Any]:
    """Ratios derived from the counts and ``MOTP_sum`` (per sequence and after combining)."""
    num_gt_ids = res["MT"] + res["ML"] + res["PT"]
    gt_dets = max(1.0, res["CLR_TP"] + res["CLR_FN"])
    res["MTR"] = res["MT"] / max(1.0, num_gt_ids)
    res["MLR"] = res["ML"] / max(1.0, num_gt_ids)
    res["PTR"] = res["PT"] / max(1.0, num_gt_ids)
    res["CLR_Re"] = res["CLR_TP"] / gt_dets
    res["CLR_Pr"] = res["CLR_TP"] / max(1.0, res["CLR_TP"] + res["CLR_FP"])
    res["MODA"] = (res["CLR_TP"] - res["CLR_FP"]) / gt_dets
    res["MOTA"] = (res["CLR_TP"] - res["CLR_FP"] - res["IDSW"]) / gt_dets
    res["MOTP"] = res["MOTP_sum"] / max(1.0, res["CLR_TP"])
    res["sMOTA"] = (res["MOTP_sum"] - res["CLR_FP"] - res["IDSW"]) / gt_dets
    res["CLR_F1"] = res["CLR_TP"] / max(1.0, res["CLR_TP"] + 0.5 * res["CLR_FN"] + 0.5 * res["CLR_FP"])
    res["FP_per_frame"] = res["CLR_FP"] / max(1.0, res["CLR_Frames"])
    log_idsw = float(np.log10(res["IDSW"])) if res["IDSW"] > 0 else res["IDSW"]
    res["MOTAL"] = (res["CLR_TP"] - res["CLR_FP"] - log_idsw) / gt_dets
    return res


def combine_clear(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """CLEAR over several sequences: counts and ``MOTP_sum`` summed, ratios recomputed (TrackEval's rule)."""
    res: dict[str, Any] = {field: sum(r[field] for r in results) for field in (*INTEGER_FIELDS, "MOTP_sum")}
    return clear_final_fields(res)
