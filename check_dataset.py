"""Check a dataset on disk: `python check_dataset.py data=segmentation/folder data.root=/path/to/data`
(conf/check_dataset.yaml).

Prints the splits, the label histogram and every problem found; exits with 0 when clean, 1 otherwise.
"""

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from visionbench.runner.check_dataset import check_dataset
from visionbench.runner.cli import entry_point, exit_on_invalid_command_line


@hydra.main(version_base="1.3", config_path="conf", config_name="check_dataset")
@entry_point
def main(cfg: DictConfig) -> None:
    sys.exit(check_dataset(cfg))


if __name__ == "__main__":
    exit_on_invalid_command_line(Path(__file__).parent / "conf", "check_dataset", writes_run_dir=False)
    main()
