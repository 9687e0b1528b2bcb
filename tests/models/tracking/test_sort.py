"""SORT: the batched Kalman filter (dense and block form) against filterpy, the tracker against a per-track filterpy
implementation on the 10 MOT15 public detection files, its rules (min_hits, max_age, ids, detection bookkeeping,
empty frames, NaN), and several sequences in lockstep (``track_sequences``) against ``update``."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import REPO
from visionbench.data.tracking.mot_io import read_mot_table, write_results
from visionbench.models.tracking import SORT, Detections, SortKalmanFilter, sort_associate, track_sequence
from visionbench.models.tracking.run import frame_detections, track_sequences

MOT15 = next(
    (
        p
        for p in (REPO / "tests" / "fixtures" / "mot" / "MOT15", REPO.parent / "shared" / "fixtures" / "mot" / "MOT15")
        if p.is_dir()
    ),
    None,
)
DET_FILES = sorted((MOT15 / "train").glob("*/det/det.txt")) if MOT15 is not None else []
needs_mot15 = pytest.mark.skipif(len(DET_FILES) < 10, reason="MOT15 detection fixtures not found")


def per_track_sort():
    """benchmarks/baselines/sort_per_track.py (filterpy-based, one object per track), loaded by path."""
    pytest.importorskip("filterpy")
    path = REPO / "benchmarks" / "baselines" / "sort_per_track.py"
    spec = importlib.util.spec_from_file_location("sort_per_track", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["sort_per_track"] = module
    spec.loader.exec_module(module)
    return module


def detections(boxes, scores=None, classes=None) -> Detections:
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.ones(len(boxes)) if scores is None else np.asarray(scores, dtype=np.float64)
    classes = np.zeros(len(boxes), np.int64) if classes is None else np.asarray(classes, dtype=np.int64)
    return Detections(boxes=boxes, scores=scores, classes=classes)


def box(cx: float, cy: float = 100.0, w: float = 40.0, h: float = 100.0) -> list[float]:
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


# ---- Kalman filter --------------------------------------------------------------------------------------------


def random_states(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(size=(count, 7)) * [50, 50, 1000, 0.3, 3, 3, 50] + [300, 200, 5000, 0.5, 0, 0, 0]
    factors = rng.normal(size=(count, 7, 7))
    P = factors @ factors.transpose(0, 2, 1) + 0.1 * np.eye(7)  # full (not block-diagonal) covariances
    return x, P


def filterpy_filter(x: np.ndarray, P: np.ndarray, kalman: SortKalmanFilter):
    from filterpy.kalman import KalmanFilter

    kf = KalmanFilter(dim_x=7, dim_z=4)
    kf.F, kf.H, kf.Q, kf.R = kalman.F.copy(), kalman.H.copy(), kalman.Q.copy(), kalman.R.copy()
    kf.x, kf.P = x.reshape(7, 1).copy(), P.copy()
    return kf


def test_sort_noise_matrices_are_the_reference_ones() -> None:
    pytest.importorskip("filterpy")
    from filterpy.kalman import KalmanFilter

    kf = KalmanFilter(dim_x=7, dim_z=4)
    kf.R[2:, 2:] *= 10.0
    kf.P[4:, 4:] *= 1000.0
    kf.P *= 10.0
    kf.Q[-1, -1] *= 0.01
    kf.Q[4:, 4:] *= 0.01
    kalman = SortKalmanFilter()
    np.testing.assert_array_equal(kalman.R, kf.R)
    np.testing.assert_array_equal(kalman.P0, kf.P)
    np.testing.assert_array_equal(kalman.Q, kf.Q)
    assert kalman.Q[6, 6] == pytest.approx(1e-4) and kalman.P0[4, 4] == 1e4 and kalman.R[3, 3] == 10.0


def test_batched_predict_and_update_equal_filterpy_on_random_states() -> None:
    pytest.importorskip("filterpy")
    rng = np.random.default_rng(0)
    kalman = SortKalmanFilter()
    x, P = random_states(rng, 16)
    z = x[:, :4] + rng.normal(size=(16, 4)) * [5, 5, 300, 0.05]
    x_pred, P_pred = kalman.predict(x, P)
    x_new, P_new = kalman.update(x_pred, P_pred, z)
    for i in range(16):
        kf = filterpy_filter(x[i], P[i], kalman)
        kf.predict()
        np.testing.assert_allclose(x_pred[i], kf.x[:, 0], rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(P_pred[i], kf.P, rtol=1e-10, atol=1e-10)
        kf.update(z[i].reshape(4, 1))
        np.testing.assert_allclose(x_new[i], kf.x[:, 0], rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(P_new[i], kf.P, rtol=1e-10, atol=1e-10)
    assert not np.allclose(x_new, x_pred)  # the update moved the states
    np.testing.assert_array_equal(x, random_states(np.random.default_rng(0), 16)[0])  # inputs not modified


def test_predict_is_bitwise_the_dense_product() -> None:
    rng = np.random.default_rng(1)
    kalman = SortKalmanFilter()
    x, P = random_states(rng, 5)
    x_pred, P_pred = kalman.predict(x, P)
    for i in range(5):
        np.testing.assert_array_equal(x_pred[i], kalman.F @ x[i])
        np.testing.assert_array_equal(P_pred[i], (kalman.F @ P[i]) @ kalman.F.T + kalman.Q)


def test_block_form_predict_and_update_equal_filterpy() -> None:
    """On block-diagonal covariances (SORT's), the block form gives filterpy's predict and update."""
    pytest.importorskip("filterpy")
    rng = np.random.default_rng(2)
    kalman = SortKalmanFilter()
    count = 12
    table = np.zeros((36, count))
    table[0:4] = (rng.normal(size=(4, count)).T * [50, 50, 1000, 0.3] + [300, 200, 5000, 0.5]).T
    table[4:7] = rng.normal(size=(3, count)) * [[3], [3], [50]]
    variances = rng.uniform(1, 100, size=(2, 4, count))
    table[8:12], table[16:20] = variances
    table[12:16] = rng.uniform(-0.9, 0.9, size=(4, count)) * np.sqrt(variances[0] * variances[1])  # PSD blocks
    table[[7, 15, 19]] = 0.0  # the aspect ratio has no velocity
    table[20:36] = kalman.block_initial[16:]
    x, P = table[:7].T.copy(), kalman.block_covariances(table)
    z = x[:, :4] + rng.normal(size=(count, 4)) * [5, 5, 300, 0.05]
    kalman.block_predict(table)
    predicted = table.copy()
    kalman.block_update(table, np.ascontiguousarray(z.T))
    for i in range(count):
        kf = filterpy_filter(x[i], P[i], kalman)
        kf.predict()
        np.testing.assert_allclose(predicted[:7, i], kf.x[:, 0], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(kalman.block_covariances(predicted)[i], kf.P, rtol=1e-12, atol=1e-12)
        kf.update(z[i].reshape(4, 1))
        np.testing.assert_allclose(table[:7, i], kf.x[:, 0], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(kalman.block_covariances(table)[i], kf.P, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(table[[7, 15, 19]], 0.0)  # the placeholder velocity stays exactly 0


@needs_mot15
def test_tracker_states_follow_per_track_filterpy_filters() -> None:
    """SORT's diagonal-S update (state covariances stay block diagonal) is filterpy's update, to 1e-9."""
    baseline = per_track_sort()
    table = read_mot_table(MOT15 / "train" / "ETH-Sunnyday" / "det" / "det.txt", "det")
    ours, reference = SORT(max_age=3, min_hits=3), baseline.PerTrackSORT(max_age=3, min_hits=3)
    for frame, dets in enumerate(frame_detections(table, int(table.frames.max()))[:120], start=1):
        ours.update(dets)
        reference.update(np.hstack([dets.boxes, dets.scores[:, None]]))
        if frame % 10 == 0:
            assert ours.num_tracks == len(reference.tracks) > 0
            np.testing.assert_array_equal(ours.track_ids, [t.id for t in reference.tracks])
            states = np.stack([t.kf.x[:, 0] for t in reference.tracks])
            covariances = np.stack([t.kf.P for t in reference.tracks])
            np.testing.assert_allclose(ours.states, states, rtol=1e-9, atol=1e-9)
            np.testing.assert_allclose(ours.covariances, covariances, rtol=1e-9, atol=1e-9)


# ---- the tracker against the per-track implementation ------------------------------------------------------------


@needs_mot15
@pytest.mark.parametrize("max_age, min_hits, iou_threshold", [(1, 3, 0.3), (3, 1, 0.5)])
def test_identical_to_per_track_filterpy_sort_on_mot15(max_age: int, min_hits: int, iou_threshold: float) -> None:
    baseline = per_track_sort()
    assert len(DET_FILES) == 10
    total = 0
    for path in DET_FILES:
        table = read_mot_table(path, "det")
        ours = SORT(max_age, min_hits, iou_threshold)
        reference = baseline.PerTrackSORT(max_age, min_hits, iou_threshold)
        for frame, dets in enumerate(frame_detections(table, int(table.frames.max())), start=1):
            tracks = ours.update(dets)
            rows = reference.update(np.hstack([dets.boxes, dets.scores[:, None]]))
            where = f"{path.parts[-3]} frame {frame}"
            np.testing.assert_array_equal(tracks.ids, rows[:, 4].astype(np.int64), err_msg=where)
            np.testing.assert_allclose(tracks.boxes, rows[:, :4], atol=1e-6, rtol=0, err_msg=where)
            np.testing.assert_array_equal(tracks.detection_index, rows[:, 5].astype(np.int64), err_msg=where)
            total += len(tracks)
    assert total > 20000  # the ten files give tens of thousands of reported boxes


# ---- rules ---------------------------------------------------------------------------------------------------


def test_track_is_reported_after_min_hits_except_in_the_first_frames() -> None:
    tracker = SORT(max_age=1, min_hits=3)
    reported = []
    for frame in range(1, 15):
        boxes = [box(100 + 2 * frame)] + ([box(400 + 2 * frame)] if frame >= 8 else [])
        reported.append(list(tracker.update(detections(boxes)).ids))
    # object 1 from frame 1: reported at once (frame_count <= min_hits) and ever after
    assert all(1 in ids for ids in reported)
    # object 2 from frame 8: created (hit_streak 0), matched at 9, 10, 11 -> hit_streak 3 at frame 11
    assert [2 in ids for ids in reported[7:]] == [False, False, False, True, True, True, True]


def test_track_deleted_after_max_age_misses_and_ids_never_reused() -> None:
    for max_age in (1, 2):
        tracker = SORT(max_age=max_age, min_hits=1)
        tracker.update(detections([box(100)]))
        for _ in range(max_age):  # missed max_age frames: still alive
            assert len(tracker.update(detections([]))) == 0
            assert list(tracker.track_ids) == [1]
        assert list(tracker.update(detections([box(100)])).ids) == [1]  # matched again: same id
        for _ in range(max_age + 1):  # missed max_age + 1 frames: deleted
            tracker.update(detections([]))
        assert tracker.num_tracks == 0
        tracker.update(detections([box(100)]))
        assert list(tracker.track_ids) == [2]  # same place, new id


@needs_mot15
def test_ids_are_new_and_each_lives_one_contiguous_interval() -> None:
    table = read_mot_table(MOT15 / "train" / "TUD-Campus" / "det" / "det.txt", "det")
    tracker = SORT(max_age=2, min_hits=2)
    alive_frames: dict[int, list[int]] = {}
    highest = 0
    for frame, dets in enumerate(frame_detections(table, 71), start=1):
        tracker.update(dets)
        ids = tracker.track_ids
        new = ids[ids > highest]
        assert np.array_equal(new, np.arange(highest + 1, highest + 1 + len(new)))  # consecutive, creation order
        highest = max(highest, int(ids.max(initial=0)))
        for track_id in ids:
            alive_frames.setdefault(int(track_id), []).append(frame)
    assert len(alive_frames) > 10
    for frames in alive_frames.values():
        assert frames == list(range(frames[0], frames[-1] + 1))  # never comes back once deleted


def test_tracks_carry_index_score_and_class_of_their_detection() -> None:
    rng = np.random.default_rng(3)
    tracker = SORT(max_age=1, min_hits=1)
    centres = np.array([100.0, 250.0, 400.0, 550.0])
    id_of_object = np.zeros(4, np.int64)
    for frame in range(6):
        order = rng.permutation(4)
        boxes = np.array([box(c + 3 * frame) for c in centres[order]])
        scores, classes = rng.uniform(0.3, 1.0, 4), rng.integers(1, 5, 4)
        tracks = tracker.update(detections(boxes, scores, classes))
        assert len(tracks) == 4 and sorted(tracks.detection_index) == [0, 1, 2, 3]
        np.testing.assert_array_equal(tracks.scores, scores[tracks.detection_index])
        np.testing.assert_array_equal(tracks.classes, classes[tracks.detection_index])
        np.testing.assert_allclose(tracks.boxes, boxes[tracks.detection_index], atol=3.5)  # Kalman box, near
        if frame == 0:  # tracks are created in detection order
            id_of_object[order] = [1, 2, 3, 4]
        # each id keeps following the same object whatever the detection order
        np.testing.assert_array_equal(id_of_object[order[tracks.detection_index]], tracks.ids)
    assert np.all(np.diff(tracks.ids) > 0)  # sorted by id


def test_empty_frames() -> None:
    tracker = SORT()
    tracks = tracker.update(Detections())
    assert tracks.ids.shape == (0,) and tracks.boxes.shape == (0, 4) and tracks.detection_index.shape == (0,)
    assert tracks.ids.dtype == np.int64 and tracks.boxes.dtype == np.float64
    tracker.update(detections([box(100)]))
    assert tracker.num_tracks == 1
    assert len(tracker.update(Detections())) == 0
    tracker.update(Detections())
    assert tracker.num_tracks == 0  # max_age 1: two empty frames delete it


def test_track_with_nan_prediction_is_removed() -> None:
    tracker = SORT(max_age=5, min_hits=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        first = tracker.update(detections([[10, 10, 10, 50], box(300)]))  # zero width: area 0, aspect 0
        assert list(first.ids) == [1, 2]
        second = tracker.update(detections([box(300)]))  # predicted box of track 1: h = 0 / 0
    assert list(second.ids) == [2] and list(tracker.track_ids) == [2]  # removed although max_age is 5
    # the only track removed: the frame's detections all start tracks
    tracker = SORT(max_age=5, min_hits=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        tracker.update(detections([[10, 10, 10, 50]]))
        tracker.update(detections([box(300), box(500)]))
    assert list(tracker.track_ids) == [2, 3]


def test_association_rules() -> None:
    tracks = np.array([box(100), box(300), box(500)])
    # one-to-one above threshold: taken directly; the unmatched detection comes last
    dets = np.array([box(510), box(800), box(95)])
    matches, unmatched_dets, unmatched_tracks = sort_associate(dets, tracks, 0.3)
    assert matches.tolist() == [[0, 2], [2, 0]] and unmatched_dets.tolist() == [1] and unmatched_tracks.tolist() == [1]
    # two detections over track 0: Hungarian on -IoU; assigned pairs below the threshold are dropped and their
    # detections appended after the never-assigned ones (here none), in detection order
    dets = np.array([box(110), box(95), box(330)])  # IoU with track 0: 0.6, 0.78; det 2 with track 1: 0.14
    matches, unmatched_dets, unmatched_tracks = sort_associate(dets, tracks, 0.3)
    assert matches.tolist() == [[1, 0]]
    assert unmatched_dets.tolist() == [0, 2] and unmatched_tracks.tolist() == [1, 2]
    four = np.vstack([dets, [box(900)]])  # 4 detections, 3 tracks: det 3 is never assigned, so it comes first
    matches, unmatched_dets, _ = sort_associate(four, tracks, 0.3)
    assert matches.tolist() == [[1, 0]] and unmatched_dets.tolist() == [3, 0, 2]
    # no tracks / no detections
    assert sort_associate(dets, np.zeros((0, 4)), 0.3)[1].tolist() == [0, 1, 2]
    assert sort_associate(np.zeros((0, 4)), tracks, 0.3)[2].tolist() == [0, 1, 2]


def test_iou_exactly_at_the_threshold_is_a_match() -> None:
    """Only pairs *below* iou_threshold are dropped (with the Hungarian step, taken here since no pair is above)."""
    tracker = SORT(max_age=1, min_hits=1, iou_threshold=0.5)
    tracker.update(detections([[0, 0, 30, 10]]))  # predicted next frame exactly as [0, 0, 30, 10]
    tracker.update(detections([[0, 0, 15, 10]]))  # IoU 150 / 300 = 0.5
    assert list(tracker.track_ids) == [1]
    tracker = SORT(max_age=1, min_hits=1, iou_threshold=0.5)
    tracker.update(detections([[0, 0, 30, 10]]))
    tracker.update(detections([[0, 0, 14.9, 10]]))  # just below: a new track
    assert list(tracker.track_ids) == [1, 2]


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="iou_threshold"):
        SORT(iou_threshold=1.5)
    with pytest.raises(ValueError, match="scores"):
        SORT().update(Detections(boxes=np.zeros((2, 4)), scores=np.ones(1), classes=np.zeros(2, np.int64)))


# ---- whole sequences -----------------------------------------------------------------------------------------


@needs_mot15
def test_track_sequence_writes_reference_results(tmp_path: Path) -> None:
    sequence = MOT15 / "train" / "TUD-Campus"
    table = read_mot_table(sequence / "det" / "det.txt", "det")
    rows = track_sequence(SORT(), table, 71)
    path = write_results(tmp_path / "TUD-Campus.txt", *rows)
    results = read_mot_table(path, "result")
    assert len(results) == 261 and results.frames.max() <= 71 and len(np.unique(results.ids)) == 15
    np.testing.assert_allclose(results.boxes, rows[2][np.lexsort((rows[1], rows[0]))], atol=0.005)
    # the same run twice (reset in between) gives the same rows
    again = track_sequence(SORT(), table, 71)
    for first, second in zip(rows, again, strict=True):
        np.testing.assert_array_equal(first, second)


@needs_mot15
def test_sort_scores_on_tud_campus(tmp_path: Path) -> None:
    """The reference SORT's published behaviour on TUD-Campus, scored with the MOT15 rules."""
    tracking_metrics = pytest.importorskip("visionbench.metrics.tracking")
    if not hasattr(tracking_metrics, "evaluate_sequence"):
        pytest.skip("visionbench.metrics.tracking.evaluate_sequence not there yet")
    sequence = MOT15 / "train" / "TUD-Campus"
    if not (sequence / "gt" / "gt.txt").is_file():
        pytest.skip("TUD-Campus ground truth not found")
    table = read_mot_table(sequence / "det" / "det.txt", "det")
    path = write_results(tmp_path / "TUD-Campus.txt", *track_sequence(SORT(), table, 71))
    scores = tracking_metrics.evaluate_sequence(
        read_mot_table(sequence / "gt" / "gt.txt", "gt"), read_mot_table(path, "result"), 71, "MOT15"
    )
    assert scores["MOTA"] == pytest.approx(0.626741, abs=1e-6)
    assert scores["IDF1"] == pytest.approx(0.606452, abs=1e-6)
    assert scores["HOTA"] == pytest.approx(0.45257, abs=1e-5)
    assert (scores["FP"], scores["FN"], scores["IDSW"]) == (15, 113, 6)


# ---- several sequences in lockstep -------------------------------------------------------------------------------


def assert_same_as_update(sequences, max_age=1, min_hits=3, iou_threshold=0.3) -> int:
    """``track_sequences`` gives, sequence by sequence, exactly what ``update`` gives; the number of rows."""
    results = SORT(max_age, min_hits, iou_threshold).track_sequences(sequences)
    assert len(results) == len(sequences)
    tracker = SORT(max_age, min_hits, iou_threshold)
    total = 0
    for k, (frames, tracks) in enumerate(results):
        tracker.reset()
        expected = [tracker.update(d) for d in sequences[k]]
        np.testing.assert_array_equal(frames, np.repeat(np.arange(1, len(expected) + 1), [len(t) for t in expected]))
        for name in ("ids", "boxes", "detection_index", "scores", "classes"):
            want = np.concatenate([getattr(t, name) for t in expected]) if expected else getattr(tracks, name)[:0]
            np.testing.assert_array_equal(getattr(tracks, name), want, err_msg=f"sequence {k} {name}")
            assert getattr(tracks, name).dtype == want.dtype
        total += len(frames)
    return total


@needs_mot15
@pytest.mark.parametrize("max_age, min_hits, iou_threshold", [(1, 3, 0.3), (3, 1, 0.5), (2, 0, 0.3)])
def test_track_sequences_equal_update_on_mot15(max_age: int, min_hits: int, iou_threshold: float) -> None:
    tables = [read_mot_table(path, "det") for path in DET_FILES]
    sequences = [frame_detections(table, int(table.frames.max())) for table in tables]
    assert assert_same_as_update(sequences, max_age, min_hits, iou_threshold) > 20000


def test_track_sequences_edge_cases() -> None:
    """Different lengths, no frames, only empty frames, empty frames within, degenerate boxes, crowds."""
    rng = np.random.default_rng(5)

    def moving(count: int, frames: int, start: float) -> list[Detections]:
        centres = start + 60.0 * np.arange(count)
        out = []
        for frame in range(frames):
            seen = rng.random(count) > 0.2
            boxes = np.array([box(c + 2 * frame + rng.normal()) for c in centres[seen]]).reshape(-1, 4)
            out.append(detections(boxes, rng.uniform(0.2, 1, len(boxes)), rng.integers(0, 3, len(boxes))))
        return out

    degenerate = [detections([[10, 10, 10, 50], box(300)]), detections([box(300)]), detections([])]
    degenerate += [detections([[5, 5, 25, 5], box(302), box(600)]), detections([box(304), box(600)])]
    sequences = [
        moving(3, 12, 100.0),
        [],
        [Detections() for _ in range(4)],
        moving(8, 30, 50.0)[:7] + [Detections()] * 3 + moving(8, 20, 70.0),
        degenerate,
        moving(1, 2, 500.0),
    ]
    with np.errstate(divide="ignore", invalid="ignore"):
        for max_age, min_hits in ((1, 3), (0, 0), (2, 1)):
            assert assert_same_as_update(sequences, max_age, min_hits) > 50
        assert assert_same_as_update(sequences[:1]) > 0  # a single sequence
    assert SORT().track_sequences([]) == []
    assert [len(frames) for frames, _ in SORT().track_sequences([[], [Detections()]])] == [0, 0]


def test_track_sequences_checks_its_input() -> None:
    bad = Detections(boxes=np.zeros((2, 4)), scores=np.ones(1), classes=np.zeros(2, np.int64))
    with pytest.raises(ValueError, match="score"):
        SORT().track_sequences([[detections([box(100)])], [bad]])


@needs_mot15
def test_run_track_sequences_equals_track_sequence() -> None:
    paths = DET_FILES[:4]
    tables = [read_mot_table(path, "det") for path in paths]
    lengths = [int(table.frames.max()) + 2 for table in tables]  # trailing frames without detections

    class OneByOne:  # a tracker without track_sequences: run one sequence after another
        def __init__(self) -> None:
            self.sort = SORT()

        def reset(self) -> None:
            self.sort.reset()

        def update(self, detections: Detections, frame: np.ndarray | None = None):
            return self.sort.update(detections, frame)

    expected = [track_sequence(SORT(), table, length) for table, length in zip(tables, lengths, strict=True)]
    for tracker in (SORT(), OneByOne()):
        for rows, want in zip(track_sequences(tracker, tables, lengths), expected, strict=True):
            for got, wanted in zip(rows, want, strict=True):
                np.testing.assert_array_equal(got, wanted)
    with pytest.raises(ValueError, match="lengths"):
        track_sequences(SORT(), tables, lengths[:2])
