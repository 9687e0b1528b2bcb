"""Learned flow networks side by side at Sintel's resolution, then FlowNet's correlation layer against a naive one.

Part 1: for each network config in ``conf/model/flow/`` (FlowNetS, FlowNetC, RAFT, RAFT-small, FlowFormer), built
from its YAML exactly as shipped (paper sizes; RAFT/FlowFormer with their configured evaluation iterations), on a
batch of one ``436 x 1024`` image pair (MPI Sintel) in eval mode under ``torch.no_grad``: parameters, FLOPs of one
forward pass (``torch.utils.flop_counter.FlopCounterMode``: convolutions, matrix products and attention, one
multiply-add = 2 FLOPs; FlowNetC's correlation, an elementwise loop the counter does not see, is added analytically
as ``2 * 441 * C * H * W``; RAFT/FlowFormer's bilinear lookups are not counted), the median forward time over
``--repeats`` runs after ``--warmup`` runs, and the peak memory of the forward pass. Each model runs in its own
subprocess so that peak memory is its own: on CUDA ``torch.cuda.max_memory_allocated`` above the memory held before
the pass; on CPU the increase of the process's peak resident set size (``resource.getrusage`` ``ru_maxrss``) during
the first forward pass (tracemalloc does not see torch's allocations), which includes allocator caching.

Part 2: FlowNetC's correlation (max displacement 20, stride 2: 441 channels) on two ``1 x 256 x 48 x 64`` features
(conv3 of a 384 x 512 FlyingChairs crop), forward and forward + backward, as implemented
(:func:`~visionbench.models.flow.correlation.displacement_correlation`, a loop over displacements) and as a naive
vectorised version that materialises the ``B, C, 441, H, W`` products: peak memory (as above) and time.

On a shared or busy CPU pass ``--threads 1``: with more threads than free cores, the many small operations of the
iterative networks and of the correlation loop wait at OpenMP barriers for descheduled threads, and times become
several times longer and erratic.

    python benchmarks/flow_networks.py [--device cpu|cuda] [--size 436 1024] [--repeats 3] [--warmup 1]
        [--threads N] [--models flownets raft ...] [--no-correlation] [--corr-shape 1 256 48 64]
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
from pathlib import Path

import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import OmegaConf
from rich.console import Console
from rich.table import Table
from torch.utils.flop_counter import FlopCounterMode

from visionbench.models.flow.correlation import Correlation, displacement_correlation, displacement_offsets

CONF = Path(__file__).resolve().parents[1] / "conf"
MODELS = ("flownets", "flownetc", "raft", "raft_small", "flowformer")
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


def correlation_flops(model: torch.nn.Module, run: Callable[[], object]) -> int:
    """FLOPs of FlowNetC's correlation layers during ``run`` (2 per multiply-add), which FlopCounterMode misses."""
    flops = 0

    def count(module: Correlation, inputs: tuple[torch.Tensor, ...]) -> None:
        nonlocal flops
        _, channels, height, width = inputs[0].shape
        flops += 2 * module.out_channels * inputs[0].shape[0] * channels * height * width

    hooks = [m.register_forward_pre_hook(count) for m in model.modules() if isinstance(m, Correlation)]
    run()
    for hook in hooks:
        hook.remove()
    return flops


def measure_model(name: str, args: argparse.Namespace, device: torch.device) -> dict:
    cfg = OmegaConf.load(CONF / "model" / "flow" / f"{name}.yaml")
    model = instantiate(cfg).to(device).eval()
    image1, image2 = torch.rand(2, 1, 3, *args.size, device=device).unbind(0)

    def forward() -> torch.Tensor:
        with torch.no_grad():
            return model(image1, image2)

    memory = peak_memory(forward, device)
    counted: dict[str, int] = {}

    def counted_forward() -> None:
        with FlopCounterMode(display=False) as counter:
            forward()
        counted["flops"] = counter.get_total_flops()

    flops = correlation_flops(model, counted_forward) + counted["flops"]
    seconds = median_seconds(forward, args.repeats, args.warmup, device)
    return {
        "name": name,
        "target": cfg._target_.rsplit(".", 1)[-1],
        "iters": cfg.get("eval_iters", "-"),
        "params": sum(p.numel() for p in model.parameters()),
        "flops": flops,
        "seconds": seconds,
        "memory": memory,
    }


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


def run_worker(kind: str, name: str, args: argparse.Namespace) -> dict:
    """Run one measurement in a fresh interpreter (its own peak memory) and return its JSON result."""
    command = [
        sys.executable,
        __file__,
        "--worker",
        kind,
        name,
        "--device",
        args.device,
        "--repeats",
        str(args.repeats),
    ]
    command += [
        "--warmup",
        str(args.warmup),
        "--size",
        *map(str, args.size),
        "--corr-shape",
        *map(str, args.corr_shape),
    ]
    if args.threads:
        command += ["--threads", str(args.threads)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        return {"name": name, "error": (result.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(result.stdout.strip().splitlines()[-1])


def model_table(args: argparse.Namespace, console: Console) -> Table:
    table = Table(title=f"flow networks, eval, batch 1, input {args.size[0]}x{args.size[1]}, {args.device}")
    for column in ("config", "class", "iters", "params (M)", "GFLOPs fwd", "fwd ms (median)", "peak MB fwd"):
        table.add_column(column, justify="left" if column in ("config", "class") else "right")
    for name in args.models:
        console.log(f"measuring {name}")
        row = run_worker("model", name, args)
        if "error" in row:
            table.add_row(name, "error", row["error"], "", "", "", "")
            continue
        table.add_row(
            name,
            row["target"],
            str(row["iters"]),
            f"{row['params'] / 1e6:.2f}",
            f"{row['flops'] / 1e9:.1f}",
            f"{row['seconds'] * 1e3:.0f}",
            f"{row['memory'] / 2**20:.0f}",
        )
    return table


def correlation_table(args: argparse.Namespace, console: Console) -> Table:
    shape = "x".join(map(str, args.corr_shape))
    table = Table(title=f"FlowNetC correlation (d=20, stride 2, 441 channels) on two {shape} features, {args.device}")
    for column in ("implementation", "fwd peak MB", "fwd ms", "fwd+bwd peak MB", "fwd+bwd ms"):
        table.add_column(column, justify="left" if column == "implementation" else "right")
    for variant, label in (("loop", "loop over displacements (ours)"), ("naive", "naive B,C,D,H,W volume")):
        cells = []
        for mode in ("forward", "forward+backward"):
            console.log(f"measuring correlation: {variant}, {mode}")
            row = run_worker("correlation", f"{variant}:{mode}", args)
            if "error" in row:
                cells += ["error", row["error"]]
            else:
                cells += [f"{row['memory'] / 2**20:.0f}", f"{row['seconds'] * 1e3:.0f}"]
        table.add_row(label, *cells)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--size", type=int, nargs=2, default=[436, 1024], metavar=("H", "W"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--no-correlation", action="store_true", help="skip part 2")
    parser.add_argument("--corr-shape", type=int, nargs=4, default=[1, 256, 48, 64], metavar=("B", "C", "H", "W"))
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.worker:
        kind, name = args.worker
        measure = measure_model if kind == "model" else measure_correlation
        print(json.dumps(measure(name, args, device)))
        return
    console = Console(width=150)
    console.print(model_table(args, console))
    if not args.no_correlation:
        console.print(correlation_table(args, console))


if __name__ == "__main__":
    main()
