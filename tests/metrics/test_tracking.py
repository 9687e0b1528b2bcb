"""Tracking evaluator (visionbench.metrics.tracking) against the official MOTChallenge evaluator.

- the tracking rows of ``../shared/fixtures/README.md`` (CEM on TUD-Campus, MOT17-09 ground truth fed back);
- every field, per sequence and combined, equal to TrackEval 1.3 run on the same files through its own
  ``MotChallenge2DBox`` reader and preprocessing (random sequences with id switches, misses, false positives,
  fragmentation, duplicates, distractors, zero-marked and non-pedestrian ground truth, integer boxes with ties;
  persistent duplicate tracks, where CLEAR's continuity rule decides; empty sequences);
- the shortcuts are exact: the overlap sweep finds every overlapping pair, IoU and HOTA's normalised similarity
  are bit-identical to TrackEval's per-frame arrays, CLEAR's frame-by-frame fallback agrees;
- errors: missing result file, boxes beyond the sequence, unknown benchmark.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.helpers import REPO
from visionbench.data.errors import DatasetFormatError, DatasetLayoutError
from visionbench.data.tracking.mot_io import read_mot_table
from visionbench.metrics.tracking import (
    HOTA_ALPHAS,
    box_iou,
    combine_sequences,
    evaluate_results,
    evaluate_sequence,
)

MOT_FIXTURES = REPO / "tests" / "fixtures" / "mot"
TUD_GT = "MOT15/train/TUD-Campus/gt/gt.txt"
CEM = "results/CEM/TUD-Campus.txt"
MOT17_09_GT = "MOT17/train/MOT17-09-FRCNN/gt/gt.txt"

# ../shared/fixtures/README.md, given to 6 decimals: reproduced to half a unit of the 6th decimal
CEM_ROW = {
    "MOTA": 0.526462,
    "MOTP": 0.722799,
    "IDF1": 0.557659,
    "HOTA": 0.391397,
    "FP": 13,
    "FN": 150,
    "IDSW": 7,
    "MT": 1,
    "PT": 6,
    "ML": 1,
    "Frag": 7,
}
TOLERANCE = 5e-7


def _assert_row(scores: dict, expected: dict) -> None:
    for key, value in expected.items():
        if isinstance(value, int):
            assert scores[key] == value, key
            assert isinstance(scores[key], int), key
        else:
            assert abs(scores[key] - value) <= TOLERANCE, (key, scores[key], value)


# ---- reference rows of the fixtures README ------------------------------------------------------------------------


def test_cem_on_tud_campus_matches_the_reference_row() -> None:
    gt = read_mot_table(MOT_FIXTURES / TUD_GT, "gt")
    tracker = read_mot_table(MOT_FIXTURES / CEM, "result")
    scores = evaluate_sequence(gt, tracker, 71, benchmark="MOT15")
    _assert_row(scores, CEM_ROW)
    assert scores["CLR_FP"] == scores["FP"] and scores["CLR_FN"] == scores["FN"]
    assert scores["HOTA_alpha"].shape == (19,) and scores["HOTA"] == pytest.approx(scores["HOTA_alpha"].mean())


@pytest.mark.parametrize("num_frames", [525, 4])  # seqinfo.ini says 525; the mini ground truth has 4 frames
def test_mot17_09_ground_truth_fed_back(num_frames: int) -> None:
    gt = read_mot_table(MOT_FIXTURES / MOT17_09_GT, "gt")
    tracker = read_mot_table(MOT_FIXTURES / MOT17_09_GT, "result")
    preprocessed = evaluate_sequence(gt, tracker, num_frames, benchmark="MOT17")
    _assert_row(preprocessed, {"MOTA": 0.666667, "IDF1": 0.857143, "HOTA": 0.866025, "FP": 8})
    for raw in (
        evaluate_sequence(gt, tracker, num_frames, benchmark="MOT15"),
        evaluate_sequence(gt, tracker, num_frames, benchmark="MOT17", preprocess=False),
    ):
        _assert_row(raw, {"MOTA": -0.166667, "FP": 28})
    assert preprocessed["Frames"] == preprocessed["CLR_Frames"] == num_frames


def test_evaluate_results_scores_files_and_names_a_missing_result(tmp_path: Path) -> None:
    per_sequence, combined = evaluate_results(
        {"TUD-Campus": MOT_FIXTURES / TUD_GT}, {"TUD-Campus": MOT_FIXTURES / CEM}, {"TUD-Campus": 71}, "MOT15"
    )
    _assert_row(per_sequence["TUD-Campus"], CEM_ROW)
    _assert_row(combined, CEM_ROW)  # one sequence: the combination is the sequence
    missing = tmp_path / "TUD-Campus.txt"
    with pytest.raises(DatasetLayoutError, match="TUD-Campus.txt"):
        evaluate_results({"TUD-Campus": MOT_FIXTURES / TUD_GT}, {"TUD-Campus": missing}, {"TUD-Campus": 71}, "MOT15")
    with pytest.raises(DatasetLayoutError, match="no result file given for sequence TUD-Campus"):
        evaluate_results({"TUD-Campus": MOT_FIXTURES / TUD_GT}, {}, {"TUD-Campus": 71}, "MOT15")


def test_errors_name_the_problem(tmp_path: Path) -> None:
    gt_file = tmp_path / "gt.txt"
    gt_file.write_text("1,1,10,10,20,40,1,1,1\n3,1,10,10,20,40,1,1,1\n")
    result_file = tmp_path / "result.txt"
    result_file.write_text("1,5,10,10,20,40,1,-1,-1,-1\n")
    gt, tracker = read_mot_table(gt_file, "gt"), read_mot_table(result_file, "result")
    with pytest.raises(DatasetFormatError, match=r"gt.txt:2: frame 3 is outside the sequence \(frames 1..2"):
        evaluate_sequence(gt, tracker, 2)
    with pytest.raises(ValueError, match="benchmark 'MOT18'"):
        evaluate_sequence(gt, tracker, 3, benchmark="MOT18")
    with pytest.raises(ValueError, match="at least one"):
        combine_sequences([])


# ---- TrackEval as the reference ----------------------------------------------------------------------------------

DISTRACTORS = (2, 7, 8, 12, 6)
OTHER_CLASSES = (3, 4, 5, 9, 10, 11, 13)


def _format(value: float) -> str:
    return repr(float(value))


def synthetic_sequence(
    rng: np.random.Generator, num_frames: int, num_objects: int, mot15: bool, integer_boxes: bool
) -> tuple[list[str], list[str]]:
    """(gt lines, tracker lines) of a random sequence with every kind of tracking error.

    Ground truth: objects with random birth/death and a random walk; for MOT16/17/20 files some objects are
    distractors or other classes, some pedestrian rows are zero-marked. Tracker: each gt box (distractors too) is
    detected with noise or missed (also runs of misses: fragmentation); ids switch (swaps and fresh ids), some
    objects get a duplicate track, false positives appear at random; ``integer_boxes`` rounds every box so that
    exact ties occur.
    """
    gt_lines: list[str] = []
    tracker_lines: list[str] = []
    next_tracker_id = 1000
    objects = []
    for object_id in range(1, num_objects + 1):
        start = int(rng.integers(1, num_frames + 1))
        end = int(rng.integers(start, num_frames + 1))
        if mot15:
            cls = 1
        else:
            cls = int(rng.choice([1] * 6 + [int(rng.choice(DISTRACTORS)), int(rng.choice(OTHER_CLASSES))]))
        objects.append(
            {
                "id": object_id,
                "start": start,
                "end": end,
                "pos": rng.uniform(0, 400, 2),
                "vel": rng.normal(0, 3, 2),
                "size": rng.uniform([15, 40], [50, 120]),
                "cls": cls,
                "track": object_id,
                "duplicate": next_tracker_id + object_id if rng.random() < 0.15 else None,
                "miss_run": 0,
            }
        )
    next_tracker_id += num_objects + 1
    for frame in range(1, num_frames + 1):
        alive = [o for o in objects if o["start"] <= frame <= o["end"]]
        if len(alive) >= 2 and rng.random() < 0.1:  # id swap between two tracks
            a, b = rng.choice(len(alive), 2, replace=False)
            alive[a]["track"], alive[b]["track"] = alive[b]["track"], alive[a]["track"]
        for o in alive:
            o["pos"] = o["pos"] + o["vel"] + rng.normal(0, 1, 2)
            box = np.r_[o["pos"], o["size"]]
            if integer_boxes:
                box = np.round(box)
            flag = 0 if (o["cls"] != 1 and rng.random() < 0.7) or rng.random() < 0.05 else 1
            if mot15:
                conf = 1 if rng.random() > 0.05 else 0
                gt_lines.append(f"{frame},{o['id']},{','.join(map(_format, box))},{conf},-1,-1,-1")
            else:
                visibility = rng.uniform(0, 1)
                gt_lines.append(f"{frame},{o['id']},{','.join(map(_format, box))},{flag},{o['cls']},{visibility:.3f}")
            if rng.random() < 0.02:
                o["track"] = next_tracker_id  # fresh id: identity switch
                next_tracker_id += 1
            if o["miss_run"] > 0 or rng.random() < 0.05:
                o["miss_run"] = o["miss_run"] - 1 if o["miss_run"] > 0 else int(rng.integers(0, 5))
                continue
            noise = rng.normal(0, 0.12 if rng.random() < 0.8 else 0.4, 4) * np.r_[o["size"], o["size"]]
            tracker_box = box + noise
            tracker_box[2:] = np.maximum(tracker_box[2:], 1)
            if integer_boxes:
                tracker_box = np.round(tracker_box)
            tracker_lines.append(f"{frame},{o['track']},{','.join(map(_format, tracker_box))},1,-1,-1,-1")
            if o["duplicate"] is not None and rng.random() < 0.7:
                shifted = box + rng.normal(0, 0.1, 4) * np.r_[o["size"], o["size"]]
                if integer_boxes:
                    shifted = np.round(shifted)
                tracker_lines.append(f"{frame},{o['duplicate']},{','.join(map(_format, shifted))},0.5,-1,-1,-1")
        for _ in range(rng.poisson(1.0)):
            box = np.r_[rng.uniform(0, 400, 2), rng.uniform([15, 40], [50, 120])]
            if integer_boxes:
                box = np.round(box)
            tracker_lines.append(f"{frame},{next_tracker_id},{','.join(map(_format, box))},0.3,-1,-1,-1")
            next_tracker_id += 1
    rng.shuffle(tracker_lines)  # files need not be sorted
    return gt_lines, tracker_lines


def _write_layout(root: Path, sequences: dict[str, tuple[list[str], list[str], int]]) -> tuple[dict, dict, dict]:
    """MOTChallenge layout for TrackEval (``gt/<seq>/gt/gt.txt``, ``trackers/T/data/<seq>.txt``)."""
    gt_files, result_files, num_frames = {}, {}, {}
    for name, (gt_lines, tracker_lines, length) in sequences.items():
        gt_files[name] = root / "gt" / name / "gt" / "gt.txt"
        result_files[name] = root / "trackers" / "T" / "data" / f"{name}.txt"
        for path, lines in ((gt_files[name], gt_lines), (result_files[name], tracker_lines)):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(line + "\n" for line in lines))
        num_frames[name] = length
    return gt_files, result_files, num_frames


def trackeval_results(
    root: Path, num_frames: dict[str, int], benchmark: str, preprocess: bool = True
) -> tuple[dict[str, dict], dict]:
    """TrackEval's per-sequence and combined results (its metric dicts merged) for the layout under ``root``:
    its own reader, preprocessing, metrics and ``combine_sequences``, as its ``Evaluator`` runs them."""
    trackeval = pytest.importorskip("trackeval")
    dataset = trackeval.datasets.MotChallenge2DBox(
        {
            "GT_FOLDER": str(root / "gt"),
            "TRACKERS_FOLDER": str(root / "trackers"),
            "TRACKERS_TO_EVAL": ["T"],
            "BENCHMARK": benchmark,
            "SEQ_INFO": dict(num_frames),
            "SKIP_SPLIT_FOL": True,
            "DO_PREPROC": preprocess,
            "PRINT_CONFIG": False,
        }
    )
    metrics = [
        trackeval.metrics.HOTA(),
        trackeval.metrics.CLEAR({"PRINT_CONFIG": False}),
        trackeval.metrics.Identity({"PRINT_CONFIG": False}),
        trackeval.metrics.Count(),
    ]
    per_metric: dict[str, dict[str, dict]] = {m.get_name(): {} for m in metrics}
    for seq in num_frames:
        data = dataset.get_preprocessed_seq_data(dataset.get_raw_seq_data("T", seq), "pedestrian")
        for metric in metrics:
            per_metric[metric.get_name()][seq] = metric.eval_sequence(data)
    per_sequence = {seq: {} for seq in num_frames}
    combined: dict = {}
    for metric in metrics:
        for seq in num_frames:
            per_sequence[seq].update(per_metric[metric.get_name()][seq])
        combined.update(metric.combine_sequences(per_metric[metric.get_name()]))
    return per_sequence, combined


HOTA_ARRAYS = ("HOTA", "DetA", "AssA", "DetRe", "DetPr", "AssRe", "AssPr", "LocA", "OWTA")


def assert_same_as_trackeval(ours: dict, reference: dict, where: str) -> None:
    """Every TrackEval field equal: counts exactly, ratios to rtol 1e-12 (sums may differ in the last bit)."""
    for key, value in reference.items():
        if key in ("HOTA_TP", "HOTA_FN", "HOTA_FP"):
            np.testing.assert_array_equal(ours[f"{key}_alpha"], value, err_msg=f"{where} {key}")
        elif key in HOTA_ARRAYS:
            np.testing.assert_allclose(ours[f"{key}_alpha"], value, rtol=1e-12, atol=1e-15, err_msg=f"{where} {key}")
            assert ours[key] == pytest.approx(float(np.mean(value)), rel=1e-12, abs=1e-15), (where, key)
        elif isinstance(value, (int, np.integer)) or key in ("IDTP", "IDFN", "IDFP"):
            assert ours[key] == value, (where, key, ours[key], value)
        else:
            assert ours[key] == pytest.approx(float(value), rel=1e-12, abs=1e-15), (where, key, ours[key], value)


CASES = [
    # (seed, benchmark, preprocess, integer boxes, sequences as (frames, objects))
    (0, "MOT17", True, False, [(60, 12), (40, 8), (25, 5)]),
    (1, "MOT17", True, True, [(50, 15), (30, 10)]),
    (2, "MOT20", True, True, [(40, 25), (20, 6)]),
    (3, "MOT16", False, False, [(45, 10), (30, 12)]),
    (4, "MOT15", True, False, [(60, 10), (35, 14)]),
    (5, "MOT15", True, True, [(50, 20), (10, 3)]),
]


@pytest.mark.parametrize(("seed", "benchmark", "preprocess", "integer_boxes", "shapes"), CASES)
def test_random_sequences_match_trackeval(
    tmp_path: Path, seed: int, benchmark: str, preprocess: bool, integer_boxes: bool, shapes: list
) -> None:
    rng = np.random.default_rng(seed)
    sequences = {
        f"SEQ-{index}": (*synthetic_sequence(rng, frames, objects, benchmark == "MOT15", integer_boxes), frames + 3)
        for index, (frames, objects) in enumerate(shapes)
    }
    gt_files, result_files, num_frames = _write_layout(tmp_path, sequences)
    reference_sequences, reference_combined = trackeval_results(tmp_path, num_frames, benchmark, preprocess)
    per_sequence, combined = evaluate_results(gt_files, result_files, num_frames, benchmark, preprocess)
    for name, reference in reference_sequences.items():
        assert_same_as_trackeval(per_sequence[name], reference, name)
    assert_same_as_trackeval(combined, reference_combined, "COMBINED_SEQ")
    assert combined["Frames"] == sum(num_frames.values())
    # errors of every kind actually occurred
    assert combined["IDSW"] > 0 and combined["Frag"] > 0 and combined["FP"] > 0 and combined["FN"] > 0
    if benchmark != "MOT15" and preprocess:
        raw = evaluate_results(gt_files, result_files, num_frames, benchmark, preprocess=False)[1]
        assert raw["Dets"] > combined["Dets"]  # distractor matches were removed


def test_edge_cases_match_trackeval(tmp_path: Path) -> None:
    """Empty tracker, empty (all zero-marked) ground truth, no overlap at all, frames with one side empty."""
    gt = ["1,1,10,10,20,40,1,1,1", "2,1,12,10,20,40,1,1,1", "4,2,100,100,20,40,1,1,1"]
    sequences = {
        "EMPTY-TRACKER": (gt, [], 5),
        "EMPTY-GT": (["1,1,10,10,20,40,0,1,1", "2,2,10,10,20,40,1,8,1"], ["1,7,10,10,20,40,1,-1,-1,-1"], 3),
        "NO-OVERLAP": (gt, ["1,7,300,300,20,40,1,-1,-1,-1", "3,8,10,10,20,40,1,-1,-1,-1"], 5),
        "ONE-SIDED": (
            gt,
            ["2,7,12,10,20,40,1,-1,-1,-1", "3,7,12,10,20,40,1,-1,-1,-1", "4,7,100,100,20,40,1,-1,-1,-1"],
            4,
        ),
        "BOTH-EMPTY": ([], [], 2),
    }
    gt_files, result_files, num_frames = _write_layout(tmp_path, sequences)
    reference_sequences, reference_combined = trackeval_results(tmp_path, num_frames, "MOT17")
    per_sequence, combined = evaluate_results(gt_files, result_files, num_frames, "MOT17")
    for name, reference in reference_sequences.items():
        assert_same_as_trackeval(per_sequence[name], reference, name)
    assert_same_as_trackeval(combined, reference_combined, "COMBINED_SEQ")


def test_fixture_sequences_match_trackeval(tmp_path: Path) -> None:
    """CEM/TUD-Campus (MOT15) and MOT17-09 fed back (525 frames, MOT17 and without preprocessing), all fields."""
    cem = {"TUD-Campus": ((MOT_FIXTURES / TUD_GT).read_text().split(), (MOT_FIXTURES / CEM).read_text().split(), 71)}
    gt_lines = (MOT_FIXTURES / MOT17_09_GT).read_text().split()
    as_tracker = [",".join(line.split(",")[:7] + ["-1", "-1", "-1"]) for line in gt_lines]  # TrackEval: class -1
    mot17 = {"MOT17-09-FRCNN": (gt_lines, as_tracker, 525)}
    for index, (sequences, benchmark, preprocess) in enumerate(
        [(cem, "MOT15", True), (mot17, "MOT17", True), (mot17, "MOT17", False)]
    ):
        root = tmp_path / str(index)
        gt_files, result_files, num_frames = _write_layout(root, sequences)
        reference_sequences, _ = trackeval_results(root, num_frames, benchmark, preprocess)
        per_sequence, _ = evaluate_results(gt_files, result_files, num_frames, benchmark, preprocess)
        for name, reference in reference_sequences.items():
            assert_same_as_trackeval(per_sequence[name], reference, name)


def _duplicate_tracks(rng: np.random.Generator, num_frames: int, num_objects: int) -> tuple[list[str], list[str]]:
    """Crowded objects, each followed by a main track and, for most, a persistent duplicate track whose boxes
    often fit better: which of the two CLEAR keeps depends on the whole history (continuity bonus), with breaks
    (the kept track drifts off for a frame) that hand the object over."""
    gt_lines, tracker_lines = [], []
    position = rng.uniform(0, 300, (num_objects, 2))
    size = rng.uniform([20, 50], [40, 100], (num_objects, 2))
    for frame in range(1, num_frames + 1):
        position += rng.normal(0, 2, position.shape)
        for index in range(num_objects):
            box = np.r_[position[index], size[index]]
            gt_lines.append(f"{frame},{index + 1},{','.join(map(_format, box))},1,1,1")
            for track, spread in ((index + 1, 0.08), (1000 + index, 0.05)):
                if track >= 1000 and (index % 4 == 0 or rng.random() < 0.1):
                    continue
                noisy = box + rng.normal(0, spread, 4) * np.r_[size[index], size[index]]
                if rng.random() < 0.05:
                    noisy[:2] += size[index]  # drifts off: the pair breaks for a frame
                tracker_lines.append(f"{frame},{track},{','.join(map(_format, noisy))},1,-1,-1,-1")
    return gt_lines, tracker_lines


@pytest.mark.parametrize("rounds", [None, 1])  # 1: the frame-by-frame fallback does most of the work
def test_clear_continuity_with_persistent_duplicates_matches_trackeval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rounds: int | None
) -> None:
    from visionbench.metrics.tracking import clear

    if rounds is not None:
        monkeypatch.setattr(clear, "_ROUNDS", rounds)
    rng = np.random.default_rng(11)
    sequences = {f"DUP-{i}": (*_duplicate_tracks(rng, 80, 25), 80) for i in range(2)}
    gt_files, result_files, num_frames = _write_layout(tmp_path, sequences)
    reference_sequences, reference_combined = trackeval_results(tmp_path, num_frames, "MOT17")
    per_sequence, combined = evaluate_results(gt_files, result_files, num_frames, "MOT17")
    for name, reference in reference_sequences.items():
        assert_same_as_trackeval(per_sequence[name], reference, name)
    assert_same_as_trackeval(combined, reference_combined, "COMBINED_SEQ")
    assert combined["IDSW"] > 10


def test_pairs_and_hota_similarity_are_bit_identical_to_trackeval(tmp_path: Path) -> None:
    """Crowded frames (rows with many overlapping boxes): the IoU of every pair and HOTA's normalised similarity
    equal, bit for bit, what TrackEval computes on each frame's dense matrix."""
    from visionbench.metrics.tracking import prepare_sequence

    rng = np.random.default_rng(5)
    gt_lines, tracker_lines = synthetic_sequence(rng, 12, 60, mot15=False, integer_boxes=False)
    sequences = {"CROWD": (gt_lines, tracker_lines, 12)}
    gt_files, result_files, num_frames = _write_layout(tmp_path, sequences)
    trackeval = pytest.importorskip("trackeval")
    dataset = trackeval.datasets.MotChallenge2DBox(
        {
            "GT_FOLDER": str(tmp_path / "gt"),
            "TRACKERS_FOLDER": str(tmp_path / "trackers"),
            "TRACKERS_TO_EVAL": ["T"],
            "SEQ_INFO": dict(num_frames),
            "SKIP_SPLIT_FOL": True,
            "PRINT_CONFIG": False,
        }
    )
    data = dataset.get_preprocessed_seq_data(dataset.get_raw_seq_data("T", "CROWD"), "pedestrian")
    ours = prepare_sequence(
        read_mot_table(gt_files["CROWD"], "gt"), read_mot_table(result_files["CROWD"], "result"), 12
    )
    widest = 0
    for frame, similarity in enumerate(data["similarity_scores"]):
        denominator = similarity.sum(0)[np.newaxis, :] + similarity.sum(1)[:, np.newaxis] - similarity
        normalised = np.zeros_like(similarity)
        valid = denominator > np.finfo("float").eps
        normalised[valid] = similarity[valid] / denominator[valid]
        selected = ours.pair_frames == frame
        rows = ours.pair_gt[selected] - ours.gt_start[frame]
        cols = ours.pair_tracker[selected] - ours.tracker_start[frame]
        for values, reference in ((ours.pair_iou, similarity), (ours.pair_norm_iou, normalised)):
            dense = np.zeros_like(reference)
            dense[rows, cols] = values[selected]
            np.testing.assert_array_equal(dense, reference)
        widest = max(widest, int((similarity > 0).sum(1).max(initial=0)))
    assert widest >= 3  # rows whose sums depend on the summation order occurred


def test_overlapping_pairs_find_every_overlap() -> None:
    """The sweep finds exactly the pairs with IoU > 0 of the dense matrix, with its values, in its order."""
    from visionbench.metrics.tracking.matching import overlapping_pairs

    rng = np.random.default_rng(3)
    gt_frames = np.sort(rng.integers(1, 6, 300))
    tracker_frames = np.sort(rng.integers(1, 6, 250))
    gt_boxes = np.c_[rng.uniform(-50, 200, (300, 2)), rng.exponential(20, (300, 2))]
    tracker_boxes = np.c_[rng.uniform(-50, 200, (250, 2)), rng.exponential(20, (250, 2))]
    tracker_boxes[:5, 2] = 400  # very wide boxes
    gt_boxes[:5, 2:] = 0  # degenerate boxes
    pair_gt, pair_tracker, iou = overlapping_pairs(gt_boxes, gt_frames, tracker_boxes, tracker_frames)
    expected = box_iou(gt_boxes, tracker_boxes) * (gt_frames[:, None] == tracker_frames[None, :])
    rows, cols = np.nonzero(expected > 0)
    np.testing.assert_array_equal(pair_gt, rows)
    np.testing.assert_array_equal(pair_tracker, cols)
    np.testing.assert_array_equal(iou, expected[rows, cols])


def test_box_iou_is_trackeval_arithmetic() -> None:
    trackeval = pytest.importorskip("trackeval")
    rng = np.random.default_rng(7)
    boxes1 = np.round(rng.uniform([0, 0, 0, 0], [100, 100, 40, 60], (40, 4)), 1)
    boxes2 = np.round(rng.uniform([0, 0, 0, 0], [100, 100, 40, 60], (30, 4)), 1)
    boxes1[:3, 2] = 0  # degenerate boxes
    boxes2[:5] = boxes1[5:10]  # identical boxes
    reference = trackeval.datasets.MotChallenge2DBox._calculate_box_ious(boxes1, boxes2, box_format="xywh")
    np.testing.assert_array_equal(box_iou(boxes1, boxes2), reference)


def test_alphas_are_the_reference_thresholds() -> None:
    assert len(HOTA_ALPHAS) == 19
    np.testing.assert_allclose(HOTA_ALPHAS, np.linspace(0.05, 0.95, 19), atol=1e-12)
