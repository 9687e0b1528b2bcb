"""onnxruntime vs PyTorch eager latency on this CPU: U-Net (the embedded run's size), DeepLabV3 (``model_size=small``:
ResNet-18, output stride 8) and RAFT-small (``model_size=small``: 8 updates).

Each network is built as a run builds it (untrained: speed does not depend on the weights), exported once with
:class:`~visionbench.deploy.runtime.OnnxRuntime` (dynamic shapes, dynamo exporter, opset 18) and run at one input
size by both runtimes on the same number of threads (``torch.set_num_threads`` and onnxruntime's intra-op threads).
After each runtime's first call and warm-up (:func:`~visionbench.benchmark.timing.time_calls`), timed calls alternate
between the runtimes, call by call, so that load changes on a shared machine hit both alike. Prints p50 / p90 per
runtime and the ratio of eager's median latency to onnxruntime's (> 1: onnxruntime is faster), with the tensor parity.

    python benchmarks/onnxruntime_speed.py [--threads 1] [--repeats 10] [--warmup 2]
        [--segmentation-size 1 512 512] [--flow-size 1 436 1024] [--networks unet deeplabv3 raft_small]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
from pathlib import Path

import onnxruntime
import torch
from deployability import compose_run_config
from hydra.utils import instantiate
from rich.console import Console
from rich.table import Table

from visionbench.benchmark.timing import Timings, time_calls, timed_call
from visionbench.deploy import EagerRuntime, OnnxRuntime
from visionbench.deploy.parity import parity_of
from visionbench.runner.builders import build_task
from visionbench.runner.evaluate import EXAMPLE_BATCH, EXAMPLE_SIZE
from visionbench.tasks.contract import problem_contract

NETWORKS = {
    "unet": ["model=segmentation/unet"],
    "deeplabv3": ["model=segmentation/deeplabv3", "model_size=small"],
    "raft_small": ["task=flow"],  # task=flow: RAFT-small with model_size=small (8 updates)
}


def measure(name: str, args: argparse.Namespace, directory: Path) -> dict[str, object]:
    """Both runtimes' timings of one network, and their tensor parity."""
    cfg = compose_run_config("train", NETWORKS[name], directory / name)
    task = build_task(cfg, instantiate(cfg.data))
    model, contract = task.model.eval(), problem_contract(cfg)
    example = contract.example_inputs(model, EXAMPLE_BATCH, *EXAMPLE_SIZE)
    size = args.flow_size if contract.name == "flow" else args.segmentation_size
    inputs = contract.example_inputs(model, *size)
    runtimes = {
        "eager": EagerRuntime().prepare(model, example, contract.main_output),
        "onnxruntime": OnnxRuntime(threads=args.threads).prepare(model, example, contract.main_output, directory),
    }
    calls = {runtime: (lambda module=module: module(*inputs)) for runtime, module in runtimes.items()}
    first = {runtime: time_calls(call, args.warmup, 1, "cpu").first_call_s for runtime, call in calls.items()}
    latencies: dict[str, list[float]] = {runtime: [] for runtime in calls}
    for _ in range(args.repeats):
        for runtime, call in calls.items():
            latencies[runtime].append(timed_call(call, "cpu"))
    timings = {runtime: Timings(first[runtime], latencies[runtime]) for runtime in calls}
    parity = parity_of(runtimes["onnxruntime"], runtimes["eager"], inputs)
    return {"size": "x".join(map(str, size)), "timings": timings, "parity": parity}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="threads of both runtimes")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--segmentation-size", type=int, nargs=3, default=[1, 512, 512], metavar=("B", "H", "W"))
    parser.add_argument("--flow-size", type=int, nargs=3, default=[1, 436, 1024], metavar=("B", "H", "W"))
    parser.add_argument("--networks", nargs="+", choices=sorted(NETWORKS), default=list(NETWORKS))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    table = Table(title=f"onnxruntime vs eager on {platform.processor() or platform.machine()}, {args.threads} threads")
    for column in ("network", "input", "eager p50 / p90 (ms)", "onnxruntime p50 / p90 (ms)", "eager / ort", "parity"):
        table.add_column(column)
    with tempfile.TemporaryDirectory() as temporary:
        for name in args.networks:
            directory = Path(temporary) / name
            directory.mkdir()
            result = measure(name, args, directory)
            eager, ort = result["timings"]["eager"], result["timings"]["onnxruntime"]
            table.add_row(
                name,
                str(result["size"]),
                f"{eager.p50_s * 1e3:.1f} / {eager.p90_s * 1e3:.1f}",
                f"{ort.p50_s * 1e3:.1f} / {ort.p90_s * 1e3:.1f}",
                f"{eager.p50_s / ort.p50_s:.2f}",
                str(result["parity"]),
            )
    Console(width=200).print(table)
    print(f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, {args.repeats} alternating calls each")


if __name__ == "__main__":
    main()
