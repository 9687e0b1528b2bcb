"""DeepSORT: the batched Kalman filter against deep_sort's single-track formulas, gating, the matching cascade,
appearance through a crossing, track life cycle (n_init, tentative deletion, max_age), the feature budget and
the encoder contract. Scenes are synthetic, with hand-made appearance features."""

from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
from hydra.utils import instantiate
from omegaconf import OmegaConf

from tests.helpers import REPO
from visionbench.models.tracking import SORT, DeepSORT, DeepSortKalmanFilter, Detections, FeatureGallery
from visionbench.models.tracking.kalman import CHI2_95_4DOF, boxes_to_xyah

E = np.eye(8, dtype=np.float32)


def box(cx: float, cy: float = 200.0, w: float = 40.0, h: float = 100.0) -> list[float]:
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


def dets(boxes, features=None, scores=None) -> Detections:
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.linspace(0.9, 0.8, len(boxes)) if scores is None else np.asarray(scores, dtype=np.float64)
    features = np.zeros((0, 8), np.float32) if features is None and len(boxes) == 0 else features
    return Detections(boxes, scores, np.zeros(len(boxes), np.int64), None if features is None else np.asarray(features))


def matched_ids(tracks) -> dict[int, int]:
    """detection index -> track id for the tracks matched this frame."""
    return {int(d): int(i) for d, i in zip(tracks.detection_index, tracks.ids, strict=True) if d >= 0}


# ---- Kalman filter --------------------------------------------------------------------------------------------


def single_track_reference(mean, covariance, z, w_pos=1 / 20, w_vel=1 / 160):
    """deep_sort's filter for one track, written out with dense matrices (predict, project, update, gating)."""
    F = np.eye(8)
    F[:4, 4:] = np.eye(4)
    H = np.eye(4, 8)
    h = mean[3]
    Q = np.diag(np.square([w_pos * h, w_pos * h, 1e-2, w_pos * h, w_vel * h, w_vel * h, 1e-5, w_vel * h]))
    mean = F @ mean
    covariance = F @ covariance @ F.T + Q
    h = mean[3]
    R = np.diag(np.square([w_pos * h, w_pos * h, 1e-1, w_pos * h]))
    projected_mean, S = H @ mean, H @ covariance @ H.T + R
    lower = np.linalg.cholesky(S)
    whitened = scipy.linalg.solve_triangular(lower, (z - projected_mean).T, lower=True)
    gate = np.sum(whitened * whitened, axis=0)
    factor = scipy.linalg.cho_factor(S, lower=True)
    gain = scipy.linalg.cho_solve(factor, (covariance @ H.T).T).T
    new_mean = mean + (z[0] - projected_mean) @ gain.T
    new_covariance = covariance - gain @ S @ gain.T
    return mean, covariance, gate, new_mean, new_covariance


def test_kalman_filter_equals_single_track_formulas() -> None:
    rng = np.random.default_rng(0)
    kalman = DeepSortKalmanFilter()
    measurements = np.column_stack(
        [rng.uniform(0, 600, 6), rng.uniform(0, 400, 6), rng.uniform(0.3, 0.6, 6), rng.uniform(50, 200, 6)]
    )
    mean, covariance = kalman.initiate(measurements)
    np.testing.assert_array_equal(mean[:, :4], measurements)
    np.testing.assert_allclose(covariance[0, 0, 0], (2 / 20 * measurements[0, 3]) ** 2)
    np.testing.assert_allclose(covariance[0, 4, 4], (10 / 160 * measurements[0, 3]) ** 2)
    mean[:, 4:] = rng.normal(size=(6, 4))
    factors = rng.normal(size=(6, 8, 8))
    covariance = covariance + factors @ factors.transpose(0, 2, 1)  # full covariances
    z = measurements + rng.normal(size=(6, 4)) * [3, 3, 0.02, 3]
    predicted_mean, predicted_covariance = kalman.predict(mean, covariance)
    gates = kalman.gating_distance(predicted_mean, predicted_covariance, z)
    new_mean, new_covariance = kalman.update(predicted_mean, predicted_covariance, z)
    for i in range(6):
        ref = single_track_reference(mean[i], covariance[i], z[i : i + 1])
        np.testing.assert_allclose(predicted_mean[i], ref[0], rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(predicted_covariance[i], ref[1], rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(gates[i, i], ref[2][0], rtol=1e-10)
        np.testing.assert_allclose(new_mean[i], ref[3], rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(new_covariance[i], ref[4], rtol=1e-10, atol=1e-10)
        for j in range(6):  # gating distances of every track to every measurement
            np.testing.assert_allclose(gates[i, j], single_track_reference(mean[i], covariance[i], z[j : j + 1])[2][0])


# ---- association ----------------------------------------------------------------------------------------------


def confirmed_at(tracker: DeepSORT, centre: float, feature: np.ndarray, frames: int = 3) -> int:
    """Detect one stationary object ``frames`` times; its id once confirmed."""
    for _ in range(frames):
        tracks = tracker.update(dets([box(centre)], [feature]))
    assert len(tracks) == 1
    return int(tracks.ids[0])


def test_gating_excludes_far_detection_even_with_perfect_appearance() -> None:
    tracker = DeepSORT()
    track_id = confirmed_at(tracker, 100, E[0])
    far = dets([box(400)], [E[0]])  # identical feature, 300 px away
    predicted_mean, predicted_covariance = tracker.kalman.predict(tracker.mean, tracker.covariance)
    gate = tracker.kalman.gating_distance(predicted_mean, predicted_covariance, boxes_to_xyah(far.boxes))
    assert gate[0, 0] > CHI2_95_4DOF
    tracks = tracker.update(far)
    assert list(tracks.ids) == [track_id] and list(tracks.detection_index) == [-1]  # missed, reported once more
    assert tracker.num_tracks == 2 and not tracker.confirmed[1]  # the far detection started a new track
    # control: the same detection near the track is matched
    tracker = DeepSORT()
    track_id = confirmed_at(tracker, 100, E[0])
    assert matched_ids(tracker.update(dets([box(104)], [E[0]]))) == {0: track_id}


@pytest.mark.parametrize("a_is_similar", [True, False])
def test_cascade_prefers_the_more_recently_updated_track(a_is_similar: bool) -> None:
    """Tracks A (updated last frame) and B (missed last frame) both gate a detection that looks exactly like B.
    The cascade offers it to A first and A takes it when its appearance distance (0.1) is within 0.2, although
    B's is 0; only when A looks different (distance 1) does B get it, at cascade level 2."""
    feature_b = E[1]
    feature_a = (0.9 * E[1] + np.sqrt(1 - 0.81) * E[0]) if a_is_similar else E[0]
    tracker = DeepSORT()
    for _ in range(3):
        tracks = tracker.update(dets([box(100), box(112)], [feature_a, feature_b]))
    ids = matched_ids(tracks)
    id_a, id_b = ids[0], ids[1]
    assert matched_ids(tracker.update(dets([box(100)], [feature_a]))) == {0: id_a}  # B missed
    candidate = dets([box(106)], [feature_b])
    mean, covariance = tracker.kalman.predict(tracker.mean, tracker.covariance)
    assert np.all(tracker.kalman.gating_distance(mean, covariance, boxes_to_xyah(candidate.boxes)) < CHI2_95_4DOF)
    distances = tracker.gallery.distance(np.arange(2), candidate.features)[:, 0]
    np.testing.assert_allclose(distances, [0.1 if a_is_similar else 1.0, 0.0], atol=1e-6)
    assert matched_ids(tracker.update(candidate)) == {0: id_a if a_is_similar else id_b}


def bouncing_pair(frames: int = 30) -> list[list[list[float]]]:
    """Two objects approach at 4 px/frame, coincide at frame 10 and go back the way they came."""
    out = []
    for t in range(frames):
        d = 4 * (t if t <= 10 else 20 - t)
        out.append([box(100 + d), box(180 - d)])
    return out


def identities(tracker, frames, features) -> list[tuple[int | None, int | None]]:
    """(id of object 0's detection, id of object 1's detection) per frame."""
    tracker.reset()
    out = []
    for boxes in frames:
        ids = matched_ids(tracker.update(dets(boxes, features, scores=[0.9, 0.8])))
        out.append((ids.get(0), ids.get(1)))
    return out


def test_appearance_keeps_identities_where_motion_switches_them() -> None:
    frames = bouncing_pair()
    features = np.stack([E[0], E[1]])
    # pure IoU / motion: after the bounce the constant-velocity prediction of each track lies on the other object
    sort_ids = identities(SORT(max_age=1, min_hits=3), frames, features)
    assert sort_ids[9] == (1, 2) and sort_ids[12] == (2, 1)
    no_appearance = identities(DeepSORT(max_cosine_distance=-1.0), frames, features)  # cascade refuses all
    assert no_appearance[9] == (1, 2) and no_appearance[-1] == (2, 1)
    # with appearance the identities survive the whole sequence
    deep_ids = identities(DeepSORT(), frames, features)
    assert deep_ids[:2] == [(None, None)] * 2  # tentative: n_init = 3
    assert set(deep_ids[2:]) == {(1, 2)}


# ---- track life cycle ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_init", [1, 3, 5])
def test_track_is_confirmed_at_its_n_init_th_detection(n_init: int) -> None:
    tracker = DeepSORT(n_init=n_init)
    reported = [len(tracker.update(dets([box(100 + 2 * f)], [E[0]]))) for f in range(8)]
    # a new track is tentative even with n_init 1: confirmation happens on an update
    assert reported == [0] * max(n_init - 1, 1) + [1] * (8 - max(n_init - 1, 1))


def test_tentative_track_deleted_when_missed() -> None:
    tracker = DeepSORT(n_init=3)
    tracker.update(dets([box(100), box(300)], [E[0], E[1]]))
    tracker.update(dets([box(100)], [E[0]]))  # the object at 300 is missed while tentative
    assert tracker.num_tracks == 1 and list(tracker.ids) == [1]
    tracker.update(dets([box(100)], [E[0]]))
    tracker.update(Detections(np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64), np.zeros((0, 8), np.float32)))
    assert tracker.num_tracks == 1 and tracker.confirmed[0]  # confirmed tracks survive a miss
    tracker.update(dets([box(300)], [E[1]]))
    assert list(tracker.ids) == [1, 3]  # the object at 300 comes back with a new id


def test_confirmed_track_reported_one_missed_frame_then_deleted_after_max_age() -> None:
    tracker = DeepSORT(max_age=4)
    track_id = confirmed_at(tracker, 100, E[0])
    empty = dets([])
    tracks = tracker.update(empty)
    assert list(tracks.ids) == [track_id] and list(tracks.detection_index) == [-1]  # as deep_sort_app writes
    for _ in range(3):  # time since update 2, 3, 4: kept, not reported
        assert len(tracker.update(empty)) == 0 and tracker.num_tracks == 1
    tracker.update(empty)  # 5 > max_age
    assert tracker.num_tracks == 0


def test_nn_budget_caps_the_gallery() -> None:
    gallery = FeatureGallery(budget=2)
    gallery.append(np.stack([E[0], E[3]]))
    for feature in (E[1], E[2]):
        gallery.add(np.array([0]), feature[None])
    np.testing.assert_array_equal(gallery.sizes, [2, 1])
    np.testing.assert_allclose(gallery.distance(np.array([0, 1]), np.stack([E[0], E[2], E[3]])), [[1, 0, 1], [1, 1, 0]])
    unlimited = FeatureGallery(budget=None)
    unlimited.append(E[:1] * 3.0)  # stored normalised
    for k in range(20):
        unlimited.add(np.array([0]), E[1:2] * (k + 1))
    assert unlimited.sizes[0] == 21
    np.testing.assert_allclose(unlimited.distance(np.array([0]), E[:2]), [[0, 0]], atol=1e-6)
    # in the tracker: a long-lived track stores at most nn_budget features
    tracker = DeepSORT(nn_budget=5)
    for frame in range(12):
        tracker.update(dets([box(100 + frame)], [E[frame % 8]]))
    assert tracker.gallery.sizes.tolist() == [5]


@pytest.mark.parametrize("budget, same_id", [(100, True), (2, False)])
def test_forgotten_appearance_is_not_matched(budget: int, same_id: bool) -> None:
    """A tall track (h = 400, so a wide gate) looks like E0 for 3 frames, then E1 for 2. A detection looking like
    E0, 25 px aside (IoU 0.23: the IoU stage refuses it), is matched by appearance only if E0 is still stored."""
    tracker = DeepSORT(nn_budget=budget)
    for feature in (E[0], E[0], E[0], E[1], E[1]):
        tracks = tracker.update(dets([box(100, h=400)], [feature]))
    track_id = int(tracks.ids[0])
    tracks = tracker.update(dets([box(125, h=400)], [E[0]]))
    assert (matched_ids(tracks).get(0) == track_id) is same_id


# ---- detections, features and encoder --------------------------------------------------------------------------


def test_encoder_called_with_frame_and_kept_boxes() -> None:
    calls = []

    def encoder(frame: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        calls.append((frame.shape, boxes.copy()))
        return np.tile(E[0] * 2.0, (len(boxes), 1))

    tracker = DeepSORT(encoder=encoder, min_confidence=0.5)
    assert tracker.needs_frames and not DeepSORT().needs_frames
    image = np.zeros((240, 320, 3), np.uint8)
    boxes = np.array([box(100), box(200), box(300)])
    scores = np.array([0.6, 0.2, 0.9])
    for _ in range(3):
        tracks = tracker.update(Detections(boxes, scores, np.array([1, 2, 3])), image)
    assert calls[0][0] == (240, 320, 3)
    np.testing.assert_array_equal(calls[0][1], boxes[[2, 0]])  # low score dropped, highest score first
    # indices into the frame's detections; ids in the order tracks were started (highest score first)
    assert tracks.ids.tolist() == [1, 2] and tracks.detection_index.tolist() == [2, 0]
    assert tracks.classes.tolist() == [3, 1] and tracks.scores.tolist() == [0.9, 0.6]
    assert tracker.update(Detections(np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64)), image) is not None
    assert len(calls) == 3  # no call for a frame without detections


def test_missing_features_raise() -> None:
    with pytest.raises(ValueError, match="appearance features"):
        DeepSORT().update(Detections(np.array([box(100)]), np.ones(1), np.zeros(1, np.int64)))
    with pytest.raises(ValueError, match="frame image"):
        DeepSORT(encoder=lambda frame, boxes: np.ones((len(boxes), 4))).update(
            Detections(np.array([box(100)]), np.ones(1), np.zeros(1, np.int64))
        )
    with pytest.raises(ValueError, match="encoder returned"):
        DeepSORT(encoder=lambda frame, boxes: np.ones(3)).update(
            Detections(np.array([box(100)]), np.ones(1), np.zeros(1, np.int64)), np.zeros((8, 8, 3), np.uint8)
        )
    with pytest.raises(ValueError, match="features has shape"):
        DeepSORT().update(Detections(np.array([box(100)]), np.ones(1), np.zeros(1, np.int64), np.ones((2, 4))))
    # an empty frame needs no features
    assert len(DeepSORT().update(Detections())) == 0


def test_non_max_suppression_keeps_the_higher_score() -> None:
    tracker = DeepSORT(nms_max_overlap=0.5, n_init=1)
    boxes = [box(100), box(104), box(300)]  # the first two overlap by 90 %
    for _ in range(2):
        tracks = tracker.update(dets(boxes, [E[0], E[0], E[1]], scores=[0.7, 0.9, 0.8]))
    assert sorted(tracks.detection_index.tolist()) == [1, 2]


# ---- configs ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, cls", [("sort", SORT), ("deepsort", DeepSORT)])
def test_configs_build_the_trackers(name: str, cls: type) -> None:
    cfg = OmegaConf.load(Path(REPO / "conf" / "model" / "tracking" / f"{name}.yaml"))
    if cls is DeepSORT:  # the encoder is a task=reid run, named on the command line (model.encoder.path=...)
        assert OmegaConf.is_missing(cfg.encoder, "path")
        assert cfg.encoder._target_.endswith("AppearanceEncoder.from_checkpoint")
        cfg.encoder = None
    tracker = instantiate(cfg)
    assert isinstance(tracker, cls)
    if cls is SORT:
        assert (tracker.max_age, tracker.min_hits, tracker.iou_threshold) == (1, 3, 0.3)
    else:
        assert tracker.encoder is None and tracker.max_cosine_distance == 0.2 and tracker.nn_budget == 100
        assert (tracker.max_iou_distance, tracker.n_init, tracker.max_age) == (0.7, 3, 70)
