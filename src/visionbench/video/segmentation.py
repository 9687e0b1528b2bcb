"""Video inference for semantic segmentation: class overlays (the same drawing as the panels) and label masks."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from visionbench.video.annotator import FrameAnnotator, VideoSettings
from visionbench.video.outputs import RunOutputs
from visionbench.video.sources import Frame
from visionbench.viz.annotate import segmentation_overlay


class SegmentationAnnotator(FrameAnnotator):
    """Frames normalised as in training (``mean``, ``std`` of the [0, 1] scale) -> ``network`` logits -> bilinearly
    resized to each frame's size -> arg-max labels. Draws the classes over the frame with a legend of the classes
    present (:func:`~visionbench.viz.annotate.segmentation_overlay`, opacity ``alpha``) and writes each frame's
    labels as ``masks/<frame name>.png`` (8-bit, or 16-bit beyond 256 classes; pixel value = class index).

    Args:
        network: ``B,3,H,W -> B,C,H,W`` logits (prepared by the runtime).
        palette: ``C,3`` uint8 class colours; class_names: the ``C`` class names.
        mean, std: the training normalisation.
        settings: the run's choices.
        alpha: overlay opacity.
    """

    kind = "overlay"

    def __init__(
        self,
        network: nn.Module,
        palette: np.ndarray,
        class_names: Sequence[str],
        mean: Sequence[float],
        std: Sequence[float],
        settings: VideoSettings,
        alpha: float = 0.5,
    ) -> None:
        self.network = network
        self.palette = np.asarray(palette, dtype=np.uint8)
        self.class_names = list(class_names)
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
        self.settings = settings
        self.alpha = alpha
        self.mask_dtype = np.uint8 if len(self.class_names) <= 256 else np.uint16
        self.masks: Path | None = None

    def open(self, outputs: RunOutputs) -> None:
        self.masks = outputs.folder("masks")

    def preprocess(self, frames: Sequence[Frame]) -> Tensor:
        images = self.settings.to_tensor(self.settings.model_images(frames))
        return images.sub_(self.mean).div_(self.std)

    def infer(self, inputs: Tensor) -> Tensor:
        return self.network(inputs.to(self.settings.device, non_blocking=True))

    def postprocess(self, outputs: Tensor, frames: Sequence[Frame]) -> list[np.ndarray]:
        logits = outputs.float()
        sizes = {frame.image.shape[:2] for frame in frames}
        if len(sizes) == 1:
            return list(_labels(logits, sizes.pop()).cpu().numpy().astype(self.mask_dtype))
        return [
            _labels(logits[index : index + 1], frame.image.shape[:2])[0].cpu().numpy().astype(self.mask_dtype)
            for index, frame in enumerate(frames)
        ]

    def draw(self, frame: Frame, result: np.ndarray) -> np.ndarray:
        return segmentation_overlay(frame.image, result, self.palette, self.alpha, self.class_names)

    def save(self, frame: Frame, result: np.ndarray) -> None:
        path = self.masks / f"{frame.name}.png"
        if not cv2.imwrite(str(path), result):
            raise OSError(f"cannot write {path}")


def _labels(logits: Tensor, size: tuple[int, int]) -> Tensor:
    """Arg-max labels ``B,H,W`` of ``B,C,h,w`` logits bilinearly resized to ``size``."""
    if tuple(logits.shape[-2:]) != tuple(size):
        logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
    return logits.argmax(dim=1)
