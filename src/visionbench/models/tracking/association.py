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
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 4).T  # (4, N) coordinate planes
    b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 4).T  # (4, M)
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (b[2] - b[0]) * (b[3] - b[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        return iou_planes(a[:, :, None], area_a[:, None], b[:, None], area_b)


def sort_associate(
    detection_boxes: np.ndarray, track_boxes: np.ndarray, iou_threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SORT's association of N detections with T predicted track boxes (both (.., 4) x1, y1, x2, y2): the rules of
    :func:`sort_associate_blocks` for one sequence.

    If the pairs with IoU above ``iou_threshold`` already form a one-to-one matching (no detection and no track
    in two of them, at least one pair), they are the matches; otherwise the Hungarian algorithm maximises the total
    IoU and assigned pairs with IoU below ``iou_threshold`` are dropped.

    Returns:
        ``matches`` (K, 2) int64 rows ``[detection, track]`` sorted by detection; ``unmatched_detections``: the
        detections no pair uses, ascending, then those of dropped pairs, ascending; ``unmatched_tracks`` ascending.
    """
    num_detections, num_tracks = len(detection_boxes), len(track_boxes)
    iou = iou_matrix(track_boxes, detection_boxes).reshape(-1)
    tracks, detections, unmatched, _ = sort_associate_blocks(
        iou, iou_threshold, np.array([0, num_tracks]), [0, num_detections]
    )
    order = np.argsort(detections, kind="stable")
    matches = np.stack([detections[order], tracks[order]], axis=1).astype(np.int64)
    track_matched = np.zeros(num_tracks, bool)
    track_matched[tracks] = True
    return matches, unmatched, np.flatnonzero(~track_matched)


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


def iou_planes(
    track_corners: np.ndarray, track_areas: np.ndarray, corners: np.ndarray, detection_areas: np.ndarray
) -> np.ndarray:
    """IoU of track boxes and detection boxes, given as coordinate planes (4, ...) x1, y1, x2, y2 and areas (...)
    that broadcast together (all pairs: (4, T, 1) and (4, 1, N); chosen pairs: (4, P) and (4, P)); the
    reference's formula and order of operations.

    Up to a few thousand pairs the x and y planes are processed together (fewer numpy calls); beyond, one after
    the other: the stacked temporaries were several times slower with 40,000 pairs (fresh large allocations)."""
    if np.broadcast(track_areas, detection_areas).size <= 4096:
        low = np.maximum(track_corners[:2], corners[:2])
        sides = np.minimum(track_corners[2:], corners[2:])
        sides -= low
        np.maximum(sides, 0.0, out=sides)
        iou = sides[0] * sides[1]  # the intersections
    else:
        iou = np.minimum(track_corners[2], corners[2])
        iou -= np.maximum(track_corners[0], corners[0])
        np.maximum(iou, 0.0, out=iou)
        height = np.minimum(track_corners[3], corners[3])
        height -= np.maximum(track_corners[1], corners[1])
        np.maximum(height, 0.0, out=height)
        iou *= height
    union = track_areas + detection_areas
    union -= iou
    iou /= union
    return iou


def sort_associate_blocks(
    iou: np.ndarray,
    threshold: float,
    track_bounds: np.ndarray,
    detection_bounds: list[int],
    pairs: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int]]:
    """SORT's association, sequence by sequence (one sequence: :func:`sort_associate`).

    Sequence ``k`` has the tracks ``track_bounds[k]`` to ``track_bounds[k + 1]`` and the detections
    ``detection_bounds[k]`` to ``detection_bounds[k + 1]``. ``iou`` (flat) holds the IoU of each track with each
    detection of its sequence, sequence after sequence, as row-major (tracks, detections) blocks, and ``pairs``
    the track and the detection of each entry (by default, one sequence: all pairs). If a sequence's pairs above
    the threshold are one to one (at least one pair), they are its matches; otherwise the Hungarian algorithm
    runs on the sequence's reference (N, T) cost matrix ``-iou'``, and the assigned pairs below the threshold
    are dropped (a NaN IoU is kept). With a few pairs per sequence, Python lists are cheaper than numpy calls.

    Returns ``(tracks, detections, unmatched, new_counts)``: the matched tracks in ascending order and their
    detections; the unmatched detections, sequence by sequence in the reference's order (never assigned
    ascending, then those of dropped pairs ascending; this order decides the new ids); their number per sequence.
    """
    above = np.greater(iou, threshold).nonzero()[0]  # by track, so sequence by sequence
    if pairs is None:
        above_tracks, above_detections = np.divmod(above, detection_bounds[1])
    else:
        above_tracks, above_detections = pairs[0].take(above), pairs[1].take(above)
    above_bounds = above_tracks.searchsorted(track_bounds).tolist()
    above_tracks, above_detections = above_tracks.tolist(), above_detections.tolist()
    track_bounds = track_bounds.tolist()
    negated = None
    tracks: list[int] = []
    detections: list[int] = []
    unmatched: list[int] = []
    new_counts: list[int] = []
    block_start = 0
    for k in range(len(track_bounds) - 1):
        first_detection, end_detection = detection_bounds[k], detection_bounds[k + 1]
        first_track, end_track = track_bounds[k], track_bounds[k + 1]
        if first_detection == end_detection or first_track == end_track:
            unmatched += range(first_detection, end_detection)
            new_counts.append(end_detection - first_detection)
            continue
        begin, end = above_bounds[k], above_bounds[k + 1]
        sequence_tracks, sequence_detections = above_tracks[begin:end], above_detections[begin:end]
        used = set(sequence_detections)
        dropped = []
        block_end = block_start + (end_track - first_track) * (end_detection - first_detection)
        if begin < end and len(set(sequence_tracks)) == end - begin and len(used) == end - begin:
            tracks += sequence_tracks  # the pairs above the threshold are one to one
            detections += sequence_detections
        else:
            if negated is None:
                negated = np.negative(iou)
            block = negated[block_start:block_end].reshape(end_track - first_track, end_detection - first_detection)
            rows, columns = linear_sum_assignment(block.T)
            below = np.greater(block[columns, rows], -threshold).tolist()  # IoU below the threshold; NaN kept
            rows, kept = rows.tolist(), []
            for row, column, low in zip(rows, columns.tolist(), below, strict=True):
                if low:
                    dropped.append(first_detection + row)
                else:
                    kept.append((first_track + column, first_detection + row))
            kept.sort()
            tracks += [track for track, _ in kept]
            detections += [detection for _, detection in kept]
            used = {first_detection + row for row in rows}
        block_start = block_end
        before = len(unmatched)
        unmatched += [detection for detection in range(first_detection, end_detection) if detection not in used]
        unmatched += dropped
        new_counts.append(len(unmatched) - before)
    return np.array(tracks, np.int64), np.array(detections, np.int64), np.array(unmatched, np.int64), new_counts
