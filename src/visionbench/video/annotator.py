"""The per-problem part of video inference: how frames become model inputs, how outputs become per-frame results,
how a result is drawn on its frame and which files it is saved to. Each problem declares one through
:meth:`~visionbench.tasks.contract.ProblemContract.video_annotator`; the pipeline names no problem.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import Tensor, nn

from visionbench.deploy.runtime import Runtime
from visionbench.deploy.wrapper import MainOutput
from visionbench.runner.errors import ConfigError
from visionbench.video.outputs import RunOutputs
from visionbench.video.sources import Frame


@dataclass(frozen=True)
class VideoSettings:
    """The choices of one inference run that the per-problem part needs.

    Attributes:
        batch_size: frames per model call.
        input_size: ``(height, width)`` the frames are resized to before the model (``resize=``), or the first
            frame's size when frames are not resized (``resized`` False).
        resized: whether frames are resized (outputs are brought back to each frame's own size).
        device: where the network runs.
        runtime: turns the network into the module that is called (``conf/runtime/``).
        num_frames: frames in the input.
        source: the input, in words (for messages).
        detections: a MOTChallenge detections file for the input (tracking), or None.
        directory: the run directory (where a runtime that exports the network writes it).
    """

    batch_size: int
    input_size: tuple[int, int]
    resized: bool
    device: torch.device
    runtime: Runtime
    num_frames: int
    source: str
    detections: Path | None = None
    directory: Path | None = None

    def prepare(self, model: nn.Module, example_inputs: tuple[Tensor, ...], main_output: MainOutput) -> nn.Module:
        """``model`` in evaluation mode on :attr:`device`, prepared by :attr:`runtime`."""
        return self.runtime.prepare(model.to(self.device).eval(), example_inputs, main_output, self.directory)

    def refuse_detections(self, problem: str) -> None:
        """A :class:`~visionbench.runner.errors.ConfigError` when a detections file was given to a problem that does
        not read one."""
        if self.detections is not None:
            raise ConfigError(f"detections= applies to tracking; task={problem} does not read {self.detections}")

    def model_images(self, frames: Sequence[Frame]) -> np.ndarray:
        """The frames as one ``B,H,W,3`` uint8 array at :attr:`input_size` (bilinear resize where needed)."""
        height, width = self.input_size
        images = [
            frame.image
            if frame.image.shape[:2] == (height, width)
            else cv2.resize(frame.image, (width, height), interpolation=cv2.INTER_LINEAR)
            for frame in frames
        ]
        return np.stack(images)

    def to_tensor(self, images: np.ndarray) -> Tensor:
        """``B,H,W,3`` uint8 -> float ``B,3,H,W`` in [0, 1] on the CPU (pinned when the network runs on a GPU, so
        the copy to it can overlap)."""
        tensor = torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255.0)
        return tensor.pin_memory() if self.device.type == "cuda" else tensor


class FrameAnnotator:
    """What a problem does with a batch of frames, stage by stage (each stage runs in its own thread, batches in
    order, so an annotator may keep state from one batch to the next within a stage). Subclasses implement
    :meth:`preprocess`, :meth:`infer`, :meth:`postprocess` and :meth:`draw`; the other hooks do nothing by default.

    Attributes:
        kind: names the annotated output: ``<kind>.mp4`` for a video, ``<kind>/`` (one PNG per frame) for images.
    """

    kind: str

    def open(self, outputs: RunOutputs) -> None:
        """Reserve the per-frame files and folders this annotator writes (before the first frame)."""

    def preprocess(self, frames: Sequence[Frame]) -> Any:
        """The model inputs of a batch of frames (on the CPU)."""
        raise NotImplementedError(type(self).__name__)

    def infer(self, inputs: Any) -> Any:
        """The model's outputs for ``inputs`` (run under the chosen precision, without gradients)."""
        raise NotImplementedError(type(self).__name__)

    def postprocess(self, outputs: Any, frames: Sequence[Frame]) -> list[Any]:
        """One result per frame (numpy, at the frame's own size), in order."""
        raise NotImplementedError(type(self).__name__)

    def draw(self, frame: Frame, result: Any) -> np.ndarray:
        """The frame with its result drawn on it (``H,W,3`` uint8 RGB)."""
        raise NotImplementedError(type(self).__name__)

    def save(self, frame: Frame, result: Any) -> None:
        """Write the per-frame files of ``result`` (called in frame order)."""

    def finish(self) -> None:
        """Write the files that need every frame (called once, after the last frame)."""
