"""Re-identification crops: a split that keeps no crop names the options that select some."""

from pathlib import Path

import pytest

from visionbench.data.tracking.reid import ReidCropsDataModule
from visionbench.data.tracking.synthetic_mot import SyntheticMOT


def test_a_split_without_usable_crops_names_the_filters_that_fix_it(tmp_path: Path) -> None:
    train, val = (SyntheticMOT(tmp_path, split, num_sequences=1, num_frames=20) for split in ("train", "val"))
    datamodule = ReidCropsDataModule(train, val, input_size=(16, 8), min_height=10_000)
    with pytest.raises(ValueError, match="the train split has no usable crops") as info:
        _ = datamodule.num_identities
    for option in ("min_height=10000.0", "data.min_height", "data.min_visibility", "data.min_crops_per_identity"):
        assert option in str(info.value)
    assert "data.train.sequences=[...]" in str(info.value)
    assert ReidCropsDataModule(train, val, input_size=(16, 8), min_height=10).num_identities > 0
