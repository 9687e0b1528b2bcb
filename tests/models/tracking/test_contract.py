"""The tracker contract, for every tracker in ``conf/model/tracking/*.yaml`` (found by a glob; ``appearance.yaml``,
the re-identification network, is tested with the re-id task): ``reset()`` then ``update(detections)`` once per
frame returns :class:`~visionbench.models.tracking.types.Tracks`; ids start at 1 and are never handed to another
object; no detections give no tracks; boxes are x1, y1, x2, y2 pixels of the image, like the detections'.

Each tracker runs with its configured settings on a synthetic scene of well separated boxes moving at constant
speed, each with its own appearance feature in ``Detections.features`` (a configured appearance encoder, which
needs a trained re-id run, is left out). Tracker-specific rules are in test_sort.py and test_deepsort.py."""

from dataclasses import dataclass

import numpy as np
import pytest
from hydra.utils import get_class, instantiate

from tests.helpers.models import compose_model, model_config_names
from visionbench.data.tracking.boxes import Detections
from visionbench.models.tracking import Tracker, Tracks

CONFIGS = model_config_names("tracking")
TRACKERS = [
    name
    for name in CONFIGS
    if all(callable(getattr(get_class(compose_model("tracking", name)._target_), method, None)) for method in
           ("reset", "update"))
]  # fmt: skip
GAP = 100
"""Empty frames after which every configured tracker has deleted its tracks (longest ``max_age``: 70)."""


def build(name: str) -> Tracker:
    """The tracker of ``model=tracking/<name>`` as configured, its appearance encoder (if any) left out."""
    config = compose_model("tracking", name)
    if "encoder" in config:
        config.encoder = None
    return instantiate(config)


@dataclass(frozen=True)
class Walker:
    """A 40 x 100 px box whose centre starts at ``(x, y)`` in frame ``first`` and moves ``(vx, vy)`` px per frame
    until frame ``last`` (included)."""

    first: int
    last: int
    x: float
    y: float
    vx: float = 0.0
    vy: float = 0.0

    def box(self, frame: int) -> list[float]:
        cx, cy = self.x + self.vx * (frame - self.first), self.y + self.vy * (frame - self.first)
        return [cx - 20.0, cy - 50.0, cx + 20.0, cy + 50.0]


SCENE = [Walker(0, 39, 100, 150, 2.0), Walker(4, 29, 400, 300, -1.5, 0.5), Walker(10, 39, 700, 200, 0.0, -1.0)]
"""Three objects, entering at frames 0, 4 and 10, the second leaving at frame 29."""


def frame_detections(objects: list[Walker], frame: int, rng: np.random.Generator) -> tuple[Detections, np.ndarray]:
    """The detections of the objects present in ``frame``, in a random order, each object's feature a one-hot
    vector; and the object index of each detection."""
    present = np.array([i for i, o in enumerate(objects) if o.first <= frame <= o.last], dtype=np.int64)
    present = rng.permutation(present)
    boxes = np.array([objects[i].box(frame) for i in present], dtype=np.float64).reshape(-1, 4)
    features = np.eye(8, dtype=np.float32)[present]
    scores = rng.uniform(0.5, 1.0, len(present))
    return Detections(boxes, scores, present + 1, features), present


def run(tracker: Tracker, objects: list[Walker], frames: int, seed: int = 0) -> list[tuple[Detections, Tracks]]:
    """``reset``, then one ``update`` per frame; each frame's detections and tracks."""
    rng = np.random.default_rng(seed)
    tracker.reset()
    out = []
    for frame in range(frames):
        detections, _ = frame_detections(objects, frame, rng)
        out.append((detections, tracker.update(detections)))
    return out


def empty() -> Detections:
    return Detections(features=np.zeros((0, 8), dtype=np.float32))


def test_every_tracker_config_is_found() -> None:
    # a broken glob or interface test must not leave the tests below with nothing to check
    assert {"sort", "deepsort"} <= set(TRACKERS) and "appearance" not in TRACKERS, TRACKERS


@pytest.mark.parametrize("name", TRACKERS)
def test_update_returns_tracks_of_the_frames_detections(name: str) -> None:
    tracker = build(name)
    for detections, tracks in run(tracker, SCENE, 40):
        assert isinstance(tracks, Tracks)
        assert tracks.ids.dtype == np.int64 and tracks.detection_index.dtype == np.int64
        assert tracks.boxes.dtype == np.float64 and tracks.boxes.shape == (len(tracks), 4)
        assert len(tracks.scores) == len(tracks.classes) == len(tracks)
        assert np.all(np.diff(tracks.ids) > 0)  # sorted by id, each once
        matched = tracks.detection_index >= 0
        index = tracks.detection_index[matched]
        assert np.all(index < len(detections))
        np.testing.assert_array_equal(tracks.scores[matched], detections.scores[index])
        np.testing.assert_array_equal(tracks.classes[matched], detections.classes[index])


@pytest.mark.parametrize("name", TRACKERS)
def test_ids_start_at_one_and_are_never_reused(name: str) -> None:
    """Every id follows one object; an object coming back after its track was deleted gets a new id."""
    comeback = [Walker(0, 19, 300, 200), Walker(20 + GAP, 39 + GAP, 300, 200)]  # same place, after a long gap
    object_of_id: dict[int, int] = {}
    rng = np.random.default_rng(0)
    tracker = build(name)
    for scene_index, objects, frames in [(0, SCENE, 40), (1, comeback, 40 + GAP)]:
        tracker.reset()
        object_of_id.clear()
        for frame in range(frames):
            detections, present = frame_detections(objects, frame, rng)
            tracks = tracker.update(detections)
            for track_id, index in zip(tracks.ids, tracks.detection_index, strict=True):
                if index >= 0:
                    assert object_of_id.setdefault(int(track_id), int(present[index])) == present[index], scene_index
        assert min(object_of_id) == 1
        assert sorted(set(object_of_id.values())) == list(range(len(objects)))  # every object was tracked
        assert len(object_of_id) == len(objects)  # one id per object in these clean scenes


@pytest.mark.parametrize("name", TRACKERS)
def test_no_detections_give_no_tracks(name: str) -> None:
    tracker = build(name)
    tracker.reset()
    for _ in range(5):
        tracks = tracker.update(empty())
        assert len(tracks) == 0 and tracks.ids.shape == (0,) and tracks.boxes.shape == (0, 4)
    run(tracker, SCENE, 40)
    reported = [len(tracker.update(empty())) for _ in range(GAP)]
    assert reported[-1] == 0  # tracks are not reported forever without detections


@pytest.mark.parametrize("name", TRACKERS)
def test_reset_starts_a_new_sequence(name: str) -> None:
    tracker = build(name)
    first = run(tracker, SCENE, 40)
    second = run(tracker, SCENE, 40)  # run resets first: same ids, from 1
    for (_, a), (_, b) in zip(first, second, strict=True):
        np.testing.assert_array_equal(a.ids, b.ids)
        np.testing.assert_array_equal(a.boxes, b.boxes)


@pytest.mark.parametrize("name", TRACKERS)
def test_boxes_are_the_detections_image_coordinates(name: str) -> None:
    """A still object's track box is its detection box; a moving object's stays within a few pixels of it."""
    still = build(name)
    for detections, tracks in run(still, [Walker(0, 9, 250.0, 180.0)], 10)[3:]:
        np.testing.assert_allclose(tracks.boxes, detections.boxes, rtol=0, atol=1e-6)
    moving = build(name)
    for detections, tracks in run(moving, SCENE, 40)[3:]:
        matched = tracks.detection_index >= 0
        assert matched.any()
        np.testing.assert_allclose(tracks.boxes[matched], detections.boxes[tracks.detection_index[matched]], atol=4.0)
