"""Tensor parity of a deployed model with the eager one: the largest absolute difference against a tolerance relative
to the output's scale.

Tolerance: ``1e-4 * max|reference|``. Float32 has a relative precision of about 1e-7; a runtime computes the same
convolutions and reductions in another order (other kernels, fused operators), which over a deep network or RAFT's
unrolled updates grows to 1e-6..1e-5 of the output's scale. A real discrepancy (a shape traced as a constant, an
operator exported with other semantics) differs at the scale of the output itself (e.g. 0.45 px of a 15 px flow for
FlowNetC through the TorchScript exporter). Relative, so that small logits of an untrained network and flows of tens
of pixels are held to the same standard.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

RELATIVE_TOLERANCE = 1e-4


@dataclass(frozen=True)
class Parity:
    """``max_abs_diff`` between a deployed model's output and the eager ``reference``, whose largest magnitude is
    ``scale``."""

    max_abs_diff: float
    scale: float

    @property
    def tolerance(self) -> float:
        """The largest difference accepted: :data:`RELATIVE_TOLERANCE` times the reference's scale."""
        return RELATIVE_TOLERANCE * self.scale

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= self.tolerance

    def __str__(self) -> str:
        verdict = "ok" if self.ok else "MISMATCH"
        return f"max |diff| {self.max_abs_diff:.2e} (tolerance {self.tolerance:.2e}, scale {self.scale:.3g}): {verdict}"


def tensor_parity(output: Tensor, reference: Tensor) -> Parity:
    """The :class:`Parity` of ``output`` with ``reference`` (compared in float32 on the CPU); a ValueError when their
    shapes differ."""
    if output.shape != reference.shape:
        raise ValueError(f"output shape {tuple(output.shape)} differs from the eager {tuple(reference.shape)}")
    output, reference = output.detach().cpu().float(), reference.detach().cpu().float()
    difference = (output - reference).abs().max().item() if output.numel() else 0.0
    scale = reference.abs().max().item() if reference.numel() else 0.0
    return Parity(float(difference), float(scale))


def parity_of(module: torch.nn.Module, reference_module: torch.nn.Module, inputs: tuple[Tensor, ...]) -> Parity:
    """The :class:`Parity` of ``module(*inputs)`` with ``reference_module(*inputs)`` (both without autograd)."""
    with torch.no_grad():
        return tensor_parity(module(*inputs), reference_module(*inputs))


def perturb_zero_weights(model: torch.nn.Module) -> None:
    """Give weight tensors that start at zero small random values: FCN's score layers are zero-initialised (as in the
    paper), so an untrained FCN outputs zeros, which any runtime matches; parity needs a real signal."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.ndim > 1 and not parameter.any():
                parameter.copy_(0.01 * torch.randn(parameter.shape, generator=generator))
