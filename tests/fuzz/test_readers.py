"""Property-based tests of every on-disk reader: random bytes, truncations and single-byte corruptions of the real
fixtures, and bogus headers, each either read or refused with the project's own exception naming the file; never a
crash, a hang, a foreign exception or an allocation sized by a corrupt header."""

import io
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import FIXTURES
from visionbench.data.errors import DatasetFormatError, DatasetLayoutError
from visionbench.data.flow.io import read_binary_mask_png, read_flo, read_kitti_flow
from visionbench.data.image import MAX_IMAGE_PIXELS, read_rgb_image
from visionbench.data.segmentation.ade20k import read_ade20k_raw_mask
from visionbench.data.segmentation.folder import MaskReader, read_class_names
from visionbench.data.tracking.mot_io import read_mot_table, read_seqinfo
from visionbench.utils.checkpoints import CheckpointError, read_checkpoint

FUZZ = settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
OWN_ERRORS = (DatasetFormatError, DatasetLayoutError, CheckpointError)
ADE_MASK = FIXTURES / "ade20k/ADEChallengeData2016/annotations/validation/ADE_val_00000001.png"
MOT17 = FIXTURES / "mot/MOT17/train/MOT17-09-FRCNN"
MOT15 = FIXTURES / "mot/MOT15/train/TUD-Campus"


def _checkpoint_bytes() -> bytes:
    buffer = io.BytesIO()
    torch.save({"state_dict": {"conv.weight": torch.arange(48.0).reshape(4, 3, 2, 2)}, "epoch": 2}, buffer)
    return buffer.getvalue()


# name: (reader, file name it is given, the valid file whose mutations it reads)
READERS: dict[str, tuple[Callable[[Path], object], str, Callable[[], bytes]]] = {
    "flo": (read_flo, "frame.flo", (FIXTURES / "sintel/MPI-Sintel/training/flow/alley_1/frame_0002.flo").read_bytes),
    "kitti_flow_png": (
        read_kitti_flow,
        "000000_10.png",
        (FIXTURES / "kitti/KITTI2015/training/flow_occ/000000_10.png").read_bytes,
    ),
    "sintel_mask": (
        read_binary_mask_png,
        "frame.png",
        (FIXTURES / "sintel/MPI-Sintel/training/invalid/alley_1/frame_0002.png").read_bytes,
    ),
    "mot17_gt": (lambda path: read_mot_table(path, "gt"), "gt.txt", (MOT17 / "gt/gt.txt").read_bytes),
    "mot15_gt": (lambda path: read_mot_table(path, "gt"), "gt.txt", (MOT15 / "gt/gt.txt").read_bytes),
    "mot_det": (lambda path: read_mot_table(path, "det"), "det.txt", (MOT15 / "det/det.txt").read_bytes),
    "mot_results": (
        lambda path: read_mot_table(path, "result"),
        "TUD-Campus.txt",
        (FIXTURES / "mot/results/CEM/TUD-Campus.txt").read_bytes,
    ),
    "seqinfo": (read_seqinfo, "seqinfo.ini", (MOT17 / "seqinfo.ini").read_bytes),
    "ade20k_mask": (read_ade20k_raw_mask, "ADE_val_00000001.png", ADE_MASK.read_bytes),
    "folder_index_mask": (MaskReader(), "mask.png", ADE_MASK.read_bytes),
    "folder_colour_mask": (MaskReader(palette=[[0, 0, 0], [1, 1, 1]]), "mask.png", ADE_MASK.read_bytes),
    "folder_class_names": (read_class_names, "classes.txt", lambda: b"background\nperson\ncar\n"),
    "image": (read_rgb_image, "frame.png", (FIXTURES / "kitti/KITTI2015/training/image_2/000000_10.png").read_bytes),
    "checkpoint": (read_checkpoint, "last.ckpt", _checkpoint_bytes),
}


def _mutations(valid: bytes) -> st.SearchStrategy[bytes]:
    """Random bytes, truncations of ``valid``, and single-byte changes anywhere in it or within its header."""
    last = max(len(valid) - 1, 0)

    def replaced(position_value: tuple[int, int]) -> bytes:
        position, value = position_value
        return valid[:position] + bytes([value]) + valid[position + 1 :]

    return st.one_of(
        st.binary(max_size=1024),
        st.integers(0, len(valid)).map(lambda end: valid[:end]),
        st.tuples(st.integers(0, last), st.integers(0, 255)).map(replaced),
        st.tuples(st.integers(0, min(last, 64)), st.integers(0, 255)).map(replaced),
    )


def _read_or_refuse(read: Callable[[Path], object], path: Path) -> None:
    try:
        read(path)
    except OWN_ERRORS as error:
        assert str(path) in str(error), f"{type(error).__name__} does not name the file: {error}"


@pytest.mark.parametrize("name", sorted(READERS))
def test_malformed_files_are_read_or_refused_by_the_projects_own_errors(name: str, tmp_path: Path) -> None:
    read, file_name, valid = READERS[name]
    path = tmp_path / file_name

    @FUZZ
    @given(data=_mutations(valid()))
    def check(data: bytes) -> None:
        path.write_bytes(data)
        _read_or_refuse(read, path)

    check()


def _png(width: int, height: int, bit_depth: int, colour_type: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(64))) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("name", ["kitti_flow_png", "sintel_mask", "ade20k_mask", "folder_index_mask", "image"])
def test_a_png_header_declaring_a_huge_image_is_refused_before_decoding(name: str, tmp_path: Path) -> None:
    read, file_name, _ = READERS[name]
    path = tmp_path / file_name

    @FUZZ
    @given(
        width=st.integers(1, 2**31 - 1),
        height=st.integers(1, 2**31 - 1),
        kind=st.sampled_from([(8, 0), (16, 0), (8, 2), (16, 2), (8, 6)]),
    )
    def check(width: int, height: int, kind: tuple[int, int]) -> None:
        if width * height <= MAX_IMAGE_PIXELS:
            width = MAX_IMAGE_PIXELS // height + 1
        path.write_bytes(_png(width, height, *kind))
        with pytest.raises(DatasetFormatError, match=f"PNG {path} declares {width}x{height} pixels"):
            read(path)

    check()


def test_a_flo_header_with_billions_of_pixels_is_refused_before_allocating(tmp_path: Path) -> None:
    path = tmp_path / "frame.flo"

    @FUZZ
    @given(width=st.integers(-(2**31), 2**31 - 1), height=st.integers(-(2**31), 2**31 - 1), body=st.binary(max_size=64))
    def check(width: int, height: int, body: bytes) -> None:
        path.write_bytes(struct.pack("<fii", 202021.25, width, height) + body)
        if width * height * 8 == len(body) and width > 0 and height > 0:
            read_flo(path)
            return
        with pytest.raises(DatasetFormatError, match=f".flo file {path}"):
            read_flo(path)

    check()


def test_seqinfo_values_out_of_range_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "seqinfo.ini"
    template = "[Sequence]\nname=s\nimDir=img1\nframeRate={rate}\nseqLength={length}\nimWidth={width}\nimHeight=1\n"

    @FUZZ
    @given(
        rate=st.sampled_from(["30", "0", "-1", "nan", "inf"]),
        length=st.integers(-(10**12), 10**12),
        width=st.integers(-(10**9), 10**9),
    )
    def check(rate: str, length: int, width: int) -> None:
        path.write_text(template.format(rate=rate, length=length, width=width) + "imExt=.jpg\n")
        if rate == "30" and 0 < length <= 1_000_000 and 0 < width <= 100_000:
            assert read_seqinfo(path).seq_length == length
            return
        with pytest.raises(DatasetFormatError, match=f"{path}: (frameRate|seqLength|imWidth)="):
            read_seqinfo(path)

    check()


@pytest.mark.parametrize("name", ["mot17_gt", "mot_det", "mot_results", "seqinfo"])
def test_text_files_that_are_not_utf8_or_hold_percent_signs_are_handled(name: str, tmp_path: Path) -> None:
    read, file_name, valid = READERS[name]
    path = tmp_path / file_name
    path.write_bytes(valid().replace(b"1", b"\xff", 1))
    with pytest.raises(DatasetFormatError, match=rf"^{path}: not a UTF-8 text .*\(byte 0xff at offset \d+\)$"):
        read(path)
    if name == "seqinfo":  # values are literal: a '%' is not ConfigParser interpolation
        path.write_bytes(valid().replace(b"imDir=img1", b"imDir=img%1"))
        assert read_seqinfo(path).im_dir == "img%1"
