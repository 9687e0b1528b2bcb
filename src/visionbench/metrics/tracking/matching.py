"""Box similarity and per-frame optimal matching, shared by preprocessing, CLEAR and HOTA.

The IoU follows the MOTChallenge evaluator (TrackEval's ``_calculate_box_ious``) operation for operation, so the
similarities are bit-identical to the reference's: boxes are ``left, top, width, height``; the right/bottom edges
are ``left + width`` / ``top + height``; boxes with area <= eps and pairs with union <= eps score 0.

A frame's matching is what ``scipy.optimize.linear_sum_assignment`` picks when maximising a score matrix whose
entries are zero except at *candidate* pairs (positive scores). Most frames need no solver:

- when no box takes part in more than one candidate pair, every optimal assignment holds exactly the candidates;
- otherwise the candidate graph splits into connected components; a component is settled when every row's best
  candidate beats the row's other entries by a margin and no two rows share their best column (or the same with
  rows and columns swapped). Then the rows' (columns') best candidates are the *unique* optimum: the row maxima
  (column maxima) are dual variables that leave every other pair with positive slack, so every other assignment
  scores at least the margin less, far more than the solver's rounding. Any exact solver returns that optimum.

Frames with a component that is not settled this way (near ties included) are solved by
``linear_sum_assignment`` on the same dense matrix the reference builds, so that ties are broken as it breaks them.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

EPS = float(np.finfo(np.float64).eps)


def _iou(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """IoU of broadcastable ``(..., 4)`` ltwh arrays (elementwise over the leading dimensions)."""
    left1, top1 = boxes1[..., 0], boxes1[..., 1]
    right1, bottom1 = left1 + boxes1[..., 2], top1 + boxes1[..., 3]
    left2, top2 = boxes2[..., 0], boxes2[..., 1]
    right2, bottom2 = left2 + boxes2[..., 2], top2 + boxes2[..., 3]
    overlap_x = np.maximum(np.minimum(right1, right2) - np.maximum(left1, left2), 0)
    overlap_y = np.maximum(np.minimum(bottom1, bottom2) - np.maximum(top1, top2), 0)
    intersection = overlap_x * overlap_y
    area1 = (right1 - left1) * (bottom1 - top1)
    area2 = (right2 - left2) * (bottom2 - top2)
    union = area1 + area2 - intersection
    degenerate = (area1 <= EPS) | (area2 <= EPS) | (union <= EPS)
    intersection = np.where(degenerate, 0.0, intersection)
    return intersection / np.where(union <= EPS, 1.0, union)


def box_iou(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """``(N, M)`` IoU matrix between ``(N, 4)`` and ``(M, 4)`` ltwh boxes (MOTChallenge/TrackEval arithmetic)."""
    boxes1 = np.asarray(boxes1, dtype=np.float64).reshape(-1, 4)
    boxes2 = np.asarray(boxes2, dtype=np.float64).reshape(-1, 4)
    return _iou(boxes1[:, None, :], boxes2[None, :, :])


def paired_box_iou(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """``(N,)`` IoU of row ``i`` of ``boxes1`` with row ``i`` of ``boxes2`` (both ``(N, 4)`` ltwh)."""
    return _iou(np.asarray(boxes1, dtype=np.float64), np.asarray(boxes2, dtype=np.float64))


def box_edges(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(left, top, right, bottom, area) of ``(N, 4)`` ltwh boxes, with the reference's arithmetic."""
    left, top = boxes[:, 0].copy(), boxes[:, 1].copy()
    right, bottom = left + boxes[:, 2], top + boxes[:, 3]
    return left, top, right, bottom, (right - left) * (bottom - top)


def overlapping_pairs(
    gt_boxes: np.ndarray, gt_frames: np.ndarray, tracker_boxes: np.ndarray, tracker_frames: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every same-frame (gt box, tracker box) pair with IoU > 0, with its IoU (bit-identical to :func:`box_iou`).

    ``gt_frames``/``tracker_frames``: frame of each box, both sorted. Pairs come frame by frame, gt-major, tracker
    boxes in their order (the order of the frame's ``gt x tracker`` matrix). Candidates are found with a sweep
    over the tracker boxes sorted by left edge (those starting less than the frame's widest tracker box before a
    gt box's left edge and before its right edge, with a margin); only they get the IoU. Returns
    (gt index, tracker index, IoU).
    """
    empty = np.zeros(0, dtype=np.int64)
    if len(gt_boxes) == 0 or len(tracker_boxes) == 0:
        return empty, empty.copy(), np.zeros(0)
    gt_left, gt_top, gt_right, gt_bottom, gt_area = box_edges(gt_boxes)
    tr_left, tr_top, tr_right, tr_bottom, tr_area = box_edges(tracker_boxes)

    # Sweep keys: frame-major, then left edge; a frame's keys lie in [frame * span, frame * span + extent).
    low = min(gt_left.min(), tr_left.min())
    extent = max(gt_right.max(), tr_right.max()) - low
    span = 2 * extent + 16
    first_frame = min(gt_frames[0], tracker_frames[0])
    keys = (tracker_frames - first_frame) * span + (tr_left - low)
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    margin = 1 + 1e-9 * float(np.abs(keys).max(initial=0))
    edges = np.r_[np.flatnonzero(np.diff(tracker_frames)) + 1, len(tracker_frames)]
    widest = np.maximum.reduceat(tr_right - tr_left, np.r_[0, edges[:-1]])  # per frame with tracker boxes
    frame_of_segment = tracker_frames[edges - 1]
    segment = np.searchsorted(frame_of_segment, gt_frames)
    present = (segment < len(frame_of_segment)) & (frame_of_segment[np.minimum(segment, len(edges) - 1)] == gt_frames)
    rows = np.flatnonzero(present)
    segment = segment[rows]
    base = (gt_frames[rows] - first_frame) * span - low
    lo = np.searchsorted(keys, base + gt_left[rows] - widest[segment] - margin, side="left")
    hi = np.searchsorted(keys, base + gt_right[rows] + margin, side="right")
    segment_start = np.r_[0, edges[:-1]][segment]
    lo = np.clip(lo, segment_start, edges[segment])
    hi = np.clip(hi, lo, edges[segment])
    counts = hi - lo
    total = int(counts.sum())
    pair_gt = np.repeat(rows, counts)
    pair_tracker = order[np.repeat(lo - (np.cumsum(counts) - counts), counts) + np.arange(total)]

    width = np.minimum(gt_right[pair_gt], tr_right[pair_tracker]) - np.maximum(gt_left[pair_gt], tr_left[pair_tracker])
    keep = np.flatnonzero(width > 0)
    pair_gt, pair_tracker, width = pair_gt[keep], pair_tracker[keep], width[keep]
    height = np.minimum(gt_bottom[pair_gt], tr_bottom[pair_tracker]) - np.maximum(gt_top[pair_gt], tr_top[pair_tracker])
    keep = np.flatnonzero(height > 0)
    pair_gt, pair_tracker = pair_gt[keep], pair_tracker[keep]
    intersection = width[keep] * height[keep]
    union = gt_area[pair_gt] + tr_area[pair_tracker] - intersection
    valid = (gt_area[pair_gt] > EPS) & (tr_area[pair_tracker] > EPS) & (union > EPS)
    pair_gt, pair_tracker = pair_gt[valid], pair_tracker[valid]
    iou = intersection[valid] / union[valid]
    positive = iou > 0
    pair_gt, pair_tracker, iou = pair_gt[positive], pair_tracker[positive], iou[positive]
    order = np.argsort(pair_gt * len(tracker_boxes) + pair_tracker, kind="stable")  # gt-major, then tracker
    return pair_gt[order], pair_tracker[order], iou[order]


def compact_labels(values: np.ndarray) -> tuple[int, np.ndarray]:
    """(number of distinct values, label of each value): labels ``0..n-1`` in ascending order of the values,
    as ``np.unique(values, return_inverse=True)`` gives them (by counting when the values are small integers)."""
    values = np.asarray(values)
    if len(values) == 0:
        return 0, np.zeros(0, dtype=np.int64)
    low, high = int(values.min()), int(values.max())
    if high - low < 4 * len(values) + 65536:
        present = np.zeros(high - low + 1, dtype=np.int64)
        present[values - low] = 1
        labels = np.cumsum(present) - 1
        return int(labels[-1]) + 1, labels[values - low]
    distinct, inverse = np.unique(values, return_inverse=True)
    return len(distinct), inverse.reshape(-1)


def conflicting_frames(frames: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Sorted frames in which some row or some column takes part in more than one of the given candidate pairs.

    ``rows`` and ``cols`` are global box indices (a box belongs to one frame), ``frames`` the pairs' frames.
    """
    if len(frames) == 0:
        return np.zeros(0, dtype=np.int64)
    row_uses = np.bincount(rows)[rows]
    col_uses = np.bincount(cols)[cols]
    return np.flatnonzero(np.bincount(frames[(row_uses > 1) | (col_uses > 1)]))


def solve_frame(
    num_rows: int,
    num_cols: int,
    local_rows: np.ndarray,
    local_cols: np.ndarray,
    scores: np.ndarray,
    keep_above: float | None,
) -> np.ndarray:
    """Optimal assignment of one frame: which of the given pairs ``linear_sum_assignment`` picks when maximising
    the dense ``num_rows x num_cols`` matrix holding ``scores`` at (``local_rows``, ``local_cols``) and 0 elsewhere.

    A picked pair is kept if its score is ``> keep_above`` (``None`` keeps every picked pair). Returns a boolean
    mask over the given pairs.
    """
    matrix = np.zeros((num_rows, num_cols))
    matrix[local_rows, local_cols] = scores
    match_rows, match_cols = linear_sum_assignment(-matrix)
    if keep_above is not None:
        kept = matrix[match_rows, match_cols] > keep_above
        match_rows, match_cols = match_rows[kept], match_cols[kept]
    hit = np.zeros((num_rows, num_cols), dtype=bool)
    hit[match_rows, match_cols] = True
    return hit[local_rows, local_cols]


def settled_components(rows: np.ndarray, cols: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The unique optimum of every settled component (see the module docstring), without a solver.

    Candidates are given by global row/column indices (a row or column belongs to one frame) and positive scores.
    Returns (picked, settled) per candidate: whether the optimum holds it, and whether its component is settled
    (``picked`` is meaningful for settled components only).
    """
    num = len(scores)
    if num == 0:
        return np.zeros(0, dtype=bool), np.zeros(0, dtype=bool)
    margin = 1e-9 * max(1.0, float(scores.max()))
    num_rows, row = compact_labels(rows)
    num_cols, col = compact_labels(cols)
    component = _components(row, col, num_rows, num_cols)
    picked = np.zeros(num, dtype=bool)
    settled = np.zeros(int(component.max()) + 1, dtype=bool)
    for line, other in ((row, col), (col, row)):
        best, clear = _line_maxima(line, scores, margin)
        best_other = other[best]
        shared = np.bincount(best_other)[best_other] > 1
        failed = np.zeros_like(settled)
        failed[component[best[~clear | shared]]] = True
        certified = ~failed & ~settled
        picked[best[certified[component[best]]]] = True
        settled |= certified
    return picked, settled[component]


def _components(row: np.ndarray, col: np.ndarray, num_rows: int, num_cols: int) -> np.ndarray:
    """Connected component of each candidate in the bipartite graph rows -- columns."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    nodes = num_rows + num_cols
    graph = coo_matrix((np.ones(len(row), dtype=np.int8), (row, num_rows + col)), shape=(nodes, nodes))
    _, labels = connected_components(graph.tocsr(), directed=False)
    return labels[row]


def _line_maxima(line: np.ndarray, scores: np.ndarray, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """Per line (row or column) holding candidates: the index of its best candidate, and whether that candidate
    beats the line's other entries (its other candidates and the zeros) by more than ``margin``."""
    order = np.argsort(line, kind="stable")
    sorted_line, sorted_scores = line[order], scores[order]
    first = np.flatnonzero(np.r_[True, sorted_line[1:] != sorted_line[:-1]])
    segment = np.repeat(np.arange(len(first)), np.diff(np.r_[first, len(order)]))
    top = np.maximum.reduceat(sorted_scores, first)
    at_top = np.flatnonzero(sorted_scores == top[segment])
    first_top = at_top[np.r_[True, segment[at_top][1:] != segment[at_top][:-1]]]
    others = sorted_scores.copy()
    others[first_top] = 0.0  # a line's other entries include zeros (or nothing, which is no weaker a test)
    runner_up = np.maximum(np.maximum.reduceat(others, first), 0.0)
    return order[first_top], top - runner_up > margin


def assign_frames(
    frames: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    scores: np.ndarray,
    row_start: np.ndarray,
    col_start: np.ndarray,
    keep_above: float | None,
) -> np.ndarray:
    """Frame-by-frame optimal assignment over candidate pairs (sorted by frame; every other pair scores 0).

    ``rows``/``cols``: global box indices; frame ``f``'s boxes are ``row_start[f]:row_start[f + 1]`` (likewise
    ``col_start``). Returns a boolean mask over the candidates: those ``linear_sum_assignment(-frame_matrix)`` picks
    with a score ``> keep_above`` (``None``: all picked). Conflict-free frames take all their candidates, settled
    frames their unique optimum; the others are solved.
    """
    picked = np.ones(len(frames), dtype=bool)
    if len(frames):
        tangled = np.flatnonzero((np.bincount(rows)[rows] > 1) | (np.bincount(cols)[cols] > 1))
        if len(tangled):
            optimum, settled = settled_components(rows[tangled], cols[tangled], scores[tangled])
            picked[tangled] = optimum
            unsettled = np.zeros(int(frames[-1]) + 1, dtype=bool)
            unsettled[frames[tangled[~settled]]] = True
            _solve_frames(
                picked, np.flatnonzero(unsettled[frames]), frames, rows, cols, scores, row_start, col_start, keep_above
            )
    if keep_above is not None:
        picked &= scores > keep_above
    return picked


def _solve_frames(
    picked: np.ndarray,
    index: np.ndarray,
    frames: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    scores: np.ndarray,
    row_start: np.ndarray,
    col_start: np.ndarray,
    keep_above: float | None,
) -> None:
    """Solve the frames of the candidates ``index`` (whole frames, sorted) with the solver, into ``picked``."""
    if len(index) == 0:
        return
    frame_of = frames[index]
    edges = np.r_[0, np.flatnonzero(frame_of[1:] != frame_of[:-1]) + 1, len(index)]
    starts = frame_of[edges[:-1]]
    num_rows, num_cols = np.diff(row_start)[starts], np.diff(col_start)[starts]
    local_rows = rows[index] - row_start[frame_of]
    local_cols = cols[index] - col_start[frame_of]
    values = scores[index]
    for lo, hi, height, width in zip(
        edges[:-1].tolist(), edges[1:].tolist(), num_rows.tolist(), num_cols.tolist(), strict=True
    ):
        picked[index[lo:hi]] = solve_frame(
            height, width, local_rows[lo:hi], local_cols[lo:hi], values[lo:hi], keep_above
        )
