"""Tracking evaluator: visionbench.metrics.tracking next to TrackEval 1.3 (the official MOTChallenge evaluator),
same inputs, measured in the same run.

Inputs: the real fixtures (CEM results on TUD-Campus, MOT15 rules; MOT17-09 ground truth fed back, MOT17 rules,
525 frames) and synthetic sequences written to a temporary MOTChallenge layout: ``F`` frames x ``N`` objects with
random motion, 10 % non-pedestrian / distractor ground truth, and a tracker with box noise, misses, id switches,
duplicates and false positives (two decimals, as real result files).

For every input the outputs are compared first: every field of TrackEval's CLEAR, Identity, HOTA and Count
results, counts exactly, ratios to rtol 1e-12 (the largest relative difference is printed). Then two timings:

- ``metrics``: TrackEval's per-frame IoU + ``get_preprocessed_seq_data`` + the four metrics' ``eval_sequence``,
  against :func:`evaluate_sequence` on the already-read tables (IoU, preprocessing and metrics included);
- ``+ reading``: the same with the two files read (TrackEval's ``get_raw_seq_data``, our ``read_mot_table``).

One untimed warm-up each, then ``--repeats`` rounds; in each round both run once, the order alternating. The
reported times are medians over rounds; ``speed-up`` is TrackEval's median / ours.

    python benchmarks/tracking_evaluator.py [--repeats 7] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from visionbench.data.tracking.mot_io import read_mot_table
from visionbench.metrics.tracking import evaluate_sequence

REPO = Path(__file__).resolve().parents[1]
FIXTURE_ROOTS = (REPO / "tests" / "fixtures" / "mot", REPO.parent / "shared" / "fixtures" / "mot")
HOTA_ARRAYS = ("HOTA", "DetA", "AssA", "DetRe", "DetPr", "AssRe", "AssPr", "LocA", "OWTA")


def synthetic(rng: np.random.Generator, num_frames: int, num_objects: int) -> tuple[str, str]:
    """(gt.txt, result) texts: MOT17-style 9-column ground truth and a noisy tracker with every kind of error."""
    gt_rows, tracker_rows = [], []
    next_id = 10 * num_objects
    lifetimes = rng.integers(num_frames // 4, num_frames + 1, num_objects)
    starts = rng.integers(1, num_frames - lifetimes + 2)
    classes = np.where(rng.random(num_objects) < 0.9, 1, rng.choice([2, 7, 8, 12, 3, 9], num_objects))
    flags = (classes == 1) | (rng.random(num_objects) < 0.3)
    position = rng.uniform([0, 0], [1800, 900], (num_objects, 2))
    velocity = rng.normal(0, 2, (num_objects, 2))
    size = rng.uniform([30, 80], [90, 240], (num_objects, 2))
    track = np.arange(1, num_objects + 1)
    duplicate = rng.random(num_objects) < 0.05
    for frame in range(1, num_frames + 1):
        position += velocity + rng.normal(0, 1, position.shape)
        alive = np.flatnonzero((starts <= frame) & (frame < starts + lifetimes))
        if len(alive) >= 2 and rng.random() < 0.05:
            a, b = rng.choice(alive, 2, replace=False)
            track[a], track[b] = track[b], track[a]
        switch = alive[rng.random(len(alive)) < 0.002]
        track[switch] = next_id + np.arange(len(switch))
        next_id += len(switch)
        boxes = np.c_[position[alive], size[alive]]
        gt_rows.append(
            np.c_[np.full(len(alive), frame), alive + 1, boxes, flags[alive], classes[alive], np.ones(len(alive))]
        )
        seen = rng.random(len(alive)) > 0.08
        noisy = boxes[seen] + rng.normal(0, 0.06, (seen.sum(), 4)) * np.tile(size[alive][seen], 2)
        tracker_rows.append(np.c_[np.full(seen.sum(), frame), track[alive][seen], noisy])
        copies = alive[seen & duplicate[alive]]
        if len(copies):
            shifted = np.c_[position[copies], size[copies]] + rng.normal(0, 0.1, (len(copies), 4)) * 40
            tracker_rows.append(np.c_[np.full(len(copies), frame), 100 * num_objects + copies, shifted])
        false = rng.poisson(2)
        boxes = np.c_[rng.uniform([0, 0], [1800, 900], (false, 2)), rng.uniform([30, 80], [90, 240], (false, 2))]
        tracker_rows.append(np.c_[np.full(false, frame), next_id + np.arange(false), boxes])
        next_id += false
    gt_text = "".join(f"{int(r[0])},{int(r[1])},{r[2]:.2f},{r[3]:.2f},{r[4]:.2f},{r[5]:.2f},{int(r[6])},{int(r[7])},1\n"
                      for r in np.concatenate(gt_rows))  # fmt: skip
    tracker_text = "".join(f"{int(r[0])},{int(r[1])},{r[2]:.2f},{r[3]:.2f},{r[4]:.2f},{r[5]:.2f},1,-1,-1,-1\n"
                           for r in np.concatenate(tracker_rows))  # fmt: skip
    return gt_text, tracker_text


def fixture_inputs() -> dict[str, tuple[str, str, int, str]]:
    root = next((p for p in FIXTURE_ROOTS if p.is_dir()), None)
    if root is None:
        return {}
    gt_09 = (root / "MOT17/train/MOT17-09-FRCNN/gt/gt.txt").read_text()
    fed_back = "".join(",".join(line.split(",")[:7] + ["-1", "-1", "-1"]) + "\n" for line in gt_09.split())
    return {
        "CEM / TUD-Campus (MOT15, 71 fr)": (
            (root / "MOT15/train/TUD-Campus/gt/gt.txt").read_text(),
            (root / "results/CEM/TUD-Campus.txt").read_text(),
            71,
            "MOT15",
        ),
        "MOT17-09 fed back (MOT17, 525 fr)": (gt_09, fed_back, 525, "MOT17"),
    }


class TrackEvalRunner:
    """TrackEval's MotChallenge2DBox reader and preprocessing and its CLEAR, Identity, HOTA, Count metrics."""

    def __init__(self, root: Path, sequence: str, num_frames: int, benchmark: str) -> None:
        import trackeval

        self.sequence = sequence
        self.dataset = trackeval.datasets.MotChallenge2DBox(
            {
                "GT_FOLDER": str(root / "gt"),
                "TRACKERS_FOLDER": str(root / "trackers"),
                "TRACKERS_TO_EVAL": ["T"],
                "BENCHMARK": benchmark,
                "SEQ_INFO": {sequence: num_frames},
                "SKIP_SPLIT_FOL": True,
                "PRINT_CONFIG": False,
            }
        )
        self.metrics = [
            trackeval.metrics.HOTA(),
            trackeval.metrics.CLEAR({"PRINT_CONFIG": False}),
            trackeval.metrics.Identity({"PRINT_CONFIG": False}),
            trackeval.metrics.Count(),
        ]

    def read(self) -> dict:
        """The two files read and parsed (no similarities yet)."""
        gt = self.dataset._load_raw_file("T", self.sequence, is_gt=True)
        tracker = self.dataset._load_raw_file("T", self.sequence, is_gt=False)
        return {**tracker, **gt}

    def score(self, raw: dict) -> dict:
        """Similarities, preprocessing and metrics, as ``get_raw_seq_data`` and ``eval_sequence`` do them."""
        raw = dict(raw)
        raw["similarity_scores"] = [
            self.dataset._calculate_similarities(g, t) for g, t in zip(raw["gt_dets"], raw["tracker_dets"], strict=True)
        ]
        data = self.dataset.get_preprocessed_seq_data(raw, "pedestrian")
        result: dict = {}
        for metric in self.metrics:
            result.update(metric.eval_sequence(data))
        return result

    def read_and_score(self) -> dict:
        return self.score(self.read())


def compare(ours: dict, reference: dict) -> float:
    """Largest relative difference over every field; raises if a count differs or a ratio is off by > 1e-12."""
    largest = 0.0
    for key, value in reference.items():
        mine = ours[f"{key}_alpha"] if key in HOTA_ARRAYS or key.startswith("HOTA_") else ours[key]
        mine, value = np.asarray(mine, dtype=np.float64), np.asarray(value, dtype=np.float64)
        if key in ("HOTA_TP", "HOTA_FN", "HOTA_FP") or isinstance(ours.get(key), int):
            if not np.array_equal(mine, value):
                raise AssertionError(f"{key}: ours {mine}, TrackEval {value}")
        elif not np.allclose(mine, value, rtol=1e-12, atol=1e-15):
            raise AssertionError(f"{key}: ours {mine}, TrackEval {value}")
        difference = np.abs(mine - value)
        largest = max(largest, float(np.max(difference / np.maximum(np.abs(value), 1e-12), initial=0.0)))
    return largest


def timed(functions: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds per function: a warm-up, then ``repeats`` rounds in alternating order."""
    for function in functions.values():
        function()
    times: dict[str, list[float]] = {name: [] for name in functions}
    names = list(functions)
    for round_index in range(repeats):
        for name in names if round_index % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            functions[name]()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def run_case(label: str, gt_text: str, tracker_text: str, num_frames: int, benchmark: str, repeats: int) -> str:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        gt_file = root / "gt" / "SEQ" / "gt" / "gt.txt"
        result_file = root / "trackers" / "T" / "data" / "SEQ.txt"
        for path, text in ((gt_file, gt_text), (result_file, tracker_text)):
            path.parent.mkdir(parents=True)
            path.write_text(text)
        reference = TrackEvalRunner(root, "SEQ", num_frames, benchmark)
        raw = reference.read()
        gt, tracker = read_mot_table(gt_file, "gt"), read_mot_table(result_file, "result")

        def ours_scores() -> dict:
            return evaluate_sequence(gt, tracker, num_frames, benchmark)

        def ours_read_and_score() -> dict:
            return evaluate_sequence(
                read_mot_table(gt_file, "gt"), read_mot_table(result_file, "result"), num_frames, benchmark
            )

        largest = compare(ours_read_and_score(), reference.read_and_score())
        metrics = timed({"trackeval": lambda: reference.score(raw), "ours": ours_scores}, repeats)
        full = timed({"trackeval": reference.read_and_score, "ours": ours_read_and_score}, repeats)
    boxes = f"{len(gt)}/{len(tracker)}"
    speed_up = metrics["trackeval"] / metrics["ours"]
    speed_up_full = full["trackeval"] / full["ours"]
    return (
        f"| {label:<36} | {boxes:>13} | {largest:9.1e} "
        f"| {metrics['trackeval'] * 1e3:9.1f} | {metrics['ours'] * 1e3:8.1f} | {speed_up:6.1f}x "
        f"| {full['trackeval'] * 1e3:9.1f} | {full['ours'] * 1e3:8.1f} | {speed_up_full:6.1f}x |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="smaller synthetic sequences")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    rng = np.random.default_rng(0)
    shapes = [(200, 10), (500, 20)] if args.quick else [(1000, 30), (600, 80)]
    cases = fixture_inputs()
    for frames, objects in shapes:
        gt_text, tracker_text = synthetic(rng, frames, objects)
        cases[f"synthetic {frames} fr x {objects} obj (MOT17)"] = (gt_text, tracker_text, frames, "MOT17")
    print("outputs: every TrackEval field (CLEAR, Identity, HOTA per alpha, Count) checked before timing;")
    print("times: median of", args.repeats, "alternating rounds, ms; speed-up = TrackEval / ours")
    print(
        f"| {'input':<36} | {'gt/trk boxes':>13} | {'max rel.':>9} | {'TE metr.':>9} | {'ours':>8} | {'x':>7} "
        f"| {'TE +read':>9} | {'ours':>8} | {'x':>7} |"
    )
    print(f"|{'-' * 38}|{'-' * 15}|{'-' * 11}|{'-' * 11}|{'-' * 10}|{'-' * 9}|{'-' * 11}|{'-' * 10}|{'-' * 9}|")
    for label, (gt_text, tracker_text, num_frames, benchmark) in cases.items():
        print(run_case(label, gt_text, tracker_text, num_frames, benchmark, args.repeats), flush=True)


if __name__ == "__main__":
    main()
