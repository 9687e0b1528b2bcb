"""Segmentation panels: enlarged tiles under column titles, a legend of the classes shown; image files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from visionbench.viz.segmentation import (
    class_legend,
    prediction_panels,
    probability_panels,
    save_image,
    save_png,
)
from visionbench.viz.text import TextStyle

PALETTE = np.array([[0, 0, 0], [230, 25, 75], [60, 180, 75], [0, 130, 200]], dtype=np.uint8)
NAMES = ["background", "circle", "square", "triangle"]
MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def masks() -> tuple[torch.Tensor, torch.Tensor]:
    target = torch.zeros(2, 48, 48, dtype=torch.long)
    target[:, 10:30, 10:30] = 1
    target[0, :4] = 255
    prediction = torch.zeros(2, 48, 48, dtype=torch.long)
    prediction[:, 12:32, 12:32] = 1
    prediction[1, 40:, 40:] = 2
    return target, prediction


def test_prediction_panel_enlarges_titles_and_lists_the_classes_shown() -> None:
    images = torch.randn(2, 3, 48, 48, generator=torch.Generator().manual_seed(0))
    target, prediction = masks()
    panel = prediction_panels(images, target, prediction, PALETTE, MEAN, STD, class_names=NAMES)
    tile = 48 * 4  # enlarged 4 times to 192 px
    style = TextStyle.for_image(tile, tile)
    bar, line = style.line_height, style.line_height
    assert panel.shape == (bar + 2 * tile + 2 + 2 + line, 3 * tile + 2 * 2, 3)  # titles, 2 rows, one legend line
    shown = panel[bar : bar + tile, tile + 2 : 2 * tile + 2]
    expected = PALETTE[np.where(target[0].numpy() == 255, 0, target[0].numpy())]
    expected[target[0].numpy() == 255] = 255
    np.testing.assert_array_equal(shown, expected.repeat(4, axis=0).repeat(4, axis=1))  # labels pixel by pixel
    predicted = panel[bar + tile + 2 : bar + 2 * tile + 2, 2 * (tile + 2) :]
    np.testing.assert_array_equal(predicted, PALETTE[prediction[1].numpy()].repeat(4, axis=0).repeat(4, axis=1))
    assert (panel[:bar] < 128).any()
    footer = panel[-line:]
    for colour in PALETTE[:3]:  # background, circle, square occur: their swatches
        assert (footer == colour).all(axis=2).sum() > 20
    assert not (footer == PALETTE[3]).all(axis=2).any()  # triangle does not


def test_class_legend_names_ignored_pixels_and_defaults_to_indices() -> None:
    style = TextStyle(0.5)
    labels = [np.array([[0, 3], [255, 3]])]
    with_names = class_legend(labels, PALETTE, style, 600, NAMES)
    without = class_legend(labels, PALETTE, style, 600)
    assert with_names.shape == without.shape == (style.line_height, 600, 3)
    assert not np.array_equal(with_names, without)  # "triangle" vs "class 3"
    assert (with_names == PALETTE[3]).all(axis=2).any()
    with pytest.raises(ValueError, match="2 class names for 4 classes"):
        class_legend(labels, PALETTE, style, 600, NAMES[:2])


def test_probability_panels_title_each_class_and_keep_exact_grey_levels() -> None:
    images = torch.randn(1, 3, 40, 40)
    probabilities = torch.softmax(torch.randn(1, 4, 40, 40), dim=1)
    panel = probability_panels(images, probabilities, MEAN, STD, class_names=NAMES)
    tile = 40 * 5
    style = TextStyle.for_image(tile, tile)
    assert panel.shape == (style.line_height + tile + 2 + style.line_height, 5 * tile + 4 * 2, 3)
    grey = (probabilities[0, 2].numpy() * 255 + 0.5).astype(np.uint8).repeat(5, axis=0).repeat(5, axis=1)
    np.testing.assert_array_equal(panel[style.line_height : style.line_height + tile, 3 * (tile + 2)][:, 0], grey[:, 0])


def test_panels_of_samples_of_different_sizes() -> None:
    images = [torch.randn(3, 41, 59), torch.randn(3, 24, 24)]
    targets = [torch.randint(0, 3, (41, 59)), torch.randint(0, 3, (24, 24))]
    panel = prediction_panels(images, targets, targets, PALETTE, MEAN, STD)
    first, second = (41 * 5, 59 * 5), (24 * 8, 24 * 8)
    bars = TextStyle.for_image(*first).line_height + TextStyle.for_image(*second).line_height
    assert panel.shape[1] == 3 * first[1] + 4
    assert panel.shape[0] > bars + first[0] + second[0] + 2  # titles over both rows, plus the legend


def test_save_image_writes_png_and_jpeg_once(tmp_path: Path) -> None:
    image = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    png = save_png(image, tmp_path / "a" / "panel.png")
    np.testing.assert_array_equal(np.asarray(Image.open(png)), image)
    jpeg = save_image(image, tmp_path / "frame.jpg")
    assert np.asarray(Image.open(jpeg)).shape == image.shape
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["frame.jpg", "panel.png"]  # no temporaries
    with pytest.raises(FileExistsError, match="overwrite"):
        save_image(image, jpeg)
    with pytest.raises(ValueError, match="suffix"):
        save_image(image, tmp_path / "frame.bmp")
    with pytest.raises(ValueError, match=".png"):
        save_png(image, tmp_path / "frame2.jpg")
