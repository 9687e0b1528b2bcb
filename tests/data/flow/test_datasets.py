"""Flow datasets in their released layouts: reference values on real fixtures, layout errors, splits, configs."""

import logging
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from hydra.utils import instantiate

from tests.helpers import FIXTURES, REPO, compose_config
from visionbench.data.errors import DatasetFormatError, DatasetLayoutError
from visionbench.data.flow.datasets import (
    RAFT_CHAIRS_SPLIT,
    SPLITS_DIR,
    FlyingChairsDataModule,
    FlyingChairsDataset,
    KITTIFlowDataModule,
    KITTIFlowDataset,
    MiddleburyDataModule,
    MiddleburyDataset,
    SintelDataModule,
    SintelDataset,
    read_split_list,
)
from visionbench.data.flow.io import write_flo, write_kitti_flow
from visionbench.data.flow.transforms import FlowAugmentation

CHAIRS = FIXTURES / "flyingchairs/FlyingChairs_release"
SINTEL = FIXTURES / "sintel/MPI-Sintel"
KITTI2015 = FIXTURES / "kitti/KITTI2015"
MIDDLEBURY = FIXTURES / "middlebury"


# ---- zero-flow reference values (tests/fixtures/README.md, from ../shared/fixtures) -----------------
def zero_flow_scores(flow: torch.Tensor, valid: torch.Tensor) -> dict[str, float]:
    """Scores of predicting zero flow, pixel-pooled over the valid pixels: EPE, px1/3/5 (fraction of pixels
    with EPE below 1/3/5 px) and Fl (% of pixels with EPE > 3 px and > 5 % of |gt|)."""
    gt = flow.double().permute(1, 2, 0)[valid]  # (N, 2)
    epe = (gt - 0.0).norm(dim=1)  # prediction = 0
    magnitude = gt.norm(dim=1)
    return {
        "epe": float(epe.mean()),
        "px1": float((epe < 1).double().mean()),
        "px3": float((epe < 3).double().mean()),
        "px5": float((epe < 5).double().mean()),
        "fl": 100.0 * float(((epe > 3) & (epe > 0.05 * magnitude)).double().mean()),
    }


REFERENCE = {
    "middlebury": dict(epe=1.2560, px1=0.2563, px3=0.9834, px5=1.0000, fl=1.661),
    "sintel": dict(epe=2.9831, px1=0.0012, px3=0.7033, px5=0.7629, fl=29.667),
    "kitti": dict(epe=51.0097, px1=0.0021, px3=0.0350, px5=0.0817, fl=96.502),
    "chairs": dict(epe=6.0530, px1=0.0005, px3=0.7481, px5=0.7814, fl=25.194),
}


def reference_dataset(name: str):
    if name == "middlebury":
        return MiddleburyDataset(MIDDLEBURY)
    if name == "sintel":
        return SintelDataset(SINTEL, split="all", passes="clean")
    if name == "kitti":
        return KITTIFlowDataset(KITTI2015, year=2015, split="all", flow_type="occ")
    return FlyingChairsDataset(CHAIRS, split="all")


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_zero_flow_scores_match_the_reference_table(name: str) -> None:
    dataset = reference_dataset(name)
    assert len(dataset) == 1
    sample = dataset[0]
    scores = zero_flow_scores(sample["flow"], sample["valid"])
    expected = REFERENCE[name]
    for key in ("epe", "px1", "px3", "px5"):
        assert scores[key] == pytest.approx(expected[key], abs=1e-4), key
    assert scores["fl"] == pytest.approx(expected["fl"], abs=5e-4)  # the table gives Fl % to 3 decimals


def test_reference_samples_have_the_documented_shapes() -> None:
    sizes = {"middlebury": (388, 584), "sintel": (436, 1024), "kitti": (375, 1242), "chairs": (384, 512)}
    for name, (h, w) in sizes.items():
        sample = reference_dataset(name)[0]
        assert sample["image1"].shape == sample["image2"].shape == (3, h, w)
        assert sample["image1"].dtype == torch.float32 and float(sample["image1"].max()) <= 1.0
        assert sample["flow"].shape == (2, h, w) and sample["valid"].shape == (h, w)
        assert ("occlusion" in sample) == (name == "sintel")
    kitti = reference_dataset("kitti")[0]
    assert 0.15 < float(kitti["valid"].double().mean()) < 0.17
    assert float(kitti["flow"][:, ~kitti["valid"]].abs().max()) == 0.0  # flow is zeroed where invalid


def test_sintel_occlusion_and_invalid_masks() -> None:
    sample = SintelDataset(SINTEL, split="all")[0]
    assert int(sample["occlusion"].sum()) == 9912
    assert bool(sample["valid"].all())  # default: every pixel with a known flow, as the reference table
    masked = SintelDataset(SINTEL, split="all", mask_invalid=True)[0]
    assert int((~masked["valid"]).sum()) == 80
    assert zero_flow_scores(masked["flow"], masked["valid"])["epe"] == pytest.approx(2.9822, abs=1e-4)


def test_sintel_final_pass_and_both() -> None:
    both = SintelDataset(SINTEL, split="all", passes="both")
    assert len(both) == 2
    assert [both.sample_id(i) for i in range(2)] == ["clean/alley_1/frame_0002", "final/alley_1/frame_0002"]
    clean, final = both[0], both[1]
    torch.testing.assert_close(clean["flow"], final["flow"])
    assert not torch.equal(clean["image1"], final["image1"])
    assert len(SintelDataset(SINTEL, split="all", passes=["final"])) == 1
    with pytest.raises(ValueError, match="passes"):
        SintelDataset(SINTEL, passes="albedo")


# ---- splits ------------------------------------------------------------------------------------------
def test_shipped_split_files() -> None:
    assert read_split_list(SPLITS_DIR / "sintel_val_scenes.txt") == [
        "ambush_2", "ambush_6", "bamboo_2", "cave_4", "market_6", "temple_2",
    ]  # fmt: skip
    raft = read_split_list(RAFT_CHAIRS_SPLIT)
    assert len(raft) == 22872 and raft.count("2") == 640
    assert RAFT_CHAIRS_SPLIT.read_bytes() == (FIXTURES / "flyingchairs/split_files/raft_chairs_split.txt").read_bytes()
    flownet2 = read_split_list(FIXTURES / "flyingchairs/split_files/flownet2_train_val_split.list")
    shared = {i for i, v in enumerate(raft) if v == "2"} & {i for i, v in enumerate(flownet2) if v == "2"}
    assert len(shared) == 35  # the two circulating splits share only 35 of their 640 val pairs
    assert len(read_split_list(SPLITS_DIR / "kitti2015_val.txt")) == 40
    assert len(read_split_list(SPLITS_DIR / "kitti2012_val.txt")) == 39


def test_split_files_are_package_data() -> None:
    text = (REPO / "pyproject.toml").read_text()
    section = text.split("[tool.setuptools.package-data]", 1)[1].split("\n[", 1)[0]
    patterns = re.findall(r'"([^"]+)"', re.search(r'^"visionbench\.data\.flow"\s*=\s*\[(.*)\]', section, re.M).group(1))
    shipped = {p.relative_to(SPLITS_DIR.parent).as_posix() for p in SPLITS_DIR.iterdir() if p.is_file()}
    covered = {f for f in shipped for pattern in patterns if Path(f).match(pattern)}
    assert covered == shipped


def test_chairs_split_file_choice_is_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="visionbench.data.flow.datasets"):
        dataset = FlyingChairsDataset(CHAIRS, split="train")
    assert len(dataset) == 1 and dataset.split_file == CHAIRS / "FlyingChairs_train_val.txt"
    assert "dataset's own" in caplog.text
    root = tmp_path / "FlyingChairs_release"
    shutil.copytree(CHAIRS / "data", root / "data")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="visionbench.data.flow.datasets"):
        dataset = FlyingChairsDataset(root, split="train")  # pair 1 is train in RAFT's split too
    assert dataset.split_file == RAFT_CHAIRS_SPLIT and "RAFT's" in caplog.text
    with pytest.raises(DatasetLayoutError, match="split 'val' .* has no sample"):
        FlyingChairsDataset(root, split="val")


def test_chairs_split_values(tmp_path: Path) -> None:
    root = tmp_path / "FlyingChairs_release"
    write_tiny_chairs(root, 4)
    (root / "FlyingChairs_train_val.txt").write_text("1\n2\n2\n1\n")
    assert [FlyingChairsDataset(root, "train").sample_id(i) for i in range(2)] == ["00001", "00004"]
    assert [FlyingChairsDataset(root, "val").sample_id(i) for i in range(2)] == ["00002", "00003"]
    assert len(FlyingChairsDataset(root, "all")) == 4
    (root / "FlyingChairs_train_val.txt").write_text("1\n2\n")
    with pytest.raises(DatasetFormatError, match="pair 00003 has no line in split file"):
        FlyingChairsDataset(root, "all")
    (root / "FlyingChairs_train_val.txt").write_text("1\n3\n1\n1\n")
    with pytest.raises(DatasetFormatError, match="must be 1 \\(train\\) or 2 \\(val\\)"):
        FlyingChairsDataset(root, "all")


def test_sintel_split_by_scene(tmp_path: Path) -> None:
    root = tmp_path / "MPI-Sintel"
    for scene in ("alley_1", "ambush_2", "cave_4"):
        write_tiny_sintel_scene(root, scene, frames=3)
    train = SintelDataset(root, "train")
    val = SintelDataset(root, "val")
    assert {train.sample_id(i).split("/")[1] for i in range(len(train))} == {"alley_1"}
    assert {val.sample_id(i).split("/")[1] for i in range(len(val))} == {"ambush_2", "cave_4"}
    assert len(train) == 2 and len(val) == 4 and len(SintelDataset(root, "all")) == 6
    custom = SintelDataset(root, "val", val_scenes=["alley_1"])
    assert len(custom) == 2
    assert "occlusion" not in train[0]  # no occlusions/ folder in this copy


def test_kitti_split_by_ids_and_year_2012(tmp_path: Path) -> None:
    root = tmp_path / "KITTI2012"
    write_tiny_kitti(root, 2012, ids=["000000", "000001", "000012"])
    assert len(KITTIFlowDataset(root, 2012, "val")) == 2  # 000000 and 000012 are in the shipped 2012 val list
    assert len(KITTIFlowDataset(root, 2012, "train")) == 1
    ids_file = tmp_path / "val.txt"
    ids_file.write_text("# mine\n000001_10\n")
    assert KITTIFlowDataset(root, 2012, "val", val_ids_file=ids_file).sample_id(0) == "000001"


# ---- KITTI occ / noc -----------------------------------------------------------------------------
def test_kitti_occ_noc_and_occlusion(tmp_path: Path) -> None:
    root = tmp_path / "KITTI2015"
    write_tiny_kitti(root, 2015, ids=["000000"], noc=True)
    occ = KITTIFlowDataset(root, 2015, "all", flow_type="occ")[0]
    noc = KITTIFlowDataset(root, 2015, "all", flow_type="noc")[0]
    valid_occ, valid_noc = occ["valid"], noc["valid"]
    assert bool((valid_noc <= valid_occ).all()) and int(valid_noc.sum()) < int(valid_occ.sum())
    torch.testing.assert_close(occ["occlusion"], valid_occ & ~valid_noc)
    torch.testing.assert_close(noc["occlusion"], occ["occlusion"])
    torch.testing.assert_close(occ["flow"][:, valid_noc], noc["flow"][:, valid_noc])
    assert KITTIFlowDataModule(root, 2015, flow_type="noc").name == "kitti2015-noc"
    # without flow_noc/ there is no occlusion key
    assert "occlusion" not in KITTIFlowDataset(KITTI2015, 2015, "all")[0]


# ---- layout errors -----------------------------------------------------------------------------------
def test_missing_roots_name_the_path_and_the_layout(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    cases = [
        (lambda: FlyingChairsDataset(missing), "FlyingChairs root .*nowhere does not exist.*data/00001_img1.ppm"),
        (lambda: SintelDataset(missing), "MPI-Sintel root .*nowhere does not exist.*training/clean/<scene>"),
        (lambda: KITTIFlowDataset(missing, 2015), "KITTI 2015 root .*nowhere.*training/image_2/000000_10.png"),
        (lambda: KITTIFlowDataset(missing, 2012), "KITTI 2012 root .*nowhere.*training/colored_0/000000_10.png"),
        (lambda: MiddleburyDataset(missing), "Middlebury root .*nowhere.*other-gt-flow/<Sequence>/flow10.flo"),
    ]
    for build, message in cases:
        with pytest.raises(DatasetLayoutError, match=f"(?s){message}"):
            build()


def test_roots_one_level_too_deep_get_a_hint() -> None:
    with pytest.raises(DatasetLayoutError, match="set data.root to its parent"):
        SintelDataset(SINTEL / "training")
    with pytest.raises(DatasetLayoutError, match="set data.root to its parent"):
        KITTIFlowDataset(KITTI2015 / "training", 2015)
    with pytest.raises(DatasetLayoutError, match="set data.root to the folder that contains data/"):
        FlyingChairsDataset(CHAIRS / "data")


def test_chairs_frame_without_flow(tmp_path: Path) -> None:
    root = tmp_path / "FlyingChairs_release"
    write_tiny_chairs(root, 2)
    (root / "data/00002_flow.flo").unlink()
    with pytest.raises(DatasetLayoutError, match="00002_img1.ppm has no .*00002_flow.flo"):
        FlyingChairsDataset(root, "all", split_file=RAFT_CHAIRS_SPLIT)


def test_sintel_frame_without_flow(tmp_path: Path) -> None:
    root = tmp_path / "MPI-Sintel"
    write_tiny_sintel_scene(root, "alley_1", frames=4)
    (root / "training/flow/alley_1/frame_0002.flo").unlink()
    with pytest.raises(DatasetLayoutError, match="frame_0002.png has no flow: expected .*flow/alley_1/frame_0002.flo"):
        SintelDataset(root, "all")


def test_sintel_flow_without_next_frame(tmp_path: Path) -> None:
    root = tmp_path / "MPI-Sintel"
    write_tiny_sintel_scene(root, "alley_1", frames=3)
    (root / "training/clean/alley_1/frame_0003.png").unlink()
    with pytest.raises(DatasetLayoutError, match="frame_0002.flo has no frame .*frame_0003.png"):
        SintelDataset(root, "all")


def test_sintel_scene_without_flow_and_missing_pass(tmp_path: Path) -> None:
    root = tmp_path / "MPI-Sintel"
    write_tiny_sintel_scene(root, "alley_1", frames=2)
    (root / "training/clean/bamboo_1").mkdir()
    with pytest.raises(DatasetLayoutError, match="scene .*clean/bamboo_1 has no flow"):
        SintelDataset(root, "all")
    with pytest.raises(DatasetLayoutError, match="final pass folder .*training/final does not exist"):
        SintelDataset(root, "all", passes="final")


# ---- a split with no sample names the options that select some ----------------------------------------------
def test_partial_sintel_names_the_options_that_select_samples() -> None:
    dm = SintelDataModule(SINTEL, num_workers=0)  # the fixture is a partial Sintel: one training scene, alley_1
    with pytest.raises(DatasetLayoutError) as info:
        dm.setup("validate")
    message = str(info.value)
    assert message.startswith(f"sintel: split 'val' of {SINTEL} has no sample: none of the scenes in ")
    assert "(alley_1) is a val scene" in message and "ambush_2" in message and "sintel_val_scenes.txt" in message
    assert "data.val_scenes=[...]" in message and "data.val_split=all" in message
    assert info.value.__cause__ is None and info.value.__context__ is None
    fixed = SintelDataModule(SINTEL, num_workers=0, val_split="all")  # what the message proposes
    fixed.setup("validate")
    assert len(fixed.val_set) == 1


def test_sintel_pass_missing_names_the_passes_present(tmp_path: Path) -> None:
    root = tmp_path / "MPI-Sintel"
    shutil.copytree(SINTEL, root)
    shutil.rmtree(root / "training/clean")
    with pytest.raises(DatasetLayoutError, match=r"clean pass folder .* does not exist \(set data.passes to the passes "
                       r"present: final\)"):  # fmt: skip
        SintelDataset(root, "all")
    assert len(SintelDataset(root, "all", passes="final")) == 1


def test_chairs_split_file_selecting_nothing_names_the_options(tmp_path: Path) -> None:
    root = tmp_path / "FlyingChairs_release"
    write_tiny_chairs(root, 2)
    (root / "FlyingChairs_train_val.txt").write_text("1\n1\n")
    with pytest.raises(DatasetLayoutError) as info:
        FlyingChairsDataset(root, "val")
    message = str(info.value)
    assert "split 'val'" in message and "marks none of the 2 pair(s)" in message and "as val (2)" in message
    assert "data.split_file=" in message and "data.val_split=all" in message
    (tmp_path / "mine.txt").write_text("1\n2\n")
    assert FlyingChairsDataset(root, "val", split_file=tmp_path / "mine.txt").sample_id(0) == "00002"


def test_kitti_split_or_flow_type_selecting_nothing_names_the_options(tmp_path: Path) -> None:
    with pytest.raises(DatasetLayoutError) as info:
        KITTIFlowDataset(KITTI2015, 2015, "val")  # the fixture's only pair (000000) is a training pair
    assert "none of the 1 pair(s)" in str(info.value) and "kitti2015_val.txt" in str(info.value)
    assert "data.val_ids_file=" in str(info.value) and "data.val_split=all" in str(info.value)
    (tmp_path / "val.txt").write_text("000000\n")
    assert len(KITTIFlowDataset(KITTI2015, 2015, "val", val_ids_file=tmp_path / "val.txt")) == 1
    with pytest.raises(
        DatasetLayoutError, match=r"flow_noc does not exist \(.*flow_occ exists: set data.flow_type=occ\)"
    ):
        KITTIFlowDataset(KITTI2015, 2015, "all", flow_type="noc")


def test_sintel_missing_occlusion_mask(tmp_path: Path) -> None:
    root = tmp_path / "MPI-Sintel"
    shutil.copytree(SINTEL, root)
    (root / "training/occlusions/alley_1/frame_0002.png").unlink()
    with pytest.raises(DatasetLayoutError, match="occlusion mask .*frame_0002.png is missing"):
        SintelDataset(root, "all")


def test_kitti_frame_without_flow_and_flow_without_frame(tmp_path: Path) -> None:
    root = tmp_path / "KITTI2015"
    write_tiny_kitti(root, 2015, ids=["000000", "000001"])
    (root / "training/flow_occ/000001_10.png").unlink()
    with pytest.raises(DatasetLayoutError, match="image_2/000001_10.png has no flow"):
        KITTIFlowDataset(root, 2015, "all")
    write_tiny_kitti(root, 2015, ids=["000001"])
    (root / "training/image_2/000001_11.png").unlink()
    with pytest.raises(DatasetLayoutError, match="has no frame .*000001_11.png"):
        KITTIFlowDataset(root, 2015, "all")
    with pytest.raises(DatasetLayoutError, match="flow_noc does not exist"):
        KITTIFlowDataset(root, 2015, "all", flow_type="noc")


def test_middlebury_skips_sequences_without_ground_truth(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "middlebury"
    shutil.copytree(MIDDLEBURY, root)
    shutil.copytree(root / "other-data/RubberWhale", root / "other-data/Walking")  # released without GT
    with caplog.at_level(logging.INFO, logger="visionbench.data.flow.datasets"):
        dataset = MiddleburyDataset(root)
    assert len(dataset) == 1 and dataset.sample_id(0) == "RubberWhale" and "Walking" in caplog.text
    (root / "other-data/RubberWhale/frame11.png").unlink()
    with pytest.raises(DatasetLayoutError, match="flow10.flo has no frame .*RubberWhale/frame11.png"):
        MiddleburyDataset(root)
    with pytest.raises(DatasetLayoutError, match="sequences \\['Nope'\\]"):
        MiddleburyDataset(MIDDLEBURY, sequences=["Nope"])


# ---- format errors surface when a sample is read ----------------------------------------------------------
def test_truncated_flow_in_a_dataset(tmp_path: Path) -> None:
    root = tmp_path / "FlyingChairs_release"
    write_tiny_chairs(root, 1)
    flo = root / "data/00001_flow.flo"
    flo.write_bytes(flo.read_bytes()[:-8])
    dataset = FlyingChairsDataset(root, "all", split_file=RAFT_CHAIRS_SPLIT)
    with pytest.raises(DatasetFormatError, match="00001_flow.flo is truncated"):
        dataset[0]


def test_size_mismatch_between_frames_and_flow(tmp_path: Path) -> None:
    root = tmp_path / "FlyingChairs_release"
    write_tiny_chairs(root, 1)
    write_flo(root / "data/00001_flow.flo", np.zeros((5, 7, 2), np.float32))
    with pytest.raises(DatasetFormatError, match="same size.*00001_flow.flo is 7x5"):
        FlyingChairsDataset(root, "all", split_file=RAFT_CHAIRS_SPLIT)[0]


# ---- datamodules and configs ------------------------------------------------------------------------
def test_datamodules_build_without_data(tmp_path: Path) -> None:
    for dm in (
        FlyingChairsDataModule(tmp_path / "x"),
        SintelDataModule(tmp_path / "x", passes="both"),
        KITTIFlowDataModule(tmp_path / "x", 2012),
        MiddleburyDataModule(tmp_path / "x"),
    ):
        assert dm.val_batch_size == 1 and dm.batch_size > 0 and dm.num_workers >= 0
        with pytest.raises(DatasetLayoutError, match="does not exist"):
            dm.setup("validate")
    assert SintelDataModule(tmp_path, passes="both").name == "sintel-clean+final"
    assert SintelDataModule(tmp_path, passes="final").name == "sintel-final"
    assert KITTIFlowDataModule(tmp_path, 2015).name == "kitti2015"


def test_sintel_datamodule_trains_and_evaluates_on_the_fixture() -> None:
    aug = FlowAugmentation(crop_size=(128, 160), seed=0)
    dm = SintelDataModule(SINTEL, passes="both", train_split="all", val_split="all", test_split="all",
                          batch_size=2, num_workers=0, train_transform=aug)  # fmt: skip
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    assert batch["image1"].shape == (2, 3, 128, 160) and batch["flow"].shape == (2, 2, 128, 160)
    assert batch["occlusion"].shape == (2, 128, 160) and batch["valid"].dtype == torch.bool
    val = next(iter(dm.val_dataloader()))
    assert val["image1"].shape == (1, 3, 436, 1024)  # full frames, one per batch


def test_kitti_datamodule_sparse_augmentation_on_the_fixture() -> None:
    aug = FlowAugmentation(crop_size=(160, 480), log2_scale_range=(-0.2, 0.4), stretch_prob=0.0, hflip_prob=0.0,
                           vflip_prob=0.0, sparse=True, seed=0)  # fmt: skip
    dm = KITTIFlowDataModule(KITTI2015, 2015, train_split="all", val_split="all", batch_size=1, num_workers=0,
                             train_transform=aug)  # fmt: skip
    dm.setup("fit")
    flows = []
    for _ in range(3):
        batch = next(iter(dm.train_dataloader()))
        assert batch["flow"].shape == (1, 2, 160, 480)
        flows.append(batch)
    for b in flows:
        assert bool((b["flow"][0][:, ~b["valid"][0]] == 0).all())  # invalid pixels carry no flow
        assert bool(b["valid"].any())
    with pytest.raises(DatasetLayoutError, match="split 'val' .* has no sample"):
        KITTIFlowDataset(KITTI2015, 2015, "val")  # the fixture's only pair (000000) is a training pair


def test_middlebury_is_evaluation_only() -> None:
    dm = MiddleburyDataModule(MIDDLEBURY, num_workers=0)
    dm.setup()
    assert dm.train_set is None
    assert next(iter(dm.val_dataloader()))["flow"].shape == (1, 2, 388, 584)
    assert len(dm.test_dataloader()) == 1
    with pytest.raises(RuntimeError, match="middlebury has no train split"):
        dm.train_dataloader()


@pytest.mark.parametrize(
    ("option", "root", "expected_name"),
    [
        ("flyingchairs", CHAIRS, "flyingchairs"),
        ("sintel", SINTEL, "sintel-clean"),
        ("kitti2015", KITTI2015, "kitti2015"),
        ("middlebury", MIDDLEBURY, "middlebury"),
    ],
)
def test_hydra_configs_build_and_read_the_fixtures(option: str, root: Path, expected_name: str, tmp_path: Path) -> None:
    overrides = [f"data=flow/{option}", f"data.root={root}", "data.num_workers=0"]
    if option != "middlebury":
        overrides += ["data.val_split=all", "data.test_split=all"]
    cfg = compose_config("train", overrides, tmp_path)
    dm = instantiate(cfg.data)
    assert dm.name == expected_name and dm.val_batch_size == 1
    if option != "middlebury":
        assert isinstance(dm.train_transform, FlowAugmentation)
    dm.setup()
    assert len(dm.val_dataloader()) == len(dm.test_dataloader()) == 1
    if option != "middlebury":
        assert len(dm.train_set) == 1  # each fixture's one pair is a training pair


def test_default_roots_follow_the_data_dir(tmp_path: Path) -> None:
    folders = {"flyingchairs": "FlyingChairs_release", "sintel": "MPI-Sintel", "kitti2015": "KITTI2015",
               "kitti2012": "KITTI2012", "middlebury": "middlebury"}  # fmt: skip
    for option, folder in folders.items():
        cfg = compose_config("train", [f"data=flow/{option}"], tmp_path)
        assert Path(cfg.data.root).name == folder
        assert Path(cfg.data.root).parent == Path(cfg.paths.data_dir)


# ---- tiny datasets in the released layouts ------------------------------------------------------------
def _png(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), rgb[..., ::-1])


def _frames(rng: np.random.Generator, h: int = 12, w: int = 16) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    image1 = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    image2 = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    return image1, image2, rng.normal(0, 3, (h, w, 2)).astype(np.float32)


def write_tiny_chairs(root: Path, count: int) -> None:
    rng = np.random.default_rng(0)
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    for i in range(1, count + 1):
        image1, image2, flow = _frames(rng)
        for name, image in ((f"{i:05d}_img1.ppm", image1), (f"{i:05d}_img2.ppm", image2)):
            cv2.imwrite(str(data / name), image[..., ::-1])
        write_flo(data / f"{i:05d}_flow.flo", flow)


def write_tiny_sintel_scene(root: Path, scene: str, frames: int) -> None:
    rng = np.random.default_rng(1)
    training = root / "training"
    for k in range(1, frames + 1):
        image, _, flow = _frames(rng)
        _png(training / "clean" / scene / f"frame_{k:04d}.png", image)
        if k < frames:
            (training / "flow" / scene).mkdir(parents=True, exist_ok=True)
            write_flo(training / "flow" / scene / f"frame_{k:04d}.flo", flow)


def write_tiny_kitti(root: Path, year: int, ids: list[str], noc: bool = False) -> None:
    rng = np.random.default_rng(2)
    training = root / "training"
    frames = "image_2" if year == 2015 else "colored_0"
    for sample_id in ids:
        image1, image2, flow = _frames(rng)
        _png(training / frames / f"{sample_id}_10.png", image1)
        _png(training / frames / f"{sample_id}_11.png", image2)
        valid_occ = rng.random(flow.shape[:2]) < 0.5
        (training / "flow_occ").mkdir(parents=True, exist_ok=True)
        write_kitti_flow(training / "flow_occ" / f"{sample_id}_10.png", flow, valid_occ)
        if noc:
            (training / "flow_noc").mkdir(parents=True, exist_ok=True)
            valid_noc = valid_occ & (rng.random(flow.shape[:2]) < 0.7)
            write_kitti_flow(training / "flow_noc" / f"{sample_id}_10.png", flow, valid_noc)
