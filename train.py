"""Train a model: `python train.py [group=option ...] [key=value ...]` (see conf/train.yaml)."""

from pathlib import Path

import hydra
from omegaconf import DictConfig

from visionbench.runner.cli import exit_on_unknown_option
from visionbench.runner.train import train


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    return train(cfg)


if __name__ == "__main__":
    exit_on_unknown_option(Path(__file__).parent / "conf")
    main()
