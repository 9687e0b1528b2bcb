"""Panel layout: integer enlargement, titles over columns (repeated when row sizes change), footers."""

from __future__ import annotations

import numpy as np
import pytest

from visionbench.viz.panels import enlarge, enlargement, grid, vstack
from visionbench.viz.text import TextStyle


def test_enlargement_reaches_the_minimum_size_and_keeps_large_tiles() -> None:
    assert enlargement(48, 48) == 4 and enlargement(32, 64) == 6 and enlargement(41, 59) == 5
    assert enlargement(436, 1024) == 1 and enlargement(192, 500) == 1
    assert enlargement(20, 30, min_size=1) == 1


def test_enlarge_repeats_label_pixels_and_smooths_photographs() -> None:
    tile = np.zeros((2, 2, 3), dtype=np.uint8)
    tile[0, 0] = 255
    sharp = enlarge(tile, 3)
    assert sharp.shape == (6, 6, 3)
    np.testing.assert_array_equal(sharp, tile.repeat(3, axis=0).repeat(3, axis=1))
    smooth = enlarge(tile, 3, smooth=True)
    assert smooth.shape == (6, 6, 3) and len(np.unique(smooth)) > 2  # intermediate values
    assert enlarge(tile, 1) is tile


def test_grid_titles_columns_once_for_rows_of_one_size() -> None:
    tiles = [np.full((50, 60, 3), level, dtype=np.uint8) for level in (10, 20)]
    panel = grid([tiles, tiles], ["a", "b"], gap=2)
    bar = TextStyle.for_image(50, 60).line_height
    assert panel.shape == (bar + 50 + 2 + 50, 2 * 60 + 2, 3)
    assert (panel[bar : bar + 50, :60] == 10).all() and (panel[bar : bar + 50, 62:] == 20).all()
    assert (panel[bar + 52 :, 62:] == 20).all()  # second row straight under the first
    assert (panel[:bar, :60] < 128).any() and (panel[:bar, 62:] < 128).any()  # a title over each column


def test_grid_repeats_titles_over_a_row_of_another_size_and_pads_it() -> None:
    small = [np.zeros((30, 40, 3), dtype=np.uint8)] * 2
    large = [np.zeros((50, 60, 3), dtype=np.uint8)] * 2
    panel = grid([large, small], ["a", "b"], footer=np.zeros((5, 300, 3), dtype=np.uint8))
    bar = TextStyle.for_image(50, 60).line_height
    assert panel.shape == (bar + 50 + 2 + bar + 30 + 2 + 5, 300, 3)
    second_bar = panel[bar + 52 : bar + 52 + bar, :40]
    assert (second_bar < 128).any() and (second_bar == 255).any()  # titles again over the smaller row
    assert (panel[bar + 52 :, 2 * 40 + 2 : 2 * 60 + 2][:-7] == 255).all()  # the narrower row padded with white


def test_grid_refuses_missing_titles_and_empty_rows() -> None:
    tile = np.zeros((10, 10, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="column titles"):
        grid([[tile, tile]], ["only one"])
    with pytest.raises(ValueError, match="at least one"):
        grid([[]])


def test_vstack_pads_narrower_parts() -> None:
    stacked = vstack([np.zeros((2, 5, 3), np.uint8), np.zeros((3, 2, 3), np.uint8)], gap=1)
    assert stacked.shape == (6, 5, 3) and (stacked[2] == 255).all() and (stacked[3:, 2:] == 255).all()
