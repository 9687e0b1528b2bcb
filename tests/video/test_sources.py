"""Frame sources: exact frame count, order, rate and timestamps of a video; images in natural order; one-line errors
naming the file (and the frame) for truncated videos, empty or unreadable folders, unmatched globs, odd-sized
images."""

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.video.clips import decoded, shape_frames, write_clip
from visionbench.data.errors import DatasetFormatError, DatasetLayoutError
from visionbench.video.sources import VideoSource, natural_key, open_source


def _write_pngs(folder: Path, names: list[str], size: tuple[int, int] = (16, 24)) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for value, name in enumerate(names):
        cv2.imwrite(str(folder / name), np.full((*size, 3), value * 10, np.uint8))


@pytest.mark.parametrize("ending", [".mp4", ".mkv", ".avi"])
def test_video_frames_in_order_with_rate_and_timestamps(tmp_path: Path, ending: str) -> None:
    frames = shape_frames(8, 32)
    path = write_clip(tmp_path / f"clip{ending}", frames, Fraction(30000, 1001))
    source = open_source(path)
    assert isinstance(source, VideoSource)
    assert (source.num_frames, source.frame_rate, source.frame_size) == (8, Fraction(30000, 1001), (32, 32))
    read = list(source.frames())
    assert [frame.index for frame in read] == list(range(8))
    assert [frame.name for frame in read] == [f"frame_{i:06d}" for i in range(8)]
    assert [float(frame.pts * frame.time_base) for frame in read] == pytest.approx(decoded(path)[2])
    # lossy H.264, but each decoded frame is the frame written there (not a neighbour)
    errors = [[np.abs(f.image.astype(int) - g.astype(int)).mean() for g in frames] for f in read]
    assert [int(np.argmin(row)) for row in errors] == list(range(8))


@pytest.mark.parametrize(("ending", "kept"), [(".mkv", 0.5), (".avi", 0.5), (".mp4", 0.8)])
def test_truncated_video_names_file_and_frame(tmp_path: Path, ending: str, kept: float) -> None:
    path = write_clip(tmp_path / f"clip{ending}", shape_frames(8, 32))
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * kept)])
    with pytest.raises(DatasetFormatError, match=rf"video {path}.*frame \d+"):
        source = open_source(path)
        list(source.frames())


def test_not_a_video(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_bytes(b"not a video at all" * 10)
    with pytest.raises(DatasetFormatError, match=f"cannot open video {path}"):
        open_source(path)


def test_folder_natural_order(tmp_path: Path) -> None:
    _write_pngs(tmp_path / "seq", ["img10.png", "img2.png", "img1.png"])
    (tmp_path / "seq" / "notes.txt").write_text("not an image")
    source = open_source(tmp_path / "seq")
    assert [frame.name for frame in source.frames()] == ["img1", "img2", "img10"]
    assert (source.num_frames, source.frame_size, source.is_video) == (3, (16, 24), False)
    assert sorted(["a10", "a9", "b1"], key=lambda name: natural_key(Path(name))) == ["a9", "a10", "b1"]


def test_glob_natural_order_and_no_match(tmp_path: Path) -> None:
    _write_pngs(tmp_path, ["f_3.png", "f_20.png", "g_1.png"])
    source = open_source(str(tmp_path / "f_*.png"))
    assert [frame.name for frame in source.frames()] == ["f_3", "f_20"]
    with pytest.raises(DatasetLayoutError, match=r"no images matched by the pattern .*x_\*\.png"):
        open_source(str(tmp_path / "x_*.png"))


def test_empty_missing_and_unreadable_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetLayoutError, match=f"the folder {tmp_path / 'empty'} holds no images"):
        open_source(tmp_path / "empty")
    with pytest.raises(DatasetLayoutError, match=f"input {tmp_path / 'nowhere'} does not exist"):
        open_source(tmp_path / "nowhere")

    def refuse(self: Path) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "iterdir", refuse)
    with pytest.raises(DatasetLayoutError, match=f"cannot read the folder {tmp_path / 'empty'}: Permission denied"):
        open_source(tmp_path / "empty")


def test_image_of_another_size_names_it(tmp_path: Path) -> None:
    _write_pngs(tmp_path, ["a1.png", "a2.png"])
    _write_pngs(tmp_path, ["a3.png"], size=(20, 24))
    with pytest.raises(DatasetFormatError, match=rf"image {tmp_path / 'a3.png'} \(frame 3 .*24x20.*resize="):
        list(open_source(tmp_path).frames())
    assert len(list(open_source(tmp_path, same_size=False).frames())) == 3


def test_images_sharing_a_name_are_refused(tmp_path: Path) -> None:
    _write_pngs(tmp_path / "a", ["x1.png"])
    _write_pngs(tmp_path / "b", ["x1.png"])
    with pytest.raises(DatasetLayoutError, match="share the name 'x1'"):
        open_source(str(tmp_path / "*" / "x1.png"))
