"""The one RGB image reader: colour order, grey/alpha/palette, 16-bit, EXIF orientation and the errors it names."""

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from tests.helpers import FIXTURES
from visionbench.data.errors import DatasetFormatError, DatasetLayoutError
from visionbench.data.image import read_rgb_image

KITTI_FLOW = FIXTURES / "kitti/KITTI2015/training/flow_occ/000000_10.png"


@pytest.mark.parametrize(
    "path",
    [
        FIXTURES / "flyingchairs/FlyingChairs_release/data/00001_img1.ppm",
        FIXTURES / "middlebury/other-data/RubberWhale/frame10.png",
        FIXTURES / "ade20k/ADEChallengeData2016/images/validation/ADE_val_00000001.jpg",
    ],
    ids=["ppm", "png", "jpg"],
)
def test_rgb_channel_order_equals_opencv_reversed(path: Path) -> None:
    image = read_rgb_image(path)
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    np.testing.assert_array_equal(image, cv2.imread(str(path))[..., ::-1])


def test_grey_is_repeated_alpha_dropped_palette_expanded(tmp_path: Path) -> None:
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    cv2.imwrite(str(tmp_path / "g.png"), grey)
    image = read_rgb_image(tmp_path / "g.png")
    assert image.shape == (3, 4, 3) and (image == grey[..., None]).all()
    bgra = np.zeros((2, 2, 4), np.uint8)
    bgra[..., 2] = 200  # red
    cv2.imwrite(str(tmp_path / "a.png"), bgra)
    assert (read_rgb_image(tmp_path / "a.png")[..., 0] == 200).all()
    palette = Image.fromarray(np.array([[0, 1]], np.uint8), mode="P")
    palette.putpalette([10, 20, 30, 40, 50, 60] + [0] * 762)
    palette.save(tmp_path / "p.png")
    np.testing.assert_array_equal(read_rgb_image(tmp_path / "p.png")[0], [[10, 20, 30], [40, 50, 60]])


def test_16bit_images_keep_the_high_byte_or_are_refused(tmp_path: Path) -> None:
    deep = np.array([[0, 255, 256, 65535]], np.uint16)
    cv2.imwrite(str(tmp_path / "deep.png"), deep)
    np.testing.assert_array_equal(read_rgb_image(tmp_path / "deep.png")[0, :, 0], [0, 0, 1, 255])
    with pytest.raises(DatasetFormatError, match="uint16.*flow or depth"):
        read_rgb_image(KITTI_FLOW, allow_16bit=False)


def test_exif_orientation_is_ignored_unless_asked(tmp_path: Path) -> None:
    pixels = np.zeros((2, 4, 3), np.uint8)
    pixels[:, :2] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.fromarray(pixels).save(tmp_path / "rotated.jpg", exif=exif, quality=100)
    assert read_rgb_image(tmp_path / "rotated.jpg").shape == (2, 4, 3)
    upright = read_rgb_image(tmp_path / "rotated.jpg", apply_exif_orientation=True)
    assert upright.shape == (4, 2, 3) and upright[0].mean() > 200 and upright[-1].mean() < 50


def test_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetLayoutError, match="missing.png does not exist; expected layout X"):
        read_rgb_image(tmp_path / "missing.png", missing_hint="expected layout X")
    (tmp_path / "bad.ppm").write_bytes(b"P6\n512 384\n255\n" + bytes(10))
    with pytest.raises(DatasetFormatError, match="cannot read image .*bad.ppm"):
        read_rgb_image(tmp_path / "bad.ppm")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(DatasetFormatError, match="cannot read image .*empty.png"):
        read_rgb_image(tmp_path / "empty.png")
