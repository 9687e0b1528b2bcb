"""Flow file formats: .flo and KITTI PNG round trips, malformed files, masks and frames."""

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.helpers import FIXTURES
from visionbench.data.errors import DatasetFormatError, DatasetLayoutError
from visionbench.data.flow.io import (
    read_binary_mask_png,
    read_flo,
    read_kitti_flow,
    write_flo,
    write_kitti_flow,
)

FLO_FILES = [
    FIXTURES / "sintel/MPI-Sintel/training/flow/alley_1/frame_0002.flo",
    FIXTURES / "middlebury/other-gt-flow/RubberWhale/flow10.flo",
    FIXTURES / "flyingchairs/FlyingChairs_release/data/00001_flow.flo",
]
KITTI_FLOW = FIXTURES / "kitti/KITTI2015/training/flow_occ/000000_10.png"


def _header(magic: float, width: int, height: int) -> bytes:
    return np.array([magic], "<f4").tobytes() + np.array([width, height], "<i4").tobytes()


# ---- .flo -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", FLO_FILES, ids=lambda p: p.parent.name)
def test_read_flo_equals_opencv(path: Path) -> None:
    flow, valid = read_flo(path)
    reference = cv2.readOpticalFlow(str(path))
    assert flow.dtype == np.float32 and flow.shape == reference.shape
    np.testing.assert_array_equal(flow, reference)
    assert valid.dtype == bool and valid.shape == flow.shape[:2]
    np.testing.assert_array_equal(valid, (np.abs(reference) < 1e9).all(-1))


def test_flo_round_trip_with_unknown_flow(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    flow = rng.normal(0, 20, (7, 11, 2)).astype(np.float32)
    valid = rng.random((7, 11)) > 0.2
    path = tmp_path / "x.flo"
    write_flo(path, flow, valid)
    assert path.stat().st_size == 12 + 7 * 11 * 8
    assert path.read_bytes()[:4] == b"PIEH"
    read, read_valid = read_flo(path)
    np.testing.assert_array_equal(read_valid, valid)
    np.testing.assert_array_equal(read[valid], flow[valid])
    assert (np.abs(read[~valid]) >= 1e9).all()
    # OpenCV reads what we write
    np.testing.assert_array_equal(cv2.readOpticalFlow(str(path))[valid], flow[valid])


def test_flo_unknown_threshold_per_component(tmp_path: Path) -> None:
    flow = np.zeros((2, 3, 2), np.float32)
    flow[0, 0, 0] = 1e9  # u unknown
    flow[0, 1, 1] = -1e9  # v unknown
    flow[0, 2, 0] = 9.9e8  # large but known
    flow[1, 0, 1] = np.nan
    path = tmp_path / "u.flo"
    write_flo(path, flow)
    _, valid = read_flo(path)
    np.testing.assert_array_equal(valid, [[False, False, True], [False, True, True]])


def test_flo_bad_magic(tmp_path: Path) -> None:
    path = tmp_path / "bad.flo"
    path.write_bytes(_header(123.0, 2, 2) + bytes(32))
    with pytest.raises(DatasetFormatError, match=r"bad\.flo.*tag 123\.0.*202021\.25"):
        read_flo(path)


def test_flo_big_endian_is_bad_magic(tmp_path: Path) -> None:
    path = tmp_path / "be.flo"
    path.write_bytes(np.array([202021.25], ">f4").tobytes() + np.array([2, 2], ">i4").tobytes() + bytes(32))
    with pytest.raises(DatasetFormatError, match="tag"):
        read_flo(path)


def test_flo_truncated(tmp_path: Path) -> None:
    path = tmp_path / "short.flo"
    path.write_bytes(_header(202021.25, 4, 3) + bytes(4 * 3 * 8 - 5))
    with pytest.raises(DatasetFormatError, match=r"short\.flo is truncated.*width 4, height 3.*108 bytes.*103"):
        read_flo(path)


def test_flo_trailing_data(tmp_path: Path) -> None:
    path = tmp_path / "long.flo"
    path.write_bytes(_header(202021.25, 4, 3) + bytes(4 * 3 * 8 + 8))
    with pytest.raises(DatasetFormatError, match="longer than its header says"):
        read_flo(path)


def test_flo_shorter_than_header(tmp_path: Path) -> None:
    path = tmp_path / "tiny.flo"
    path.write_bytes(b"PIEH\x01")
    with pytest.raises(DatasetFormatError, match="shorter than the 12-byte header"):
        read_flo(path)


@pytest.mark.parametrize(("width", "height"), [(0, 5), (5, -1), (-7, -7), (100_001, 2)])
def test_flo_non_positive_or_absurd_side(tmp_path: Path, width: int, height: int) -> None:
    path = tmp_path / "side.flo"
    path.write_bytes(_header(202021.25, width, height) + bytes(16))
    with pytest.raises(DatasetFormatError, match=f"width {width}, height {height}"):
        read_flo(path)


def test_flo_absurd_header_fails_fast_without_allocating(tmp_path: Path) -> None:
    """A header claiming 1e9 x 1e9 (8e18 bytes) must fail on the size check, not on a huge allocation."""
    path = tmp_path / "huge.flo"
    path.write_bytes(_header(202021.25, 1_000_000_000, 1_000_000_000) + bytes(64))
    start = time.perf_counter()
    with pytest.raises(DatasetFormatError, match="width 1000000000, height 1000000000"):
        read_flo(path)
    # Within the side limit, but the size does not match: also rejected before reading.
    path.write_bytes(_header(202021.25, 100_000, 100_000) + bytes(64))
    with pytest.raises(DatasetFormatError, match=r"truncated.*80000000012 bytes, the file has 76"):
        read_flo(path)
    assert time.perf_counter() - start < 0.5


def test_flo_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetLayoutError, match="nope.flo does not exist"):
        read_flo(tmp_path / "nope.flo")


# ---- KITTI PNG ------------------------------------------------------------------------------------
def test_kitti_fixture_channels() -> None:
    flow, valid = read_kitti_flow(KITTI_FLOW)
    raw = cv2.imread(str(KITTI_FLOW), cv2.IMREAD_UNCHANGED)  # B, G, R = valid, v, u
    assert flow.shape == (375, 1242, 2) and valid.shape == (375, 1242)
    np.testing.assert_array_equal(valid, raw[..., 0] > 0)
    assert 0.15 < valid.mean() < 0.17  # 16.2 % valid (fixtures README)
    np.testing.assert_allclose(flow[valid][:, 0], (raw[..., 2][valid].astype(np.float64) - 32768) / 64)
    np.testing.assert_allclose(flow[valid][:, 1], (raw[..., 1][valid].astype(np.float64) - 32768) / 64)
    assert (flow[~valid] == 0).all()


def test_kitti_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    flow = (np.rint(rng.uniform(-300, 300, (9, 13, 2)) * 64) / 64).astype(np.float32)  # on the 1/64 grid
    valid = rng.random((9, 13)) > 0.5
    path = tmp_path / "000000_10.png"
    write_kitti_flow(path, flow, valid)
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16 and raw.shape == (9, 13, 3)
    read, read_valid = read_kitti_flow(path)
    np.testing.assert_array_equal(read_valid, valid)
    np.testing.assert_array_equal(read[valid], flow[valid])
    # u is stored in the PNG's red channel (OpenCV index 2), as the KITTI devkit does
    u_pixel = tuple(np.argwhere(valid)[0])
    assert raw[u_pixel][2] == round(flow[u_pixel][0] * 64 + 32768)


def test_kitti_round_trip_quantises_to_one_64th(tmp_path: Path) -> None:
    flow = np.random.default_rng(2).uniform(-100, 100, (5, 6, 2)).astype(np.float32)
    path = tmp_path / "q.png"
    write_kitti_flow(path, flow)
    read, valid = read_kitti_flow(path)
    assert valid.all()
    assert np.abs(read - flow).max() <= 1 / 128 + 1e-6


@pytest.mark.parametrize(
    ("array", "what"),
    [(np.zeros((4, 4, 3), np.uint8), "uint8 with 3"), (np.zeros((4, 4), np.uint16), "uint16 with 1")],
    ids=["8-bit", "1-channel"],
)
def test_kitti_rejects_wrong_png(tmp_path: Path, array: np.ndarray, what: str) -> None:
    path = tmp_path / "wrong.png"
    cv2.imwrite(str(path), array)
    with pytest.raises(DatasetFormatError, match=f"wrong.png is {what} channel.*16-bit 3-channel"):
        read_kitti_flow(path)


def test_kitti_frame_is_not_a_flow() -> None:
    with pytest.raises(DatasetFormatError, match="16-bit 3-channel"):
        read_kitti_flow(FIXTURES / "kitti/KITTI2015/training/image_2/000000_10.png")


def test_kitti_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.png"
    path.write_bytes(b"\x89PNG not really")
    with pytest.raises(DatasetFormatError, match="cannot read KITTI flow PNG .*corrupt.png"):
        read_kitti_flow(path)


# ---- masks and frames -----------------------------------------------------------------------------
def test_sintel_masks() -> None:
    occ_path = FIXTURES / "sintel/MPI-Sintel/training/occlusions/alley_1/frame_0002.png"
    occ = read_binary_mask_png(occ_path)
    assert occ.dtype == bool and occ.shape == (436, 1024)
    assert occ.sum() == 9912  # the pixels at 255
    invalid = read_binary_mask_png(FIXTURES / "sintel/MPI-Sintel/training/invalid/alley_1/frame_0002.png")
    assert invalid.sum() == 80


def test_mask_rejects_colour_and_16_bit(tmp_path: Path) -> None:
    colour = np.zeros((4, 4, 3), np.uint8)
    colour[0, 0] = (255, 0, 0)
    cv2.imwrite(str(tmp_path / "c.png"), colour)
    with pytest.raises(DatasetFormatError, match="colour image"):
        read_binary_mask_png(tmp_path / "c.png")
    cv2.imwrite(str(tmp_path / "w.png"), np.zeros((4, 4), np.uint16))
    with pytest.raises(DatasetFormatError, match="uint16"):
        read_binary_mask_png(tmp_path / "w.png")
    grey_rgb = np.full((4, 4, 3), 255, np.uint8)
    cv2.imwrite(str(tmp_path / "g.png"), grey_rgb)
    assert read_binary_mask_png(tmp_path / "g.png").all()
