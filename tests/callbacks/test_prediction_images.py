"""Prediction-panel callbacks: one titled panel per evaluation, samples of different sizes, never overwritten."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from visionbench.callbacks import FlowPredictionImages
from visionbench.viz.flow import flow_panels


class ConstantFlow(nn.Module):
    """A flow method predicting one pixel to the right everywhere."""

    device = torch.device("cpu")

    def forward(self, image1: torch.Tensor, image2: torch.Tensor) -> torch.Tensor:
        flow = torch.zeros(image1.shape[0], 2, *image1.shape[-2:])
        flow[:, 0] = 1.0
        return flow


def test_flow_panel_callback_writes_what_flow_panels_draws(tmp_path: Path) -> None:
    generator = torch.Generator().manual_seed(0)
    dataset = [
        {
            "image1": torch.rand(3, *size, generator=generator),
            "image2": torch.rand(3, *size, generator=generator),
            "flow": torch.randn(2, *size, generator=generator),
            "valid": torch.ones(size, dtype=torch.bool),
        }
        for size in ((24, 32), (40, 40))
    ]
    module = ConstantFlow().train()
    callback = FlowPredictionImages(tmp_path, num_images=2)
    callback._render(SimpleNamespace(loggers=[]), module, dataset, "val")
    assert module.training  # back in training mode
    written = np.asarray(Image.open(tmp_path / "val.png"))
    predictions = [module(s["image1"][None], s["image2"][None])[0] for s in dataset]
    expected = flow_panels(*([s[key] for s in dataset] for key in ("image1", "flow")), predictions,
                           [s["valid"] for s in dataset])  # fmt: skip
    np.testing.assert_array_equal(written, expected)
    assert written.shape[0] > 24 * 8 + 40 * 5  # both samples enlarged to >= 192 px, with titles
    with pytest.raises(FileExistsError, match="overwrite"):
        callback._render(SimpleNamespace(loggers=[]), module, dataset, "val")


def test_no_panel_is_written_for_zero_images(tmp_path: Path) -> None:
    callback = FlowPredictionImages(tmp_path / "predictions", num_images=0)
    dataset = [{"image1": torch.rand(3, 8, 8), "image2": torch.rand(3, 8, 8), "flow": torch.zeros(2, 8, 8)}]
    trainer = SimpleNamespace(test_dataloaders=SimpleNamespace(dataset=dataset), loggers=[])
    callback.on_test_epoch_end(trainer, ConstantFlow())
    assert not (tmp_path / "predictions").exists()
