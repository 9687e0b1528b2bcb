"""FLOPs of one call by ``torch.utils.flop_counter.FlopCounterMode``, and the operators it did not count.

The counter has formulas for convolutions, matrix products and attention (one multiply-add = 2 FLOPs) and counts
nothing else. Operators without a formula that still do real work (``grid_sample``, pooling, resizing, batch norm,
the reductions of a correlation written by hand) are found by recording every ATen operator the call dispatches
(a ``TorchDispatchMode``) and keeping those absent from the counter's registry, leaving out views, copies,
allocations and elementwise (pointwise) operators, which by the counter's convention carry no FLOPs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode, flop_registry

OUTSIDE_TORCH = "n/a: computed outside torch (numpy/OpenCV), FlopCounterMode sees no operator"
DATA_MOVEMENT = frozenset(
    {
        "_to_copy", "copy_", "clone", "cat", "stack", "constant_pad_nd", "reflection_pad2d", "replication_pad2d",
        "empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided", "new_zeros", "new_ones", "new_full",
        "zeros", "zeros_like", "ones", "ones_like", "full", "full_like", "arange", "linspace", "scalar_tensor",
        "lift_fresh", "lift_fresh_copy", "repeat", "index", "index_select", "gather", "fill_", "zero_", "roll",
        "flip", "_local_scalar_dense", "detach", "alias", "slice_scatter", "select_scatter", "as_strided_scatter",
        "resize_", "set_", "_unsafe_view", "contiguous", "expand_copy", "permute_copy", "tril_indices",
        "triu_indices", "_reshape_alias", "masked_fill", "masked_fill_", "where",
    }
)  # fmt: skip
"""Operators that move, allocate or select values without computing (not listed as uncounted)."""


@dataclass(frozen=True)
class FlopCount:
    """FLOPs counted in one call (``flops``: None when the call ran no torch operator at all) and the uncounted
    operators (``uncounted``: name -> number of calls, heaviest first by elements produced)."""

    flops: int | None
    uncounted: dict[str, int]

    @property
    def macs(self) -> int | None:
        """Multiply-accumulates of the counted operators (FLOPs / 2)."""
        return None if self.flops is None else self.flops // 2

    def uncounted_text(self) -> str:
        """The uncounted operators as ``name xN`` separated by ``; `` (``n/a: ...`` when nothing ran in torch)."""
        if self.flops is None:
            return OUTSIDE_TORCH
        return "; ".join(f"{name} x{calls}" for name, calls in self.uncounted.items())


class OperatorRecorder(TorchDispatchMode):
    """Records the calls and output elements of every computing ATen operator dispatched while active."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()
        self.elements: Counter[str] = Counter()
        self.computed = False

    def __torch_dispatch__(
        self, func: torch._ops.OpOverload, types: object, args: tuple = (), kwargs: dict | None = None
    ) -> object:
        output = func(*args, **(kwargs or {}))
        name = func.overloadpacket.__name__
        if func.is_view or name in DATA_MOVEMENT:
            return output
        self.computed = True
        if func.overloadpacket in flop_registry or torch.Tag.pointwise in func.tags:
            return output
        self.calls[name] += 1
        self.elements[name] += sum(t.numel() for t in _tensors(output))
        return output


def _tensors(output: object) -> list[torch.Tensor]:
    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, list | tuple):
        return [item for item in output if isinstance(item, torch.Tensor)]
    return []


def count_flops(call: Callable[[], object]) -> FlopCount:
    """Run ``call()`` once under the FLOP counter and the operator recorder (no gradient is recorded)."""
    recorder = OperatorRecorder()
    with torch.no_grad(), FlopCounterMode(display=False) as counter, recorder:
        call()
    flops = counter.get_total_flops()
    if not recorder.computed and flops == 0:
        return FlopCount(None, {})
    order = sorted(recorder.calls, key=lambda name: -recorder.elements[name])
    return FlopCount(flops, {name: recorder.calls[name] for name in order})
