"""RefineNet's 3x3 against Light-Weight RefineNet's 1x1 convolutions in chained residual pooling.

The lecture claims the Light-Weight RefineNet (1x1 convolutions in chained residual pooling) is about 10x faster
than RefineNet. Both configs are built on the same backbone and timed on the same input, alternating run by run: the
whole networks (forward, and forward + backward), and the four chained residual pooling modules alone (3x3 vs 1x1
convolutions, same channels, same number of pooling blocks, each fed a tensor of the shape it sees in the network),
so the block's own speed-up is separated from the network's.

Parameters, FLOPs, latency, throughput and memory of every architecture, at any precision, memory format and batch,
eager or compiled, are measured by the model benchmark (README "Speed: the model benchmark"), e.g.
``python benchmark.py model_size=small 'models=[segmentation/refinenet,segmentation/refinenet_lw]'``.

Models run in eval mode (BN with running statistics, no dropout; the backward pass still reaches every parameter).

    python benchmarks/segmentation_models.py [--small] [--size 1 3 256 256] [--repeats 5] [--warmup 2]
        [--device cpu|cuda] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from visionbench.runner.builders import build_model

CONF = Path(__file__).resolve().parents[1] / "conf"


def overrides(name: str, small: bool) -> list[str]:
    """The config of ``model=segmentation/<name>``, with ``--small`` at ``model_size=small`` (ResNet-18)."""
    return [f"model=segmentation/{name}", *(["model_size=small"] if small else [])]


def compose_model_config(overrides: list[str]) -> DictConfig:
    """The ``model`` node of the training config composed with ``overrides``, as train.py builds it."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("train", overrides=overrides).model


def outputs_of(output: torch.Tensor | dict[str, torch.Tensor]) -> list[torch.Tensor]:
    return list(output.values()) if isinstance(output, dict) else [output]


def forward_backward(module: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    """One training-style step: forward, a scalar of every output, backward into all parameters."""

    def step() -> None:
        module.zero_grad(set_to_none=True)
        sum(out.float().mean() for out in outputs_of(module(x))).backward()

    return step


def forward_only(module: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    def step() -> None:
        with torch.no_grad():
            module(x)

    return step


def median_seconds(steps: dict[str, Callable[[], None]], repeats: int, warmup: int, device: torch.device) -> dict:
    """Median wall time of each step; the steps alternate run by run so that load changes hit them alike."""

    def timed(step: Callable[[], None]) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start

    times: dict[str, list[float]] = {name: [] for name in steps}
    for run in range(warmup + repeats):
        for name, step in steps.items():
            elapsed = timed(step)
            if run >= warmup:
                times[name].append(elapsed)
    return {name: statistics.median(values) for name, values in times.items()}


def forward_flops(module: nn.Module, x: torch.Tensor) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(x)
    return counter.get_total_flops()


def num_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def describe_backbone(cfg: DictConfig) -> str:
    return f"ResNet-{cfg.backbone.depth} OS{cfg.backbone.output_stride}"


def build(cfg: DictConfig, num_classes: int, device: torch.device) -> nn.Module:
    return build_model(cfg, num_classes=num_classes).to(device).eval()


def crp_inputs(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """A random tensor of the shape each chained residual pooling of ``model`` sees when ``model(x)`` runs."""
    shapes: list[torch.Size] = []
    hooks = [block.crp.register_forward_pre_hook(lambda m, a: shapes.append(a[0].shape)) for block in model.refine]
    with torch.no_grad():
        model(x)
    for hook in hooks:
        hook.remove()
    return [torch.randn(shape, device=x.device) for shape in shapes]


class CRPChain(nn.Module):
    """The chained residual pooling modules of a RefineNet applied to fixed inputs of their in-network shapes.

    The inputs are parameters so that a backward pass computes their gradient, as it does in the network (where
    it flows on to the layers before), and ``zero_grad`` clears it. ``forward`` ignores its argument.
    """

    def __init__(self, model: nn.Module, x: torch.Tensor) -> None:
        super().__init__()
        self.crps = nn.ModuleList(block.crp for block in model.refine)
        self.inputs = nn.ParameterList(crp_inputs(model, x))

    def forward(self, _: torch.Tensor) -> dict[str, torch.Tensor]:
        return {f"crp{i}": crp(x) for i, (crp, x) in enumerate(zip(self.crps, self.inputs, strict=True))}


def refinenet_comparison(args: argparse.Namespace, device: torch.device, console: Console) -> None:
    x = torch.randn(*args.size, device=device)
    standard_cfg = compose_model_config(overrides("refinenet", args.small))
    same_shape = [f"model.{key}={json.dumps(standard_cfg[key])}" for key in ("width", "crp_blocks")]
    same_shape += [f"model.backbone.{key}={json.dumps(value)}" for key, value in standard_cfg.backbone.items()]
    light_cfg = compose_model_config(["model=segmentation/refinenet_lw", *same_shape])
    models = {"3x3": build(standard_cfg, args.num_classes, device), "1x1": build(light_cfg, args.num_classes, device)}
    crps = {name: CRPChain(model, x) for name, model in models.items()}
    measurements = {
        "whole network, forward": {name: forward_only(model, x) for name, model in models.items()},
        "whole network, forward+backward": {name: forward_backward(model, x) for name, model in models.items()},
        "CRP blocks only, forward": {name: forward_only(chain, x) for name, chain in crps.items()},
        "CRP blocks only, forward+backward": {name: forward_backward(chain, x) for name, chain in crps.items()},
    }
    table = Table(
        title=f"RefineNet (3x3, RCUs) vs Light-Weight RefineNet (1x1, no RCUs), {describe_backbone(standard_cfg)}, "
        f"width {standard_cfg.width}, {standard_cfg.crp_blocks} CRP blocks, input {'x'.join(map(str, args.size))}"
    )
    for column in ("measured", "3x3 / 1x1 time", "3x3 ms", "1x1 ms"):
        table.add_column(column, justify="left" if column == "measured" else "right")
    for label, steps in measurements.items():
        seconds = median_seconds(steps, args.repeats, args.warmup, device)
        table.add_row(
            label,
            f"{seconds['3x3'] / seconds['1x1']:.2f}x",
            f"{seconds['3x3'] * 1e3:.1f}",
            f"{seconds['1x1'] * 1e3:.1f}",
        )
    console.print(table)
    flops = {name: forward_flops(model, x) for name, model in models.items()}
    crp_flops = {name: forward_flops(chain, x) for name, chain in crps.items()}
    params = {name: num_parameters(model) for name, model in models.items()}
    console.print(
        f"3x3 / 1x1 ratios: parameters {params['3x3'] / params['1x1']:.2f}x, whole-network forward FLOPs "
        f"{flops['3x3'] / flops['1x1']:.2f}x, CRP-block FLOPs {crp_flops['3x3'] / crp_flops['1x1']:.2f}x "
        "(lecture's claim: about 10x faster)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="model_size=small: ResNet-18 backbones")
    parser.add_argument("--size", type=int, nargs=4, default=[1, 3, 256, 256], metavar=("B", "C", "H", "W"))
    parser.add_argument("--num-classes", type=int, default=150, help="150 = ADE20K")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement (median)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs before them")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    console = Console(width=120)  # wide enough for the tables when the output is piped
    console.print(f"torch {torch.__version__}, device {device}, CPU threads {torch.get_num_threads()}")
    refinenet_comparison(args, device, console)


if __name__ == "__main__":
    main()
