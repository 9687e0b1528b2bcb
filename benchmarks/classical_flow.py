"""Classical flow methods: accuracy and run time next to OpenCV's Farneback and DIS, measured in the same run.

For each sample (Middlebury RubberWhale, Sintel alley_1 0002 clean and final, read from the real-format
fixtures), every method runs through its ``nn.Module`` interface (float ``1,3,H,W`` tensors in, ``1,2,H,W``
flow out, conversions included) with its default (= config) settings. Timing: one untimed warm-up call
per method, then ``--repeats`` rounds; in each round every method runs once, the order rotating between
rounds so that no method always follows the same one. The reported time is the median over rounds;
``x DIS`` is that median divided by DIS's. EPE is pixel-pooled over the valid pixels
(:class:`visionbench.metrics.FlowMetrics`); the tables print Fl in percent (the metric's fraction x 100).

    python benchmarks/classical_flow.py [--root tests/fixtures] [--repeats 5] [--samples rubberwhale sintel_clean]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from visionbench.metrics import FlowMetrics
from visionbench.models.flow.classical import DIS, CorrelationMatching, Farneback, HornSchunck, LucasKanade

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ROOTS = (REPO / "tests" / "fixtures", REPO.parent / "shared" / "fixtures")
SAMPLES = {
    "rubberwhale": (
        "middlebury/other-data/RubberWhale/frame10.png",
        "middlebury/other-data/RubberWhale/frame11.png",
        "middlebury/other-gt-flow/RubberWhale/flow10.flo",
    ),
    "sintel_clean": (
        "sintel/MPI-Sintel/training/clean/alley_1/frame_0002.png",
        "sintel/MPI-Sintel/training/clean/alley_1/frame_0003.png",
        "sintel/MPI-Sintel/training/flow/alley_1/frame_0002.flo",
    ),
    "sintel_final": (
        "sintel/MPI-Sintel/training/final/alley_1/frame_0002.png",
        "sintel/MPI-Sintel/training/final/alley_1/frame_0003.png",
        "sintel/MPI-Sintel/training/flow/alley_1/frame_0002.flo",
    ),
}
METHODS = {
    "Horn-Schunck": HornSchunck,
    "Lucas-Kanade": LucasKanade,
    "Correlation (NCC)": CorrelationMatching,
    "OpenCV Farneback": Farneback,
    "OpenCV DIS medium": DIS,
}


def find(relative: str, roots: list[Path]) -> Path:
    for root in roots:
        if (root / relative).is_file():
            return root / relative
    raise FileNotFoundError(f"{relative} not found under any of {', '.join(map(str, roots))}")


def load(name: str, roots: list[Path]) -> dict[str, torch.Tensor]:
    """image1/image2 ``1,3,H,W`` float in [0, 1], flow ``1,2,H,W``, valid ``1,H,W`` (|u|, |v| < 1e9)."""
    first, second, gt = (find(relative, roots) for relative in SAMPLES[name])
    flow = cv2.readOpticalFlow(str(gt))
    sample = {
        "flow": torch.from_numpy(flow).permute(2, 0, 1)[None],
        "valid": torch.from_numpy((np.abs(flow) < 1e9).all(axis=2))[None],
    }
    for key, path in (("image1", first), ("image2", second)):
        rgb = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        sample[key] = torch.from_numpy(rgb.astype(np.float32) / 255.0).permute(2, 0, 1)[None].contiguous()
    return sample


def scores(flow: torch.Tensor, sample: dict[str, torch.Tensor]) -> dict[str, float]:
    metric = FlowMetrics()
    metric.update(flow, sample["flow"], sample["valid"])
    return {key: value.item() for key, value in metric.compute().items()}


def benchmark(sample: dict[str, torch.Tensor], repeats: int) -> dict[str, dict[str, float]]:
    models = {name: method() for name, method in METHODS.items()}
    results: dict[str, dict[str, float]] = {}
    times: dict[str, list[float]] = {name: [] for name in models}
    for name, model in models.items():  # warm-up, and the flow scored
        results[name] = scores(model(sample["image1"], sample["image2"]), sample)
    names = list(models)
    for round_index in range(repeats):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            models[name](sample["image1"], sample["image2"])
            times[name].append(time.perf_counter() - start)
    for name in names:
        results[name]["time_s"] = statistics.median(times[name])
    return results


def table(sample_name: str, shape: tuple[int, ...], results: dict[str, dict[str, float]]) -> str:
    reference = results["OpenCV DIS medium"]["time_s"]
    lines = [
        f"{sample_name} ({shape[-1]}x{shape[-2]})",
        f"| {'method':<18} | {'EPE':>7} | {'px1':>6} | {'px3':>6} | {'Fl %':>6} | {'time ms':>8} | {'x DIS':>7} |",
        f"|{'-' * 20}|{'-' * 9}|{'-' * 8}|{'-' * 8}|{'-' * 8}|{'-' * 10}|{'-' * 9}|",
    ]
    for name, row in results.items():
        lines.append(
            f"| {name:<18} | {row['EPE']:7.4f} | {row['px1']:6.4f} | {row['px3']:6.4f} | {100 * row['Fl']:6.3f} "
            f"| {row['time_s'] * 1000:8.1f} | {row['time_s'] / reference:7.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--root", type=Path, action="append", help="fixture root(s); default tests/fixtures, ../shared/fixtures"
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--samples", nargs="+", choices=sorted(SAMPLES), default=list(SAMPLES))
    args = parser.parse_args()
    roots = args.root or list(DEFAULT_ROOTS)
    print(
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), OpenCV {cv2.__version__} "
        f"({cv2.getNumThreads()} threads); median of {args.repeats} rotating rounds"
    )
    for name in args.samples:
        sample = load(name, roots)
        zero = scores(torch.zeros_like(sample["flow"]), sample)
        print()
        print(table(name, tuple(sample["image1"].shape), benchmark(sample, args.repeats)))
        print(f"zero flow: EPE {zero['EPE']:.4f}, Fl {100 * zero['Fl']:.3f} %")


if __name__ == "__main__":
    main()
