"""``torch.export`` of a deployed model with dynamic batch, height and width."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.export import Dim, ExportedProgram

IMAGE_DYNAMIC_AXES = {0: "batch", 2: "height", 3: "width"}
"""The axes of a ``B,C,H,W`` input (and output) left free in an exported graph, with their names."""


def image_dynamic_shapes(example_inputs: tuple[Tensor, ...]) -> tuple[tuple[dict[int, Dim], ...]]:
    """``dynamic_shapes`` for a ``forward(*inputs)`` taking ``B,C,H,W`` tensors: batch, height and width of each
    input free (``Dim.DYNAMIC``: the exporter infers that the inputs share them, and fails if the model's code fixes
    one). A ValueError names an input that is not 4-D."""
    for index, tensor in enumerate(example_inputs):
        if tensor.ndim != 4:
            raise ValueError(f"input {index} has shape {tuple(tensor.shape)}; deployed models take B,C,H,W images")
    return (tuple({axis: Dim.DYNAMIC for axis in IMAGE_DYNAMIC_AXES} for _ in example_inputs),)


def export_program(module: nn.Module, example_inputs: tuple[Tensor, ...]) -> ExportedProgram:
    """``torch.export.export`` of ``module`` (in eval mode, e.g. a
    :class:`~visionbench.deploy.wrapper.MainOutputModel`) traced on ``example_inputs`` with dynamic batch, height
    and width; ``program.module()`` runs it at other sizes. Use a batch of 2 or more: a size of 1 is specialised."""
    with torch.no_grad():
        return torch.export.export(module.eval(), example_inputs, dynamic_shapes=image_dynamic_shapes(example_inputs))
