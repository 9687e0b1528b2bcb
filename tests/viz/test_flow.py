"""Flow visualisation: the Middlebury colour wheel and its directions, error maps, arrows, panels."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from tests.helpers.flow_fixtures import fixture_path, read_flow, read_image
from visionbench.viz.flow import (
    KITTI_ERROR_COLOURS,
    colour_wheel,
    epe_map,
    flow_arrows,
    flow_panel,
    flow_panels,
    flow_scale_key,
    flow_to_colour,
    kitti_error_map,
    save_png,
    wheel_key,
)
from visionbench.viz.text import TextStyle


def constant_flow(u: float, v: float, height: int = 3, width: int = 4) -> np.ndarray:
    return np.broadcast_to(np.array([u, v], dtype=np.float32), (height, width, 2)).copy()


def test_colour_wheel_has_the_middlebury_layout() -> None:
    wheel = colour_wheel()
    assert wheel.shape == (55, 3)
    # the six primaries/secondaries start the segments RY 15, YG 6, GC 4, CB 11, BM 13, MR 6
    starts = {0: (255, 0, 0), 15: (255, 255, 0), 21: (0, 255, 0), 25: (0, 255, 255), 36: (0, 0, 255), 49: (255, 0, 255)}
    for index, colour in starts.items():
        assert tuple(wheel[index]) == colour, index
    assert tuple(wheel[1]) == (255, 17, 0)  # floor(255 / 15)
    assert tuple(wheel[27]) == (0, 209, 255)  # cyan -> blue, step 2 of 11: 255 - floor(510 / 11)
    assert tuple(wheel[54]) == (255, 0, 43)  # magenta -> red, last step: 255 - floor(255 * 5 / 6)


@pytest.mark.parametrize(
    ("u", "v", "expected"),
    [
        (1.0, 0.0, (255, 0, 0)),  # right: red (wheel colour 0)
        (1.0, -0.0, (255, 0, 0)),  # the seam does not depend on the sign of a zero
        (-1.0, 0.0, (0, 209, 255)),  # left: wheel colour 27, cyan-blue
        (0.0, 1.0, (255, 229, 0)),  # down (+v): halfway between colours 13 and 14, orange-yellow
        (0.0, -1.0, (88, 0, 255)),  # up: halfway between colours 40 and 41, blue-violet
    ],
)
def test_directions_at_full_saturation(u: float, v: float, expected: tuple[int, int, int]) -> None:
    colour = flow_to_colour(constant_flow(u, v), max_flow=1.0)
    assert colour.dtype == np.uint8 and colour.shape == (3, 4, 3)
    assert tuple(colour[0, 0]) == expected


def test_magnitude_desaturates_towards_white_and_darkens_beyond_the_maximum() -> None:
    assert tuple(flow_to_colour(constant_flow(0, 0), max_flow=1.0)[0, 0]) == (255, 255, 255)
    assert tuple(flow_to_colour(constant_flow(1, 0), max_flow=2.0)[0, 0]) == (255, 127, 127)
    assert tuple(flow_to_colour(constant_flow(2, 0), max_flow=1.0)[0, 0]) == (191, 0, 0)  # 75 % of red


def test_zero_flow_is_white_and_unknown_or_invalid_flow_is_black() -> None:
    flow = np.zeros((4, 5, 2), dtype=np.float32)
    flow[0, 0] = 1e10  # .flo's unknown marker
    flow[0, 1] = np.nan
    valid = np.ones((4, 5), dtype=bool)
    valid[3, 4] = False
    colour = flow_to_colour(flow, valid)
    assert (colour[0, 0] == 0).all() and (colour[0, 1] == 0).all() and (colour[3, 4] == 0).all()
    assert (colour[2, :4] == 255).all()


def test_normalises_by_the_largest_magnitude_by_default() -> None:
    flow = np.zeros((1, 2, 2), dtype=np.float32)
    flow[0, 0] = (4.0, 0.0)
    flow[0, 1] = (2.0, 0.0)
    colour = flow_to_colour(flow)
    assert tuple(colour[0, 0]) == (255, 0, 0) and tuple(colour[0, 1]) == (255, 127, 127)


def test_tensor_and_array_inputs_agree() -> None:
    flow = np.random.default_rng(0).normal(size=(6, 7, 2)).astype(np.float32)
    tensor = torch.from_numpy(flow).permute(2, 0, 1)
    np.testing.assert_array_equal(flow_to_colour(tensor), flow_to_colour(flow))
    with pytest.raises(ValueError, match="2,H,W"):
        flow_to_colour(torch.zeros(6, 7, 2))


def test_epe_map_and_kitti_error_map() -> None:
    target = constant_flow(10.0, 0.0, 4, 6)
    pred = target.copy()
    pred[0, 0] += (3.0, 4.0)  # EPE 5
    valid = np.ones((4, 6), dtype=bool)
    valid[3, 5] = False
    heat = epe_map(pred, target, valid)
    assert heat.shape == (4, 6, 3) and heat.dtype == np.uint8
    assert (heat[3, 5] == 0).all()
    inferno = cv2.cvtColor(cv2.applyColorMap(np.array([[0, 255]], np.uint8), cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)
    assert (heat[0, 0] == inferno[0, 1]).all() and (heat[1, 1] == inferno[0, 0]).all()

    kitti = kitti_error_map(pred, target, valid)
    assert kitti.shape == (4, 6, 3) and kitti.dtype == np.uint8
    assert (kitti[1, 1] == KITTI_ERROR_COLOURS[0]).all()  # exact: lowest bin, blue
    # EPE 5 on |gt| 10: min(5 / 3, 5 / 0.5) = 1.67 -> bin [1, 2), the first outlier colour
    assert (kitti[0, 0] == KITTI_ERROR_COLOURS[5]).all()
    assert (kitti[3, 5] == 0).all()


def test_arrows_are_drawn_on_a_copy() -> None:
    image = np.full((40, 50, 3), 30, dtype=np.uint8)
    drawn = flow_arrows(image, constant_flow(5.0, 0.0, 40, 50), step=10)
    assert drawn.shape == image.shape and drawn.dtype == np.uint8
    assert (image == 30).all() and (drawn != 30).any()
    assert (drawn[5, 5:10] != 30).any()  # the arrow from (5, 5) to (10, 5)
    still = flow_arrows(image, constant_flow(0.0, 0.0, 40, 50), step=10)
    assert (still == 30).all()  # no arrows for no motion


def test_panel_layout_and_batches() -> None:
    image = torch.rand(3, 20, 30)
    target = torch.randn(2, 20, 30)
    pred = target + 0.1
    valid = torch.ones(20, 30, dtype=torch.bool)
    panel = flow_panel(image, target, pred, valid, gap=2, min_size=1)  # tiles at their own size
    bar = TextStyle.for_image(20, 30).line_height  # the column titles
    key = flow_scale_key(20, panel_max(target), 0.1 * np.sqrt(2), TextStyle.for_image(20, 30))
    assert panel.shape == (bar + max(20, key.shape[0]), 4 * 30 + 4 * 2 + key.shape[1], 3) and panel.dtype == np.uint8
    expected_image = (image.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(panel[bar : bar + 20, :30], expected_image)
    np.testing.assert_array_equal(panel[bar : bar + 20, 32:62], flow_to_colour(target, valid, panel_max(target)))
    assert (panel[:bar, 32:62] < 128).any()  # "ground truth" written over its column

    batch = flow_panels(torch.stack([image, image]), torch.stack([target, target]), torch.stack([pred, pred]))
    tile = 20 * 10  # enlarged 10 times to reach 192 px
    bar = TextStyle.for_image(tile, 300).line_height
    key = flow_scale_key(tile, panel_max(target), 0.1 * np.sqrt(2), TextStyle.for_image(tile, 300))
    assert batch.shape == (bar + 2 * tile + 2, 4 * 300 + 4 * 2 + key.shape[1], 3)
    colours = flow_to_colour(target, valid, panel_max(target))
    np.testing.assert_array_equal(batch[bar : bar + tile, 302:602], colours.repeat(10, axis=0).repeat(10, axis=1))
    # the second row has the same size: no second title bar
    np.testing.assert_array_equal(batch[bar + tile + 2 :, 302:602], colours.repeat(10, axis=0).repeat(10, axis=1))
    scales = flow_panels(torch.stack([image, image]), torch.stack([target, 1000 * target]), torch.stack([pred, pred]))
    assert scales.shape == batch.shape  # other maxima in the key column: still one row of titles


def panel_max(flow: torch.Tensor) -> float:
    return float(flow.norm(dim=0).max())


def test_panel_key_shows_the_colour_wheel_and_the_error_scale() -> None:
    style = TextStyle(0.5)
    key = flow_scale_key(192, 5.0, 2.0, style)
    assert key.shape[0] == 192
    wheel, inside = wheel_key(64)
    disk = key[style.padding : style.padding + 64, style.padding : style.padding + 64]
    np.testing.assert_array_equal(disk[inside], wheel[inside])
    inferno = cv2.cvtColor(cv2.applyColorMap(np.array([[0, 255]], np.uint8), cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)
    assert (key == inferno[0, 1]).all(axis=2).any() and (key == inferno[0, 0]).all(axis=2).any()  # the error bar
    assert not np.array_equal(key, flow_scale_key(192, 5.0, 4.0, style))  # its labels follow the maximum


def test_rubberwhale_ground_truth_panel(tmp_path: Path) -> None:
    flow, valid = read_flow(fixture_path("middlebury/other-gt-flow/RubberWhale/flow10.flo"))
    image = (read_image(fixture_path("middlebury/other-data/RubberWhale/frame10.png")) * 255 + 0.5).astype(np.uint8)
    colour = flow_to_colour(flow)
    assert colour.shape == (*flow.shape[:2], 3)
    assert (colour[~valid] == 0).all() and (colour[valid].max(axis=1) > 0).all()
    panel = flow_panel(image, flow, np.zeros_like(flow), valid)
    height, width = flow.shape[:2]
    style = TextStyle.for_image(height, width)
    largest = float(np.linalg.norm(flow[valid], axis=1).max())  # the flow scale, and the largest error of a zero flow
    key = flow_scale_key(height, largest, largest, style)
    assert panel.shape == (style.line_height + height, 4 * width + 4 * 2 + key.shape[1], 3)  # real size: not enlarged
    np.testing.assert_array_equal(panel[style.line_height :, :width], image)
    path = save_png(panel, tmp_path / "rubberwhale.png")
    assert cv2.imread(str(path)).shape == panel.shape
