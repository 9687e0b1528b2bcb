"""The embedded synthetic MOT benchmark: determinism, MOTChallenge files, motion, occlusion, detector, appearance,
caching."""

import filecmp
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from hydra.utils import instantiate
from scipy.optimize import linear_sum_assignment

import visionbench.data.tracking.synthetic_mot as synthetic_mot
from tests.helpers import compose_config
from visionbench.data.errors import DatasetLayoutError
from visionbench.data.tracking.boxes import ltwh_to_xyxy
from visionbench.data.tracking.mot import MotBenchmark, MotSequence
from visionbench.data.tracking.mot_io import read_mot_table, read_seqinfo
from visionbench.data.tracking.synthetic_mot import SyntheticMOT, SyntheticMotParams, write_synthetic_mot

SMALL = SyntheticMotParams(num_frames=25, height=96, width=128, max_objects=4)


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> SyntheticMOT:
    """Two default-size test sequences (320x240), 120 frames each."""
    benchmark = SyntheticMOT(tmp_path_factory.mktemp("synthetic_mot"), split="test", num_frames=120)
    assert len(benchmark) == 2
    return benchmark


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lo, hi = np.maximum(a[:, None, :2], b[None, :, :2]), np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(hi - lo, 0, None).prod(-1)
    area = lambda z: (z[:, 2:] - z[:, :2]).prod(-1)  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None] - inter)


def _match(sequence: MotSequence) -> tuple[np.ndarray, int, int]:
    """Per ground-truth row whether a detection overlaps it (IoU >= 0.3, one-to-one per frame: noisy and
    border-clipped true detections still match); the number of unmatched detections; the number of frames."""
    gt = sequence.ground_truth
    detected = np.zeros(len(gt), bool)
    unmatched = 0
    for frame in range(1, sequence.num_frames + 1):
        rows = np.flatnonzero(gt.frames == frame)
        boxes = sequence.frame_detections(frame).boxes
        if len(rows) and len(boxes):
            overlap = _iou(ltwh_to_xyxy(gt.boxes[rows]), boxes)
            g, d = linear_sum_assignment(-overlap)
            good = overlap[g, d] >= 0.3
            detected[rows[g[good]]] = True
            unmatched += len(boxes) - int(good.sum())
        else:
            unmatched += len(boxes)
    return detected, unmatched, sequence.num_frames


# ---- files ----------------------------------------------------------------------------------------------------
def test_files_follow_the_motchallenge_layout(bench: SyntheticMOT) -> None:
    assert bench.benchmark == "MOT17" and bench.name == "SyntheticMOT"
    assert bench.split_dir == bench.dataset_dir / "SyntheticMOT" / "test"
    assert (bench.dataset_dir / "seqmaps" / "SyntheticMOT-test.txt").read_text() == (
        "name\nsynth-test-01\nsynth-test-02\n"
    )
    # the same files through the generic reader
    assert bench.seqmap == bench.dataset_dir / "seqmaps" / "SyntheticMOT-test.txt"
    generic = MotBenchmark(bench.dataset_dir / "SyntheticMOT", "SyntheticMOT", "test", rules="MOT17")
    assert [s.name for s in generic] == ["synth-test-01", "synth-test-02"]
    for sequence in bench:
        info = read_seqinfo(sequence.path / "seqinfo.ini")
        assert (info.seq_length, info.im_height, info.im_width, info.im_ext) == (120, 240, 320, ".jpg")
        gt_lines = (sequence.path / "gt" / "gt.txt").read_text().splitlines()
        det_lines = (sequence.path / "det" / "det.txt").read_text().splitlines()
        assert {len(line.split(",")) for line in gt_lines} == {9}
        assert {len(line.split(",")) for line in det_lines} == {10}
        gt = read_mot_table(sequence.path / "gt" / "gt.txt", "gt")
        assert (gt.confidences == 1).all() and (gt.classes == 1).all()
        assert ((gt.visibilities >= 0) & (gt.visibilities <= 1)).all()
        assert set(np.unique(gt.ids)) == set(range(1, gt.ids.max() + 1))  # ids 1..K in order of entry
        det = read_mot_table(sequence.path / "det" / "det.txt", "det")
        assert (det.ids == -1).all() and ((det.confidences > 0) & (det.confidences <= 1)).all()
        xyxy = ltwh_to_xyxy(det.boxes)
        assert (xyxy[:, :2] >= 0).all() and (xyxy[:, 2] <= 320).all() and (xyxy[:, 3] <= 240).all()
        image = sequence.read_image(60)
        assert image.shape == (240, 320, 3) and image.dtype == np.uint8
        assert len(list((sequence.path / "img1").iterdir())) == 120


def test_generation_is_deterministic_and_splits_differ(tmp_path: Path) -> None:
    first = write_synthetic_mot(tmp_path / "a", "train", 1, seed=3, params=SMALL)
    second = write_synthetic_mot(tmp_path / "b", "train", 1, seed=3, params=SMALL)
    sequence = Path("SyntheticMOT/train/synth-train-01")
    names = [str(p.relative_to(first)) for p in sorted(first.rglob("*")) if p.is_file()]
    assert len(names) == 25 + 5  # frames, seqinfo.ini, gt.txt, det.txt, the seqmap and the marker
    match, mismatch, errors = filecmp.cmpfiles(first, second, names, shallow=False)
    assert not mismatch and not errors and len(match) == len(names)
    other_seed = write_synthetic_mot(tmp_path / "c", "train", 1, seed=4, params=SMALL)
    assert (other_seed / sequence / "gt/gt.txt").read_text() != (first / sequence / "gt/gt.txt").read_text()
    test_split = write_synthetic_mot(tmp_path / "d", "test", 1, seed=3, params=SMALL)
    gt_test = (test_split / "SyntheticMOT/test/synth-test-01/gt/gt.txt").read_text()
    assert gt_test != (first / sequence / "gt/gt.txt").read_text()
    # detection knobs change the detections only: motion and frames stay
    noisy = write_synthetic_mot(
        tmp_path / "e",
        "train",
        1,
        seed=3,
        params=SyntheticMotParams(num_frames=25, height=96, width=128, max_objects=4, fp_rate=3.0),
    )
    assert (noisy / sequence / "gt/gt.txt").read_text() == (first / sequence / "gt/gt.txt").read_text()
    assert filecmp.cmp(noisy / sequence / "img1/000010.jpg", first / sequence / "img1/000010.jpg", shallow=False)
    assert (noisy / sequence / "det/det.txt").read_text() != (first / sequence / "det/det.txt").read_text()
    with pytest.raises(FileExistsError):
        write_synthetic_mot(first, "train", 1, seed=3, params=SMALL)


# ---- motion and occlusion -------------------------------------------------------------------------------------
def test_identities_are_continuous_enter_and_leave(bench: SyntheticMOT) -> None:
    late_entries = early_exits = 0
    for sequence in bench:
        gt = sequence.ground_truth
        assert len(np.unique(gt.ids)) >= 8
        for track_id in np.unique(gt.ids):
            rows = np.flatnonzero(gt.ids == track_id)
            frames = gt.frames[rows]
            assert (np.diff(frames) == 1).all(), f"identity {track_id} has a gap"
            centres = gt.boxes[rows, :2] + gt.boxes[rows, 2:] / 2
            assert np.abs(np.diff(centres, axis=0)).max(initial=0) < 5.0  # walking, not jumping
            heights = gt.boxes[rows, 3]
            assert np.abs(np.diff(heights) / heights[1:]).max(initial=0) < 0.02
            late_entries += frames[0] > 1
            early_exits += frames[-1] < sequence.num_frames
        # pedestrian-like boxes, heights varying with depth
        aspect = gt.boxes[:, 2] / gt.boxes[:, 3]
        assert 0.35 <= aspect.min() and aspect.max() <= 0.47
        assert gt.boxes[:, 3].max() > 1.8 * gt.boxes[:, 3].min()
    assert late_entries >= 2 and early_exits >= 2


def test_crossings_occlude_for_several_frames_and_the_detector_misses_them(bench: SyntheticMOT) -> None:
    long_gaps = 0
    for sequence in bench:
        gt = sequence.ground_truth
        assert (gt.visibilities < 0.5).mean() > 0.1
        assert (gt.visibilities == 0).any() and (gt.visibilities == 1).any()
        detected, _, _ = _match(sequence)
        for track_id in np.unique(gt.ids):
            hits = detected[gt.ids == track_id].astype(int)
            # runs of >= 2 missed frames between detections: SORT (max_age=1) drops the track, an appearance model
            # can recover it
            edges = np.flatnonzero(np.diff(hits))
            for start, end in zip(edges[::2], edges[1::2], strict=False):
                if hits[start] == 1 and end - start >= 2:
                    long_gaps += 1
    assert long_gaps >= 6


# ---- detector --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("miss_rate", "fp_rate"), [(None, None), (0.3, 3.0)])
def test_detector_misses_and_false_positives_follow_the_knobs(
    bench: SyntheticMOT, tmp_path: Path, miss_rate: float | None, fp_rate: float | None
) -> None:
    if miss_rate is None:
        sequences, miss_rate, fp_rate = list(bench), 0.05, 0.5
    else:
        other = SyntheticMOT(
            tmp_path, split="test", num_sequences=1, num_frames=150, miss_rate=miss_rate, fp_rate=fp_rate
        )
        sequences = list(other)
    fps, frames = 0, 0
    visible, occluded = [], []
    for sequence in sequences:
        detected, unmatched, num_frames = _match(sequence)
        vis = sequence.ground_truth.visibilities
        visible.append(detected[vis >= 0.5])
        occluded.append(detected[vis <= 0.1])
        fps += unmatched
        frames += num_frames
    visible, occluded = np.concatenate(visible), np.concatenate(occluded)
    assert len(visible) > 200 and len(occluded) > 20
    assert abs((1 - visible.mean()) - miss_rate) < 0.02 + 0.1 * miss_rate
    assert occluded.mean() < 0.2  # hidden objects are not detected (what matches them here are other boxes)
    assert abs(fps / frames - fp_rate) < 0.1 + 0.1 * fp_rate


def test_noise_free_detector_reports_exactly_the_visible_truth(tmp_path: Path) -> None:
    bench = SyntheticMOT(tmp_path, num_sequences=1, num_frames=150, fp_rate=0, box_noise=0, miss_rate=0.1)
    sequence = bench[0]
    gt, det = sequence.ground_truth, sequence.detections
    clipped = np.round(ltwh_to_xyxy(gt.boxes).clip(0, [320, 240, 320, 240]), 2)
    found = np.column_stack([det.frames, ltwh_to_xyxy(det.boxes)])
    hit = np.zeros(len(gt), bool)
    used = np.zeros(len(det), bool)
    for row, (frame, box) in enumerate(zip(gt.frames, clipped, strict=True)):
        same = np.flatnonzero((found[:, 0] == frame) & (np.abs(found[:, 1:] - box).max(axis=1) < 0.011))
        hit[row] = len(same) > 0
        used[same] = True
    assert used.all()  # every detection is a (clipped) ground-truth box
    vis = gt.visibilities
    assert not hit[vis <= 0.1].any()  # p_miss = 1
    assert abs((1 - hit[vis >= 0.5].mean()) - 0.1) < 0.03
    middle = (vis > 0.1) & (vis < 0.5)
    assert 0.1 < 1 - hit[middle].mean() < 0.9  # rises with occlusion


# ---- appearance -----------------------------------------------------------------------------------------------
def test_each_identity_keeps_its_look(bench: SyntheticMOT) -> None:
    for sequence in bench:
        gt = sequence.ground_truth
        height, width = sequence.image_size
        images: dict[int, np.ndarray] = {}
        features, labels, frames = [], [], []
        for row in range(len(gt)):
            left, top, w, h = gt.boxes[row]
            if gt.visibilities[row] < 1 or left < 0 or top < 0 or left + w > width or top + h > height:
                continue
            frame = int(gt.frames[row])
            if frame not in images:
                images[frame] = sequence.read_image(frame).astype(np.float32)
            crop = images[frame][int(top) : int(top + h), int(left) : int(left + w)]
            assert crop.reshape(-1, 3).std(axis=0).max() > 25  # several colours, not one flat patch
            features.append(cv2.resize(crop, (8, 16), interpolation=cv2.INTER_AREA).ravel())
            labels.append(gt.ids[row])
            frames.append(frame)
        features, labels, frames = np.array(features), np.array(labels), np.array(frames)
        ids = [i for i in np.unique(labels) if (labels[frames % 2 == 0] == i).any()]
        fit, held_out = frames % 2 == 0, (frames % 2 == 1) & np.isin(labels, ids)
        assert len(ids) >= 6 and held_out.sum() > 60
        centroids = np.array([features[fit & (labels == i)].mean(axis=0) for i in ids])
        distances = ((features[held_out, None] - centroids[None]) ** 2).sum(-1)
        # a crop is nearest to its own identity's mean look (in other frames) ...
        assert (np.array(ids)[distances.argmin(1)] == labels[held_out]).mean() > 0.9
        # ... but identities are not told apart by their mean colour alone
        means = features.reshape(len(features), -1, 3).mean(1)
        mean_centroids = np.array([means[fit & (labels == i)].mean(axis=0) for i in ids])
        nearest = ((means[held_out, None] - mean_centroids[None]) ** 2).sum(-1).argmin(1)
        assert (np.array(ids)[nearest] == labels[held_out]).mean() < 0.99


# ---- cache -----------------------------------------------------------------------------------------------------
def test_cache_is_reused_and_keyed_by_every_parameter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    small = dict(num_frames=20, image_size=(96, 128), max_objects=4, num_sequences=1)
    first = SyntheticMOT(tmp_path, split="train", **small)
    assert not first.is_complete()
    assert first.generate() == first.dataset_dir and first.is_complete()
    assert first.dataset_dir.parent == tmp_path and first.dataset_dir.name.startswith("synthetic_mot-train-")
    marker = json.loads((first.dataset_dir / "synthetic_mot.json").read_text())
    assert marker["params"]["num_frames"] == 20 and marker["split"] == "train"
    stamp = (first.dataset_dir / "SyntheticMOT/train/synth-train-01/gt/gt.txt").stat().st_mtime_ns

    def no_generation(*args, **kwargs):
        raise AssertionError("regenerated a cached dataset")

    monkeypatch.setattr(synthetic_mot, "write_synthetic_mot", no_generation)
    again = SyntheticMOT(tmp_path, split="train", **small)
    assert again.dataset_dir == first.dataset_dir and len(again) == 1
    assert (first.dataset_dir / "SyntheticMOT/train/synth-train-01/gt/gt.txt").stat().st_mtime_ns == stamp
    assert SyntheticMOT(tmp_path, split="train", **small, fp_rate=1).dataset_dir != first.dataset_dir
    assert SyntheticMOT(tmp_path, split="train", **small, fp_rate=0.5).dataset_dir == first.dataset_dir  # 0.5 default
    assert SyntheticMOT(tmp_path, split="train", **{**small, "seed": 1}).dataset_dir != first.dataset_dir
    assert SyntheticMOT(tmp_path, split="test", **small).dataset_dir != first.dataset_dir


def test_interrupted_generation_leaves_nothing_to_reuse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    small = dict(num_frames=10, image_size=(96, 128), max_objects=3, num_sequences=2)
    calls = []
    original = synthetic_mot.write_synthetic_sequence

    def fail_on_second(directory, name, params, seed):
        calls.append(name)
        if len(calls) == 2:
            raise KeyboardInterrupt  # interrupted half-way
        return original(directory, name, params, seed)

    monkeypatch.setattr(synthetic_mot, "write_synthetic_sequence", fail_on_second)
    bench = SyntheticMOT(tmp_path, split="test", **small)
    with pytest.raises(KeyboardInterrupt):
        bench.generate()
    assert not bench.dataset_dir.exists()
    assert list(tmp_path.iterdir()) == []  # the staging folder is gone too
    monkeypatch.setattr(synthetic_mot, "write_synthetic_sequence", original)
    assert len(SyntheticMOT(tmp_path, split="test", **small)) == 2


def test_a_foreign_folder_is_never_overwritten(tmp_path: Path) -> None:
    bench = SyntheticMOT(tmp_path, split="test", num_sequences=1, num_frames=10, image_size=(96, 128))
    bench.dataset_dir.mkdir(parents=True)
    (bench.dataset_dir / "mine.txt").write_text("keep me")
    with pytest.raises(DatasetLayoutError, match="not a complete synthetic MOT dataset"):
        _ = bench.sequences
    assert (bench.dataset_dir / "mine.txt").read_text() == "keep me"
    assert sorted(p.name for p in bench.dataset_dir.iterdir()) == ["mine.txt"]


def test_config_builds_lazily_and_generates_on_use(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    cfg = compose_config(
        "train",
        [
            "data=tracking/synthetic_mot",
            f"data.root={root}",
            "data.num_frames=12",
            "data.image_size=[96,128]",
            "data.max_objects=3",
        ],
        tmp_path,
    )
    benchmark = instantiate(cfg.data)
    assert isinstance(benchmark, SyntheticMOT) and benchmark.split == "test" and benchmark.benchmark == "MOT17"
    assert not root.exists()  # nothing is written at construction
    assert [s.num_frames for s in benchmark] == [12, 12]
    assert benchmark.dataset_dir.parent == root


def test_invalid_parameters_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="split"):
        SyntheticMOT(tmp_path, split="dev")
    with pytest.raises(ValueError, match="miss_rate"):
        SyntheticMOT(tmp_path, miss_rate=1.5)
    with pytest.raises(ValueError, match="image_format"):
        SyntheticMotParams(image_format=".gif")
    with pytest.raises(TypeError):
        SyntheticMOT(tmp_path, unknown_knob=1)
