"""A recipe's total batch size is split over devices, nodes and gradient accumulation, exactly or not at all."""

import pytest
import pytorch_lightning as pl

from visionbench.data.segmentation.synthetic_shapes import SyntheticShapesDataModule
from visionbench.runner.batch_size import apply_total_batch_size, per_device_batch_size


@pytest.mark.parametrize(
    ("devices", "nodes", "accumulate", "expected"),
    [(1, 1, 1, 16), (4, 1, 1, 4), (8, 1, 1, 2), (4, 2, 1, 2), (2, 1, 2, 4), (16, 1, 1, 1)],
)
def test_per_device_share(devices: int, nodes: int, accumulate: int, expected: int) -> None:
    assert per_device_batch_size(16, devices, nodes, accumulate) == expected


@pytest.mark.parametrize(("devices", "nodes", "accumulate"), [(3, 1, 1), (32, 1, 1), (2, 3, 1), (1, 1, 5)])
def test_uneven_split_is_refused_naming_the_factors(devices: int, nodes: int, accumulate: int) -> None:
    with pytest.raises(ValueError, match=rf"total_batch_size=16 .* {devices} device\(s\) x {nodes} node\(s\)"):
        per_device_batch_size(16, devices, nodes, accumulate)


def test_trainer_devices_set_the_datamodule_batch_size() -> None:
    datamodule = SyntheticShapesDataModule(batch_size=16)
    trainer = pl.Trainer(
        accelerator="cpu", devices=1, accumulate_grad_batches=2, logger=False, enable_checkpointing=False
    )
    assert apply_total_batch_size(datamodule, trainer, 16) == 8
    assert datamodule.batch_size == 8
    with pytest.raises(TypeError, match="batch_size"):
        apply_total_batch_size(pl.LightningDataModule(), trainer, 16)
