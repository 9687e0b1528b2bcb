"""One meaning of data.root for every dataset read from disk (its own folder as released), and one clear message
when it is wrong: the path tried, the option that sets it and the expected tree, once."""

from pathlib import Path

import pytest
from hydra.utils import get_class, instantiate
from omegaconf import OmegaConf

from tests.helpers import CONF, compose_config
from visionbench.data.datamodule import VisionDataModule
from visionbench.data.errors import DatasetLayoutError
from visionbench.data.tracking.mot import MotBenchmark
from visionbench.data.tracking.synthetic_mot import SyntheticMOT


def _disk_configs() -> list[tuple[str, str]]:
    """``(data option, key of its root)`` of every conf/data YAML that reads a dataset from disk: a ``root`` (or
    the re-identification splits' ``train.root``) whose target is not a generated benchmark."""
    found = []
    for path in sorted((CONF / "data").rglob("*.yaml")):
        node = OmegaConf.load(path)
        option = path.relative_to(CONF / "data").with_suffix("").as_posix()
        key = "root" if "root" in node else "train.root" if "train" in node and "root" in node.train else None
        target = node._target_ if key == "root" else node.train._target_ if key else None
        if key is not None and not issubclass(get_class(target), SyntheticMOT):
            found.append((option, key))
    return found


DISK_CONFIGS = _disk_configs()


def _read(data: VisionDataModule | MotBenchmark) -> None:
    """Make a configured dataset read its root: set up a datamodule, list a benchmark's sequences."""
    if isinstance(data, VisionDataModule):
        data.setup()
    else:
        _ = data.sequences


def test_every_real_dataset_config_is_covered() -> None:
    options = {option for option, _ in DISK_CONFIGS}
    assert {"segmentation/ade20k", "segmentation/folder", "flow/sintel", "tracking/mot17"} <= options
    assert "tracking/synthetic_mot" not in options and len(options) >= 12


@pytest.mark.parametrize(("option", "key"), DISK_CONFIGS)
def test_default_root_is_the_dataset_folder_under_the_data_dir(option: str, key: str, tmp_path: Path) -> None:
    cfg = compose_config("train", [f"data={option}"], tmp_path)
    root = Path(OmegaConf.select(cfg.data, key))
    assert root.parent == Path(cfg.paths.data_dir)  # <data_dir>/<the dataset's folder>, not <data_dir> itself


@pytest.mark.parametrize(("option", "key"), DISK_CONFIGS)
def test_a_wrong_root_names_the_path_the_option_and_the_tree_once(option: str, key: str, tmp_path: Path) -> None:
    missing = tmp_path / "no_such_folder"
    overrides = [f"data={option}", f"data.{key}={missing}"]
    if key == "train.root":
        overrides += [f"data.{split}.root={missing}" for split in ("val", "test")]
    data = instantiate(compose_config("train", overrides, tmp_path / "run").data)  # nothing is read yet
    with pytest.raises(DatasetLayoutError) as info:
        _read(data)
    message = str(info.value)
    assert f"{missing} does not exist" in message
    assert "data.root=" in message and "$VISIONBENCH_DATA" in message
    assert message.count(f"{missing} does not exist") == 1 and message.count("expected") == 1
    assert "<root>/" in message or f"  {missing}/\n" in message  # the tree (the folder dataset's shows the root)
    assert info.value.__cause__ is None and info.value.__context__ is None  # no second, chained traceback
