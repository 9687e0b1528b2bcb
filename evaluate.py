"""Evaluate a trained run: `python evaluate.py run_dir=<run> | ckpt_path=<ckpt> [split=test]` (conf/evaluate.yaml)."""

from pathlib import Path

import hydra
from omegaconf import DictConfig

from visionbench.runner.cli import entry_point, exit_on_invalid_command_line
from visionbench.runner.evaluate import evaluate


@hydra.main(version_base="1.3", config_path="conf", config_name="evaluate")
@entry_point
def main(cfg: DictConfig) -> None:
    evaluate(cfg)


if __name__ == "__main__":
    exit_on_invalid_command_line(Path(__file__).parent / "conf", "evaluate")
    main()
