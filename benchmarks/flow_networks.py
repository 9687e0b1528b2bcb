"""FlowNet's correlation layer as implemented (a loop over displacements) against a naive vectorised one.

FlowNetC's correlation (max displacement 20, stride 2: 441 channels) on two ``1 x 256 x 48 x 64`` features (conv3 of
a 384 x 512 FlyingChairs crop), forward and forward + backward, as implemented
(:func:`~visionbench.models.flow.correlation.displacement_correlation`, a loop over displacements) and as a naive
vectorised version that materialises the ``B, C, 441, H, W`` products: peak memory and time. Each measurement runs in
its own subprocess so that its peak memory is its own: on CUDA ``torch.cuda.max_memory_allocated`` above the memory
held before; on CPU the increase of the process's peak resident set size (``resource.getrusage`` ``ru_maxrss``)
during the first call (tracemalloc does not see torch's allocations), which includes allocator caching.

Parameters, FLOPs (with the operators the counter misses, such as this correlation and RAFT's bilinear lookups),
latency, throughput and memory of every flow network and classical method are measured by the model benchmark
(README "Speed: the model benchmark"), e.g. ``python benchmark.py task=flow 'models=[flow/flownetc,flow/raft]'
'resolutions=[[436,1024]]'``.

On a shared or busy CPU pass ``--threads 1``: with more threads than free cores, the many small operations of the
correlation loop wait at OpenMP barriers for descheduled threads, and times become several times longer and erratic.

    python benchmarks/flow_networks.py [--device cpu|cuda] [--repeats 3] [--warmup 1] [--threads N]
        [--corr-shape 1 256 48 64]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table

from visionbench.models.flow.correlation import displacement_correlation, displacement_offsets

MAX_DISPLACEMENT, DISPLACEMENT_STRIDE = 20, 2


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def max_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux


def peak_memory(step: Callable[[], object], device: torch.device) -> int:
    """Bytes the first call of ``step`` needs above what is held before it."""
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        step()
        synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before
    before = max_rss_bytes()
    step()
    return max_rss_bytes() - before


def median_seconds(step: Callable[[], object], repeats: int, warmup: int, device: torch.device) -> float:
    times = []
    for run in range(warmup + repeats):
        synchronize(device)
        start = time.perf_counter()
        step()
        synchronize(device)
        if run >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def naive_correlation(features1: torch.Tensor, features2: torch.Tensor, reach: int, stride: int) -> torch.Tensor:
    """The vectorised correlation: every displaced window stacked (``B, C, D*D, H, W``), multiplied, reduced."""
    height, width = features1.shape[-2:]
    offsets = displacement_offsets(reach, stride)
    padded = F.pad(features2, (reach, reach, reach, reach))
    windows = torch.stack(
        [
            padded[:, :, reach + dy : reach + dy + height, reach + dx : reach + dx + width]
            for dy in offsets
            for dx in offsets
        ],
        dim=2,
    )
    return (features1.unsqueeze(2) * windows).mean(dim=1)


def measure_correlation(name: str, args: argparse.Namespace, device: torch.device) -> dict:
    """``name`` = ``"<loop|naive>:<forward|forward+backward>"``; one per process, so each peak is its own."""
    variant, mode = name.split(":")
    function = displacement_correlation if variant == "loop" else naive_correlation
    features1, features2 = torch.randn(2, *args.corr_shape, device=device).unbind(0)
    features1.requires_grad_(mode == "forward+backward")
    features2.requires_grad_(mode == "forward+backward")

    def step() -> None:
        out = function(features1, features2, MAX_DISPLACEMENT, DISPLACEMENT_STRIDE)
        if mode == "forward+backward":
            out.sum().backward()

    return {"memory": peak_memory(step, device), "seconds": median_seconds(step, args.repeats, args.warmup, device)}


def run_worker(name: str, args: argparse.Namespace) -> dict:
    """Run one correlation measurement in a fresh interpreter (its own peak memory) and return its JSON result."""
    command = [sys.executable, __file__, "--worker", name, "--device", args.device, "--repeats", str(args.repeats)]
    command += ["--warmup", str(args.warmup), "--corr-shape", *map(str, args.corr_shape)]
    if args.threads:
        command += ["--threads", str(args.threads)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        return {"name": name, "error": (result.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(result.stdout.strip().splitlines()[-1])


def correlation_table(args: argparse.Namespace, console: Console) -> Table:
    shape = "x".join(map(str, args.corr_shape))
    table = Table(title=f"FlowNetC correlation (d=20, stride 2, 441 channels) on two {shape} features, {args.device}")
    for column in ("implementation", "fwd peak MB", "fwd ms", "fwd+bwd peak MB", "fwd+bwd ms"):
        table.add_column(column, justify="left" if column == "implementation" else "right")
    for variant, label in (("loop", "loop over displacements (ours)"), ("naive", "naive B,C,D,H,W volume")):
        cells = []
        for mode in ("forward", "forward+backward"):
            console.log(f"measuring correlation: {variant}, {mode}")
            row = run_worker(f"{variant}:{mode}", args)
            if "error" in row:
                cells += ["error", row["error"]]
            else:
                cells += [f"{row['memory'] / 2**20:.0f}", f"{row['seconds'] * 1e3:.0f}"]
        table.add_row(label, *cells)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--corr-shape", type=int, nargs=4, default=[1, 256, 48, 64], metavar=("B", "C", "H", "W"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.worker:
        print(json.dumps(measure_correlation(args.worker, args, torch.device(args.device))))
        return
    console = Console(width=150)
    console.print(correlation_table(args, console))


if __name__ == "__main__":
    main()
