"""Frame annotations: sizes kept, overlays blended, legends, colour keys, boxes in stable id colours, text drawn."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from visionbench.viz.annotate import (
    TextStyle,
    colour_bar,
    flow_frame,
    font_scale,
    id_colours,
    legend,
    segmentation_overlay,
    text_block,
    titled,
    tracks_frame,
    wheel_key,
)
from visionbench.viz.flow import flow_to_colour

PALETTE = np.array([[0, 0, 0], [0, 0, 255], [255, 0, 0], [0, 255, 0]], dtype=np.uint8)


def grey_frame(height: int = 240, width: int = 320, level: int = 100) -> np.ndarray:
    return np.full((height, width, 3), level, dtype=np.uint8)


def test_font_scale_follows_the_image_size_within_readable_bounds() -> None:
    assert font_scale(48, 48) == 0.5  # never smaller than readable
    assert font_scale(540, 960) == pytest.approx(1.0)
    assert font_scale(2160, 3840) == 2.0
    assert TextStyle(2.0).line_height > TextStyle(0.5).line_height
    assert TextStyle(2.0).thickness > TextStyle(0.5).thickness


def test_titled_adds_a_bar_with_text_and_keeps_the_image() -> None:
    image = grey_frame(50, 200)
    out = titled(image, "prediction")
    bar = out.shape[0] - 50
    assert out.shape[1:] == (200, 3) and bar == TextStyle(0.5).line_height
    np.testing.assert_array_equal(out[bar:], image)
    assert (out[:bar] < 128).any() and (out[:bar] == 255).any()  # dark text on white
    columns = np.flatnonzero((out[:bar] < 128).any(axis=(0, 2)))
    assert abs((columns[0] + columns[-1]) / 2 - 100) <= 3  # centred


def test_a_long_title_shrinks_to_fit_a_narrow_image() -> None:
    assert TextStyle(0.5).size("ground truth")[0] > 80  # too wide at the smallest regular scale
    out = titled(grey_frame(40, 80), "ground truth")
    assert out.shape[1] == 80
    ink = np.flatnonzero((out[: out.shape[0] - 40] < 128).any(axis=(0, 2)))
    assert ink[0] > 0 and ink[-1] < 79  # smaller text, whole


def test_text_block_has_one_line_per_entry() -> None:
    style = TextStyle(0.5)
    block = text_block(["EPE", "0.25 px"], style)
    assert block.shape[0] == 2 * style.line_height
    for row in range(2):
        assert (block[row * style.line_height : (row + 1) * style.line_height] < 128).any()
    with pytest.raises(ValueError, match="at least one line"):
        text_block([], style)


def test_segmentation_overlay_blends_class_colours_and_keeps_ignored_pixels() -> None:
    frame = grey_frame()
    labels = np.full((240, 320), 1)
    labels[:, 160:] = 2
    labels[200:, :10] = 255
    out = segmentation_overlay(frame, labels, PALETTE, alpha=0.5)
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert tuple(out[100, 100]) == (50, 50, 178)  # (100 + 255) / 2 rounds to 178 (banker's rounding of 177.5)
    assert tuple(out[100, 300]) == (178, 50, 50)
    assert tuple(out[230, 5]) == (100, 100, 100)  # ignored: the frame as it is
    np.testing.assert_array_equal(segmentation_overlay(frame, labels, PALETTE, alpha=0.0), frame)
    with pytest.raises(ValueError, match="H,W"):
        segmentation_overlay(frame, labels[:10], PALETTE)


def test_segmentation_overlay_legend_lists_the_classes_present() -> None:
    frame = grey_frame()
    labels = np.full((240, 320), 3)
    labels[150:, :] = 1  # class 2 absent
    plain = segmentation_overlay(frame, labels, PALETTE)
    named = segmentation_overlay(frame, labels, PALETTE, class_names=["void", "sky", "car", "tree"])
    assert named.shape == frame.shape
    changed = np.argwhere((named != plain).any(axis=2))
    assert changed[:, 0].max() < 240 // 2 and changed[:, 1].max() < 320 // 2  # top-left corner only
    style = TextStyle.for_image(240, 320)
    corner = named[: 2 * style.line_height, :160]
    blended = lambda colour: (0.8 * np.array(colour) + 0.2 * plain[0, 0]).round()  # noqa: E731
    for colour in (PALETTE[3], PALETTE[1]):  # the swatches of the two classes present
        assert (np.abs(corner.astype(int) - blended(colour)).max(axis=2) <= 1).any()
    car = blended(PALETTE[2])
    assert not (np.abs(named.astype(int) - car).max(axis=2) <= 1).any()  # no swatch for the absent class
    # the most frequent class comes first: its swatch is on the first legend line
    first_line = named[: style.line_height, :160].astype(int)
    assert (np.abs(first_line - blended(PALETTE[3])).max(axis=2) <= 1).any()


def test_a_legend_longer_than_the_frame_says_how_many_classes_are_left_out() -> None:
    frame = grey_frame(60, 320)
    labels = np.repeat(np.arange(4), 80)[None, :].repeat(60, axis=0)
    style = TextStyle.for_image(60, 320)
    assert 60 // style.line_height < 4  # not every class fits
    named = segmentation_overlay(frame, labels, PALETTE, class_names=["void", "sky", "car", "tree"])
    plain = segmentation_overlay(frame, labels, PALETTE)
    assert named.shape == frame.shape and (named != plain).any()


def test_legend_layouts() -> None:
    style = TextStyle(0.5)
    colours = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255]], dtype=np.uint8)
    column = legend(["road", "car", "pedestrian"], colours, style)
    assert column.shape[0] == 3 * style.line_height
    for row, colour in enumerate(colours):
        line = column[row * style.line_height : (row + 1) * style.line_height]
        assert (line == colour).all(axis=2).sum() > 20  # its swatch
    strip = legend(["road", "car", "pedestrian"], colours, style, width=1000)
    assert strip.shape == (style.line_height, 1000, 3)  # all on one line
    narrow = legend(["road", "car", "pedestrian"], colours, style, width=100)
    assert narrow.shape[1] == 100 and narrow.shape[0] >= 2 * style.line_height
    with pytest.raises(ValueError, match="one colour per name"):
        legend(["a", "b"], colours, style)


def test_wheel_key_matches_the_flow_colour_coding() -> None:
    rgb, inside = wheel_key(33)
    assert rgb.shape == (33, 33, 3) and inside[16, 16] and not inside[0, 0]
    assert tuple(rgb[16, 16]) == (255, 255, 255)  # no motion at the centre
    assert tuple(rgb[16, 32]) == tuple(flow_to_colour(np.array([[[1.0, 0.0]]]), max_flow=1.0)[0, 0])  # red, right


def test_flow_frame_keeps_the_size_and_draws_a_key_in_the_corner() -> None:
    flow = np.zeros((240, 320, 2), dtype=np.float32)
    flow[:, :, 0] = 4.0
    bare = flow_frame(flow, key=False)
    np.testing.assert_array_equal(bare, flow_to_colour(flow, max_flow=4.0))
    keyed = flow_frame(flow)
    assert keyed.shape == (240, 320, 3)
    changed = np.argwhere((keyed != bare).any(axis=2))
    assert changed[:, 0].min() > 240 // 2 and changed[:, 1].min() > 320 // 2  # bottom-right corner only
    assert ((keyed < 60).all(axis=2)).any()  # the dark label behind the "max 4 px" text
    assert not (flow_frame(flow, max_flow=8.0) == keyed).all()  # another scale, other colours and label
    with pytest.raises(ValueError, match="H,W,2"):
        flow_frame(np.zeros((4, 4, 3)))


def test_flow_frame_too_small_for_a_key_is_only_coloured() -> None:
    flow = np.ones((12, 12, 2), dtype=np.float32)
    np.testing.assert_array_equal(flow_frame(flow), flow_frame(flow, key=False))


def test_id_colours_are_stable_and_distinct() -> None:
    ids = np.arange(1, 41)
    colours = id_colours(ids)
    assert colours.shape == (40, 3) and colours.dtype == np.uint8
    np.testing.assert_array_equal(id_colours(ids[::-1]), colours[::-1])  # a function of the id alone
    np.testing.assert_array_equal(id_colours(np.array([7])), colours[6:7])
    assert len({tuple(c) for c in colours}) == 40
    neighbours = np.abs(colours[1:].astype(int) - colours[:-1].astype(int)).sum(axis=1)
    assert neighbours.min() > 60  # consecutive ids are far apart


def test_tracks_frame_draws_each_box_in_its_id_colour_with_a_label() -> None:
    frame = grey_frame()
    boxes = np.array([[40.0, 60.0, 50.0, 100.0], [200.0, 2.0, 60.0, 80.0]])
    ids = np.array([3, 8])
    out = tracks_frame(frame, boxes, ids)
    assert out.shape == frame.shape and (frame == 100).all()  # drawn on a copy
    colours = id_colours(ids)
    assert (out[100, 40] == colours[0]).all() and (out[100, 90] == colours[0]).all()  # left and right edges
    assert (out[30, 200] == colours[1]).all()
    assert (out[100, 65] == 100).all()  # inside the box: untouched
    label = out[:60, 40:90]  # above the first box: its id label
    ink = (label > 200).all(axis=2) | (label < 60).all(axis=2)  # white or black text, whichever contrasts
    assert (label == colours[0]).all(axis=2).sum() > 50 and ink.sum() > 5
    moved = tracks_frame(frame, boxes + [[30.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]], ids)
    assert (moved[100, 70] == colours[0]).all()  # the same id keeps its colour when it moves
    with pytest.raises(ValueError, match="one id per box"):
        tracks_frame(frame, boxes, ids[:1])


def test_tracks_frame_with_no_tracks_is_the_frame() -> None:
    frame = grey_frame()
    np.testing.assert_array_equal(tracks_frame(frame, np.zeros((0, 4)), np.zeros(0, dtype=int)), frame)


def test_colour_bar_runs_from_zero_at_the_bottom_to_the_maximum_at_the_top() -> None:
    style = TextStyle(0.5)
    bar = colour_bar(120, 3.0, style)
    assert bar.shape[0] == 120
    inferno = cv2.cvtColor(cv2.applyColorMap(np.array([[0, 255]], np.uint8), cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(bar[-1, 0], inferno[0, 0])
    np.testing.assert_array_equal(bar[0, 0], inferno[0, 1])
    assert (bar[:, 12:] < 128).any()  # tick labels
    with pytest.raises(ValueError, match="length"):
        colour_bar(10, 3.0, style)
