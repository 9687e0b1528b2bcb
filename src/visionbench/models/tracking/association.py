"""Data association for tracking by detection: IoU matrices, SORT's IoU matching, min-cost matching with a
threshold (DeepSORT's cascade levels and IoU stage) and deep_sort's greedy non-maximum suppression.

Matching uses the Hungarian algorithm of :func:`scipy.optimize.linear_sum_assignment`. The order of the
unmatched lists is part of each function's contract: trackers create new tracks (and so assign ids) in that order.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

GATED_COST = 1e5
"""Cost of a pair the Kalman gate rules out (DeepSORT); larger than any threshold, so never matched."""


def iou_matrix(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Intersection over union (N, M) of boxes (N, 4) and (M, 4), both x1, y1, x2, y2.

    Computed as ``inter / (area_a + area_b - inter)`` with the areas from the coordinates (no +1 pixel)."""
    a = np.asarray(boxes_a, dtype=np.float64).T[:, :, None]  # (4, N, 1) coordinate planes
    b = np.asarray(boxes_b, dtype=np.float64).T  # (4, M)
    width = np.maximum(0.0, np.minimum(a[2], b[2]) - np.maximum(a[0], b[0]))
    height = np.maximum(0.0, np.minimum(a[3], b[3]) - np.maximum(a[1], b[1]))
    intersection = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        return intersection / (union - intersection)


def sort_associate(
    detection_boxes: np.ndarray, track_boxes: np.ndarray, iou_threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SORT's association of N detections with T predicted track boxes (both (.., 4) x1, y1, x2, y2).

    If the pairs with IoU above ``iou_threshold`` already form a one-to-one matching (no detection and no track
    in two of them, at least one pair), they are the matches; otherwise the Hungarian algorithm maximises the total
    IoU and assigned pairs with IoU below ``iou_threshold`` are dropped.

    Returns:
        ``matches`` (K, 2) int64 rows ``[detection, track]`` sorted by detection; ``unmatched_detections``: the
        detections no pair uses, ascending, then those of dropped pairs, ascending; ``unmatched_tracks`` ascending.
    """
    num_detections, num_tracks = len(detection_boxes), len(track_boxes)
    if num_detections == 0 or num_tracks == 0:
        return np.zeros((0, 2), np.int64), np.arange(num_detections), np.arange(num_tracks)
    iou = iou_matrix(detection_boxes, track_boxes)
    above = iou > iou_threshold
    if above.sum(axis=1).max() == 1 and above.sum(axis=0).max() == 1:
        rows, cols = np.nonzero(above)
        keep = np.ones(len(rows), bool)
    else:
        rows, cols = linear_sum_assignment(-iou)
        keep = ~(iou[rows, cols] < iou_threshold)  # NaN IoU is kept, as in the reference
    detection_used = np.zeros(num_detections, bool)
    detection_used[rows] = True
    track_matched = np.zeros(num_tracks, bool)
    track_matched[cols[keep]] = True
    unmatched_detections = np.concatenate([np.flatnonzero(~detection_used), rows[~keep]])
    matches = np.stack([rows[keep], cols[keep]], axis=1).astype(np.int64)
    return matches, unmatched_detections.astype(np.int64), np.flatnonzero(~track_matched)


def min_cost_matching(cost: np.ndarray, max_cost: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hungarian matching of the rows (tracks) and columns (detections) of ``cost`` (R, C), pairs above
    ``max_cost`` refused (deep_sort's ``min_cost_matching``: costs above are clipped to ``max_cost + 1e-5`` first).

    Returns:
        ``matches`` (K, 2) int64 ``[row, col]`` sorted by row; ``unmatched_rows`` (those the assignment left out,
        ascending, then those of refused pairs); ``unmatched_cols`` (same order rule).
    """
    rows_count, cols_count = cost.shape
    if rows_count == 0 or cols_count == 0:
        return np.zeros((0, 2), np.int64), np.arange(rows_count), np.arange(cols_count)
    clipped = np.where(cost > max_cost, max_cost + 1e-5, cost)
    rows, cols = linear_sum_assignment(clipped)
    keep = ~(clipped[rows, cols] > max_cost)
    row_assigned = np.zeros(rows_count, bool)
    row_assigned[rows] = True
    col_assigned = np.zeros(cols_count, bool)
    col_assigned[cols] = True
    unmatched_rows = np.concatenate([np.flatnonzero(~row_assigned), rows[~keep]]).astype(np.int64)
    unmatched_cols = np.concatenate([np.flatnonzero(~col_assigned), cols[~keep]]).astype(np.int64)
    return np.stack([rows[keep], cols[keep]], axis=1).astype(np.int64), unmatched_rows, unmatched_cols


def non_max_suppression(boxes: np.ndarray, scores: np.ndarray, max_overlap: float) -> np.ndarray:
    """deep_sort's greedy suppression: indices of the kept boxes, highest score first.

    Boxes (N, 4) x1, y1, x2, y2 are visited by decreasing score (equal scores: higher index first); each visited
    box is kept and removes the unvisited boxes whose overlap with it exceeds ``max_overlap``. Overlap is the
    intersection over the area of the *unvisited* box, with deep_sort's +1 pixel convention on widths and heights,
    so ``max_overlap >= 1`` keeps every box (and only orders them).
    """
    order = np.argsort(scores, kind="stable")[::-1]
    if max_overlap >= 1.0 or len(boxes) < 2:
        return order
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    kept: list[int] = []
    remaining = order
    while len(remaining):
        best, rest = remaining[0], remaining[1:]
        kept.append(int(best))
        width = np.maximum(0.0, np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]) + 1)
        height = np.maximum(0.0, np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]) + 1)
        remaining = rest[~(width * height / area[rest] > max_overlap)]
    return np.asarray(kept, dtype=np.int64)
