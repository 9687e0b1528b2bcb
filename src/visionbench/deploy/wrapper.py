"""The module every runtime deploys: a model reduced to the one tensor a deployed model returns."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from torch import Tensor, nn

MainOutput = Callable[[Any], Tensor]
"""The problem's choice of the deployed tensor from a model's output (``ProblemContract.main_output``)."""


class MainOutputModel(nn.Module):
    """``model`` followed by ``main_output``: the same positional tensors in, one tensor out (segmentation logits
    ``B,C,H,W``, a flow network's final ``B,2,H,W`` flow). Exporters need a tensor output, not a dict; the wrapped
    model is put in eval mode, so iterative flow networks unroll their ``eval_iters`` updates."""

    def __init__(self, model: nn.Module, main_output: MainOutput) -> None:
        super().__init__()
        self.model = model.eval()
        self.main_output = main_output

    def forward(self, *inputs: Tensor) -> Tensor:
        return self.main_output(self.model(*inputs))


def input_names(model: nn.Module, count: int) -> list[str]:
    """Names for the ``count`` positional inputs of ``model.forward`` (its parameter names, e.g. ``image1``,
    ``image2``; ``input<i>`` where the signature does not name them), used as ONNX graph input names."""
    target = model.model if isinstance(model, MainOutputModel) else model
    parameters = [
        parameter.name
        for parameter in inspect.signature(target.forward).parameters.values()
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD)
    ]
    if len(parameters) < count:
        return [f"input{index}" for index in range(count)]
    return parameters[:count]
