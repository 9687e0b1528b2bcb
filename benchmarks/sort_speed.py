"""SORT speed: our vectorised :class:`visionbench.models.tracking.SORT` against a per-track-object implementation
(``benchmarks/baselines/sort_per_track.py``: one ``filterpy.kalman.KalmanFilter`` object per track, Python loops,
organised like the reference abewley/sort), on the same detections, outputs checked identical first.

Two ways of running ours:

- online: ``SORT.update`` frame by frame, one sequence after another (what a live tracker does);
- lockstep: ``SORT.track_sequences`` over all the sequences of the workload at once (frame ``f`` of every
  sequence in one step, all their tracks in one table; what a benchmark run over a data set can do). Only for
  workloads with several sequences.

Workloads: the public detections of the 10 MOT15 training sequences (``<root>/train/*/det/det.txt``, every frame
from 1 to the last one with a detection, as the reference script runs them; few live tracks per frame), and
optionally synthetic crowds (``--crowds 50 200``: that many objects on random linear paths in a 1920x1080 frame,
detections jittered by 1 px, 5 % missed, 300 frames, one sequence), where the cost per track dominates.

Timing: inputs prepared beforehand (``Detections`` for ours, ``(N, 5)`` arrays for the baseline); timed: the
``update`` calls (online, baseline) or the ``track_sequences`` call (lockstep, its input reordering included).
One untimed pass (which checks that all give the same ids and boxes, to 1e-6 px, frame by frame), then
``--repeats`` rounds; in each round every variant runs once over the whole workload, in an order that rotates
from round to round. Reported: frames per second from the median round time of each variant and the speed-up,
the median over the rounds of the ratio of the times (baseline / ours) in the round.

    python benchmarks/sort_speed.py [--root ../shared/fixtures/mot/MOT15] [--repeats 7] [--crowds 50 200]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import scipy
from baselines.sort_per_track import PerTrackSORT

from visionbench.data.tracking.mot_io import read_mot_table
from visionbench.models.tracking import SORT, Detections, Tracks
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


def run_online(workload: Workload, keep: bool = False) -> list:
    out = []
    tracker = SORT()
    for sequence in workload:
        tracker.reset()
        for detections in sequence:
            tracks = tracker.update(detections)
            if keep:
                out.append(tracks)
    return out


def run_lockstep(workload: Workload, keep: bool = False) -> list:
    """``SORT.track_sequences`` over the whole workload; with ``keep``, its output cut into frames like ``update``'s."""
    results = SORT().track_sequences(workload)
    if not keep:
        return []
    out = []
    for sequence, (frames, tracks) in zip(workload, results, strict=True):
        bounds = np.searchsorted(frames, np.arange(1, len(sequence) + 2))
        for begin, end in zip(bounds[:-1], bounds[1:], strict=True):
            out.append(Tracks(*(getattr(tracks, name)[begin:end] for name in Tracks.__dataclass_fields__)))
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


def benchmark(name: str, workload: Workload, repeats: int) -> list[dict]:
    """One row per way of running ours (online; lockstep when there are several sequences)."""
    arrays = [[np.hstack([d.boxes, d.scores[:, None]]) for d in sequence] for sequence in workload]
    frames = sum(len(sequence) for sequence in workload)
    runs = {"online": run_online, "baseline": run_baseline}
    if len(workload) > 1:
        runs["lockstep"] = run_lockstep
    inputs = {key: arrays if key == "baseline" else workload for key in runs}
    expected = run_baseline(arrays, keep=True)  # also the warm-up
    boxes = {key: check_identical(runs[key](workload, keep=True), expected) for key in runs if key != "baseline"}
    times: dict[str, list[float]] = {key: [] for key in runs}
    keys = list(runs)
    for round_index in range(repeats):
        for key in keys[round_index % len(keys) :] + keys[: round_index % len(keys)]:
            start = time.perf_counter()
            runs[key](inputs[key])
            times[key].append(time.perf_counter() - start)
    baseline = statistics.median(times["baseline"])
    detections = sum(len(d) for sequence in workload for d in sequence)
    return [
        {
            "name": name,
            "ours": key,
            "frames": frames,
            "detections per frame": detections / frames,
            "reported per frame": boxes[key] / frames,
            "ours fps": frames / statistics.median(times[key]),
            "baseline fps": frames / baseline,
            "ratio": statistics.median(b / o for b, o in zip(times["baseline"], times[key], strict=True)),
        }
        for key in runs
        if key != "baseline"
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, help="MOT15 root (with train/<seq>/det/det.txt)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--crowds", type=int, nargs="*", default=[], help="synthetic scenes with this many objects")
    args = parser.parse_args()
    root = args.root or next((p for p in DEFAULT_ROOTS if p.is_dir()), DEFAULT_ROOTS[-1])
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(
        f"numpy {np.__version__}, scipy {scipy.__version__}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load average {load} at the start; median of {args.repeats} rounds, variants in "
        "rotating order; outputs checked identical (ids, boxes to 1e-6 px) first"
    )
    rows = benchmark("MOT15 train, 10 det files", mot15(root), args.repeats)
    for n in args.crowds:
        rows += benchmark(f"synthetic crowd, {n} objects", crowd(n), args.repeats)
    print(
        f"| {'workload':<28} | {'ours':<8} | {'frames':>6} | {'dets/frame':>10} | {'tracks out/frame':>16} "
        f"| {'ours fps':>9} | {'per-track fps':>13} | {'speed-up':>8} |"
    )
    print(f"|{'-' * 30}|{'-' * 10}|{'-' * 8}|{'-' * 12}|{'-' * 18}|{'-' * 11}|{'-' * 15}|{'-' * 10}|")
    for row in rows:
        print(
            f"| {row['name']:<28} | {row['ours']:<8} | {row['frames']:>6} | {row['detections per frame']:>10.1f} "
            f"| {row['reported per frame']:>16.1f} | {row['ours fps']:>9.0f} | {row['baseline fps']:>13.0f} "
            f"| {row['ratio']:>7.1f}x |"
        )
    print("load average at the end: " + ", ".join(f"{value:.2f}" for value in os.getloadavg()))


if __name__ == "__main__":
    main()
