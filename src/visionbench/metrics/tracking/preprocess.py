"""From a ground-truth and a tracker :class:`~visionbench.data.tracking.mot_io.MotTable` to the data the metrics score.

The rules are those of the official MOTChallenge evaluator (TrackEval's ``MotChallenge2DBox``):

- every ground-truth box whose ``flag``/``conf`` column, truncated to an integer, is 0 is removed;
- MOT16/17/20 (unless ``preprocess=False``): in each frame, tracker boxes are matched to *all* ground-truth boxes
  (Hungarian, IoU >= 0.5); tracker boxes matched to a distractor (classes 2 person on vehicle, 7 static person,
  8 distractor, 12 reflection, and 6 non-motorised vehicle for MOT20) are removed, then every ground-truth box
  that is not a pedestrian (class 1) is removed. Ground-truth classes must then lie in 1..13;
- MOT15 has no classes: nothing but the zero-marked ground truth is removed;
- identities are relabelled ``0..n-1`` in ascending order of the original ids.

Only same-frame pairs that overlap (IoU > 0) are kept (every other pair scores 0 everywhere), together with HOTA's
per-frame normalised similarity (``IoU / (row sum + column sum - IoU)``), whose sums are formed in the same order
as the reference's so that its Hungarian matching sees the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from visionbench.data.errors import DatasetFormatError
from visionbench.data.tracking.mot_io import MotTable
from visionbench.metrics.tracking.matching import EPS, assign_frames, compact_labels, overlapping_pairs

BENCHMARKS = ("MOT15", "MOT16", "MOT17", "MOT20")
PEDESTRIAN = 1
VALID_GT_CLASSES = tuple(range(1, 14))
DISTRACTOR_CLASSES = {"MOT16": (2, 7, 8, 12), "MOT17": (2, 7, 8, 12), "MOT20": (2, 6, 7, 8, 12)}
PREPROCESS_IOU = 0.5


@dataclass(frozen=True)
class SequenceData:
    """One sequence after preprocessing: the evaluated boxes and their overlapping same-frame pairs.

    Boxes are frame-sorted; frames are 0-based; ``gt_start[f]:gt_start[f + 1]`` are frame ``f``'s gt boxes
    (likewise ``tracker_start``). Pairs (IoU > 0) are sorted by frame, then gt box, then tracker box;
    ``pair_gt``/``pair_tracker`` index the evaluated boxes.
    """

    num_frames: int
    gt_ids: np.ndarray
    tracker_ids: np.ndarray
    gt_start: np.ndarray
    tracker_start: np.ndarray
    num_gt_ids: int
    num_tracker_ids: int
    pair_frames: np.ndarray
    pair_gt: np.ndarray
    pair_tracker: np.ndarray
    pair_iou: np.ndarray
    pair_norm_iou: np.ndarray

    @property
    def num_gt_dets(self) -> int:
        return len(self.gt_ids)

    @property
    def num_tracker_dets(self) -> int:
        return len(self.tracker_ids)


def prepare_sequence(
    gt: MotTable, tracker: MotTable, num_frames: int, benchmark: str = "MOT17", preprocess: bool = True
) -> SequenceData:
    """Apply the MOTChallenge preprocessing of ``benchmark`` (see the module docstring) and pair the boxes.

    ``num_frames`` is the sequence length (``seqinfo.ini`` ``seqLength``); a box in a later frame, a repeated id
    within a frame, a tracker class other than pedestrian or (with preprocessing) an unknown gt class raises.
    """
    if benchmark not in BENCHMARKS:
        raise ValueError(f"benchmark {benchmark!r}; expected one of {', '.join(BENCHMARKS)}")
    num_frames = int(num_frames)
    for table, what in ((gt, "ground truth"), (tracker, "tracker")):
        _check_table(table, num_frames, what)
    if len(tracker) and tracker.classes.max() > PEDESTRIAN:
        row = int(np.argmax(tracker.classes > PEDESTRIAN))
        raise ValueError(
            f"{tracker.source}:{tracker.line_numbers[row]}: tracker class {tracker.classes[row]}; "
            "only pedestrians (class 1) are evaluated"
        )
    remove_distractors = preprocess and benchmark != "MOT15"

    frame_edges = np.arange(1, num_frames + 2)
    gt_start = np.searchsorted(gt.frames, frame_edges)
    tracker_start = np.searchsorted(tracker.frames, frame_edges)
    tracker_count = np.diff(tracker_start)

    keep_gt = np.trunc(gt.confidences) != 0
    if remove_distractors:
        keep_gt &= gt.classes == PEDESTRIAN
        in_shared_frame = tracker_count[gt.frames - 1] > 0
        invalid = in_shared_frame & ~np.isin(gt.classes, VALID_GT_CLASSES)
        if invalid.any():
            row = int(np.argmax(invalid))
            raise ValueError(
                f"{gt.source}:{gt.line_numbers[row]}: ground-truth class {gt.classes[row]} is not a MOTChallenge "
                f"class (1..13); check the file or evaluate without preprocessing"
            )
        distractor = np.isin(gt.classes, DISTRACTOR_CLASSES[benchmark])
    else:
        distractor = np.zeros(len(gt), dtype=bool)

    pair_gt, pair_tracker, iou = overlapping_pairs(gt.boxes, gt.frames, tracker.boxes, tracker.frames)
    keep_tracker = np.ones(len(tracker), dtype=bool)
    if remove_distractors:
        candidate = np.flatnonzero(iou >= PREPROCESS_IOU - EPS)
        matched = candidate[
            assign_frames(
                gt.frames[pair_gt[candidate]] - 1,
                pair_gt[candidate],
                pair_tracker[candidate],
                iou[candidate],
                gt_start,
                tracker_start,
                keep_above=EPS,
            )
        ]
        keep_tracker[pair_tracker[matched[distractor[pair_gt[matched]]]]] = False
    kept = keep_gt[pair_gt] & keep_tracker[pair_tracker]
    pair_gt = (np.cumsum(keep_gt) - 1)[pair_gt[kept]]
    pair_tracker = (np.cumsum(keep_tracker) - 1)[pair_tracker[kept]]
    iou = iou[kept]

    gt_frames = gt.frames[keep_gt] - 1
    tracker_frames = tracker.frames[keep_tracker] - 1
    gt_start = np.searchsorted(gt_frames, frame_edges - 1)
    tracker_start = np.searchsorted(tracker_frames, frame_edges - 1)
    pair_frames = gt_frames[pair_gt]
    num_gt_ids, gt_ids = compact_labels(gt.ids[keep_gt])
    num_tracker_ids, tracker_ids = compact_labels(tracker.ids[keep_tracker])
    return SequenceData(
        num_frames=num_frames,
        gt_ids=gt_ids,
        tracker_ids=tracker_ids,
        gt_start=gt_start,
        tracker_start=tracker_start,
        num_gt_ids=num_gt_ids,
        num_tracker_ids=num_tracker_ids,
        pair_frames=pair_frames,
        pair_gt=pair_gt,
        pair_tracker=pair_tracker,
        pair_iou=iou,
        pair_norm_iou=_normalised_iou(pair_frames, pair_gt, pair_tracker, iou, gt_start, tracker_start),
    )


def _check_table(table: MotTable, num_frames: int, what: str) -> None:
    if len(table) == 0:
        return
    if np.any(np.diff(table.frames) < 0):
        raise ValueError(f"{table.source}: {what} rows are not sorted by frame (read it with read_mot_table)")
    if table.frames[0] < 1 or table.frames[-1] > num_frames:
        row = 0 if table.frames[0] < 1 else int(np.argmax(table.frames > num_frames))
        raise DatasetFormatError(
            f"{table.source}:{table.line_numbers[row]}: frame {table.frames[row]} is outside the sequence "
            f"(frames 1..{num_frames}, seqinfo.ini seqLength)"
        )
    ids = table.ids - table.ids.min()
    keys = np.sort(table.frames * (int(ids.max()) + 1) + ids)
    if (repeated := np.flatnonzero(keys[1:] == keys[:-1])).size:
        frame, id_ = divmod(int(keys[repeated[0]]), int(ids.max()) + 1)
        rows = np.flatnonzero((table.frames == frame) & (ids == id_))
        raise ValueError(
            f"{table.source}:{table.line_numbers[rows[1]]}: {what} id {table.ids[rows[0]]} appears more than once "
            f"in frame {frame}"
        )


def _normalised_iou(
    pair_frames: np.ndarray,
    pair_gt: np.ndarray,
    pair_tracker: np.ndarray,
    iou: np.ndarray,
    gt_start: np.ndarray,
    tracker_start: np.ndarray,
) -> np.ndarray:
    """HOTA's ``IoU / (column sum + row sum - IoU)`` of every overlapping pair, its sums formed exactly as
    ``ndarray.sum`` forms them on the frame's dense ``gt x tracker`` IoU matrix.

    That sum adds a column's entries row after row (as ``bincount`` does), except in a one-column matrix, and
    sums a row pairwise; zeros leave a sum unchanged and two non-zero terms add the same in either order, so only
    lines with three or more overlapping boxes are summed again, densely, by ``ndarray.sum`` itself.
    """
    if len(iou) == 0:
        return np.zeros(0)
    row_sum = np.bincount(pair_gt, weights=iou)[pair_gt]
    col_sum = np.bincount(pair_tracker, weights=iou)[pair_tracker]
    rows_in_frame = np.diff(gt_start)[pair_frames]
    cols_in_frame = np.diff(tracker_start)[pair_frames]
    row_terms = np.bincount(pair_gt)[pair_gt]
    col_terms = np.bincount(pair_tracker)[pair_tracker]
    redo = np.flatnonzero(row_terms >= 3)
    if len(redo):
        local_col = pair_tracker[redo] - tracker_start[pair_frames[redo]]
        row_sum[redo] = _dense_line_sums(pair_gt[redo], local_col, cols_in_frame[redo], iou[redo])
    redo = np.flatnonzero((col_terms >= 3) & (cols_in_frame == 1))
    if len(redo):
        local_row = pair_gt[redo] - gt_start[pair_frames[redo]]
        col_sum[redo] = _dense_line_sums(pair_tracker[redo], local_row, rows_in_frame[redo], iou[redo])
    denominator = col_sum + row_sum - iou
    return np.divide(iou, denominator, out=np.zeros_like(iou), where=denominator > EPS)


def _dense_line_sums(line: np.ndarray, position: np.ndarray, length: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per entry, the ``ndarray.sum`` of its line: entries name their ``line``, their ``position`` in it and the
    line's ``length``; the line is that many zeros holding the ``values``."""
    sums = np.empty_like(values)
    for size in np.unique(length).tolist():
        selected = np.flatnonzero(length == size)
        lines, index = np.unique(line[selected], return_inverse=True)
        dense = np.zeros((len(lines), size))
        dense[index, position[selected]] = values[selected]
        sums[selected] = dense.sum(axis=1)[index]
    return sums
