"""Run directories: reserved atomically, never reused, and checked before anything is written."""

from datetime import datetime
from pathlib import Path

from omegaconf import OmegaConf

_RESERVED: dict[str, str] = {}
RUN_OUTPUTS = ("metrics.json", "checkpoints", "config.yaml")


def new_run_dir(parent: str) -> str:
    """Create and return ``<parent>/<YYYY-mm-dd_HH-MM-SS>`` (with ``_1``, ``_2``... on a clash).

    The folder is created here, atomically, so two runs started in the same second never share it. The answer
    is memoised per process so that Hydra (and Lightning's DDP launcher) resolving the config again get the
    same folder.
    """
    if parent in _RESERVED:
        return _RESERVED[parent]
    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    Path(parent).mkdir(parents=True, exist_ok=True)
    suffix = 0
    while True:
        candidate = Path(parent) / (stamp if suffix == 0 else f"{stamp}_{suffix}")
        try:
            candidate.mkdir()
            break
        except FileExistsError:
            suffix += 1
    _RESERVED[parent] = str(candidate)
    return str(candidate)


def register_resolvers() -> None:
    """Register ``${vb_new_dir:<parent>}`` used by conf/hydra/default.yaml."""
    if not OmegaConf.has_resolver("vb_new_dir"):
        OmegaConf.register_new_resolver("vb_new_dir", new_run_dir, use_cache=True)


def ensure_fresh(output_dir: str | Path) -> Path:
    """Refuse to run in a folder that already holds an earlier run's outputs; create it (and its parents) if it
    does not exist, as when ``paths.output_dir`` is set on the command line."""
    output_dir = Path(output_dir)
    clashes = [name for name in RUN_OUTPUTS if (output_dir / name).exists()]
    if clashes:
        raise FileExistsError(
            f"{output_dir} already holds a run ({', '.join(clashes)}); refusing to overwrite it. "
            "Leave hydra.run.dir at its default (a new timestamped folder) or choose an empty folder."
        )
    output_dir.mkdir(parents=True, exist_ok=True)
    return output_dir
