"""The one DataModule base: every datamodule of the package derives from it, builds each split once, loads it with
the same seeding per worker and per distributed rank, and calls its evaluation batch size ``val_batch_size``."""

import importlib
import inspect
import pkgutil
import shutil
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import albumentations as A
import pytest
import pytorch_lightning as pl
import torch
from hydra.utils import get_class
from omegaconf import OmegaConf
from torch.utils.data import Dataset, SequentialSampler, Subset, TensorDataset

import visionbench.data
from tests.helpers import CONF, FIXTURES
from tests.helpers.folder_dataset import make_dataset
from visionbench.data import loaders
from visionbench.data.datamodule import SPLITS, VisionDataModule
from visionbench.data.flow.datasets import (
    FlyingChairsDataModule,
    KITTIFlowDataModule,
    MiddleburyDataModule,
    SintelDataModule,
)
from visionbench.data.flow.synthetic_flow import SyntheticFlowDataModule
from visionbench.data.flow.transforms import FlowAugmentation
from visionbench.data.loaders import RANK_STRIDE, EpochShuffle, ResumableLoader, seed_worker_pipeline
from visionbench.data.segmentation.ade20k import ADE20KDataModule
from visionbench.data.segmentation.folder import FolderSegmentationDataModule
from visionbench.data.segmentation.synthetic_shapes import SyntheticShapesDataModule
from visionbench.data.tracking.reid import CropAugmentation, ReidCropsDataModule
from visionbench.data.tracking.synthetic_mot import SyntheticMOT


def _datamodule_classes() -> list[type[pl.LightningDataModule]]:
    """Every LightningDataModule class defined in a module of ``visionbench.data``."""
    found = set()
    for info in pkgutil.walk_packages(visionbench.data.__path__, "visionbench.data."):
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, pl.LightningDataModule) and cls.__module__ == module.__name__:
                found.add(cls)
    return sorted(found, key=lambda cls: cls.__name__)


DATAMODULES = _datamodule_classes()
CONCRETE = [cls for cls in DATAMODULES if not inspect.isabstract(cls)]


# ---- one tiny instance of every concrete datamodule (fixtures and small generated data) --------------------------
def _ade20k(tmp_path: Path) -> ADE20KDataModule:
    root = tmp_path / "ADEChallengeData2016"
    for kind in ("images", "annotations"):
        for folder in ("training", "validation"):  # the fixture's validation images double as a training split
            shutil.copytree(FIXTURES / "ade20k/ADEChallengeData2016" / kind / "validation", root / kind / folder)
    return ADE20KDataModule(root, batch_size=2, num_workers=0, crop_size=(32, 32), scale=(64, 32), seed=3)


def _folder(tmp_path: Path) -> FolderSegmentationDataModule:
    make_dataset(tmp_path / "folder")
    return FolderSegmentationDataModule(tmp_path / "folder", batch_size=2, seed=3)


def _reid(tmp_path: Path) -> ReidCropsDataModule:
    splits = [SyntheticMOT(tmp_path / "mot", split, num_sequences=1, num_frames=40) for split in SPLITS]
    return ReidCropsDataModule(*splits, input_size=(16, 8), min_height=10, min_frame_gap=5, batch_size=4,
                               val_batch_size=8, seed=3, augmentation=CropAugmentation())  # fmt: skip


ALL = {"val_split": "all", "test_split": "all", "num_workers": 0, "batch_size": 1, "seed": 3}
FACTORIES: dict[str, Callable[[Path], VisionDataModule]] = {
    "ADE20KDataModule": _ade20k,
    "FolderSegmentationDataModule": _folder,
    "SyntheticShapesDataModule": lambda _: SyntheticShapesDataModule(16, 4, 2, 2, seed=3, batch_size=2),
    "SyntheticFlowDataModule": lambda _: SyntheticFlowDataModule(
        16, 4, 2, 2, seed=3, batch_size=2, train_transform=FlowAugmentation(crop_size=(12, 12), eraser_size=(2, 4))
    ),
    "FlyingChairsDataModule": lambda _: FlyingChairsDataModule(FIXTURES / "flyingchairs/FlyingChairs_release", **ALL),
    "SintelDataModule": lambda _: SintelDataModule(FIXTURES / "sintel/MPI-Sintel", **ALL),
    "KITTIFlowDataModule": lambda _: KITTIFlowDataModule(FIXTURES / "kitti/KITTI2015", **ALL),
    "MiddleburyDataModule": lambda _: MiddleburyDataModule(FIXTURES / "middlebury", num_workers=0, seed=3),
    "ReidCropsDataModule": _reid,
}


def test_every_datamodule_of_the_package_derives_from_the_base() -> None:
    assert ADE20KDataModule in DATAMODULES and ReidCropsDataModule in DATAMODULES  # the walk finds them
    outside = [cls.__name__ for cls in DATAMODULES if not issubclass(cls, VisionDataModule)]
    assert not outside, f"datamodules not derived from VisionDataModule: {outside}"
    assert {cls.__name__ for cls in CONCRETE} == set(FACTORIES)  # each is exercised by the tests below


@pytest.mark.parametrize("cls", CONCRETE, ids=lambda cls: cls.__name__)
def test_setup_builds_each_split_once_and_loaders_need_it(cls: type[VisionDataModule], tmp_path: Path) -> None:
    datamodule = FACTORIES[cls.__name__](tmp_path)
    with pytest.raises(RuntimeError, match=r"the val split of .* is not built: call setup\(\) first"):
        datamodule.val_dataloader()
    datamodule.setup("validate")
    assert datamodule.train_set is None and datamodule.test_set is None and datamodule.val_set is not None
    val_set = datamodule.val_set
    datamodule.setup("fit")
    datamodule.setup()
    assert datamodule.val_set is val_set and datamodule.test_set is not None
    assert set(datamodule.datasets) == {split for split in SPLITS if datamodule.has_split(split)}
    if not datamodule.has_split("train"):
        with pytest.raises(RuntimeError, match="has no train split"):
            datamodule.train_dataloader()


@pytest.mark.parametrize("cls", CONCRETE, ids=lambda cls: cls.__name__)
def test_loaders_seed_per_worker_and_per_rank_alike(
    cls: type[VisionDataModule], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    datamodule = FACTORIES[cls.__name__](tmp_path)
    datamodule.setup()
    datamodule.trainer = SimpleNamespace(global_rank=2)  # the third DDP process
    for split, dataset in datamodule.datasets.items():
        assert callable(getattr(type(dataset), "reseed", None)), f"{type(dataset).__name__} has no reseed"
        seeds: list[int] = []
        dataset.reseed = seeds.append
        loader = datamodule.loader(split)
        assert loader.worker_init_fn is seed_worker_pipeline
        assert loader.persistent_workers == (datamodule.num_workers > 0)
        if split == "train":  # order and augmentations drawn per (seed, epoch[, index]) when loaded, not here
            assert isinstance(loader.sampler, EpochShuffle) and loader.sampler.seed == datamodule.seed
            assert isinstance(loader, ResumableLoader) and loader.batch_size == datamodule.batch_size
            assert seeds == []
        else:
            assert isinstance(loader.sampler, SequentialSampler) and loader.batch_size == datamodule.val_batch_size
            assert seeds == []
        # a worker of rank 1 reseeds its copy of the dataset (through a Subset) from its own torch seed
        worker = SimpleNamespace(seed=2**32 + 5, dataset=Subset(dataset, [0]))
        monkeypatch.setattr(loaders, "get_worker_info", lambda worker=worker: worker)
        monkeypatch.setattr(loaders, "distributed_rank", lambda: 1)
        seed_worker_pipeline(0)
        assert seeds[-1] == 5 + RANK_STRIDE


def _init_arguments(cls: type) -> set[str]:
    """The arguments a class takes, following ``**kwargs`` up to the base that names them."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if "__init__" in vars(klass):
            parameters = inspect.signature(klass.__init__).parameters
            names |= {name for name, p in parameters.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
            if not any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
                return names - {"self"}
    return names - {"self"}


@pytest.mark.parametrize("cls", CONCRETE, ids=lambda cls: cls.__name__)
def test_one_name_for_the_evaluation_batch_size(cls: type[VisionDataModule]) -> None:
    arguments = _init_arguments(cls)
    assert {"batch_size", "val_batch_size", "num_workers", "seed"} <= arguments
    assert {name for name in arguments | set(dir(cls)) if "batch_size" in name} <= {"batch_size", "val_batch_size"}


DATA_YAMLS = sorted((CONF / "data").rglob("*.yaml"))


@pytest.mark.parametrize("path", DATA_YAMLS, ids=lambda path: path.relative_to(CONF / "data").as_posix())
def test_every_datamodule_config_sets_the_evaluation_batch_size(path: Path) -> None:
    node = OmegaConf.load(path)
    if issubclass(get_class(node._target_), VisionDataModule):
        assert {key for key in node if "batch" in key} == {"batch_size", "val_batch_size"}
    else:
        assert "batch_size" not in node and "val_batch_size" not in node  # MOT benchmarks: trackers read sequences


class _Numbers(VisionDataModule):
    name = "numbers"

    def make_split(self, split: str) -> Dataset:
        return TensorDataset(torch.arange(5))


def test_the_base_checks_its_numbers_and_defaults_the_evaluation_batch_size() -> None:
    for option, value in (("batch_size", 0), ("val_batch_size", -1)):
        with pytest.raises(ValueError, match=f"{option} must be > 0, got {value}"):
            _Numbers(**{"batch_size": 2, option: value})
    with pytest.raises(ValueError, match="num_workers must be >= 0, got -1"):
        _Numbers(batch_size=2, num_workers=-1)
    assert _Numbers(batch_size=3).val_batch_size == 3 and _Numbers(batch_size=3, val_batch_size=1).val_batch_size == 1
    numbers = _Numbers(batch_size=2, drop_last=True)
    numbers.setup()
    assert [len(batch[0]) for batch in numbers.train_dataloader()] == [2, 2]  # the partial batch is dropped
    assert [len(batch[0]) for batch in numbers.val_dataloader()] == [2, 2, 1]


def test_folder_augmentation_is_seeded_like_every_other(tmp_path: Path) -> None:
    make_dataset(tmp_path, splits={"train": 6, "val": 1})

    def first_epoch(seed: int, workers: int) -> list[torch.Tensor]:
        transform = A.Compose([A.RandomCrop(16, 16), A.HorizontalFlip()])
        datamodule = FolderSegmentationDataModule(tmp_path, batch_size=2, num_workers=workers, seed=seed,
                                                  train_transform=transform)  # fmt: skip
        datamodule.setup("fit")
        return [batch["image"] for batch in datamodule.train_dataloader()]

    for workers in (0, 2):
        first, again, other = first_epoch(1, workers), first_epoch(1, workers), first_epoch(2, workers)
        assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))  # a seed gives the same crops
        assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))
