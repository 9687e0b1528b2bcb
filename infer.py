"""Run a model on images or a video: `python infer.py run_dir=<run> input=<video | image | folder | glob>`
(conf/infer.yaml)."""

from pathlib import Path

import hydra
from omegaconf import DictConfig

from visionbench.runner.cli import entry_point, exit_on_invalid_command_line
from visionbench.video.run import infer


@hydra.main(version_base="1.3", config_path="conf", config_name="infer")
@entry_point
def main(cfg: DictConfig) -> None:
    infer(cfg)


if __name__ == "__main__":
    exit_on_invalid_command_line(Path(__file__).parent / "conf", "infer")
    main()
