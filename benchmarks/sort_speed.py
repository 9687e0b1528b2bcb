"""SORT speed: our vectorised :class:`visionbench.models.tracking.SORT` against a per-track-object implementation
(``benchmarks/baselines/sort_per_track.py``: one ``filterpy.kalman.KalmanFilter`` object per track, Python loops,
organised like the reference abewley/sort), on the same detections, outputs checked identical first.

Workloads: the public detections of the 10 MOT15 training sequences (``<root>/train/*/det/det.txt``, every frame
from 1 to the last one with a detection, as the reference script runs them; few live tracks per frame), and
optionally synthetic crowds (``--crowds 50 200``: that many objects on random linear paths in a 1920x1080 frame,
detections jittered by 1 px, 5 % missed, 300 frames), where the cost per track dominates.

Timing: only the ``update`` calls, inputs prepared beforehand (``Detections`` for ours, ``(N, 5)`` arrays for the
baseline). One untimed warm-up pass, then ``--repeats`` rounds; in each round both run once over the whole
workload, alternating which goes first. Reported: the median round time, frames per second from it, and the
ratio of the medians (baseline / ours).

    python benchmarks/sort_speed.py [--root ../shared/fixtures/mot/MOT15] [--repeats 7] [--crowds 50 200]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import scipy
from baselines.sort_per_track import PerTrackSORT

from visionbench.data.mot_io import read_mot_table
from visionbench.models.tracking import SORT, Detections
from visionbench.models.tracking.run import frame_detections

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ROOTS = (REPO / "tests" / "fixtures" / "mot" / "MOT15", REPO.parent / "shared" / "fixtures" / "mot" / "MOT15")

Workload = list[list[Detections]]


def mot15(root: Path) -> Workload:
    """Per sequence, per frame 1..last frame with a detection: that frame's detections."""
    paths = sorted((root / "train").glob("*/det/det.txt"))
    if not paths:
        raise FileNotFoundError(f"no {root}/train/*/det/det.txt")
    tables = [read_mot_table(path, "det") for path in paths]
    return [frame_detections(table, int(table.frames.max())) for table in tables]


def crowd(objects: int, frames: int = 300, seed: int = 0) -> Workload:
    """One synthetic sequence: ``objects`` boxes moving linearly (bouncing off the borders), jittered, 5 % missed."""
    rng = np.random.default_rng(seed)
    size = np.array([1920.0, 1080.0])
    centre = rng.uniform(0.1, 0.9, (objects, 2)) * size
    velocity = rng.normal(0, 2.0, (objects, 2))
    half = np.column_stack([rng.uniform(10, 30, objects), rng.uniform(30, 80, objects)])
    sequence = []
    for _ in range(frames):
        centre += velocity
        outside = (centre < half) | (centre > size - half)
        velocity[outside] *= -1
        seen = rng.random(objects) > 0.05
        jitter = rng.normal(0, 1.0, (objects, 4))
        boxes = np.hstack([centre - half, centre + half])[seen] + jitter[seen]
        sequence.append(Detections(boxes=boxes, scores=np.ones(len(boxes)), classes=np.ones(len(boxes), np.int64)))
    return [sequence]


def run_ours(workload: Workload, keep: bool = False) -> list:
    out = []
    tracker = SORT()
    for sequence in workload:
        tracker.reset()
        for detections in sequence:
            tracks = tracker.update(detections)
            if keep:
                out.append(tracks)
    return out


def run_baseline(workload: list[list[np.ndarray]], keep: bool = False) -> list:
    out = []
    for sequence in workload:
        tracker = PerTrackSORT()
        for detections in sequence:
            rows = tracker.update(detections)
            if keep:
                out.append(rows)
    return out


def check_identical(ours: list, baseline: list) -> int:
    """Raises unless every frame has the same ids and boxes (1e-6 px); the number of reported boxes."""
    assert len(ours) == len(baseline)
    for frame, (tracks, rows) in enumerate(zip(ours, baseline, strict=True)):
        if not np.array_equal(tracks.ids, rows[:, 4].astype(np.int64)) or not np.allclose(
            tracks.boxes, rows[:, :4], rtol=0, atol=1e-6
        ):
            raise AssertionError(f"outputs differ at frame index {frame}")
    return sum(len(tracks) for tracks in ours)


def benchmark(name: str, workload: Workload, repeats: int) -> dict[str, float]:
    arrays = [[np.hstack([d.boxes, d.scores[:, None]]) for d in sequence] for sequence in workload]
    frames = sum(len(sequence) for sequence in workload)
    boxes = check_identical(run_ours(workload, keep=True), run_baseline(arrays, keep=True))  # also the warm-up
    times: dict[str, list[float]] = {"ours": [], "baseline": []}
    runs = {"ours": lambda: run_ours(workload), "baseline": lambda: run_baseline(arrays)}
    for round_index in range(repeats):
        for key in ("ours", "baseline") if round_index % 2 == 0 else ("baseline", "ours"):
            start = time.perf_counter()
            runs[key]()
            times[key].append(time.perf_counter() - start)
    ours, baseline = statistics.median(times["ours"]), statistics.median(times["baseline"])
    detections = sum(len(d) for sequence in workload for d in sequence)
    return {
        "name": name,
        "frames": frames,
        "detections per frame": detections / frames,
        "reported per frame": boxes / frames,
        "ours fps": frames / ours,
        "baseline fps": frames / baseline,
        "ratio": baseline / ours,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, help="MOT15 root (with train/<seq>/det/det.txt)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--crowds", type=int, nargs="*", default=[], help="synthetic scenes with this many objects")
    args = parser.parse_args()
    root = args.root or next((p for p in DEFAULT_ROOTS if p.is_dir()), DEFAULT_ROOTS[-1])
    print(
        f"numpy {np.__version__}, scipy {scipy.__version__}, Python {platform.python_version()}; "
        f"median of {args.repeats} alternating rounds; outputs checked identical (ids, boxes to 1e-6 px) first"
    )
    rows = [benchmark("MOT15 train, 10 det files", mot15(root), args.repeats)]
    rows += [benchmark(f"synthetic crowd, {n} objects", crowd(n), args.repeats) for n in args.crowds]
    print(
        f"| {'workload':<28} | {'frames':>6} | {'dets/frame':>10} | {'tracks out/frame':>16} "
        f"| {'ours fps':>9} | {'per-track fps':>13} | {'speed-up':>8} |"
    )
    print(f"|{'-' * 30}|{'-' * 8}|{'-' * 12}|{'-' * 18}|{'-' * 11}|{'-' * 15}|{'-' * 10}|")
    for row in rows:
        print(
            f"| {row['name']:<28} | {row['frames']:>6} | {row['detections per frame']:>10.1f} "
            f"| {row['reported per frame']:>16.1f} | {row['ours fps']:>9.0f} | {row['baseline fps']:>13.0f} "
            f"| {row['ratio']:>7.1f}x |"
        )


if __name__ == "__main__":
    main()
