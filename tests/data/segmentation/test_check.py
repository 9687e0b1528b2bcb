"""The dataset check: every planted problem found in one pass, statistics, the report, check_dataset.py."""

import io
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from rich.console import Console

from tests.helpers import REPO, subprocess_env
from tests.helpers.folder_dataset import CLASSES, H, W, make_dataset, make_labels
from visionbench.data.errors import DatasetFormatError, DatasetLayoutError
from visionbench.data.segmentation.check import (
    IMAGE_WITHOUT_MASK,
    LABEL_OUT_OF_RANGE,
    LAYOUT,
    MALFORMED_MASK,
    MASK_WITHOUT_IMAGE,
    SIZE_MISMATCH,
    UNREADABLE_IMAGE,
    ContractError,
    DatasetReport,
    check_segmentation_dataset,
    missing_contract,
    print_report,
)
from visionbench.data.segmentation.folder import FolderSegmentationDataModule
from visionbench.data.segmentation.synthetic_shapes import SyntheticShapesDataModule


def plant_problems(root: Path) -> dict[str, set[Path]]:
    """Break a dataset written by make_dataset(train=6, val=3); return the offending paths per kind."""
    images, masks = root / "images" / "train", root / "masks" / "train"
    (images / "img_0.png").write_bytes(b"garbage, not a PNG")  # unreadable image
    cv2.imwrite(str(masks / "img_1.png"), np.zeros((H, W - 8), np.uint8))  # size mismatch
    labels = make_labels(np.random.default_rng(5))
    labels[4:6, 4:6] = 9
    labels[10, 10] = 3
    cv2.imwrite(str(masks / "img_2.png"), labels)  # out of range (3 and 9; 255 stays fine)
    (images / "img_3.png").unlink()  # orphan mask
    (masks / "img_4.png").unlink()  # image without mask
    cv2.imwrite(str(root / "masks" / "val" / "img_1.png"), np.full((H, W, 3), (0, 128, 255), np.uint8))  # colour
    return {
        UNREADABLE_IMAGE: {images / "img_0.png"},
        SIZE_MISMATCH: {images / "img_1.png"},
        LABEL_OUT_OF_RANGE: {masks / "img_2.png"},
        MASK_WITHOUT_IMAGE: {masks / "img_3.png"},
        IMAGE_WITHOUT_MASK: {images / "img_4.png"},
        MALFORMED_MASK: {root / "masks" / "val" / "img_1.png"},
    }


def printed(report: DatasetReport, max_listed: int = 20) -> str:
    buffer = io.StringIO()
    print_report(report, console=Console(file=buffer, width=200), max_listed=max_listed)
    return buffer.getvalue()


def test_a_clean_dataset_passes_with_its_statistics(tmp_path: Path) -> None:
    written = make_dataset(tmp_path)
    report = check_segmentation_dataset(FolderSegmentationDataModule(tmp_path), num_threads=2)
    assert report.ok and report.problems == [] and report.counts() == {}
    assert report.num_classes == 3 and report.class_names == CLASSES and report.ignore_index == 255
    train, val, test = (report.splits[s] for s in ("train", "val", "test"))
    assert (train.pairs, val.pairs, test.pairs) == (3, 2, 2)
    assert test.same_as == "val" and test.masks_read == 0  # the fallback is not read twice
    assert train.min_size == train.max_size == (H, W) and train.images_read == train.masks_read == 3
    labels = np.stack([labels for _, labels in written["train"]])
    expected = np.bincount(labels[labels != 255], minlength=3)
    assert train.label_counts.tolist() == expected.tolist()
    assert train.ignored_pixels == int((labels == 255).sum()) and train.out_of_range_pixels == 0
    assert (train.min_label, train.max_label) == (int(labels[labels != 255].min()), int(labels[labels != 255].max()))
    text = printed(report)
    assert "OK: no problems found" in text and "same files as val" in text and "road" in text


def test_every_planted_problem_is_found_in_one_run(tmp_path: Path) -> None:
    make_dataset(tmp_path, splits={"train": 6, "val": 3})
    planted = plant_problems(tmp_path)
    report = check_segmentation_dataset(FolderSegmentationDataModule(tmp_path), num_threads=2)
    assert not report.ok
    assert report.counts() == {kind: 1 for kind in planted}
    for kind, paths in planted.items():
        assert {problem.path for problem in report.of_kind(kind)} == paths, kind
    (out_of_range,) = report.of_kind(LABEL_OUT_OF_RANGE)
    assert "labels 3, 9" in out_of_range.message and "5 pixels" in out_of_range.message
    assert report.splits["train"].out_of_range_pixels == 5 and report.splits["train"].max_label == 9
    (colour,) = report.of_kind(MALFORMED_MASK)
    assert colour.split == "val" and "RGB colour image" in colour.message
    # the matched pairs of a split with unpaired files are still checked: 6 images - 1 orphan mask
    assert report.splits["train"].pairs == 4 and report.splits["train"].masks_read == 4
    assert report.splits["train"].images_read == 3  # one of the 4 images is unreadable

    text = printed(report)
    for kind, paths in planted.items():
        assert f"{kind}: 1" in text
        for path in paths:
            assert str(path) in text
    assert "6 problem(s) found" in text


def test_missing_splits_and_root_are_problems_not_crashes(tmp_path: Path) -> None:
    make_dataset(tmp_path)
    for path in (tmp_path / "masks" / "val").iterdir():
        path.unlink()
    (tmp_path / "masks" / "val").rmdir()
    report = check_segmentation_dataset(FolderSegmentationDataModule(tmp_path), num_threads=1)
    layout = report.of_kind(LAYOUT)
    assert len(layout) == 1 and layout[0].path == tmp_path / "masks" / "val"  # val and test (-> val) deduplicated
    assert "expected layout" in layout[0].message and report.splits["train"].masks_read == 3
    assert not report.splits["val"].listed

    missing = check_segmentation_dataset(FolderSegmentationDataModule(tmp_path / "nope"))
    assert len(missing.problems) == 1 and "nope does not exist" in missing.problems[0].message
    assert missing.num_classes is None


def test_the_printed_list_is_capped_per_kind_with_a_count(tmp_path: Path) -> None:
    make_dataset(tmp_path, splits={"train": 1, "val": 1})
    for index in range(25):
        cv2.imwrite(str(tmp_path / "masks" / "train" / f"orphan_{index:02d}.png"), np.zeros((4, 4), np.uint8))
    report = check_segmentation_dataset(FolderSegmentationDataModule(tmp_path))
    assert report.counts() == {MASK_WITHOUT_IMAGE: 25}
    text = printed(report, max_listed=20)
    assert "mask without image: 25" in text and "... and 5 more" in text
    assert "orphan_19.png" in text and "orphan_20.png" not in text


class ListedDataModule:
    """The contract and nothing else: pairs from a dict, masks from .npy files."""

    num_classes = 2
    ignore_index = 255
    class_names = ["off", "on"]

    def __init__(self, splits: dict[str, list[tuple[Path, Path]]]) -> None:
        self.splits = splits

    def file_pairs(self, split: str) -> list[tuple[Path, Path]]:
        if split not in self.splits:
            raise DatasetLayoutError(f"no list for split {split}")
        return self.splits[split]

    def read_mask(self, path: Path) -> np.ndarray:
        try:
            return np.load(path).astype(np.int64)
        except (OSError, ValueError) as error:
            raise DatasetFormatError(f"cannot read mask {path}: {error}") from error


def test_any_datamodule_with_the_contract_can_be_checked(tmp_path: Path) -> None:
    image = tmp_path / "a.jpg"
    cv2.imwrite(str(image), np.zeros((6, 8, 3), np.uint8))
    good, bad = tmp_path / "good.npy", tmp_path / "bad.npy"
    np.save(good, np.ones((6, 8), np.int64))
    bad.write_text("not numpy")
    report = check_segmentation_dataset(ListedDataModule({"train": [(image, good)], "val": [(image, bad)]}))
    assert report.splits["train"].label_counts.tolist() == [0, 48]
    assert report.counts() == {LAYOUT: 1, MALFORMED_MASK: 1}
    assert report.of_kind(LAYOUT)[0].split == "test"


def test_a_datamodule_without_the_contract_is_refused() -> None:
    synthetic = SyntheticShapesDataModule(train_size=1, val_size=1, test_size=1)
    assert missing_contract(synthetic) == ["file_pairs", "read_mask"]
    with pytest.raises(ContractError, match="file_pairs, read_mask"):
        check_segmentation_dataset(synthetic)


# --------------------------------------------------------------------------------------------------
# check_dataset.py
# --------------------------------------------------------------------------------------------------
def run_check(arguments: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "check_dataset.py"), *arguments],
        cwd=cwd, env=subprocess_env(), capture_output=True, text=True, timeout=180,
    )  # fmt: skip


def test_check_dataset_py_exit_status_and_report(tmp_path: Path) -> None:
    clean, broken, cwd = tmp_path / "clean", tmp_path / "broken", tmp_path / "cwd"
    make_dataset(clean)
    make_dataset(broken, splits={"train": 6, "val": 3})
    planted = plant_problems(broken)
    cwd.mkdir()

    ok = run_check(["data=segmentation/folder", f"data.root={clean}"], cwd)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "OK: no problems found" in ok.stdout and "the test split is the val split" in ok.stdout

    failed = run_check(["data=segmentation/folder", f"data.root={broken}", "num_threads=1"], cwd)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "Traceback" not in failed.stderr
    for kind, paths in planted.items():
        assert f"{kind}: 1" in failed.stdout
        for path in paths:
            assert str(path) in failed.stdout
    assert list(cwd.iterdir()) == []  # no run directory, .hydra record or log file


def test_check_dataset_py_refuses_a_generated_dataset(tmp_path: Path) -> None:
    result = run_check(["data=segmentation/synthetic_shapes"], tmp_path)
    assert result.returncode == 2
    assert "does not implement the dataset-check contract" in result.stderr
    assert "data=segmentation/folder" in result.stderr
    assert "Traceback" not in result.stderr
