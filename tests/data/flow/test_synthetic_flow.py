"""Embedded synthetic flow dataset: exact flow (warping reproduces frame 1), occlusion, determinism, splits."""

from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate

from tests.helpers import compose_config
from visionbench.data.flow.synthetic_flow import SyntheticFlowDataModule, SyntheticFlowDataset, generate_flow_sample
from visionbench.data.flow.transforms import FlowAugmentation


def bilinear(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    x0 = np.minimum(np.floor(x).astype(int), w - 2)
    y0 = np.minimum(np.floor(y).astype(int), h - 2)
    ax, ay = (x - x0)[..., None], (y - y0)[..., None]
    img = image.astype(np.float64)
    top = img[y0, x0] * (1 - ax) + img[y0, x0 + 1] * ax
    return top * (1 - ay) + (img[y0 + 1, x0] * (1 - ax) + img[y0 + 1, x0 + 1] * ax) * ay


def warp_back(sample: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frame 2 sampled at p + flow(p) (RGB in [0, 1]), the target coordinates' integer corners (x0, y0)."""
    h, w = sample["flow"].shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    tx = np.clip(xx + sample["flow"][..., 0], 0, w - 1)
    ty = np.clip(yy + sample["flow"][..., 1], 0, h - 1)
    warped = bilinear(sample["image2"], tx, ty) / 255.0
    return warped, np.minimum(np.floor(tx).astype(int), w - 2), np.minimum(np.floor(ty).astype(int), h - 2)


@pytest.mark.parametrize("index", range(12))
def test_warping_frame2_with_the_flow_reproduces_frame1(index: int) -> None:
    sample = SyntheticFlowDataset("train", size=12, seed=0).generate(index, return_layers=True)
    warped, x0, y0 = warp_back(sample)
    error = np.abs(warped - sample["image1"] / 255.0).max(-1)
    visible = ~sample["occlusion"]
    # the four pixels interpolated in frame 2 show the pixel's own layer (no blend across a motion boundary)
    layers1, layers2 = sample["layers1"], sample["layers2"]
    same = np.ones_like(visible)
    for dy in (0, 1):
        for dx in (0, 1):
            same &= layers2[y0 + dy, x0 + dx] == layers1
    checked = visible & same
    assert checked.mean() > 0.5
    assert error[checked].max() < 0.03, error[checked].max()
    assert error[checked].mean() < 0.005
    # without layer information: almost every non-occluded pixel matches (the rest straddle a boundary)
    assert (error[visible] < 0.03).mean() > 0.9
    # occluded pixels do not (they show another layer or leave the frame): the mask is informative
    if sample["occlusion"].mean() > 0.02:
        assert error[sample["occlusion"]].mean() > 3 * error[checked].mean()


@pytest.mark.parametrize("index", range(8))
def test_occlusion_matches_the_layer_seen_at_the_target(index: int) -> None:
    sample = SyntheticFlowDataset("val", size=8, seed=1).generate(index, return_layers=True)
    h, w = sample["flow"].shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    tx, ty = xx + sample["flow"][..., 0], yy + sample["flow"][..., 1]
    outside = (tx < 0) | (tx > w - 1) | (ty < 0) | (ty > h - 1)
    assert (sample["occlusion"][outside]).all()  # leaving the frame is an occlusion
    inside = ~outside
    ix = np.clip(np.rint(tx), 0, w - 1).astype(int)
    iy = np.clip(np.rint(ty), 0, h - 1).astype(int)
    seen = sample["layers2"][iy, ix] == sample["layers1"]
    # the nearest frame-2 pixel of a visible target shows the same layer (up to boundary pixels) ...
    visible = inside & ~sample["occlusion"]
    assert seen[visible].mean() > 0.97
    # ... and an occluded in-frame target shows a layer above (covered), up to boundary pixels
    covered = inside & sample["occlusion"]
    if covered.sum() > 20:
        assert (sample["layers2"][iy, ix][covered] > sample["layers1"][covered]).mean() > 0.8


def test_sample_contract_and_motion_range() -> None:
    dataset = SyntheticFlowDataset("train", size=20, image_size=64, seed=0)
    magnitudes = []
    for index in range(20):
        item = dataset[index]
        assert set(item) == {"image1", "image2", "flow", "valid", "occlusion"}
        assert item["image1"].shape == item["image2"].shape == (3, 64, 64)
        assert (
            item["image1"].dtype == torch.float32
            and 0 <= float(item["image1"].min()) <= float(item["image1"].max()) <= 1
        )
        assert item["flow"].shape == (2, 64, 64) and item["flow"].dtype == torch.float32
        assert item["valid"].dtype == torch.bool and bool(item["valid"].all())
        assert item["occlusion"].dtype == torch.bool and item["occlusion"].shape == (64, 64)
        magnitudes.append(item["flow"].norm(dim=0))
    magnitudes = torch.stack(magnitudes)
    assert 2.0 < float(magnitudes.mean()) < 10.0
    assert float(magnitudes.max()) < 20.0


def test_textures_are_not_flat() -> None:
    sample = SyntheticFlowDataset("train", size=4).generate(0)
    assert sample["image1"].astype(float).std(axis=(0, 1)).max() > 10  # something to match on


def test_deterministic_and_index_dependent() -> None:
    a = SyntheticFlowDataset("train", size=5, seed=7)
    b = SyntheticFlowDataset("train", size=5, seed=7)
    for index in range(5):
        sa, sb = a.generate(index), b.generate(index)
        for key in sa:
            np.testing.assert_array_equal(sa[key], sb[key])
    assert not np.array_equal(a.generate(0)["image1"], a.generate(1)["image1"])
    assert not np.array_equal(
        a.generate(0)["image1"], SyntheticFlowDataset("train", size=5, seed=8).generate(0)["image1"]
    )
    # a sample does not depend on the dataset size or on the samples read before it
    np.testing.assert_array_equal(
        SyntheticFlowDataset("train", size=50, seed=7).generate(3)["flow"], a.generate(3)["flow"]
    )


def test_splits_are_disjoint() -> None:
    digests = {}
    for split in ("train", "val", "test"):
        dataset = SyntheticFlowDataset(split, size=40, seed=0)
        digests[split] = {dataset.generate(i)["image1"].tobytes() for i in range(40)}
        assert len(digests[split]) == 40
    assert not digests["train"] & digests["val"]
    assert not digests["train"] & digests["test"]
    assert not digests["val"] & digests["test"]


def test_knobs() -> None:
    rng = np.random.default_rng(0)
    still = generate_flow_sample(rng, 32, max_translation=0.0, max_rotation=0.0, max_log2_scale=0.0)
    assert np.abs(still["flow"]).max() < 1e-5
    np.testing.assert_array_equal(still["image1"], still["image2"])
    assert not still["occlusion"].any()
    noisy = generate_flow_sample(np.random.default_rng(0), 32, noise_std=0.05)
    clean = generate_flow_sample(np.random.default_rng(0), 32)
    np.testing.assert_array_equal(noisy["flow"], clean["flow"])
    with pytest.raises(ValueError, match="split"):
        SyntheticFlowDataset("training")
    with pytest.raises(ValueError, match="image_size"):
        SyntheticFlowDataset(image_size=8)


def test_datamodule_loaders() -> None:
    dm = SyntheticFlowDataModule(image_size=32, train_size=10, val_size=6, test_size=4, batch_size=4)
    assert dm.name == "synthetic-flow" and dm.val_batch_size == 4 and dm.num_workers == 0
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    assert batch["image1"].shape == (4, 3, 32, 32) and batch["flow"].shape == (4, 2, 32, 32)
    assert batch["valid"].shape == (4, 32, 32) and batch["occlusion"].dtype == torch.bool
    assert sum(b["image1"].shape[0] for b in dm.val_dataloader()) == 6
    assert sum(b["image1"].shape[0] for b in dm.test_dataloader()) == 4


def test_datamodule_with_augmentation() -> None:
    aug = FlowAugmentation(crop_size=(24, 28), eraser_size=(4, 8), seed=0)
    dm = SyntheticFlowDataModule(image_size=32, train_size=8, val_size=2, test_size=2, batch_size=4,
                                 val_batch_size=1, train_transform=aug)  # fmt: skip
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["image1"].shape == (4, 3, 24, 28) and batch["occlusion"].shape == (4, 24, 28)
    assert next(iter(dm.val_dataloader()))["image1"].shape == (1, 3, 32, 32)  # evaluation is not augmented


def test_hydra_config_builds_the_datamodule(tmp_path: Path) -> None:
    cfg = compose_config("train", ["data=flow/synthetic_flow", "data.train_size=4", "data.val_size=2"], tmp_path)
    dm = instantiate(cfg.data)
    assert isinstance(dm, SyntheticFlowDataModule)
    assert dm.image_size == 64 and dm.train_size == 4
