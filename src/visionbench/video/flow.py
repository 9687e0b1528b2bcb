"""Video inference for optical flow: the flow between consecutive frames as a colour-wheel video and ``.flo`` files."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from visionbench.data.flow.io import write_flo
from visionbench.video.annotator import FrameAnnotator, VideoSettings
from visionbench.video.outputs import RunOutputs
from visionbench.video.sources import Frame
from visionbench.viz.annotate import flow_frame


@dataclass(frozen=True)
class FlowResult:
    """The flow from the frame named ``previous`` to the next frame, ``H,W,2`` float32 pixels on ``previous``'s
    pixel grid."""

    previous: str
    flow: np.ndarray


class FlowAnnotator(FrameAnnotator):
    """Consecutive frames in [0, 1] (the flow datamodules' range) -> ``network(image1, image2)`` flow -> bilinearly
    resized to the first frame's size with the vectors scaled by the same factors. Frame ``i`` of the output shows
    the flow from frame ``i - 1`` to frame ``i`` in the Middlebury colour coding with a colour-wheel key
    (:func:`~visionbench.viz.annotate.flow_frame`); frame 0, which has no predecessor, shows the input frame. Each
    flow is written as ``flo/<name of frame i - 1>.flo`` (Middlebury format), so ``N`` frames give ``N - 1`` files.

    The last frame of each batch is kept to pair it with the first of the next, so every pair is computed once.

    Args:
        network: ``(B,3,H,W, B,3,H,W) -> B,2,H,W`` flow in pixels (prepared by the runtime).
        settings: the run's choices.
    """

    kind = "flow"

    def __init__(self, network: nn.Module, settings: VideoSettings) -> None:
        self.network = network
        self.settings = settings
        self.previous: Tensor | None = None  # preprocess: the model input of the latest batch's last frame
        self.last: Frame | None = None  # postprocess: the same, for the results
        self.folder: Path | None = None

    def open(self, outputs: RunOutputs) -> None:
        self.folder = outputs.folder("flo")

    def preprocess(self, frames: Sequence[Frame]) -> tuple[Tensor, Tensor] | None:
        images = self.settings.to_tensor(self.settings.model_images(frames))
        if self.previous is not None:
            images = torch.cat([self.previous, images])
        self.previous = images[-1:]
        if len(images) < 2:
            return None
        return images[:-1], images[1:]

    def infer(self, inputs: tuple[Tensor, Tensor] | None) -> Tensor | None:
        if inputs is None:
            return None
        device = self.settings.device
        return self.network(*(images.to(device, non_blocking=True) for images in inputs))

    def postprocess(self, outputs: Tensor | None, frames: Sequence[Frame]) -> list[FlowResult | None]:
        flows = iter([] if outputs is None else outputs.float().cpu())
        results: list[FlowResult | None] = []
        for frame in frames:
            previous, self.last = self.last, frame
            if previous is None:
                results.append(None)
            else:
                results.append(FlowResult(previous.name, _resize_flow(next(flows), previous.image.shape[:2])))
        return results

    def draw(self, frame: Frame, result: FlowResult | None) -> np.ndarray:
        return frame.image.copy() if result is None else flow_frame(result.flow)

    def save(self, frame: Frame, result: FlowResult | None) -> None:
        if result is not None:
            write_flo(self.folder / f"{result.previous}.flo", result.flow)


def _resize_flow(flow: Tensor, size: tuple[int, int]) -> np.ndarray:
    """A ``2,h,w`` flow bilinearly resized to ``size`` with ``u`` and ``v`` scaled by the width and height factors,
    as ``H,W,2`` float32."""
    height, width = flow.shape[-2:]
    if (height, width) != tuple(size):
        scale = torch.tensor([size[1] / width, size[0] / height]).view(2, 1, 1)
        flow = F.interpolate(flow[None], size=size, mode="bilinear", align_corners=False)[0] * scale
    return flow.permute(1, 2, 0).contiguous().numpy().astype(np.float32, copy=False)
