"""Dataset check: build the configured datamodule, check every file through the contract, print a report."""

import sys

from hydra.utils import instantiate
from omegaconf import DictConfig
from rich.console import Console

from visionbench.data.segmentation.check import check_segmentation_dataset, missing_contract, print_report

EXIT_OK, EXIT_PROBLEMS, EXIT_UNSUPPORTED = 0, 1, 2


def check_dataset(cfg: DictConfig) -> int:
    """Check ``cfg.data`` (conf/check_dataset.yaml); return the exit status: 0 clean, 1 problems found (the
    report is printed first), 2 the datamodule does not implement the dataset-check contract."""
    datamodule = instantiate(cfg.data)
    missing = missing_contract(datamodule)
    if missing:
        print(
            f"[visionbench] cannot check data={cfg.data.get('_target_')}: {type(datamodule).__name__} does not "
            f"implement the dataset-check contract (missing: {', '.join(missing)}). check_dataset.py checks "
            "datasets read from disk, e.g. `python check_dataset.py data=segmentation/folder data.root=/path/to/data`; "
            "generated (synthetic) datasets have nothing to check.",
            file=sys.stderr,
        )
        return EXIT_UNSUPPORTED
    console = Console()
    report = check_segmentation_dataset(
        datamodule, splits=tuple(cfg.splits), num_threads=int(cfg.num_threads), progress=console.is_terminal
    )
    print_report(report, console=console, max_listed=int(cfg.max_listed))
    return EXIT_OK if report.ok else EXIT_PROBLEMS
