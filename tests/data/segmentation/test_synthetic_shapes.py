import numpy as np
import pytest
import torch

from visionbench.data.segmentation.synthetic_shapes import (
    CLASS_NAMES,
    PALETTE,
    SyntheticShapesDataModule,
    SyntheticShapesDataset,
    generate_sample,
)

SIZE = 48


@pytest.fixture(scope="module")
def train_set() -> SyntheticShapesDataset:
    return SyntheticShapesDataset("train", size=120, image_size=SIZE, seed=0)


def test_class_names_and_palette() -> None:
    assert CLASS_NAMES[0] == "background"
    assert len(CLASS_NAMES) >= 6
    assert len(set(CLASS_NAMES)) == len(CLASS_NAMES)
    assert PALETTE.shape == (len(CLASS_NAMES), 3) and PALETTE.dtype == np.uint8
    assert len({tuple(c) for c in PALETTE}) == len(CLASS_NAMES)
    assert SyntheticShapesDataset.CLASS_NAMES == CLASS_NAMES


def test_deterministic_per_seed() -> None:
    a = SyntheticShapesDataset("train", size=8, image_size=SIZE, seed=3)
    b = SyntheticShapesDataset("train", size=8, image_size=SIZE, seed=3)
    c = SyntheticShapesDataset("train", size=8, image_size=SIZE, seed=4)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.images, c.images)
    assert not np.array_equal(a.labels, c.labels)


def test_samples_regenerate_independently(train_set: SyntheticShapesDataset) -> None:
    image, label = train_set.generate(17)
    assert np.array_equal(image, train_set.images[17])
    assert np.array_equal(label, train_set.labels[17])
    # a longer dataset starts with the same samples
    short = SyntheticShapesDataset("train", size=5, image_size=SIZE, seed=0)
    assert np.array_equal(short.images, train_set.images[:5])


def test_splits_differ() -> None:
    sets = [SyntheticShapesDataset(s, size=20, image_size=SIZE, seed=0) for s in ("train", "val", "test")]
    for i in range(3):
        for j in range(i + 1, 3):
            for k in range(20):
                assert not np.array_equal(sets[i].images[k], sets[j].images[k])


def test_shapes_dtypes_and_label_range(train_set: SyntheticShapesDataset) -> None:
    assert train_set.images.shape == (120, SIZE, SIZE, 3) and train_set.images.dtype == np.uint8
    assert train_set.labels.shape == (120, SIZE, SIZE) and train_set.labels.dtype == np.uint8
    assert train_set.labels.max() < len(CLASS_NAMES)
    item = train_set[0]
    assert item["image"].shape == (3, SIZE, SIZE) and item["image"].dtype == torch.float32
    assert item["mask"].shape == (SIZE, SIZE) and item["mask"].dtype == torch.int64


def test_every_class_appears(train_set: SyntheticShapesDataset) -> None:
    counts = np.bincount(train_set.labels.ravel(), minlength=len(CLASS_NAMES))
    assert (counts > 0).all(), counts
    fg = counts[1:] / counts[1:].sum()
    assert fg.min() > 0.5 / (len(CLASS_NAMES) - 1), fg  # roughly balanced foreground classes


def test_normalisation_round_trip(train_set: SyntheticShapesDataset) -> None:
    item = train_set[3]
    mean = torch.tensor(train_set.mean).view(3, 1, 1)
    std = torch.tensor(train_set.std).view(3, 1, 1)
    rgb = (item["image"] * std + mean) * 255.0
    expected = torch.from_numpy(train_set.images[3]).permute(2, 0, 1).float()
    assert torch.allclose(rgb, expected, atol=1e-3)
    # the declared statistics match the data
    pixels = train_set.images.reshape(-1, 3) / 255.0
    assert np.allclose(pixels.mean(0), train_set.mean, atol=0.03)
    assert np.allclose(pixels.std(0), train_set.std, atol=0.03)


def test_class_is_not_readable_from_colour(train_set: SyntheticShapesDataset) -> None:
    pixels = train_set.images.reshape(-1, 3).astype(np.float64) / 255.0
    labels = train_set.labels.ravel()
    means = np.stack([pixels[labels == c].mean(0) for c in range(len(CLASS_NAMES))])
    # mean colours of all classes (background included) are close to each other
    assert np.abs(means - means.mean(0)).max() < 0.1, means
    # a nearest-class-mean colour classifier fitted on train is at chance on val foreground
    val = SyntheticShapesDataset("val", size=60, image_size=SIZE, seed=0)
    vp = val.images.reshape(-1, 3).astype(np.float64) / 255.0
    vl = val.labels.ravel()
    fg = vl > 0
    d = ((vp[fg, None, :] - means[None, 1:, :]) ** 2).sum(-1)
    acc = float((d.argmin(1) + 1 == vl[fg]).mean())
    assert acc < 1.0 / (len(CLASS_NAMES) - 1) + 0.08, acc


def test_label_follows_occlusion() -> None:
    occluded = 0
    for i in range(20):
        rng = np.random.default_rng(i)
        image, label, info = generate_sample(rng, SIZE, min_shapes=5, max_shapes=5, return_instances=True)
        inst = info["instance"]
        assert np.array_equal(label == 0, inst < 0)
        for k, (cls, area) in enumerate(zip(info["classes"], info["areas"], strict=True)):
            visible = inst == k
            assert (label[visible] == cls).all()  # the label map shows the topmost shape
            # each later shape hides at most max_occlusion (default 0.3) of what is still visible
            n_later = len(info["classes"]) - 1 - k
            assert visible.sum() >= area * 0.7**n_later - 1e-6
            occluded += int(visible.sum() < area)
        # same rng state -> same sample whether or not instances are returned
        again = generate_sample(np.random.default_rng(i), SIZE, min_shapes=5, max_shapes=5)
        assert np.array_equal(again[0], image) and np.array_equal(again[1], label)
    assert occluded > 0  # shapes do overlap


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"split": "training"}, "split"),
        ({"size": 0}, "size"),
        ({"image_size": 8}, "image_size"),
        ({"min_shapes": 3, "max_shapes": 2}, "min_shapes"),
        ({"max_occlusion": 1.5}, "max_occlusion"),
        ({"min_radius": 0.3, "max_radius": 0.2}, "radius"),
    ],
)
def test_dataset_bad_arguments(kwargs: dict, match: str) -> None:
    args = {"split": "train", "size": 2, "image_size": SIZE, **kwargs}
    with pytest.raises(ValueError, match=match):
        SyntheticShapesDataset(**args)


def test_transform_is_applied() -> None:
    def flip(image: np.ndarray, mask: np.ndarray) -> dict:
        return {"image": image[:, ::-1], "mask": mask[:, ::-1]}

    plain = SyntheticShapesDataset("val", size=2, image_size=SIZE, seed=0)
    flipped = SyntheticShapesDataset("val", size=2, image_size=SIZE, seed=0, transform=flip)
    assert torch.equal(flipped[1]["mask"], plain[1]["mask"].flip(-1))
    assert torch.equal(flipped[1]["image"], plain[1]["image"].flip(-1))


def test_datamodule_loaders() -> None:
    dm = SyntheticShapesDataModule(image_size=32, train_size=10, val_size=6, test_size=4, seed=0, batch_size=4)
    assert dm.num_classes == len(CLASS_NAMES) and dm.class_names == list(CLASS_NAMES)
    assert dm.palette.shape == (dm.num_classes, 3) and dm.ignore_index == 255
    assert len(dm.mean) == 3 and len(dm.std) == 3
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["image"].shape == (4, 3, 32, 32) and batch["image"].dtype == torch.float32
    assert batch["mask"].shape == (4, 32, 32) and batch["mask"].dtype == torch.int64
    assert sum(len(b["mask"]) for b in dm.train_dataloader()) == 10  # drop_last is False
    assert sum(len(b["mask"]) for b in dm.val_dataloader()) == 6
    with pytest.raises(RuntimeError, match="setup"):
        dm.test_dataloader()
    dm.setup("test")
    assert sum(len(b["mask"]) for b in dm.test_dataloader()) == 4


def test_datamodule_shuffle_is_seeded() -> None:
    def first_masks(seed: int) -> torch.Tensor:
        dm = SyntheticShapesDataModule(image_size=16, train_size=12, val_size=2, test_size=2, seed=0, batch_size=12)
        dm.seed = seed  # same data, different shuffle seed
        dm.setup("fit")
        return next(iter(dm.train_dataloader()))["mask"]

    assert torch.equal(first_masks(0), first_masks(0))
    assert not torch.equal(first_masks(0), first_masks(1))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"image_size": 4}, "image_size"),
        ({"train_size": 0}, "train_size"),
        ({"val_size": -1}, "val_size"),
        ({"batch_size": 0}, "batch_size"),
        ({"max_shapes": 0}, "max_shapes"),
    ],
)
def test_datamodule_bad_arguments(kwargs: dict, match: str) -> None:
    args = {"image_size": 32, "train_size": 4, "val_size": 4, "test_size": 4, "seed": 0, "batch_size": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        SyntheticShapesDataModule(**args)
