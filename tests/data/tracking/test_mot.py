"""MOTChallenge sequences and benchmarks in their released layout: real fixtures, fallbacks, errors, configs."""

from pathlib import Path

import cv2
import numpy as np
import pytest
from hydra.utils import instantiate

from tests.helpers import REPO, compose_config
from visionbench.data.errors import DatasetFormatError, DatasetLayoutError
from visionbench.data.tracking.mot import DEFAULT_FRAME_RATE, MotBenchmark, MotSequence
from visionbench.data.tracking.mot_io import SequenceInfo, read_mot_table, write_seqinfo, write_seqmap

FIXTURES = REPO / "tests" / "fixtures" / "mot"


def _det_text_rows(path: Path) -> np.ndarray:
    return np.array([[float(x) for x in line.split(",")] for line in path.read_text().split()])


def _make_sequence(
    path: Path, frames: int = 3, size: tuple[int, int] = (24, 32), seqinfo: bool = True, gt: bool = True
) -> Path:
    """A tiny sequence: PNG frames (frame k is filled with red = k), one detection and one gt box per frame."""
    (path / "img1").mkdir(parents=True)
    (path / "det").mkdir()
    for frame in range(1, frames + 1):
        image = np.zeros((*size, 3), np.uint8)
        image[..., 2] = frame  # BGR on disk: red channel
        cv2.imwrite(str(path / "img1" / f"{frame:06d}.png"), image)
    (path / "det" / "det.txt").write_text("".join(f"{f},-1,1,2,3,4,0.{f},-1,-1,-1\n" for f in range(1, frames + 1)))
    if gt:
        (path / "gt").mkdir()
        (path / "gt" / "gt.txt").write_text("".join(f"{f},1,1,2,3,4,1,1,1.0\n" for f in range(1, frames + 1)))
    if seqinfo:
        write_seqinfo(path / "seqinfo.ini", SequenceInfo(path.name, "img1", 25, frames, size[1], size[0], ".png"))
    return path


# ---- MotSequence on the real fixtures --------------------------------------------------------------------------
def test_tud_campus_sequence() -> None:
    sequence = MotSequence(FIXTURES / "MOT15" / "train" / "TUD-Campus")
    assert sequence.name == "TUD-Campus"
    assert sequence.num_frames == 71
    assert sequence.image_size == (480, 640)
    assert sequence.info.frame_rate == 25
    assert sequence.has_ground_truth and sequence.has_detections
    gt = sequence.ground_truth
    assert len(gt) == 359 and len(np.unique(gt.ids)) == 8
    assert sequence.ground_truth is gt  # cached
    assert sequence.image_path(7) == FIXTURES / "MOT15" / "train" / "TUD-Campus" / "img1" / "000007.jpg"

    rows = _det_text_rows(FIXTURES / "MOT15" / "train" / "TUD-Campus" / "det" / "det.txt")
    counts = [len(sequence.frame_detections(frame)) for frame in range(1, 72)]
    assert sum(counts) == len(rows) == 321
    assert counts == [int((rows[:, 0] == frame).sum()) for frame in range(1, 72)]
    first = rows[rows[:, 0] == 1]
    detections = sequence.frame_detections(1)
    np.testing.assert_allclose(detections.boxes[:, :2], first[:, 2:4])
    np.testing.assert_allclose(detections.boxes[:, 2:], first[:, 2:4] + first[:, 4:6])  # xyxy
    np.testing.assert_allclose(detections.scores, first[:, 6])
    assert detections.classes.tolist() == [1] * len(first)
    strong = sequence.frame_detections(1, min_score=0.95)
    assert len(strong) == int((first[:, 6] >= 0.95).sum()) < len(first)
    assert (strong.scores >= 0.95).all()
    with pytest.raises(IndexError, match="frame 72 is outside 1..71"):
        sequence.frame_detections(72)
    with pytest.raises(IndexError):
        sequence.frame_detections(0)


def test_sequence_without_seqinfo_falls_back_to_folder_and_files() -> None:
    path = FIXTURES / "MOT15" / "train" / "ETH-Bahnhof"
    sequence = MotSequence(path)
    rows = _det_text_rows(path / "det" / "det.txt")
    assert not sequence.has_seqinfo
    assert sequence.name == "ETH-Bahnhof"
    assert sequence.num_frames == int(rows[:, 0].max())
    assert sequence.image_size == (0, 0)  # no images
    assert sequence.info.frame_rate == DEFAULT_FRAME_RATE
    assert sequence.image_path(3).name == "000003.jpg"
    assert not sequence.has_ground_truth
    with pytest.raises(DatasetLayoutError, match=r"ETH-Bahnhof/gt/gt\.txt"):
        _ = sequence.ground_truth
    with pytest.raises(DatasetLayoutError, match=r"ETH-Bahnhof/img1/000003\.jpg"):
        sequence.read_image(3)


def test_mot17_sequence_from_its_folder() -> None:
    path = FIXTURES / "MOT17" / "train" / "MOT17-09-FRCNN"
    sequence = MotSequence(path)
    assert sequence.name == "MOT17-09-FRCNN"
    assert sequence.num_frames == 525
    assert sequence.image_size == (1080, 1920)
    gt = sequence.ground_truth
    assert {8, 12} <= set(gt.classes.tolist())  # distractors and reflections are kept for the evaluator
    assert gt.visibilities.min() < 1.0
    assert not sequence.has_detections
    with pytest.raises(DatasetLayoutError, match=r"MOT17-09-FRCNN/det/det\.txt"):
        sequence.frame_detections(1)


def test_fallback_reads_images_for_length_size_and_extension(tmp_path: Path) -> None:
    path = _make_sequence(tmp_path / "SEQ-1", frames=4, size=(24, 32), seqinfo=False, gt=False)
    (path / "det" / "det.txt").write_text("2,-1,1,2,3,4,0.9,-1,-1,-1\n")  # detections end before the images
    sequence = MotSequence(path)
    assert sequence.num_frames == 4
    assert sequence.image_size == (24, 32)
    assert sequence.info.im_ext == ".png"
    image = sequence.read_image(3)
    assert image.shape == (24, 32, 3) and image.dtype == np.uint8
    assert image[..., 0].max() == 3 and image[..., 2].max() == 0  # RGB order
    assert [len(sequence.frame_detections(f)) for f in range(1, 5)] == [0, 1, 0, 0]


def test_read_image_errors_name_the_path(tmp_path: Path) -> None:
    path = _make_sequence(tmp_path / "SEQ-1")
    sequence = MotSequence(path)
    (path / "img1" / "000002.png").unlink()
    with pytest.raises(DatasetLayoutError, match=r"SEQ-1/img1/000002\.png"):
        sequence.read_image(2)
    (path / "img1" / "000003.png").write_bytes(b"not an image")
    with pytest.raises(DatasetFormatError, match=r"cannot read image .*SEQ-1/img1/000003\.png"):
        sequence.read_image(3)


def test_missing_sequence_folder_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(DatasetLayoutError, match=r"(?s)nowhere/SEQ: .*img1/000001\.jpg"):
        MotSequence(tmp_path / "nowhere" / "SEQ")


def test_detections_beyond_the_sequence_length_name_file_and_line(tmp_path: Path) -> None:
    path = _make_sequence(tmp_path / "SEQ-1", frames=3)
    (path / "det" / "det.txt").write_text("1,-1,1,2,3,4,0.9,-1,-1,-1\n5,-1,1,2,3,4,0.9,-1,-1,-1\n")
    with pytest.raises(DatasetFormatError, match=r"det\.txt:2: frame 5 is beyond the sequence length 3"):
        MotSequence(path).frame_detections(1)


# ---- malformed MOT files: file and line ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "text", "line", "message"),
    [
        ("gt", "1,1,10,10,5,5,1,1,1.0\n1,2,10,10,5,5,1\n", 2, "7 columns"),
        ("det", "1,-1,10,10,5\n", 1, "5 columns"),
        ("gt", "1,1,10,10,5,5,1,1,1.0\n\n2,1,10,ten,5,5,1,1,1.0\n", 3, "non-numeric field 'ten'"),
        ("det", "1,-1,10,10,5,5,0.9,-1,-1,-1\n0,-1,10,10,5,5,0.9,-1,-1,-1\n", 2, "frame 0"),
        (
            "gt",
            "1,1,10,10,5,5,1,1,1.0\n1,2,10,10,5,5,1,1,1.0\n1,1,30,30,5,5,1,1,1.0\n",
            3,
            "id 1 appears more than once",
        ),
        ("result", "1,4,10,10,5,5,1,-1,-1,-1\n1,4,20,10,5,5,1,-1,-1,-1\n", 2, "id 4 appears more than once"),
        ("gt", "1,1,10,10,5,5,1,1,1.0\n2,1,10,10,5,5,1,-1,-1,-1\n", 2, "where the lines before have 9"),
        ("gt", "1.5,1,10,10,5,5,1,1,1.0\n", 1, "frame 1.5 is not an integer"),
        ("det", "1,-1,10,10,5,5,nan\n", 1, "non-finite"),
    ],
)
def test_malformed_mot_files_fail_with_file_and_line(
    tmp_path: Path, kind: str, text: str, line: int, message: str
) -> None:
    path = tmp_path / f"{kind}.txt"
    path.write_text(text)
    with pytest.raises(DatasetFormatError) as error:
        read_mot_table(path, kind)
    assert f"{path}:{line}:" in str(error.value)
    assert message in str(error.value)


def test_malformed_ground_truth_through_the_sequence(tmp_path: Path) -> None:
    path = _make_sequence(tmp_path / "SEQ-1")
    (path / "gt" / "gt.txt").write_text("1,1,1,2,3,4,1,1,1.0\n2,x,1,2,3,4,1,1,1.0\n")
    with pytest.raises(DatasetFormatError, match=r"gt/gt\.txt:2: non-numeric field 'x'"):
        _ = MotSequence(path).ground_truth


# ---- MotBenchmark ----------------------------------------------------------------------------------------------
def _make_mot17(parent: Path) -> Path:
    """A tiny released MOT17 folder under ``parent``; returns it (the benchmark's root)."""
    for video in ("MOT17-02", "MOT17-04", "MOT17-05"):
        for detector in ("DPM", "FRCNN", "SDP"):
            _make_sequence(parent / "MOT17" / "train" / f"{video}-{detector}", frames=2)
    return parent / "MOT17"


def test_benchmark_lists_every_folder_and_filters_by_detector(tmp_path: Path) -> None:
    root = _make_mot17(tmp_path)
    benchmark = MotBenchmark(root, "MOT17", "train")
    assert len(benchmark) == 9
    assert [s.name for s in benchmark][:3] == ["MOT17-02-DPM", "MOT17-02-FRCNN", "MOT17-02-SDP"]
    assert benchmark.benchmark == "MOT17"
    frcnn = MotBenchmark(root, "MOT17", "train", detector="FRCNN")
    assert [s.name for s in frcnn] == ["MOT17-02-FRCNN", "MOT17-04-FRCNN", "MOT17-05-FRCNN"]
    assert frcnn["MOT17-04-FRCNN"].num_frames == 2
    with pytest.raises(KeyError):
        frcnn["MOT17-04-DPM"]
    with pytest.raises(DatasetLayoutError, match="no sequences with detector 'YOLO'"):
        _ = MotBenchmark(root, "MOT17", "train", detector="YOLO").sequences


def test_benchmark_follows_seqmaps_and_explicit_lists(tmp_path: Path) -> None:
    root = _make_mot17(tmp_path)
    (root / "seqmaps").mkdir()
    write_seqmap(root / "seqmaps" / "MOT17-train.txt", ["MOT17-05-SDP", "MOT17-02-SDP", "MOT17-02-DPM"])
    assert [s.name for s in MotBenchmark(root, "MOT17", "train")] == ["MOT17-05-SDP", "MOT17-02-SDP", "MOT17-02-DPM"]
    assert [s.name for s in MotBenchmark(root, "MOT17", "train", detector="SDP")] == ["MOT17-05-SDP", "MOT17-02-SDP"]
    explicit = MotBenchmark(root, "MOT17", "train", sequences=["MOT17-04-DPM"])
    assert [s.name for s in explicit] == ["MOT17-04-DPM"]
    other = write_seqmap(tmp_path / "mine.txt", ["MOT17-04-FRCNN"])
    assert [s.name for s in MotBenchmark(root, "MOT17", "train", seqmap=other)] == ["MOT17-04-FRCNN"]
    write_seqmap(root / "seqmaps" / "MOT17-train.txt", ["MOT17-02-SDP", "MOT17-13-SDP"])
    with pytest.raises(DatasetLayoutError, match=r"MOT17/train/MOT17-13-SDP: sequence folder not found"):
        _ = MotBenchmark(root, "MOT17", "train").sequences


def test_benchmark_reads_trackeval_flat_layout(tmp_path: Path) -> None:
    _make_sequence(tmp_path / "MOT20-train" / "MOT20-01")
    benchmark = MotBenchmark(tmp_path, "MOT20", "train")
    assert [s.name for s in benchmark] == ["MOT20-01"]
    assert benchmark.split_dir == tmp_path / "MOT20-train"


def test_benchmark_layout_errors_show_the_expected_tree(tmp_path: Path) -> None:
    benchmark = MotBenchmark(tmp_path / "missing", "MOT16", "train")  # nothing is read at construction
    with pytest.raises(DatasetLayoutError) as error:
        _ = benchmark.sequences
    message = str(error.value)
    assert message.startswith(f"MOT16 root {tmp_path / 'missing'} does not exist; expected the released")
    assert "<root>/train/<sequence>/det/det.txt" in message and "<root>/seqmaps/MOT16-train.txt" in message
    assert "set data.root=/path/to/MOT16" in message and "$VISIONBENCH_DATA" in message
    assert message.count("expected the released MOTChallenge layout") == 1
    assert error.value.__cause__ is None and error.value.__context__ is None  # one traceback, not two
    with pytest.raises(DatasetLayoutError, match=r"MOT16 split folder .*/train does not exist; expected"):
        _ = MotBenchmark(tmp_path, "MOT16", "train").sequences
    with pytest.raises(ValueError, match="unknown MOTChallenge rules"):
        MotBenchmark(tmp_path, "KITTI", "train")
    assert MotBenchmark(tmp_path, "MyData", "train", rules="MOT15").benchmark == "MOT15"


def test_root_holding_the_benchmark_folder_gets_the_right_root(tmp_path: Path) -> None:
    parent = _make_mot17(tmp_path).parent  # the old meaning of data.root: the folder holding MOT17/
    with pytest.raises(DatasetLayoutError, match=rf"holds MOT17/: set data.root={tmp_path / 'MOT17'}\)"):
        _ = MotBenchmark(parent, "MOT17", "train").sequences


def test_benchmark_on_the_fixtures() -> None:
    mot15 = MotBenchmark(FIXTURES / "MOT15", "MOT15", "train")
    assert len(mot15) == 10 and mot15.benchmark == "MOT15"
    assert [s.name for s in mot15 if s.has_ground_truth] == ["TUD-Campus"]
    mot17 = MotBenchmark(FIXTURES / "MOT17", "MOT17", "train", detector="FRCNN")
    assert [s.name for s in mot17] == ["MOT17-09-FRCNN"]


# ---- Hydra configs ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("option", "expected"), [("mot15", 10), ("mot17", 1)])
def test_configs_build_the_benchmark(option: str, expected: int, tmp_path: Path) -> None:
    cfg = compose_config("train", [f"data=tracking/{option}", f"data.root={FIXTURES / option.upper()}"], tmp_path)
    benchmark = instantiate(cfg.data)
    assert isinstance(benchmark, MotBenchmark)
    assert benchmark.benchmark == option.upper()
    assert len(benchmark) == expected


@pytest.mark.parametrize("option", ["mot15", "mot16", "mot17", "mot20"])
def test_configs_build_without_the_data(option: str, tmp_path: Path) -> None:
    cfg = compose_config("train", [f"data=tracking/{option}", f"data.root={tmp_path / 'none'}"], tmp_path)
    benchmark = instantiate(cfg.data)
    assert benchmark.split == "train" and benchmark.detector is None
    with pytest.raises(DatasetLayoutError):
        _ = benchmark.sequences
