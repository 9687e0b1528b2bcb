"""The four real flow samples (tests/fixtures, else ../shared/fixtures) with their zero-flow reference values, and
readers that turn them into batches."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from tests.helpers import REPO
from visionbench.data.flow.io import read_flo, read_kitti_flow
from visionbench.data.image import read_rgb_image

FIXTURE_ROOTS = (REPO / "tests" / "fixtures", REPO.parent / "shared" / "fixtures")

# sample -> (frame 1, frame 2, ground truth, H, W), paths relative to a fixture root, as each dataset ships
SAMPLES = {
    "middlebury": (
        "middlebury/other-data/RubberWhale/frame10.png",
        "middlebury/other-data/RubberWhale/frame11.png",
        "middlebury/other-gt-flow/RubberWhale/flow10.flo",
        388, 584,
    ),
    "sintel": (
        "sintel/MPI-Sintel/training/clean/alley_1/frame_0002.png",
        "sintel/MPI-Sintel/training/clean/alley_1/frame_0003.png",
        "sintel/MPI-Sintel/training/flow/alley_1/frame_0002.flo",
        436, 1024,
    ),
    "kitti": (
        "kitti/KITTI2015/training/image_2/000000_10.png",
        "kitti/KITTI2015/training/image_2/000000_11.png",
        "kitti/KITTI2015/training/flow_occ/000000_10.png",
        375, 1242,
    ),
    "flyingchairs": (
        "flyingchairs/FlyingChairs_release/data/00001_img1.ppm",
        "flyingchairs/FlyingChairs_release/data/00001_img2.ppm",
        "flyingchairs/FlyingChairs_release/data/00001_flow.flo",
        384, 512,
    ),
}  # fmt: skip
SINTEL_OCCLUSION = "sintel/MPI-Sintel/training/occlusions/alley_1/frame_0002.png"

# ../shared/fixtures/README.md, zero-flow columns: EPE, px1, px3, px5 (fractions with EPE < k px), Fl (%)
ZERO_FLOW = {
    "middlebury": (1.2560, 0.2563, 0.9834, 1.0000, 1.661),
    "sintel": (2.9831, 0.0012, 0.7033, 0.7629, 29.667),
    "kitti": (51.0097, 0.0021, 0.0350, 0.0817, 96.502),
    "flyingchairs": (6.0530, 0.0005, 0.7481, 0.7814, 25.194),
}


def fixture_path(relative: str, shape: tuple[int, int] | None = None) -> Path:
    """The fixture file under tests/fixtures, else under ../shared/fixtures; skips the test if neither has it.

    With ``shape``, a copy of another size (a cropped copy) is passed over: the reference values hold for
    the full-size samples only.
    """
    for root in FIXTURE_ROOTS:
        path = root / relative
        if path.is_file() and (shape is None or _image_shape(path) == shape):
            return path
    pytest.skip(f"fixture {relative} (full size {shape}) not found under {', '.join(map(str, FIXTURE_ROOTS))}")


def _image_shape(path: Path) -> tuple[int, int]:
    if path.suffix == ".flo":
        return cv2.readOpticalFlow(str(path)).shape[:2]
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED).shape[:2]


def read_flow(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(``H,W,2`` float32 flow, ``H,W`` bool valid) from a Middlebury ``.flo`` or a KITTI 16-bit PNG."""
    return read_flo(path) if path.suffix == ".flo" else read_kitti_flow(path)


def read_image(path: Path) -> np.ndarray:
    """``H,W,3`` float32 RGB in [0, 1]."""
    return read_rgb_image(path).astype(np.float32) / 255.0


def read_sample(name: str) -> dict[str, torch.Tensor]:
    """One fixture pair as batch-of-one tensors: image1/image2 ``1,3,H,W``, flow ``1,2,H,W``, valid ``1,H,W``."""
    first, second, gt, height, width = SAMPLES[name]
    flow, valid = read_flow(fixture_path(gt, (height, width)))
    sample = {"flow": torch.from_numpy(flow).permute(2, 0, 1)[None], "valid": torch.from_numpy(valid)[None]}
    for key, relative in (("image1", first), ("image2", second)):
        image = read_image(fixture_path(relative, (height, width)))
        sample[key] = torch.from_numpy(image).permute(2, 0, 1)[None].contiguous()
    return sample
