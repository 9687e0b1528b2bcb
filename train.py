"""Train a model: `python train.py [group=option ...] [key=value ...]` (see conf/train.yaml)."""

from pathlib import Path

import hydra
from omegaconf import DictConfig

from visionbench.runner.cli import entry_point, exit_on_invalid_command_line
from visionbench.runner.resume import apply_resume
from visionbench.runner.train import train


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
@entry_point
def main(cfg: DictConfig) -> float | None:
    return train(cfg)


if __name__ == "__main__":
    exit_on_invalid_command_line(Path(__file__).parent / "conf", "train")
    apply_resume(Path(__file__).parent / "conf", "train")  # ckpt_path=last | <run dir> | <file>: the original run dir
    main()
