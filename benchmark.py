"""Benchmark models: `python benchmark.py [task=<problem>] model=<config> [precisions=[fp32,bf16] ...]` (see
conf/benchmark.yaml)."""

from pathlib import Path

import hydra
from omegaconf import DictConfig

from visionbench.benchmark.run import benchmark
from visionbench.runner.cli import entry_point, exit_on_invalid_command_line


@hydra.main(version_base="1.3", config_path="conf", config_name="benchmark")
@entry_point
def main(cfg: DictConfig) -> None:
    benchmark(cfg)


if __name__ == "__main__":
    exit_on_invalid_command_line(Path(__file__).parent / "conf", "benchmark")
    main()
