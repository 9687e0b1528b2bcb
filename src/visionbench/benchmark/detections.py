"""A synthetic sequence of detections to run a tracker on: objects of pedestrian proportions moving at constant
velocity (bouncing off the frame's borders), detected with box noise, misses and false positives, as a detector's
output on a MOTChallenge sequence. Deterministic for a given seed."""

from __future__ import annotations

import numpy as np

from visionbench.data.tracking.boxes import Detections


def synthetic_sequence(
    frames: int,
    height: int,
    width: int,
    objects: int = 20,
    miss_rate: float = 0.1,
    false_positives: float = 1.0,
    seed: int = 0,
) -> list[Detections]:
    """``frames`` frames of :class:`~visionbench.data.tracking.boxes.Detections` (x1, y1, x2, y2 in pixels of a
    ``height`` x ``width`` frame): ``objects`` true objects, each missed with probability ``miss_rate`` per frame,
    plus Poisson(``false_positives``) random boxes per frame; true detections score in [0.5, 1), false ones in
    [0.2, 0.6)."""
    rng = np.random.default_rng(seed)
    box_height = rng.uniform(0.12, 0.3, objects) * height
    box_width = box_height * rng.uniform(0.35, 0.45, objects)
    size = np.stack([box_width, box_height], 1)
    position = rng.uniform(0, 1, (objects, 2)) * (np.array([width, height]) - size)
    velocity = rng.normal(0, 0.004, (objects, 2)) * np.array([width, height])
    sequence = []
    for _ in range(frames):
        position += velocity
        outside = (position < 0) | (position + size > np.array([width, height]))
        velocity[outside] *= -1
        position = np.clip(position, 0, np.array([width, height]) - size)
        noisy = np.concatenate([position, position + size], 1) + rng.normal(0, 0.03, (objects, 4)) * np.tile(size, 2)
        seen = rng.random(objects) >= miss_rate
        extra = rng.poisson(false_positives)
        corner = rng.uniform(0, 1, (extra, 2)) * np.array([width, height]) * 0.8
        false = np.concatenate([corner, corner + size[rng.integers(0, objects, extra)]], 1)
        boxes = np.concatenate([noisy[seen], false])
        scores = np.concatenate([rng.uniform(0.5, 1.0, seen.sum()), rng.uniform(0.2, 0.6, extra)])
        sequence.append(Detections(boxes=boxes, scores=scores, classes=np.ones(len(boxes), dtype=np.int64)))
    return sequence
