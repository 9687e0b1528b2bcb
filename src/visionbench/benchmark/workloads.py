"""What one benchmark call runs, for any model a config builds: a network (an ``nn.Module``) runs a forward pass on
its problem's example inputs (:meth:`~visionbench.tasks.contract.ProblemContract.example_inputs`), a tracker (an
object with ``reset`` and ``update``) tracks one frame of synthetic detections
(:mod:`visionbench.benchmark.detections`)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Protocol

import numpy as np
import torch
from torch import Tensor, nn

from visionbench.benchmark.detections import synthetic_sequence
from visionbench.benchmark.settings import MEMORY_FORMATS, PRECISIONS, Setting
from visionbench.models.parameters import count_parameters
from visionbench.models.tracking.types import Tracker
from visionbench.tasks.contract import ProblemContract, smooth_images

TRACKER_FRAMES = 50
"""Frames of the synthetic sequence a tracker runs through; each warm-up or timed repeat is one pass over it."""


class Workload(Protocol):
    """One model under benchmark: ``parameters`` (None: not a torch module), ``calls_per_repeat`` (calls per warm-up
    or timed repeat), ``unsupported(setting)`` (why a setting does not apply, else None), ``prepare(setting)`` (the
    call to time and the ``(height, width)`` of what it processes) and ``samples(setting)`` per call."""

    parameters: int | None
    calls_per_repeat: int

    def unsupported(self, setting: Setting, outside_torch: bool) -> str | None: ...

    def prepare(self, setting: Setting) -> tuple[Callable[[], object], tuple[int, int]]: ...

    def samples(self, setting: Setting) -> int: ...


@contextlib.contextmanager
def precision_context(precision: str, device: torch.device) -> Iterator[None]:
    """No gradient, and autocast to the precision's dtype (none for fp32)."""
    dtype = PRECISIONS[precision]
    with torch.no_grad(), torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
        yield


class NetworkWorkload:
    """A network in eval mode on ``device``; a call is one forward pass of a batch of the contract's example inputs
    (in the setting's memory format, under autocast for bf16/fp16, compiled with ``torch.compile`` in compile mode)
    returning the contract's main output."""

    calls_per_repeat = 1

    def __init__(self, model: nn.Module, contract: ProblemContract, device: torch.device) -> None:
        self.model = model.eval().to(device)
        self.contract = contract
        self.device = device
        self.parameters = count_parameters(model)

    def unsupported(self, setting: Setting, outside_torch: bool) -> str | None:
        if outside_torch and not setting.is_default:
            return "computed outside torch (numpy/OpenCV): only fp32 contiguous eager applies"
        return None

    def samples(self, setting: Setting) -> int:
        return setting.batch

    def inputs(self, setting: Setting) -> tuple[Tensor, ...]:
        inputs = self.contract.example_inputs(self.model, setting.batch, setting.height, setting.width, self.device)
        memory_format = MEMORY_FORMATS[setting.memory_format]
        return tuple(x.contiguous(memory_format=memory_format) if x.ndim == 4 else x for x in inputs)

    def prepare(self, setting: Setting) -> tuple[Callable[[], object], tuple[int, int]]:
        model = self.model.to(memory_format=MEMORY_FORMATS[setting.memory_format])
        forward = model
        if setting.mode == "compile":
            torch._dynamo.reset()  # each compiled record starts from nothing (no cache, no dynamic shapes)
            forward = torch.compile(model, dynamic=False)
        inputs = self.inputs(setting)

        def call() -> Tensor:
            with precision_context(setting.precision, self.device):
                return self.contract.main_output(forward(*inputs))

        return call, (int(inputs[0].shape[-2]), int(inputs[0].shape[-1]))


class TrackerWorkload:
    """An online tracker; a call is one ``update`` with the next frame of a synthetic sequence of detections
    (:data:`TRACKER_FRAMES` frames, the tracker reset at its start), and the frame image when the tracker embeds
    crops (``needs_frames``, DeepSORT), under autocast for bf16/fp16 (its encoder's network). One sample = one frame."""

    calls_per_repeat = TRACKER_FRAMES
    parameters = None

    def __init__(self, tracker: Tracker, device: torch.device) -> None:
        self.tracker = tracker
        self.device = device

    def unsupported(self, setting: Setting, outside_torch: bool) -> str | None:
        if setting.batch != 1:
            return "a tracker takes one frame at a time: batch 1 only"
        if setting.mode != "eager" or setting.memory_format != "contiguous":
            return "a tracker is not a torch module: no compile or memory format"
        if outside_torch and setting.precision != "fp32":
            return "computed outside torch (numpy/OpenCV): only fp32 applies"
        return None

    def samples(self, setting: Setting) -> int:
        return 1

    def prepare(self, setting: Setting) -> tuple[Callable[[], object], tuple[int, int]]:
        sequence = synthetic_sequence(TRACKER_FRAMES, setting.height, setting.width)
        frame = None
        if getattr(self.tracker, "needs_frames", False):
            image = smooth_images(1, setting.height, setting.width)[0].permute(1, 2, 0)
            frame = np.ascontiguousarray((image * 255).round().to(torch.uint8).numpy())
        position = 0

        def call() -> object:
            nonlocal position
            if position % len(sequence) == 0:
                self.tracker.reset()
            detections = sequence[position % len(sequence)]
            position += 1
            with precision_context(setting.precision, self.device):
                return self.tracker.update(detections, frame)

        return call, (setting.height, setting.width)


def workload_for(model: object, contract: ProblemContract, device: torch.device) -> Workload:
    """The workload of what a model config built: a network or a tracker."""
    if isinstance(model, nn.Module):
        return NetworkWorkload(model, contract, device)
    if callable(getattr(model, "update", None)) and callable(getattr(model, "reset", None)):
        return TrackerWorkload(model, device)
    raise TypeError(f"cannot benchmark a {type(model).__name__}: neither a torch module nor a tracker (reset/update)")
