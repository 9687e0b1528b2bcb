"""Every evaluation dataset names its samples (``sample_id``): unique per split, stable across constructions, and
carried to the batches of the evaluation loaders with their index."""

import shutil
from pathlib import Path

import numpy as np

from tests.helpers import FIXTURES
from tests.helpers.folder_dataset import make_dataset
from visionbench.data.flow.synthetic_flow import SyntheticFlowDataModule
from visionbench.data.segmentation.ade20k import ADE20KDataModule
from visionbench.data.segmentation.folder import FolderSegmentationDataModule
from visionbench.data.segmentation.synthetic_shapes import SyntheticShapesDataModule


def _ids(dataset) -> list[str]:
    return [dataset.sample_id(index) for index in range(len(dataset))]


def test_ade20k_samples_are_named_by_their_image_stem() -> None:
    datamodule = ADE20KDataModule(root=FIXTURES / "ade20k" / "ADEChallengeData2016", num_workers=0)
    datamodule.setup("validate")
    ids = _ids(datamodule.val_set)
    assert ids == sorted(ids) and all(name.startswith("ADE_val_") for name in ids) and len(set(ids)) == len(ids)
    batch = next(iter(datamodule.val_dataloader()))
    assert batch["index"].tolist() == [0] and datamodule.val_dataloader().dataset.sample_id(0) == ids[0]


def test_folder_samples_are_named_by_their_path_below_the_split_folder(tmp_path: Path) -> None:
    make_dataset(tmp_path, splits={"train": 1, "val": 3})
    nested = tmp_path / "images" / "val" / "street"
    nested.mkdir()
    shutil.copy(tmp_path / "images" / "val" / "img_0.png", nested / "img_0.png")
    (tmp_path / "masks" / "val" / "street").mkdir()
    shutil.copy(tmp_path / "masks" / "val" / "img_0.png", tmp_path / "masks" / "val" / "street" / "img_0.png")
    datamodule = FolderSegmentationDataModule(root=tmp_path)
    datamodule.setup("test")  # no test folder: the val images, under the names they have there
    assert _ids(datamodule.test_set) == ["img_0", "img_1", "img_2", "street/img_0"]
    batches = list(datamodule.test_dataloader())
    assert [int(batch["index"]) for batch in batches] == [0, 1, 2, 3]


def test_generated_samples_are_named_by_split_and_index() -> None:
    shapes = SyntheticShapesDataModule(image_size=16, train_size=2, val_size=3, test_size=2, batch_size=2)
    flow = SyntheticFlowDataModule(image_size=16, train_size=2, val_size=3, test_size=2, batch_size=2)
    for datamodule in (shapes, flow):
        datamodule.setup()
        assert _ids(datamodule.val_set) == ["val/000000", "val/000001", "val/000002"]
        assert _ids(datamodule.test_set) == ["test/000000", "test/000001"]
        indices = np.concatenate([batch["index"].numpy() for batch in datamodule.val_dataloader()])
        assert indices.tolist() == [0, 1, 2]
        assert "index" not in next(iter(datamodule.train_dataloader()))  # training batches are not scored
